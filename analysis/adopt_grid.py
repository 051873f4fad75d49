r"""ADOPT over ``analysis.reddi_phase``'s grid of (beta1, beta2), beside Adam and AMSGrad, by
regret exponent: the second half of the ``adopt-any-beta2`` claim.

**ADOPT's drift in closed form.** Unclipped ADOPT normalises each gradient by the *previous*
second moment, :math:`n_t = g_t/\sqrt{v_{t-1}}`, and averages: :math:`m_t = \beta_1 m_{t-1} +
(1-\beta_1) n_t`. On the settled orbit of Reddi's problem (``reddi_phase.orbit``'s :math:`s_j`,
j = 0 at the large gradient) an EMA keeps the sum over a period, so x moves by
:math:`-\alpha_t D` per period with

.. math::

    D = \sum_{j=0}^{P-1} \frac{g_j}{\sqrt{s_{j-1}}},\qquad g_0 = 1010,\ g_{j>0} = -10,

which does not depend on :math:`\beta_1`. At :math:`\beta_2 = 0`, :math:`s_j = g_j^2`:
:math:`D = 101 - 10/1010 - 99 = 2 - 1/101 > 0`. A positive D sends x to :math:`x^* = -1`.

**What is measured.** A cell converges in the limit when D > 0 (x drifts to -1, and the swing
each period, :math:`\propto \alpha_t`, dies out); the real runs check the closed form: their drift
per period (the sum of the settled steps over one period) against D, and the way x moves over
the second half. The regret exponent p in :math:`R_T \sim T^p` (``regret_rates.window_exponent``
over the last dyadic windows; 0 where R has stopped growing) is reported beside them: at the T
one can run it reads ~1/2 for Adam at small beta2 too, where x sits near +1 and swings (R grows
as :math:`aT + b\sqrt T` with the :math:`b\sqrt T` part still dominant), so it is not the criterion.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

import refopt

from . import reddi_phase as rp
from . import regret
from .regret_rates import window_exponent

LEARNERS = ("adam", "amsgrad", "adopt_noclip")
GRID = {True: (4, 20_000), False: (8, 50_000)}   # cells per axis, T (reddi-phase's claim grid)
FIELDS = ("avg_regret", "end_x", "move", "drift", "exponent")


def learner(name: str, beta1: float, beta2: float):
    if name == "adopt_noclip":
        return refopt.adopt(lr=1.0, beta1=beta1, beta2=beta2, clip=None)
    return regret.online_rules(beta1, beta2)[name]


def closed_drift(beta1: float, beta2: float) -> float:
    """ADOPT's D above (beta1 enters only through the orbit's m, which D does not use)."""
    _, s = rp.orbit(beta1, beta2)
    g = np.full(rp.P, -10.0)
    g[0] = 1010.0
    return float(np.sum(g / np.sqrt(np.roll(s, 1))))


def exponent(R: np.ndarray) -> float:
    """window_exponent, 0 where the regret has stopped growing (an increment <= 0)."""
    ends = [len(R) // 2**k for k in range(4)]
    if min(R[ends[k] - 1] - R[ends[k + 1] - 1] for k in range(3)) <= 0:
        return 0.0
    return window_exponent(R)


def cell(task: tuple[str, float, float, int]) -> tuple[float, float, float]:
    """``(learner, beta1, beta2, T)``: FIELDS (average regret over the second half, x at the last
    t = 1 mod P, its move over the second half, the drift per period, the regret exponent), by
    reddi_phase's method (settle, extend periodically, clip)."""
    name, beta1, beta2, T = task
    c = regret.reddi_gradients(T)
    # three times reddi_phase's settling (transients e^-24): D is small where beta2 is near 1
    d = regret.rule_steps(learner(name, beta1, beta2), c[:3 * rp.settle_steps(beta1, beta2)])
    steps, _ = regret.periodic_extension(d, T, rp.P)
    xs = regret.clip_path(steps, lambda t: regret.ALPHA / np.sqrt(t), 0.0)
    R = regret.linear_regret(c, xs)
    half = T // 2
    phase0 = xs[::rp.P]
    return (float((R[-1] - R[half - 1]) / (T - half)), float(phase0[-1]),
            float(phase0[-1] - phase0[len(phase0) // 2]), float(np.sum(d[-rp.P:])), exponent(R))


@lru_cache(maxsize=2)
def grid(quick: bool) -> dict:
    """[learner] -> {FIELDS}: arrays [i2, i1] (rows beta2, columns beta1)."""
    n, T = GRID[quick]
    b = rp.axis(n)
    out = {"beta": b, "T": T}
    for name in LEARNERS:
        cells = np.array([[cell((name, float(b1), float(b2), T)) for b1 in b] for b2 in b])
        out[name] = {f: cells[..., k] for k, f in enumerate(FIELDS)}
    out["adam_closed_drift"] = np.array([[rp.closed_drift("adam", b1, b2) for b1 in b] for b2 in b])
    out["adopt_closed_drift"] = np.array([[closed_drift(b1, b2) for b1 in b] for b2 in b])
    return out


def findings(res: dict) -> dict[str, float]:
    """Figures over the cells where Adam fails (its closed-form drift D < 0)."""
    fails = res["adam_closed_drift"] < 0
    figs = {"grid_cells": float(fails.size), "grid_T": float(res["T"]),
            "grid_adam_fails_cells": float(fails.sum()),
            "grid_adopt_min_closed_drift": float(res["adopt_closed_drift"].min())}
    for name in LEARNERS:
        p = res[name]["exponent"][fails]
        figs[f"grid_{name}_median_exponent_where_adam_fails"] = float(np.median(p))
        figs[f"grid_{name}_max_avg_regret_where_adam_fails"] = float(res[name]["avg_regret"][fails].max())
    r, D = res["adopt_noclip"], res["adopt_closed_drift"]
    wrong_way = (r["move"] > 0) | ((r["move"] == 0) & (r["end_x"] != -1.0))
    figs["grid_adopt_noclip_moves_away_from_x_star"] = float(wrong_way.sum())
    figs["grid_adopt_noclip_max_drift_error_vs_closed_form"] = float(np.max(np.abs(r["drift"] - D) / D))
    return figs


def converges_on_grid(figs: dict) -> bool:
    """ADOPT's D > 0 on every cell, confirmed by the runs: each cell's drift per period within 1e-6
    of its D (the sign beyond doubt; the rest is what is left of the transient) and x
    moving towards x* = -1 over the second half in every cell."""
    return figs["grid_adopt_min_closed_drift"] > 0 and figs["grid_adopt_noclip_moves_away_from_x_star"] == 0 \
        and figs["grid_adopt_noclip_max_drift_error_vs_closed_form"] < 1e-6


def draw(res: dict, path) -> None:
    """The average regret over the second half of each learner over the grid (log colour), Adam's
    D = 0 curve on each panel."""
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm
    one_minus = 1 - res["beta"]
    fig, axes = plt.subplots(1, len(LEARNERS), figsize=(10, 3.6), sharey=True)
    for ax, name in zip(axes, LEARNERS):
        im = ax.pcolormesh(one_minus, one_minus, np.maximum(res[name]["avg_regret"], 1e-4),
                           norm=LogNorm(1e-4, 3), cmap="viridis", shading="nearest")
        ax.contour(one_minus, one_minus, res["adam_closed_drift"], levels=[0], colors="w", linewidths=1)
        ax.set(xscale="log", yscale="log", xlabel="1 - beta1", title=name)
        ax.title.set_fontsize(9)
    axes[0].set_ylabel("1 - beta2")
    fig.colorbar(im, ax=axes, shrink=0.85, label="average regret, second half (at +1: 20/101)")
    fig.suptitle(f"Reddi et al.'s problem, T = {res['T']}; white: Adam's closed-form D = 0 (Adam fails "
                 f"on its D < 0 side)", fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)
