r"""Prodigy and D-Adaptation on convex quadratics: "d_t approaches D = ||x_0 - x*|| from below, and
the step it implies is that of a tuned fixed step".

Sources. Defazio & Mishchenko 2023, "Learning-Rate-Free Learning by D-Adaptation" (ICML 2023, arXiv
2301.07733): Algorithm 1 (dual averaging with D-Adaptation) and the inequality of its §2 (p. 3;
proved as Lemma 5, Appendix A, as the first author says in facebookresearch/dadaptation#18),
:math:`\sum_k d_k (f(x_k) - f_*) \le D\lVert s_{n+1}\rVert + \sum_k \tfrac{\gamma_k}{2} d_k^2
\lVert g_k\rVert^2 - \tfrac{\gamma_{n+1}}{2}\lVert s_{n+1}\rVert^2`, whose left side is >= 0 for
convex f: so :math:`\hat d_{n+1} \le D` and, with :math:`d_0 \le D`, every :math:`d_k \le D`;
the coordinate-wise (AdaGrad, Adam) variants bound the distance in the infinity norm. Its abstract:
the method "asymptotically achieves the optimal rate" for convex Lipschitz functions (that of the step
tuned with D known, :math:`DG/\sqrt{n+1}` up to a constant) "without additional multiplicative log
factors". Mishchenko & Defazio 2023, "Prodigy" (arXiv 2306.06101; ICML 2024): the same lower bound
with weights :math:`d_k^2`, a rate better than D-Adaptation's by :math:`O(\sqrt{\log(D/d_0)})` (its
abstract); its Adam form (§5) is the rule run here. The theory is for exact (sub)gradients; the Adam
forms (EMA-weighted sums) come without proof. (The papers' later pages, with the theorem numbers,
could not be read here: only their openings and the maintainer's note above were.)

Each rule's own D (the norm its estimate bounds, refopt's docstrings): Euclidean for ``dadapt_sgd``,
whose :math:`\hat d = 2\rho/\lVert s\rVert` is the package's, twice the paper's (so only
:math:`d \le 2D` is proven for it, tests/rules/test_dadapt_sgd.py); :math:`\lVert x_0 -
x^*\rVert_\infty` for ``prodigy``, ``dadapt_adam`` and ``dadapt_adagrad`` (l1 norm of s below).
``dadapt_adam_bc`` is D-Adapt Adam with bias correction on (optax.contrib ``dadapt_adamw``'s form).

Problems: :math:`f(x) = \tfrac12\sum_i h_i (x_i - x^*_i)^2`, :math:`h` geometric from L = 1 to
:math:`\mu = 1/\kappa`, :math:`x_0 = 0`, :math:`x^* = D u` (u a random unit vector, 3 seeds), for
kappa in {1, 1e2, 1e4} and D in {1e-3, 1e3} (dimension 20), and dimension 200 once; the real rules at
their defaults (d0 = 1e-6) for T = 500 steps; separately with noise :math:`g + \sigma\xi`,
:math:`\sigma` = 0.3 of the first gradient's RMS; and once with D below d0. Measured: max_t d_t/D,
d_T/D, the steps to reach 10 % of D, and the implied step against the best fixed one: D-Adapt SGD
(momentum 0) is gradient descent with lr :math:`d_t/\lVert g_1\rVert`, against :math:`2/(L+\mu)`
(closed form), the best fixed lr for T steps (``gd_best``, closed form) and the stability limit 2/L;
the Adam forms are Adam with lr :math:`d\,(1-\beta_1^t)/\sqrt{1-\beta_2^t}` (d with bias
correction), against the best constant lr of bias-corrected Adam over a grid (``adam_best``).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

import refopt

from .claim import Verdict, claim, figure

# name -> (refopt factory, its arguments); dadapt_adam_bc is optax.contrib's form (bias correction on)
RULES = {"prodigy": ("prodigy", {}), "dadapt_adam": ("dadapt_adam", {}),
         "dadapt_adam_bc": ("dadapt_adam", {"use_bias_correction": True}),
         "dadapt_sgd": ("dadapt_sgd", {}), "dadapt_adagrad": ("dadapt_adagrad", {})}
EUCLIDEAN = ("dadapt_sgd",)
BIAS_CORRECTED = ("dadapt_adam_bc",)
SIZES = {False: {"T": 500, "kappas": (1.0, 1e2, 1e4), "distances": (1e-3, 1e3), "seeds": (0, 1, 2),
                 "dim": 20, "wide": (1e2, 1.0, 200)},
         True: {"T": 200, "kappas": (1.0, 1e2), "distances": (1e-3, 1e3), "seeds": (0, 1), "dim": 10,
                "wide": None}}
NOISE, FRACTION, BELOW_D0 = 0.3, 0.1, 1e-8
ADAM_GRID = np.geomspace(1e-4, 3.0, 36)   # lr / D_inf
BOUND_TOL = 1e-12


def problem(kappa: float, dim: int, D: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(h, x*): curvatures from 1 to 1/kappa, x* at Euclidean distance D from x_0 = 0."""
    u = np.random.default_rng(seed).standard_normal(dim)
    return np.geomspace(1.0, 1.0 / kappa, dim), D * u / np.linalg.norm(u)


def distance(name: str, x_star: np.ndarray) -> float:
    """The D that rule ``name`` estimates (module docstring)."""
    return float(np.linalg.norm(x_star) if name in EUCLIDEAN else np.max(np.abs(x_star)))


def run(name: str, h, x_star, T: int, noise: float = 0.0, seed: int = 1) -> dict:
    """The real rule from x_0 = 0: d_t (the state's d after step t), f(x_t) - f*, and its lr
    (``dadapt_sgd``: d/||g_1||). A diverged run's non-finite values are left as they come."""
    rng = np.random.default_rng(seed)
    factory, kwargs = RULES[name]
    opt = getattr(refopt, factory)(**kwargs)
    x = np.zeros_like(h)
    state = opt.init(x)
    sigma = noise * float(np.sqrt(np.mean((h * x_star) ** 2)))
    d, f = np.empty(T), np.empty(T)
    with np.errstate(all="ignore"):
        for t in range(T):
            g = h * (x - x_star) + (sigma * rng.standard_normal(len(h)) if noise else 0.0)
            x, state = opt.step(x, g, state)
            d[t], f[t] = state.d, 0.5 * float(np.sum(h * (x - x_star) ** 2))
    finite = d[np.isfinite(d)]
    d_final = float(finite[-1]) if finite.size else np.nan  # a diverged run: d before it overflowed
    lr = d_final / float(np.linalg.norm(h * x_star)) if name == "dadapt_sgd" else np.nan  # ||g_1||, x_0 = 0
    return {"d": d, "f": f, "d_final": d_final, "lr": lr}


def gd_best(h, x_star, T: int) -> float:
    """The fixed GD lr with the lowest f(x_T), in closed form: x_T - x* = (1 - lr h)^T (x_0 - x*),
    over a fine grid up to the stability limit 2/L."""
    grid = np.linspace(1e-3, 2.0 / h.max(), 4000)
    with np.errstate(all="ignore"):
        fT = 0.5 * np.sum(h * x_star**2 * (1 - grid[:, None] * h) ** (2 * T), axis=1)
    return float(grid[np.argmin(fT)])


def adam_tail(h, x_star, T: int, lrs: np.ndarray) -> np.ndarray:
    """Mean f over the last tenth of T of Adam (refopt.adam, eps 0) at each lr of ``lrs``, in one run:
    with eps = 0 Adam's step does not see the gradients' scale, so Adam at lr c from 0 towards x* is
    c times Adam at lr 1 towards x*/c (every c as one block of coordinates)."""
    c = np.asarray(lrs, dtype=float)[:, None]
    target = x_star / c
    opt = refopt.adam(lr=1.0, eps=0.0)
    y = np.zeros_like(target)
    state, tail = opt.init(y), np.zeros(len(c))
    for t in range(T):
        y, state = opt.step(y, h * (y - target), state)
        if t >= T - T // 10:
            tail += 0.5 * np.sum(h * (c * y - x_star) ** 2, axis=1)
    return tail / (T // 10)


def adam_best(h, x_star, T: int) -> float:
    """The constant Adam lr of ADAM_GRID * D_inf with the lowest adam_tail."""
    lrs = ADAM_GRID * np.max(np.abs(x_star))
    return float(lrs[np.argmin(adam_tail(h, x_star, T, lrs))])


def diverged(f: np.ndarray, case: dict) -> bool:
    """f(x_T) - f* above f(x_0) - f*, or not finite."""
    f0 = 0.5 * float(np.sum(case["h"] * case["x_star"] ** 2))
    return not f[-1] <= f0


def steps_to(d: np.ndarray, level: float) -> float:
    hit = np.flatnonzero(d >= level)
    return float(hit[0] + 1) if hit.size else np.inf


@lru_cache(maxsize=2)
def runs(quick: bool) -> dict:
    """{(kind, kappa, dim, D, seed): {"h", "x_star", "best_gd", "best_adam", rule: run}}, kind
    "exact" or "noisy"; plus ("below_d0", ...) with D < d0. The seed draws x*'s direction."""
    s = SIZES[quick]
    cases = [("exact", k, s["dim"], D, seed)
             for k in s["kappas"] for D in s["distances"] for seed in s["seeds"]]
    if s["wide"]:
        kappa, D, dim = s["wide"]
        cases.append(("exact", kappa, dim, D, 0))
    cases += [("noisy", s["kappas"][-1], s["dim"], D, 0) for D in s["distances"]]
    cases += [("below_d0", 1.0, s["dim"], BELOW_D0, 0)]
    out = {}
    for kind, kappa, dim, D, seed in cases:
        h, x_star = problem(kappa, dim, D, seed)
        T = 20 if kind == "below_d0" else s["T"]
        res = {"h": h, "x_star": x_star, "T": T}
        if kind == "exact":
            res["best_gd"], res["best_adam"] = gd_best(h, x_star, T), adam_best(h, x_star, T)
        for name in RULES:
            res[name] = run(name, h, x_star, T, NOISE if kind == "noisy" else 0.0)
        out[kind, kappa, dim, D, seed] = res
    return out


def implied_adam_lr(d: float, t: int, beta1: float = 0.9, beta2: float = 0.999) -> float:
    """The lr of bias-corrected Adam that a rule with no bias correction and step size d takes at t."""
    return d * (1 - beta1**t) / np.sqrt(1 - beta2**t)


def findings(out: dict) -> dict[str, float]:
    figs: dict[str, float] = {}
    exact = [r for k, r in out.items() if k[0] == "exact"]
    below = [r for k, r in out.items() if k[0] == "below_d0"]
    for name in RULES:
        def over_D(r, d):
            return float(d) / distance(name, r["x_star"])
        for kind in ("exact", "noisy"):
            cases = [r for k, r in out.items() if k[0] == kind]
            figs[f"{name}_{kind}_max_d_over_D"] = max(over_D(r, np.nanmax(r[name]["d"])) for r in cases)
            figs[f"{name}_{kind}_min_final_d_over_D"] = min(over_D(r, r[name]["d_final"]) for r in cases)
            figs[f"{name}_{kind}_diverged_runs"] = float(sum(diverged(r[name]["f"], r) for r in cases))
        steps = [steps_to(r[name]["d"], FRACTION * distance(name, r["x_star"])) for r in exact]
        reached = [n for n in steps if np.isfinite(n)]
        figs[f"{name}_problems_reaching_tenth_of_D"] = float(len(reached))
        figs[f"{name}_max_steps_to_tenth_of_D_where_reached"] = float(max(reached, default=0.0))
        figs[f"{name}_below_d0_d_over_D"] = over_D(below[0], below[0][name]["d"][-1])
        if name == "dadapt_sgd":
            figs["dadapt_sgd_max_lr_over_2_over_L_plus_mu"] = max(r[name]["lr"] * (1 + r["h"].min()) / 2
                                                                  for r in exact)
            figs["dadapt_sgd_max_lr_over_best_gd"] = float(max(r[name]["lr"] / r["best_gd"] for r in exact))
            figs["dadapt_sgd_runs_past_2_over_L"] = float(sum(r[name]["lr"] > 2.0 for r in exact))  # L = 1
        elif name != "dadapt_adagrad":
            bias = name in BIAS_CORRECTED   # its step is then d times Adam's corrected direction
            lr = [r[name]["d_final"] if bias else implied_adam_lr(r[name]["d_final"], r["T"]) for r in exact]
            q = [x / r["best_adam"] for x, r in zip(lr, exact)]
            figs[f"{name}_min_lr_over_best_adam"], figs[f"{name}_max_lr_over_best_adam"] = min(q), max(q)
    figs["dadapt_adam_exact_max_d_over_D2"] = max(
        float(np.nanmax(r["dadapt_adam"]["d"]) / np.linalg.norm(r["x_star"])) for r in exact)
    figs["problems_exact"] = float(len(exact))
    figs["worst_max_d_over_D_exact"] = max(figs[f"{n}_exact_max_d_over_D"] for n in RULES)
    return figs


FACTOR = 4.0  # "within a constant factor": implied step within 4x of the best fixed one


def parts(figs: dict) -> dict[str, list[str]]:
    """Which rules pass each part: below (max d/D <= 1 on exact gradients, d0 <= D), near (d_T/D >=
    1/FACTOR on every exact problem), step (implied step within FACTOR of the best fixed one, no run
    diverged; D-Adapt AdaGrad has no fixed-step baseline here and is judged on the first two)."""
    below = [n for n in RULES if figs[f"{n}_exact_max_d_over_D"] <= 1 + BOUND_TOL]
    near = [n for n in RULES if figs[f"{n}_exact_min_final_d_over_D"] >= 1 / FACTOR]
    step = [n for n in RULES if figs[f"{n}_exact_diverged_runs"] == 0 and (
        n == "dadapt_adagrad" or (n == "dadapt_sgd" and figs["dadapt_sgd_max_lr_over_best_gd"] <= FACTOR)
        or (n not in EUCLIDEAN and 1 / FACTOR <= figs.get(f"{n}_min_lr_over_best_adam", 0)
            and figs.get(f"{n}_max_lr_over_best_adam", np.inf) <= FACTOR))]
    return {"below": below, "near": near, "step": step}


def verdict_of(figs: dict) -> str:
    """holds: every rule passes every part; conditional: every rule stays below D (the lemma) but
    some miss "near" or "step"; false: some rule's d passes D on exact gradients with d0 <= D."""
    p = parts(figs)
    if len(p["below"]) < len(RULES):
        return "false"
    return "holds" if all(len(v) == len(RULES) for v in p.values()) else "conditional"


@claim("prodigy-d-estimate",
       "[Defazio & Mishchenko 2023; Mishchenko & Defazio 2023, beyond the notes] D-Adaptation's and "
       "Prodigy's estimate d_t approaches D = ||x_0 - x*|| from below on convex problems (d_t <= D when "
       "d_0 <= D), and the step it implies is within a constant factor of the best fixed step: convex "
       "quadratics, kappa 1 to 1e4, D 1e-3 to 1e3, the real rules at their defaults",
       source_line=473)  # the notes: AdaDelta's "no learning rate" promise is oversold
def d_estimate_below_D(quick: bool) -> Verdict:
    figs = f = findings(runs(quick))
    p, v, n = parts(figs), verdict_of(figs), figs["problems_exact"]
    listed = lambda names: ", ".join(names) or "none"  # noqa: E731

    def per_rule(key, fmt=".3g"):
        return ", ".join(f"{n} {figs[f'{n}_{key}']:{fmt}}" for n in RULES)
    sgd = (f"D-Adapt SGD is GD with lr d/||g_1||, up to "
           f"{f['dadapt_sgd_max_lr_over_2_over_L_plus_mu']:.3g} x 2/(L+mu) and "
           f"{f['dadapt_sgd_max_lr_over_best_gd']:.3g} x the best fixed lr for T steps, past the "
           f"stability limit 2/L in {f['dadapt_sgd_runs_past_2_over_L']:.0f} runs, of which "
           f"{f['dadapt_sgd_exact_diverged_runs']:.0f} ended above f(x_0) or not finite (its lr takes "
           f"||g_1|| for the "
           f"Lipschitz constant G; the lemma bounds d, not the step)")
    adam = (f"Prodigy's implied Adam lr is {f['prodigy_min_lr_over_best_adam']:.3g} to "
            f"{f['prodigy_max_lr_over_best_adam']:.3g} x the grid-best constant Adam lr, D-Adapt Adam's "
            f"{f['dadapt_adam_min_lr_over_best_adam']:.3g} to "
            f"{f['dadapt_adam_max_lr_over_best_adam']:.3g} x, "
            f"with bias correction {f['dadapt_adam_bc_min_lr_over_best_adam']:.3g} to "
            f"{f['dadapt_adam_bc_max_lr_over_best_adam']:.3g} x (the grid's spacing, "
            f"{ADAM_GRID[1] / ADAM_GRID[0]:.2f}x, is these ratios' resolution)")
    detail = (
        f"Of the {len(RULES)} rules, d_t stays below D on exact gradients for {listed(p['below'])}; "
        f"ends within {FACTOR:g}x of D for {listed(p['near'])}; implies a step within {FACTOR:g}x of the "
        f"best fixed one, never diverging, for {listed(p['step'])}. Max over t and {n:.0f} exact-gradient "
        f"problems of d_t/D: {per_rule('exact_max_d_over_D')} (D in each rule's norm: Euclidean for "
        f"dadapt_sgd, infinity for the others; dadapt_adam_bc is D-Adapt Adam with bias correction; "
        f"dadapt_adam's against the Euclidean D: "
        f"{f['dadapt_adam_exact_max_d_over_D2']:.3g}); lowest final d_T/D: "
        f"{per_rule('exact_min_final_d_over_D')}; problems where d reaches {FRACTION} D: "
        f"{per_rule('problems_reaching_tenth_of_D', '.0f')} of {n:.0f}, within at most "
        f"{per_rule('max_steps_to_tenth_of_D_where_reached', '.0f')} steps. With noise "
        f"(sigma {NOISE} of the first gradient's RMS, kappa {SIZES[quick]['kappas'][-1]:g}): max d/D "
        f"{per_rule('noisy_max_d_over_D')}. With D = {BELOW_D0} < d0: d/D {per_rule('below_d0_d_over_D')} "
        f"(d never falls below d0: the bound needs d0 <= D). Implied step: {sgd}. {adam}. The bound is "
        f"proven for dual averaging with exact gradients; Prodigy's numerator sums <g_k, x_0 - x_(k-1)> with "
        f"weights >= 0, so convexity bounds it by ||s||_1 D_inf whatever the weights; D-Adapt Adam's sums "
        f"<g_k, s_(k-1)/sqrt(v)>, which is not x_0 - x_(k-1) once the EMAs weigh, and has no such bound.")
    return Verdict(v, figs, "worst_max_d_over_D_exact", detail)


@figure("d_estimate")
def draw(quick: bool, outdir) -> None:
    import matplotlib.pyplot as plt
    out = runs(quick)
    fig, axes = plt.subplots(1, len(RULES), figsize=(15, 4.4), sharey=True)
    for ax, name in zip(axes, RULES):
        labelled = set()
        for (kind, kappa, dim, D, seed), r in out.items():
            if kind == "below_d0":
                continue
            group = f"{kind}, kappa {kappa:g}" + (f", n {dim}" if dim != SIZES[quick]["dim"] else "")
            q = r[name]["d"] / distance(name, r["x_star"])
            colour = SIZES[quick]["kappas"].index(kappa) + 3 * (dim != SIZES[quick]["dim"])
            ax.loglog(np.arange(1, len(q) + 1), q, lw=0.8, ls="-" if kind == "exact" else ":",
                      color=f"C{colour}", label=None if group in labelled else group)
            labelled.add(group)
        ax.axhline(1.0, c="k", lw=0.8)
        ax.set(title=name, xlabel="step t")
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("d_t / D (D in the rule's norm)")
    axes[0].set_ylim(1e-10, 3)
    axes[0].legend(fontsize=7, loc="lower right")
    fig.suptitle(f"d_t / D on convex quadratics (D {', '.join(f'{D:g}' for D in SIZES[quick]['distances'])}, "
                 f"x* directions {len(SIZES[quick]['seeds'])} seeds), d0 = 1e-6; line: 1", fontsize=9)
    fig.tight_layout()
    fig.savefig(outdir / "d_estimate.png", dpi=110)
    plt.close(fig)
