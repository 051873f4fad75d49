r"""Regret rates: how fast R_T grows, and the notes' table of average regret (notes, lines
914-926; Kingma & Ba 2015, Theorem 4.1; Reddi, Kale & Kumar 2018, section 5).

The learners, the projection onto F = [-1, 1]^d and Reddi's online problem are those of
``analysis.regret``; this module measures the exponent p of :math:`R_T \sim T^p` on three
problems:

**Reddi's problem** (``analysis.regret.reddi``): p from the regret gained in the last dyadic
windows (``window_exponent``), up to T = 1,000,000.

**Random absolute losses.** :math:`f_t(x) = \sum_i |x_i - z_{ti}|`, :math:`z_{ti} \sim
N(\mu_i, 1)`, :math:`\mu_i \sim U(-0.5, 0.5)`, on :math:`F = [-1, 1]^8` (:math:`G_\infty = 1`,
:math:`D_\infty = 2`), with Kingma & Ba's schedule :math:`\alpha_t = \alpha/\sqrt t`,
:math:`\beta_{1,t} = \beta_1\lambda^{t-1}` and :math:`\gamma = \beta_1^2/\sqrt{\beta_2} < 1`:
the assumptions of their Theorem 4.1 hold, so :math:`O(\sqrt T)` is expected. The best
fixed point of :math:`\sum_t |x - z_t|` is the median, clipped.

**Random signs.** :math:`f_t(x) = \epsilon_t x`, :math:`\epsilon_t = \pm 1`: every learner
has :math:`E R_T = E|\sum_t \epsilon_t| = \sqrt{2T/\pi}(1 + O(1/T))`, the lower bound's
:math:`\sqrt T`.

The notes' table (average regret ~0.1, ~0.01, ~0.001 at T = 100, 10,000, 1,000,000) is
:math:`R_T = \sqrt T` with constant 1; its 10x-per-100x pattern is the :math:`O(1/\sqrt T)`
rate.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

import refopt

from .claim import Verdict, claim, figure
from .regret import ALPHA, C_PERIOD, REDDI_T, linear_regret, projected_run, reddi


def window_exponent(R: np.ndarray, windows: int = 3) -> float:
    """p in R_T ~ T^p from the regret gained in the last dyadic windows [T/2^(k+1), T/2^k]:
    R_(2T) - R_T ~ (2^p - 1) T^p, so successive increments grow by 2^p. Unlike a fit of
    log R, the early transient (large a_t) does not bias it."""
    T = len(R)
    ends = [T // 2**k for k in range(windows + 1)]
    inc = [R[ends[k] - 1] - R[ends[k + 1] - 1] for k in range(windows)]
    return float(np.mean([np.log2(inc[k] / inc[k + 1]) for k in range(windows - 1)]))


def abs_loss_problem(seed: int, d: int, T: int):
    """f_t(x) = sum_i |x_i - z_ti|, z_ti ~ N(mu_i, 1), mu_i ~ U(-0.5, 0.5): convex,
    |gradient| <= 1 (G_inf = 1), on F = [-1, 1]^d (D_inf = 2): Kingma & Ba's assumptions."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-0.5, 0.5, d) + rng.standard_normal((T, d))


def abs_loss_regret(z: np.ndarray, xs: np.ndarray, checkpoints) -> np.ndarray:
    """R_T at each checkpoint; the best fixed point of sum |x - z_t| is the median, clipped."""
    losses = np.cumsum(np.abs(xs - z).sum(axis=1))
    out = []
    for T in checkpoints:
        best = np.clip(np.median(z[:T], axis=0), -1, 1)
        out.append(losses[T - 1] - np.abs(z[:T] - best).sum())
    return np.array(out)


def assumption_rules(lam: float = 0.999):
    """Kingma & Ba Theorem 4.1: a_t = a/sqrt(t), beta1_t = beta1 lam^(t-1), gamma < 1."""
    sched = lambda t: ALPHA / np.sqrt(t)  # noqa: E731
    beta1 = lambda t: 0.9 * lam ** (t - 1)  # noqa: E731
    return {"adam": refopt.adam(lr=sched, beta1=beta1, beta2=0.999, eps=0.0),
            "amsgrad": refopt.amsgrad(lr=sched, beta1=beta1, beta2=0.999, eps=0.0),
            "adagrad": refopt.adagrad(lr=np.sqrt(2.0), eps=0.0)}


@lru_cache(maxsize=4)
def random_problem_regret(T: int, d: int = 8, seeds: int = 6):
    """Mean regret over ``seeds`` problems (run side by side as one long vector)."""
    zs = [abs_loss_problem(s, d, T) for s in range(seeds)]
    z = np.concatenate(zs, axis=1)
    checkpoints = np.unique(np.geomspace(30, T, 12).astype(int))
    out = {}
    for name, opt in assumption_rules().items():
        xs = projected_run(opt, lambda t, x: np.sign(x - z[t - 1]), np.zeros(z.shape[1]), T)
        per_seed = [abs_loss_regret(z[:, s * d:(s + 1) * d], xs[:, s * d:(s + 1) * d], checkpoints)
                    for s in range(seeds)]
        out[name] = np.mean(per_seed, axis=0)
    return checkpoints, out


RANDOM_T = {True: 10000, False: 100000}


def fit_exponent(T, R) -> float:
    keep = T >= T[-1] / 30
    return float(np.polyfit(np.log(T[keep]), np.log(R[keep]), 1)[0])


@claim("regret-exponents",
       "Adam's regret grows as O(sqrt T) (O(T) would be bad: constant gap forever); "
       "O(sqrt T) is optimal for general convex online learning",
       source_line=926)
def regret_exponents(quick: bool) -> Verdict:
    c, runs, _ = reddi(quick)
    figs = {}
    for name, xs in runs.items():
        figs[f"reddi_{name}_exponent"] = window_exponent(linear_regret(c[:len(xs)], xs))
    Tr = RANDOM_T[quick]
    cps, regrets = random_problem_regret(Tr)
    for name, R in regrets.items():
        figs[f"random_{name}_exponent"] = fit_exponent(cps, R)
    # the lower-bound anchor: f_t = eps_t x, eps_t = +-1: every learner has E R_T = E|sum eps|
    figs.update(coin_anchor(quick))
    adam_linear = figs["reddi_adam_exponent"] > 0.9
    others = all(figs[k] < 0.7 for k in figs if k.endswith("_exponent") and k != "reddi_adam_exponent")
    return Verdict(
        "conditional" if adam_linear and others else "holds", figs, key="reddi_adam_exponent",
        detail=(f"O(sqrt T) for AMSGrad, AdaGrad and benign problems, O(T) for Adam on Reddi's problem "
                f"(exponent {figs['reddi_adam_exponent']:.2f}); exponent p of R_T ~ T^p: on Reddi's "
                f"problem (from the regret gained in the last "
                f"three dyadic windows up to T = {REDDI_T}; AdaGrad {len(runs['adagrad'])}) Adam "
                f"{figs['reddi_adam_exponent']:.3f} (linear regret: the 'bad' O(T)), AMSGrad "
                f"{figs['reddi_amsgrad_exponent']:.2f}, AdaGrad {figs['reddi_adagrad_exponent']:.2f}; on "
                f"random |x - z_t| losses meeting Kingma & Ba's assumptions (a/sqrt(t), beta1_t = "
                f"0.9*0.999^(t-1), gamma = 0.81 < 1; fit over T in [{Tr // 30}, {Tr}]): Adam "
                f"{figs['random_adam_exponent']:.2f}, AMSGrad {figs['random_amsgrad_exponent']:.2f}, "
                f"AdaGrad {figs['random_adagrad_exponent']:.2f} (log-log fit). The sqrt(T) lower bound: on "
                f"random "
                f"+-x losses Adam's mean regret / sqrt(2T/pi) = {figs['coin_adam_over_sqrt_2T_pi']:.3f}. "
                f"Condition: O(sqrt T) holds on benign problems and for AMSGrad and AdaGrad, but "
                f"not for Adam in general (Reddi et al. Theorem 1)."),
    )


def coin_anchor(quick: bool) -> dict:
    """E R_T = E|sum eps_t| = sqrt(2T/pi)(1 + O(1/T)) for any learner on f_t = eps_t x."""
    T, n = (400, 500) if quick else (2000, 2000)
    rng = np.random.default_rng(11)
    eps = rng.choice([-1.0, 1.0], size=(T, n))
    opt = refopt.adam(lr=lambda t: ALPHA / np.sqrt(t), beta1=0.9, beta2=0.999, eps=0.0)
    xs = projected_run(opt, lambda t, x: eps[t - 1], np.zeros(n), T)
    R = (eps * xs).sum(axis=0) + np.abs(eps.sum(axis=0))
    return {"coin_adam_over_sqrt_2T_pi": float(R.mean() / np.sqrt(2 * T / np.pi)),
            "coin_standard_error": float(R.std() / np.sqrt(n) / np.sqrt(2 * T / np.pi))}


@claim("regret-table",
       "Average regret O(1/sqrt T): ~0.1 at T = 100, ~0.01 at T = 10,000, ~0.001 at "
       "T = 1,000,000", source_line=920)
def regret_table(quick: bool) -> Verdict:
    T = RANDOM_T[quick]
    cps, regrets = random_problem_regret(T)
    stated = {100: 0.1, 10000: 0.01, 1000000: 0.001}
    figs, within = {}, []
    for name, R in regrets.items():
        avg = R / cps
        for row in stated:
            if row <= T:
                got = float(np.exp(np.interp(np.log(row), np.log(cps), np.log(avg))))
                figs[f"{name}_avg_regret_T{row}"] = got
                # the table's "~": within a factor of 3 either way
                within.append(1 / 3 <= got / stated[row] <= 3)
        figs[f"{name}_ratio_per_100x_T"] = float(100 ** (1 - fit_exponent(cps, R)))
    c, runs, _ = reddi(quick)
    R_adam = linear_regret(c, runs["adam"])
    figs["reddi_adam_avg_regret_T10000"] = float(R_adam[10000 - 1] / 10000)
    figs["reddi_adam_avg_regret_T1000000"] = float(R_adam[-1] / len(R_adam))
    figs["rows_within_3x_random_problem"] = float(np.mean(within))
    rates = [figs[f"{n}_ratio_per_100x_T"] for n in regrets]
    # O(1/sqrt T) means 10x per 100x T; 8x leaves room for the finite-T fit
    benign = min(rates) >= 8
    reddi_fails = figs["reddi_adam_avg_regret_T1000000"] > 100 * stated[1000000]
    return Verdict(
        "false" if not benign else "conditional" if reddi_fails else "holds",
        figs, key="adam_avg_regret_T10000",
        detail=(f"The 10x-per-100x pattern holds on benign problems ({min(rates):.0f}-{max(rates):.0f}x "
                f"measured), {figs['rows_within_3x_random_problem']:.0%} of the absolute rows within 3x, "
                f"and no row holds for Adam on Reddi's "
                f"problem; the rows are R_T = sqrt(T) with constant 1; on the random |x - z_t| problem (8 "
                f"coordinates, 6 seeds, T up to {T}) the average regret at T = 100 / 10,000 is "
                f"Adam {figs['adam_avg_regret_T100']:.3f} / {figs['adam_avg_regret_T10000']:.4f}, "
                f"AMSGrad {figs['amsgrad_avg_regret_T100']:.3f} / "
                f"{figs['amsgrad_avg_regret_T10000']:.4f}, AdaGrad "
                f"{figs['adagrad_avg_regret_T100']:.3f} / {figs['adagrad_avg_regret_T10000']:.4f}: "
                f"{figs['rows_within_3x_random_problem']:.0%} of these within 3x of the table, and "
                f"falling {min(rates):.0f}-{max(rates):.0f}x per 100x T (the table: 10x). The "
                f"constant scales with D_inf G_inf and the dimension, so the absolute rows are "
                f"illustrative; the 10x-per-100x pattern is the O(1/sqrt T) rate, which holds on "
                f"benign problems. On Reddi's problem every row fails for Adam: average regret "
                f"{figs['reddi_adam_avg_regret_T10000']:.3f} at T = 10,000 and "
                f"{figs['reddi_adam_avg_regret_T1000000']:.3f} at 1,000,000 (table: 0.001), tending "
                f"to 20/101 = 0.198. The T = 1,000,000 row was not run on the random problem "
                f"(three rules x 1e6 steps exceed the time budget)."),
    )


@figure("regret_curves")
def draw_regret(quick: bool, outdir) -> None:
    import matplotlib.pyplot as plt
    c, runs, _ = reddi(quick)
    cps, regrets = random_problem_regret(RANDOM_T[quick])
    t = np.arange(1, REDDI_T + 1)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    for name, xs in runs.items():
        n = len(xs)
        keep = np.unique(np.geomspace(1, n, 2000).astype(int)) - 1
        ax.loglog(t[keep], np.maximum(linear_regret(c[:n], xs)[keep], 1e-3), label=name)
    ax.loglog(t, 20 / C_PERIOD * t, "k:", label="x = +1 always (20T/101)")
    ax.set(xlabel="T", ylabel="R_T", title="Reddi et al. sec. 5 (1010x / -10x, period 101)")
    ax.legend(fontsize=7)
    for name, R in regrets.items():
        bx.loglog(cps, R / cps, "o-", ms=3, label=name)
    bx.loglog(cps, 1 / np.sqrt(cps), "k:", label="notes' table: 1/sqrt(T)")
    bx.set(xlabel="T", ylabel="R_T / T", title="random |x - z_t| losses, Kingma & Ba's assumptions")
    bx.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(outdir / "regret_curves.png", dpi=120)
    plt.close(fig)
