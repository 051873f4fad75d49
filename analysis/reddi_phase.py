r"""Where Adam fails on Reddi et al.'s online problem, over a grid of (beta1, beta2).

The problem is ``analysis.regret``'s (Reddi, Kale & Kumar 2018, section 5): :math:`f_t(x) =
1010x` for :math:`t \bmod 101 = 1`, :math:`-10x` otherwise, F = [-1, 1], optimum -1,
:math:`\alpha_t = 0.5/\sqrt t`, from :math:`x_1 = 0`. Each cell is a real run of refopt.adam
(and refopt.amsgrad, the control) with ``regret``'s periodic-extension method: the rule runs
from zero until its transients (:math:`\beta^n`) are below :math:`e^{-8}`, its steps are then
extended with the gradients' period P = 101 and the clipped path is run to T.

**The orbit in closed form.** Once settled, m and s are periodic. Write the gradient as
:math:`-10 + 1020\,[t \bmod P = 1]`; the running mean of the constant is the constant and that of
the impulse train decays geometrically from each impulse, so at j steps after an impulse

.. math::

    m_j = -10 + 1020\,\frac{(1-\beta_1)\beta_1^j}{1-\beta_1^P},\qquad
    s_j = 100 + (1010^2 - 100)\,\frac{(1-\beta_2)\beta_2^j}{1-\beta_2^P}

(bias corrections tend to 1). Over one period :math:`\alpha_t` changes by :math:`O(t^{-3/2})`,
so x moves by :math:`-\alpha_t D` per period with :math:`D = \sum_j m_j/\sqrt{s_j}` for Adam;
:math:`\sum_t \alpha_t = \infty`, so x ends at -1 (average regret -> 0) if D > 0 and at +1
(average regret -> 20/101) if D < 0. AMSGrad divides by the orbit's largest s, so its
:math:`D = \sum_j m_j/\sqrt{\max s} = 10/\sqrt{\max_j s_j} > 0` for every (beta1, beta2).

**The boundaries drawn.** Reddi et al.'s Theorem 2: for every :math:`\beta_1 < \sqrt{\beta_2}`
*some* problem makes Adam's average regret non-zero. That curve is also the bounded-step
boundary :math:`\beta_1^2 = \beta_2` (``adam_bound``): the two are one curve. The Adam paper's
condition :math:`\gamma = \beta_1^2/\sqrt{\beta_2} < 1` (``beta-condition``) is drawn beside it.
The axes are :math:`1-\beta` on log scales from 1 to :math:`10^{-2.5}`: on this problem the
boundary D = 0 lies where both betas are near 1.
"""
from __future__ import annotations

import json
import math
import time
from functools import lru_cache
from pathlib import Path

import numpy as np

from . import parallel, regret
from .claim import Verdict, claim

P = regret.C_PERIOD
LOWEST = 10**-2.5            # smallest 1 - beta on either axis
SETTLE = 8.0                 # run until beta^n <= e^-8 (3e-4): enough for the sign of D
AT_PLUS_ONE = 20 / P         # average regret at x = +1
RULES = ("adam", "amsgrad")
FIELDS = ("avg_regret", "end_x", "move", "drift", "gap")
SWEEP_GRID, SWEEP_T = 64, 50_000


def axis(n: int) -> np.ndarray:
    """n betas, 1 - beta log-spaced from 1 (beta = 0) to LOWEST."""
    return 1 - np.geomspace(1.0, LOWEST, n)


def settle_steps(beta1: float, beta2: float) -> int:
    """Whole periods until the transients are below e^-SETTLE, plus the two compared."""
    slowest = max(beta1, beta2)
    n = 1 if slowest == 0 else math.ceil(SETTLE / -math.log(slowest))
    return P * (math.ceil(n / P) + 2)


def orbit(beta1: float, beta2: float) -> tuple[np.ndarray, np.ndarray]:
    """m_j, s_j on the settled orbit, j = 0 at the large gradient (closed form above)."""
    j = np.arange(P)
    m = -10 + 1020 * (1 - beta1) * beta1**j / (1 - beta1**P)
    s = 100 + (1010**2 - 100) * (1 - beta2) * beta2**j / (1 - beta2**P)
    return m, s


def closed_drift(name: str, beta1: float, beta2: float) -> float:
    """D: minus the move of x per period over alpha_t, on the orbit (> 0: x goes to -1)."""
    m, s = orbit(beta1, beta2)
    return float(np.sum(m / np.sqrt(s)) if name == "adam" else np.sum(m) / np.sqrt(np.max(s)))


def run_cell(task: tuple[str, float, float, int]) -> tuple[float, ...]:
    """One cell, ``(rule, beta1, beta2, T)``: the average regret over the second half of T,
    x at the last t = 1 mod P (just before the large gradient) and how far x moved, at that
    phase, over the second half, the real rule's drift per period (the sum of its
    steps over the last period) and the relative change of its steps between the last two."""
    name, beta1, beta2, T = task
    opt = regret.online_rules(beta1, beta2)[name]
    c = regret.reddi_gradients(T)
    d = regret.rule_steps(opt, c[:settle_steps(beta1, beta2)])
    gap = float(np.max(np.abs(d[-P:] - d[-2 * P:-P])) / np.max(np.abs(d[-2 * P:])))
    steps, _ = regret.periodic_extension(d, T, P)
    xs = regret.clip_path(steps, regret.rule_lr(name), 0.0)
    R = regret.linear_regret(c, xs)
    half = T // 2
    phase0 = xs[::P]                              # x at t = 1 mod P
    move = phase0[-1] - phase0[len(phase0) // 2]
    return (float((R[-1] - R[half - 1]) / (T - half)), float(phase0[-1]), float(move),
            float(np.sum(d[-P:])), gap)


def sweep(n: int, T: int, ex) -> dict:
    """Every cell of the n x n grid for both rules, mapped on the executor ``ex``
    (``analysis.parallel``); arrays indexed [rule][field][i2, i1] (rows beta2, columns beta1)."""
    b = axis(n)
    tasks = [(name, float(b1), float(b2), T) for name in RULES for b2 in b for b1 in b]
    cells = np.array(ex.map(run_cell, tasks)).reshape(len(RULES), n, n, len(FIELDS))
    out = {"beta": b, "T": T}
    for r, name in enumerate(RULES):
        out[name] = {f: cells[r, :, :, k] for k, f in enumerate(FIELDS)}
        out[name]["closed_drift"] = np.array([[closed_drift(name, b1, b2) for b1 in b] for b2 in b])
    return out


@lru_cache(maxsize=2)
def claim_sweep(quick: bool) -> dict:
    return sweep(4 if quick else 8, 20_000 if quick else SWEEP_T, parallel.Serial())


def slow(T: int, D: np.ndarray) -> np.ndarray:
    """Cells where x may not have reached its limit by T: it travels sum_t alpha_t |D| / P,
    about sqrt(T) |D| / P, and the way from one end of F to the other is 2."""
    return np.sqrt(T) * np.abs(D) / P < 2


def findings(res: dict) -> dict[str, float]:
    """The verdict's figures: the simulated failure (average regret over the second half above
    half of 20/101) against the closed form's (D < 0) and against both boundaries."""
    b = res["beta"]
    B1, B2 = np.meshgrid(b, b)
    theorem2 = B1 < np.sqrt(B2)                   # = bounded steps, B1**2 < B2
    gamma = B1**2 < np.sqrt(B2)                  # beta1^2 / sqrt(beta2) < 1
    figs = {"cells": float(B1.size), "T": float(res["T"])}
    for name in RULES:
        r = res[name]
        fails, closed = r["avg_regret"] > AT_PLUS_ONE / 2, r["closed_drift"] < 0
        arrived = ~slow(res["T"], r["closed_drift"])
        figs[f"{name}_fails_fraction"] = float(fails.mean())
        figs[f"{name}_fails_closed_form_fraction"] = float(closed.mean())
        figs[f"{name}_disagree_with_closed_form"] = float((fails != closed).sum())
        figs[f"{name}_disagree_where_x_can_have_arrived"] = float(((fails != closed) & arrived).sum())
        # over the second half x moves against D, or sits at the end D drives it to
        wrong_way = (r["move"] * r["closed_drift"] > 0) | \
            ((r["move"] == 0) & (r["end_x"] != -np.sign(r["closed_drift"])))
        figs[f"{name}_moves_against_closed_form"] = float(wrong_way.sum())
        scale = np.max(np.abs(r["closed_drift"]))
        error = np.max(np.abs(r["drift"] - r["closed_drift"])) / scale
        figs[f"{name}_max_drift_error_vs_closed_form"] = float(error)
    fails = res["adam"]["avg_regret"] > AT_PLUS_ONE / 2
    figs.update({
        "adam_fails_with_beta1_below_sqrt_beta2": float((fails & theorem2).sum()),
        "adam_fails_with_beta1_at_or_above_sqrt_beta2": float((fails & ~theorem2).sum()),
        "adam_converges_with_beta1_below_sqrt_beta2": float((~fails & theorem2).sum()),
        "adam_fails_with_gamma_below_1": float((fails & gamma).sum()),
        "max_period_to_period_change": float(max(res[n]["gap"].max() for n in RULES)),
    })
    return figs


def closed_form_areas(n: int = 400) -> dict[str, float]:
    """Where D < 0 on a fine grid of the same axes (closed form only)."""
    b = axis(n)
    D = np.array([[closed_drift("adam", b1, b2) for b1 in b] for b2 in b])
    B1, B2 = np.meshgrid(b, b)
    below = B1 < np.sqrt(B2)
    return {"fine_grid_fails_fraction": float((D < 0).mean()),
            "fine_grid_fails_below_sqrt_fraction": float((D < 0)[below].mean()),
            "fine_grid_fails_above_sqrt_fraction": float((D < 0)[~below].mean()),
            "amsgrad_min_closed_drift": float(min(closed_drift("amsgrad", b1, b2)
                                                  for b1 in b[::20] for b2 in b))}


@claim("reddi-phase",
       "Under the beta condition Adam's average regret vanishes [Reddi et al. Theorem 2: for any "
       "beta1 < sqrt(beta2) some online problem gives Adam non-zero average regret; on their "
       "section-5 problem, for which (beta1, beta2) does it fail?]",
       source_line=952)
def reddi_phase(quick: bool) -> Verdict:
    figs = findings(claim_sweep(quick))
    figs.update(closed_form_areas(100 if quick else 400))
    agree = figs["adam_disagree_where_x_can_have_arrived"] == 0 and \
        figs["amsgrad_disagree_where_x_can_have_arrived"] == 0 and \
        figs["adam_moves_against_closed_form"] == 0 and figs["amsgrad_moves_against_closed_form"] == 0
    n = int(math.sqrt(figs["cells"]))
    return Verdict(
        "false" if agree and figs["adam_fails_with_gamma_below_1"] > 0 else "holds", figs,
        key="fine_grid_fails_below_sqrt_fraction",
        detail=(f"On Reddi's problem Adam's average regret fails to vanish for most (beta1, beta2) on "
                f"both sides of beta1 = sqrt(beta2) (= the bounded-step boundary beta1^2 = beta2), and "
                f"vanishes only where both betas are near 1 (1 - beta from 1 to 10^-2.5, log axes): in "
                f"closed form (the orbit's drift D < 0) it fails on "
                f"{figs['fine_grid_fails_below_sqrt_fraction']:.3f} of the cells with beta1 < sqrt(beta2)"
                f" and {figs['fine_grid_fails_above_sqrt_fraction']:.3f} of the others (400 x 400 grid). "
                f"Real runs ({n} x {n} cells, refopt.adam to T = {int(figs['T'])} by periodic extension"
                f"): Adam fails on {figs['adam_fails_fraction']:.3f} of the cells "
                f"({int(figs['adam_fails_with_beta1_below_sqrt_beta2'])} with beta1 < sqrt(beta2), "
                f"{int(figs['adam_fails_with_beta1_at_or_above_sqrt_beta2'])} above it, "
                f"{int(figs['adam_fails_with_gamma_below_1'])} meeting the Adam paper's gamma < 1); the "
                f"closed form disagrees on {int(figs['adam_disagree_with_closed_form'])} cells ("
                f"{int(figs['adam_disagree_where_x_can_have_arrived'])} where x can have travelled "
                f"sqrt(T) |D| / 101 >= 2 by T), the rule's drift per period matches it to "
                f"{figs['adam_max_drift_error_vs_closed_form']:.1e} of max |D|. AMSGrad, the control, never "
                f"fails in the limit (D = 10/sqrt(max s) > 0, min {figs['amsgrad_min_closed_drift']:.3g}); "
                f"by T its average regret is still above 10/101 on "
                f"{figs['amsgrad_fails_fraction'] * figs['cells']:.0f} cells, "
                f"{int(figs['amsgrad_disagree_where_x_can_have_arrived'])} of them where x can have "
                f"arrived (small beta2: max s is the spike's, so D is tiny), and over the second half x "
                f"moves "
                f"towards -1 in every cell but {int(figs['amsgrad_moves_against_closed_form'])} (Adam: "
                f"x moves the closed form's way in every cell but "
                f"{int(figs['adam_moves_against_closed_form'])}). So neither boundary separates failure from "
                f"convergence on a fixed problem: Theorem 2 picks the problem after the betas. "
                f"`python -m analysis --sweep reddi-phase` draws the 64 x 64 diagram."),
    )


def draw(res: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    b = res["beta"]
    fine = axis(300)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), sharey=True)
    for ax, name in zip(axes, RULES):
        mesh = ax.pcolormesh(1 - b, 1 - b, res[name]["avg_regret"], vmin=0, vmax=AT_PLUS_ONE,
                             cmap="magma", shading="nearest")
        D = np.array([[closed_drift(name, b1, b2) for b1 in fine] for b2 in fine])
        if name == "adam":
            ax.contour(1 - fine, 1 - fine, D, levels=[0.0], colors="c", linewidths=1.2)
            ax.plot([], [], c="c", label="closed form: drift D = 0")
        ax.contour(1 - fine, 1 - fine, slow(res["T"], D).astype(float), levels=[0.5], colors="0.6",
                   linewidths=0.8)
        ax.plot([], [], c="0.6", lw=0.8, label="x may not have arrived by T (travel < 2) inside")
        ax.plot(1 - fine, 1 - fine**2, "--", c="tab:green", lw=1.5,
                label="beta1 = sqrt(beta2) (= beta1^2 = beta2)")
        ax.plot(1 - fine, 1 - fine**4, ":", c="tab:blue", lw=1.5, label="beta1^2 / sqrt(beta2) = 1")
        ax.set(xscale="log", yscale="log", xlim=(1, LOWEST), ylim=(1, LOWEST), xlabel="1 - beta1",
               title=f"refopt.{name}")
        ax.legend(fontsize=7, loc="lower left")
    axes[0].set_ylabel("1 - beta2")
    fig.suptitle(f"Reddi et al.'s online problem: average regret over t in [T/2, T], T = {res['T']}")
    fig.colorbar(mesh, ax=axes, label="average regret (20/101 = x at +1)")
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_sweep(grid: int | None, quick: bool, outdir: Path, ex) -> str:
    """``python -m analysis --sweep reddi-phase``: the grid on ``ex``, written as
    outdir/reddi_phase.json (the cells, no timings) and reddi_phase.png; returns a summary."""
    n = grid or (8 if quick else SWEEP_GRID)
    T = 20_000 if quick else SWEEP_T
    start = time.perf_counter()
    res = sweep(n, T, ex)
    seconds = time.perf_counter() - start
    outdir.mkdir(parents=True, exist_ok=True)
    figs = findings(res)
    data = {"grid": n, "T": T, "beta": res["beta"].tolist(), "findings": figs,
            **{name: {f: v.tolist() for f, v in res[name].items()} for name in RULES}}
    (outdir / "reddi_phase.json").write_text(json.dumps(data) + "\n")
    draw(res, outdir / "reddi_phase.png")
    return (f"reddi-phase: {n} x {n} cells x {len(RULES)} rules in {seconds:.1f} s on {ex.workers} "
            f"workers; Adam fails on {figs['adam_fails_fraction']:.3f} of the cells, closed form "
            f"disagrees on {int(figs['adam_disagree_with_closed_form'])} "
            f"({int(figs['adam_disagree_where_x_can_have_arrived'])} where x can have arrived), AMSGrad "
            f"fails on {figs['amsgrad_fails_fraction']:.3f} "
            f"({int(figs['amsgrad_disagree_where_x_can_have_arrived'])} where x can have arrived); "
            f"wrote {outdir}/reddi_phase.json and .png")
