"""Adam's scale invariance and what it is not (notes, lines 838-889), measured with the real
``refopt.adam`` against ``refopt.sgd``.

Per coordinate, Adam's step is lr m_hat/(sqrt(v_hat) + eps). Scaling every gradient by c > 0
scales m_hat by c and sqrt(v_hat) by c, so the step is unchanged exactly when eps = 0; with
eps > 0 it is multiplied by sqrt(v_hat)/(sqrt(v_hat) + eps), which for a constant gradient of
size c|g| is x/(1 + x) with x = c|g|/eps."""
from __future__ import annotations

import numpy as np

import refopt

from .adam_limits import displacements
from .claim import Verdict, claim, figure


def eps_deviation(x: np.ndarray, eps: float = 1e-8, lr: float = 1e-3, t: int = 5) -> np.ndarray:
    """1 - |step|/lr of Adam after t constant gradients of size x eps (one coordinate each)."""
    g = np.tile(x * eps, (t, 1))
    steps = displacements(refopt.adam(lr=lr, eps=eps), g)
    return 1 - steps[-1] / lr


@claim("adam-scale-invariance",
       "If you scale all gradients by a constant c, you get (c m_t)/(c sqrt(v_t)) = m_t/sqrt(v_t): "
       "the c cancels completely; Adam's step depends on the shape of the gradient "
       "distribution, not its scale",
       source_line=838)
def adam_scale_invariance(quick: bool) -> Verdict:
    rng = np.random.default_rng(0)
    T = 50 if quick else 300
    g = rng.standard_normal((T, 8)) + 0.3
    base = displacements(refopt.adam(lr=1e-3, eps=0.0), g)
    cs = np.logspace(-12, 12, 9 if quick else 25)
    gap0 = max(float(np.max(np.abs(displacements(refopt.adam(lr=1e-3, eps=0.0), c * g) - base)
                            / np.abs(base))) for c in cs)
    pow2 = displacements(refopt.adam(lr=1e-3, eps=0.0), 2.0**-40 * g)
    # eps > 0: the step is the eps = 0 step times sqrt(v_hat)/(sqrt(v_hat) + eps), per coordinate
    c, eps = 1e-7, 1e-8
    with_eps = displacements(refopt.adam(lr=1e-3, eps=eps), c * g)
    opt0 = refopt.adam(lr=1e-3, eps=0.0)
    w, state, predicted = np.zeros(g.shape[1]), opt0.init(np.zeros(g.shape[1])), []
    for t, gt in enumerate(c * g, start=1):
        w_new, state = opt0.step(w, gt, state)
        root = np.sqrt(state.s / (1 - 0.999**t))
        predicted.append((w - w_new) * root / (root + eps))
        w = w_new
    factor_err = float(np.max(np.abs(with_eps - np.array(predicted)) / np.abs(with_eps)))
    x = np.logspace(-3, 3, 13)
    dev = eps_deviation(x)
    closed = 1 / (1 + x)
    figures = {
        "max_rel_step_gap_eps0_c_1e-12_to_1e12": gap0,
        "bitwise_equal_for_c_power_of_2": float(np.array_equal(pow2, base)),
        "max_rel_err_eps_factor_vs_closed_form": factor_err,
        "deviation_at_c|g|/eps_1": float(dev[6]),
        "deviation_at_c|g|/eps_1e3": float(dev[-1]),
        "deviation_at_c|g|/eps_1e-3": float(dev[0]),
        "max_abs_err_deviation_vs_1/(1+x)": float(np.max(np.abs(dev - closed))),
    }
    # steps are differences of iterates and m_hat passes near 0 on this stream: 1e-11 leaves
    # room for that rounding and none for a real dependence on c
    exact = gap0 < 1e-11 and figures["bitwise_equal_for_c_power_of_2"] == 1.0
    eps_ok = factor_err < 1e-10 and figures["max_abs_err_deviation_vs_1/(1+x)"] < 1e-12
    return Verdict("conditional" if exact and eps_ok else "false", figures,
                   key="deviation_at_c|g|/eps_1", detail=(
        "Exact at eps = 0: over c from 1e-12 to 1e12 refopt.adam's steps on a scaled stream "
        f"match the unscaled ones to {gap0:.1e} (relative), bit for bit when c is a power of 2. "
        "Condition: eps breaks it where gradients are not large against eps. The step is the "
        "eps-free step times sqrt(v_hat)/(sqrt(v_hat) + eps) (checked on a noisy stream to "
        f"{factor_err:.1e}); for a steady gradient of size c|g| that is x/(1+x), x = c|g|/eps, "
        f"so the step shrinks by {dev[6]:.2f} at c|g| = eps, by {dev[-1]:.1e} at 1000 eps and is "
        f"almost gone ({1 - dev[0]:.1e} of lr) at eps/1000. With the default eps = 1e-8, "
        "gradients below ~1e-6 are no longer normalised: the invariance holds for c|g| >> eps."))


LAYER_SCALES = (1e-3, 1e3)


@claim("adam-layer-scale",
       "Gradients in early layers ~0.001 and in later layers ~1000: SGD steps lr x 0.001 and "
       "lr x 1000; Adam steps lr x (+-1) ~ lr in both, so one lr works for all layers",
       source_line=842)
def adam_layer_scale(quick: bool) -> Verdict:
    rng = np.random.default_rng(1)
    T, n = (100, 16) if quick else (1000, 64)
    shape = rng.standard_normal((T, n))
    lr = 1e-3
    steps = {}
    for name, opt in (("adam", refopt.adam(lr=lr)), ("sgd", refopt.sgd(lr=lr))):
        for scale in LAYER_SCALES:
            for kind, stream in (("clean", np.full((T, n), scale)),
                                 ("noisy", scale * (1.0 + 0.5 * shape))):
                d = displacements(opt, stream)
                steps[(name, scale, kind)] = float(np.mean(np.abs(d))) / lr
    lo, hi = LAYER_SCALES
    snr_closed = 1 / np.sqrt(1 + 0.5**2)  # |E g| / sqrt(E g^2) for g = 1 + 0.5 N(0,1)
    figures = {
        "adam_step_over_lr_layer_1e-3_clean": steps[("adam", lo, "clean")],
        "adam_step_over_lr_layer_1e3_clean": steps[("adam", hi, "clean")],
        "adam_step_ratio_late_over_early_noisy": steps[("adam", hi, "noisy")] / steps[("adam", lo, "noisy")],
        "adam_step_over_lr_noisy": steps[("adam", hi, "noisy")],
        "snr_closed_form_1/sqrt(1.25)": float(snr_closed),
        "sgd_step_ratio_late_over_early_noisy": steps[("sgd", hi, "noisy")] / steps[("sgd", lo, "noisy")],
    }
    same = abs(figures["adam_step_ratio_late_over_early_noisy"] - 1) < 1e-4
    sgd_far = abs(np.log10(figures["sgd_step_ratio_late_over_early_noisy"]) - 6) < 1e-6
    verdict = "holds" if same and sgd_far else "false"
    return Verdict(verdict, figures, key="adam_step_ratio_late_over_early_noisy", detail=(
        f"Holds: gradients a million-fold apart change Adam's step by "
        f"{abs(figures['adam_step_ratio_late_over_early_noisy'] - 1):.0e} and SGD's "
        f"{figures['sgd_step_ratio_late_over_early_noisy']:.0e}-fold. With gradients of 1e-3 and 1e3 (a million-fold apart) and the same shape, Adam's "
        "mean step is the same in both layers to "
        f"{abs(figures['adam_step_ratio_late_over_early_noisy'] - 1):.1e} (the rest is eps = 1e-8 "
        "against 1e-3), SGD's differs by "
        f"{figures['sgd_step_ratio_late_over_early_noisy']:.3g}x. The size is lr for a steady "
        f"gradient ({figures['adam_step_over_lr_layer_1e-3_clean']:.6f} lr at 1e-3), and smaller "
        f"for a noisy one: {figures['adam_step_over_lr_noisy']:.3f} lr for g = G(1 + 0.5 N(0,1)), "
        f"near the SNR |E g|/sqrt(E g^2) = {snr_closed:.3f}, so 'lr x (+-1)' is an upper value."))


def mean_steps(curvatures: np.ndarray, w0: np.ndarray, opt, steps: int, window: int) -> np.ndarray:
    """Mean |w_t - w_{t-1}| over the last ``window`` of ``steps`` steps, per coordinate, on
    f = sum a_i w_i^2 / 2 from w0."""
    w = w0.copy()
    state = opt.init(w)
    acc = np.zeros(len(curvatures))
    for t in range(steps):
        w_new, state = opt.step(w, curvatures * w, state)
        if t >= steps - window:
            acc += np.abs(w_new - w)
        w = w_new
    return acc / window


def log_slope_and_corr(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    lx, ly = np.log(x), np.log(y)
    return float(np.polyfit(lx, ly, 1)[0]), float(np.corrcoef(lx, ly)[0, 1])


CURVATURES = np.logspace(-3, 3, 13)


def curvature_run(quick: bool) -> dict[str, np.ndarray]:
    """Steps per coordinate on f = sum a_i w_i^2/2, a from 1e-3 to 1e3:

    * equal gradients (w_0 = 1/a, every gradient is 1), 20 steps at lr 1e-5 (no coordinate gets
      near its minimum): Newton's step is g/a = 1/a, Adam's and SGD's cannot see a;
    * w_0 = 1 (gradient a): Adam's step per unit gradient, lr/|g| = lr/a, looks like 1/a;
    * late: lr 1e-2 until every coordinate has arrived, mean step over the last steps."""
    a = CURVATURES
    steps, window = (400, 100) if quick else (3000, 500)
    equal = 1 / a
    return {
        "adam_equal_grad": mean_steps(a, equal, refopt.adam(lr=1e-5), 20, 20),
        "sgd_equal_grad": mean_steps(a, equal, refopt.sgd(lr=1e-5), 20, 20),
        "newton_equal_grad": 1 / a,
        "adam_per_unit_grad_w0_1": mean_steps(a, np.ones_like(a), refopt.adam(lr=1e-5), 1, 1) / a,
        "adam_late": mean_steps(a, equal, refopt.adam(lr=1e-2), steps, window),
    }


@claim("adam-not-curvature-aware",
       "Adam normalizes by gradient magnitude, not curvature: it does not take larger steps in "
       "flat directions and smaller ones in steep ravines the way Newton's H^-1 does",
       source_line=870)
def adam_not_curvature_aware(quick: bool) -> Verdict:
    r = curvature_run(quick)
    inv = 1 / CURVATURES
    s_adam, c_adam = log_slope_and_corr(inv, r["adam_equal_grad"])
    s_newton, _ = log_slope_and_corr(inv, r["newton_equal_grad"])
    s_sgd, _ = log_slope_and_corr(inv, r["sgd_equal_grad"])
    s_unit, _ = log_slope_and_corr(inv, r["adam_per_unit_grad_w0_1"])
    s_late, _ = log_slope_and_corr(inv, r["adam_late"])
    figures = {
        "slope_step_vs_inverse_curvature_adam_equal_grads": s_adam,
        "corr_step_vs_inverse_curvature_adam_equal_grads": c_adam,
        "slope_newton_equal_grads": s_newton,
        "slope_sgd_equal_grads": s_sgd,
        "adam_step_spread_max_over_min_equal_grads":
            float(r["adam_equal_grad"].max() / r["adam_equal_grad"].min()),
        "slope_adam_step_per_unit_grad_w0_1": s_unit,
        "slope_adam_late": s_late,
        "adam_late_step_over_lr_min": float(r["adam_late"].min() / 1e-2),
        "adam_late_step_over_lr_max": float(r["adam_late"].max() / 1e-2),
    }
    blind = abs(s_adam) < 0.01 and abs(s_newton - 1) < 1e-12
    return Verdict("holds" if blind else "false", figures,
                   key="slope_step_vs_inverse_curvature_adam_equal_grads", detail=(
        f"Holds: with equal gradients Adam's step has slope {s_adam:.0e} against 1/curvature in "
        "log-log, Newton's 1. On f = sum a_i w_i^2/2 with curvatures 1e-3..1e3, started where every gradient "
        "is 1 (w_0 = 1/a), Newton's step g/a has slope 1 against 1/a in log-log; Adam's has "
        f"slope {s_adam:.1e} (its 13 steps agree to a factor "
        f"{figures['adam_step_spread_max_over_min_equal_grads']:.6f}), like SGD's ({s_sgd:.1e}): "
        "with equal gradients it cannot tell a ravine wall from a plateau. The look-alike: "
        "from w_0 = 1 the gradient is a, so Adam's step per unit gradient, lr/|g|, has slope "
        f"{s_unit:.3f} against 1/a, as if it knew the curvature; it only knew the gradient. "
        "Late in a run at lr = 1e-2 the steps range from "
        f"{figures['adam_late_step_over_lr_min']:.1e} to {figures['adam_late_step_over_lr_max']:.2f} lr "
        f"(slope {s_late:.1f}): the steep coordinates have arrived (v_hat shrinks with g there, so "
        "Adam anneals on a noiseless quadratic) while the flat ones still travel at ~lr; that "
        "order comes from the distances left, not from a step ~ 1/a."))


@figure("adam_invariance")
def adam_invariance_figure(quick: bool, outdir) -> None:
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    x = np.logspace(-4, 4, 33)
    left.loglog(x, eps_deviation(x), "o", ms=4, label="refopt.adam, constant gradient")
    left.loglog(x, 1 / (1 + x), "k--", lw=0.8, label="closed form 1/(1+x)")
    left.set_xlabel("c|g| / eps")
    left.set_ylabel("1 - step/lr")
    left.set_title("Scale invariance: what eps leaves of it")
    left.legend(fontsize=8)
    r = curvature_run(quick)
    a = CURVATURES
    right.loglog(a, r["newton_equal_grad"] * 1e-5, "k--", lw=0.8, label="Newton g/a (x 1e-5)")
    right.loglog(a, r["adam_equal_grad"], "o-", label="Adam, lr = 1e-5")
    right.loglog(a, r["sgd_equal_grad"], "^-", label="SGD, lr = 1e-5")
    right.set_xlabel("curvature a (every gradient = 1)")
    right.set_ylabel("mean |step|, first 20 steps")
    right.set_title("Adam's step does not follow 1/curvature")
    right.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(outdir / "adam_invariance.png", dpi=120)
    plt.close(fig)
