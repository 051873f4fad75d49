r"""AdEMAMix's slow EMA: "gradients from tens of thousands of steps ago still matter", and what its
beta3 warm-up does to that window.

Source: Pagliardini, Ablin & Grangier 2024, "The AdEMAMix Optimizer: Better, Faster, Older" (arXiv
2409.03137; ICLR 2025): the abstract's "gradients can stay relevant for tens of thousands of steps",
with :math:`\beta_3 = 0.9999` (Algorithm 1's slow EMA :math:`m_2`, not bias-corrected), and §3's
scheduler :math:`f_{\beta_3}`, which grows the EMA's half-life linearly from :math:`\beta_1`'s to
:math:`\beta_3`'s over :math:`T_{\beta_3}` steps (the paper sets :math:`T_{\beta_3}` to the run's
length; the authors' README example: 256,000). The half-life is the paper's and the authors' code's
:math:`t_{1/2}(\beta) = \ln 0.5 / \ln\beta - 1`; the notes' rule of thumb (line 203) is the window
:math:`1/(1-\beta)`.

**Closed form.** With :math:`m_{2,0} = 0`, :math:`m_{2,t} = \sum_{s \le t} w_{t,s}\, g_s` with
:math:`w_{t,s} = (1-\beta_{3,s}) \prod_{j=s+1}^{t} \beta_{3,j}` (the product of the betas since s).
Constant :math:`\beta_3`: the weight on lag k = t - s is :math:`(1-\beta_3)\beta_3^k`, the mass older
than k is :math:`\beta_3^{k}` (minus the part before step 1, :math:`\beta_3^t`). With the warm-up,
:math:`\beta_{3,j}` comes from the half-life written here (``half_life_schedule``), not from the rule.

**Simulation.** The real rule ``refopt.ademamix`` (lr 0, so w stays put; the state is what is read)
with one coordinate per probe: an impulse at step t - k (m_2 at t is then the weight on lag k), or
1 on every step up to t - k (m_2 is the mass older than k), over ``SIM_T`` steps with and without
``t_beta3 = SIM_T``; its m_2 against the closed form.

**Measured**, at :math:`\beta_1 = 0.9`, :math:`\beta_3 = 0.9999`: the half-life (lag where the
weight falls to half the newest), the lag that holds half the mass, the mass older than 10k, 20k,
50k steps, and :math:`k_{5\%}`, the oldest lag with at least 5 % of the mass older than it: without
the warm-up, and with it at t = T, T/2, T/4 of a T = T_beta3 = 256,000 run, and the first t at which
:math:`k_{5\%}` reaches 20,000 ("tens of thousands"). Verdict: holds if :math:`k_{5\%} \ge` 20,000
without the warm-up and at every t >= T/4 with it; conditional if only without it (or late in it).
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

import refopt

from .claim import Verdict, claim, figure

BETA1, BETA3 = 0.9, 0.9999
RUN_T = 256_000          # T = T_beta3, as in the authors' README
SIM_T = {False: 40_000, True: 3_000}
TENS, MATTERS = 20_000, 0.05
MASS_LAGS = (10_000, 20_000, 50_000)


def half_life(beta: float) -> float:
    """The paper's t_half = ln(0.5)/ln(beta) - 1."""
    return np.log(0.5) / np.log(beta) - 1


def half_life_schedule(t, beta1: float, beta3: float, T: float) -> np.ndarray:
    """beta_3,t whose half-life grows linearly in t from beta1's (t = 0) to beta3's (t = T), then stays."""
    s = np.minimum(np.asarray(t, dtype=float) / T, 1.0)
    h = (1 - s) * half_life(beta1) + s * half_life(beta3)
    return 0.5 ** (1 / (h + 1))


def betas(t_end: int, T: float | None) -> np.ndarray:
    """beta_3,j for j = 1..t_end (index j - 1), constant where T is None."""
    j = np.arange(1, t_end + 1)
    return np.full(t_end, BETA3) if T is None else half_life_schedule(j, BETA1, BETA3, T)


def weights(t: int, T: float | None) -> np.ndarray:
    """w_{t, t-k} for k = 0..t-1 (the closed form above), via log-sums of the betas."""
    b = betas(t, T)
    log_after = np.concatenate([np.cumsum(np.log(b)[::-1])[::-1][1:], [0.0]])  # sum_{j>s} ln beta_j
    w_by_s = (1 - b) * np.exp(log_after)
    return w_by_s[::-1]


def window(w: np.ndarray) -> dict[str, float]:
    """Figures of one weight vector (index = lag k)."""
    older = np.concatenate([np.cumsum(w[::-1])[::-1][1:], [0.0]])   # mass on lags > k
    total = float(w.sum())
    out = {"total_mass": total,
           "half_life": float(np.argmax(w < w[0] / 2)),
           "median_lag": float(np.argmax(np.cumsum(w) >= total / 2)),
           "k_5pct": float(np.flatnonzero(older >= MATTERS)[-1]) if older[0] >= MATTERS else 0.0}
    for k in MASS_LAGS:
        out[f"mass_older_than_{k}"] = float(older[k]) if k < len(w) else 0.0
    return out


def first_t_reaching(k: int, T: int) -> float:
    """The first step t <= T at which k_5% >= k under the warm-up over T steps (bisection: the window
    only grows with t while the half-life does); inf if none."""
    def reached(t):
        return window(weights(t, T))["k_5pct"] >= k
    if not reached(T):
        return np.inf
    lo, hi = 1, T
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if reached(mid) else (mid + 1, hi)
    return float(lo)


def simulate(t_end: int, t_beta3: float | None, lags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """m_2 of the real rule at t_end: (weights on ``lags``, mass older than each of ``lags``)."""
    opt = refopt.ademamix(lr=0.0, beta1=BETA1, beta3=BETA3, t_beta3=t_beta3)
    n = len(lags)
    w = np.zeros(2 * n)
    state = opt.init(w)
    for t in range(1, t_end + 1):
        g = np.concatenate([(t == t_end - lags), (t < t_end - lags)]).astype(float)
        w, state = opt.step(w, g, state)
    return state.m2[:n], state.m2[n:]


@lru_cache(maxsize=2)
def results(quick: bool) -> dict:
    T, sim_t = RUN_T, SIM_T[quick]
    out = {"constant": weights(T, None)}
    for frac in (1.0, 0.5, 0.25):
        out[f"warmup_t_{frac}T"] = weights(int(frac * T), T)
    lags = np.unique(np.geomspace(1, sim_t - 1, 40).astype(int))
    out["sim"] = {"lags": lags}
    for name, tb in (("constant", None), ("warmup", float(sim_t))):
        w_sim, older_sim = simulate(sim_t, tb, lags)
        w_cf = weights(sim_t, tb)
        older_cf = np.concatenate([np.cumsum(w_cf[::-1])[::-1][1:], [0.0]])
        out["sim"][name] = {"weights": w_sim, "older": older_sim,
                            "weights_cf": w_cf[lags], "older_cf": older_cf[lags]}
    return out


def findings(res: dict, quick: bool) -> dict[str, float]:
    figs = {"effective_steps_1_over_1_minus_beta3": 1 / (1 - BETA3),
            "paper_half_life_beta3": half_life(BETA3), "T": float(RUN_T), "sim_steps": float(SIM_T[quick])}
    for name in ("constant", "warmup_t_1.0T", "warmup_t_0.5T", "warmup_t_0.25T"):
        figs.update({f"{name}_{k}": v for k, v in window(res[name]).items()})
    figs["warmup_first_t_over_T_k5pct_reaches_tens_of_thousands"] = first_t_reaching(TENS, RUN_T) / RUN_T
    errors = []
    for name in ("constant", "warmup"):
        s = res["sim"][name]
        for got, want in ((s["weights"], s["weights_cf"]), (s["older"], s["older_cf"])):
            keep = want > 0
            errors.append(float(np.max(np.abs(got[keep] - want[keep]) / want[keep])))
    figs["sim_vs_closed_form_max_rel_error"] = max(errors)
    return figs


SIM_TOL = 1e-9   # the products of up to 40,000 betas, summed step by step, against log-sums


def verdict_of(figs: dict) -> str:
    if figs["sim_vs_closed_form_max_rel_error"] > SIM_TOL or figs["constant_k_5pct"] < TENS:
        return "false"
    late = all(figs[f"warmup_t_{f}T_k_5pct"] >= TENS for f in ("1.0", "0.5", "0.25"))
    return "holds" if late else "conditional"


WHY = {"holds": "The window is tens of thousands of steps throughout.",
       "conditional": "Condition: a constant beta3, or late in the warm-up: the window grows with "
                      "t/T_beta3, so gradients that old weigh only in the last part of a run whose "
                      "T_beta3 is its length.",
       "false": "The window or the simulation misses the bar."}


@claim("ademamix-slow-window",
       "[Pagliardini et al. 2024, beyond the notes] AdEMAMix's slow EMA (beta3 = 0.9999) keeps weight on "
       "gradients from tens of thousands of steps ago (window 1/(1-beta3) = 10,000 steps, half-life ~6,930), "
       "and the beta3 warm-up (half-life linear in t up to T_beta3 = T) leaves that window in place",
       source_line=203)  # the notes' "window ~ 1/(1 - beta)"
def ademamix_slow_window(quick: bool) -> Verdict:
    figs = findings(results(quick), quick)
    v = verdict_of(figs)

    def at(name):
        f = {k[len(name) + 1:]: x for k, x in figs.items() if k.startswith(name + "_")}
        return (f"half-life {f['half_life']:.0f}, half the mass within {f['median_lag']:.0f}, mass older "
                f"than 10k / 20k / 50k {f['mass_older_than_10000']:.3f} / {f['mass_older_than_20000']:.3f} / "
                f"{f['mass_older_than_50000']:.4f}, k_5% {f['k_5pct']:.0f}, total mass {f['total_mass']:.3f}")
    first = figs["warmup_first_t_over_T_k5pct_reaches_tens_of_thousands"]
    detail = (
        f"Constant beta3 = {BETA3}: {at('constant')} (closed form: half-life ln 0.5/ln beta3 = "
        f"{np.log(0.5) / np.log(BETA3):.1f} lags, the paper's t_half {half_life(BETA3):.1f}; mass older "
        f"than k beta3^(k+1) "
        f"- beta3^t, k_5% = ln 0.05/ln beta3 = {np.log(MATTERS) / np.log(BETA3):.0f}). With the warm-up over "
        f"T_beta3 = T = {RUN_T}: at t = T {at('warmup_t_1.0T')}; at T/2 {at('warmup_t_0.5T')}; at T/4 "
        f"{at('warmup_t_0.25T')}; k_5% first reaches {TENS} at t = {first:.3f} T. The real rule's m_2 "
        f"(gradients: an impulse at t - k, or 1 up to t - k, one coordinate per probe, over "
        f"{figs['sim_steps']:.0f} steps with and without t_beta3 = that) matches the closed form to "
        f"{figs['sim_vs_closed_form_max_rel_error']:.1e} (relative, tolerance {SIM_TOL:g}). " + WHY[v])
    return Verdict(v, figs, "warmup_t_0.5T_k_5pct", detail)


@figure("ademamix_window")
def draw(quick: bool, outdir) -> None:
    import matplotlib.pyplot as plt
    res = results(quick)
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4))
    k = np.unique(np.geomspace(1, RUN_T - 1, 2000).astype(int))   # a point per 1/300 decade is enough
    ax.loglog(k, (1 - BETA1) * BETA1 ** k, c="0.6", lw=0.8, label=f"fast EMA, beta1 = {BETA1}")
    for name, lab in (("constant", f"beta3 = {BETA3}, no warm-up"), ("warmup_t_1.0T", "warm-up, t = T"),
                      ("warmup_t_0.5T", "warm-up, t = T/2"), ("warmup_t_0.25T", "warm-up, t = T/4")):
        w = res[name]
        ax.loglog(k[k < len(w)], w[k[k < len(w)]], lw=1, label=lab)
    ax.axvline(TENS, c="k", ls=":", lw=0.7)
    ax.set(xlabel="lag k (weight on the gradient of step t - k)", ylabel="weight in m_2", ylim=(1e-9, 1),
           title=f"closed form, T = T_beta3 = {RUN_T}")
    ax.legend(fontsize=7)
    for i, name in enumerate(("constant", "warmup")):
        s, lags = res["sim"][name], res["sim"]["lags"]
        bx.loglog(lags, s["weights_cf"], c=f"C{i}", lw=1, label=f"{name}: closed form")
        bx.loglog(lags, s["weights"], "o", c=f"C{i}", ms=3, mfc="none", label=f"{name}: refopt.ademamix m_2")
    bx.set(xlabel="lag k", title=f"real rule vs closed form, t = T_beta3 = {SIM_T[quick]}")
    bx.legend(fontsize=7)
    for a in (ax, bx):
        a.title.set_fontsize(9)
    fig.tight_layout()
    fig.savefig(outdir / "ademamix_window.png", dpi=110)
    plt.close(fig)
