r"""Adan: adaptive Nesterov momentum from gradient differences, with proximal weight decay.

In the cheat sheet's (EMA) convention, :math:`\beta = 1 - \beta^{\text{paper}}`, with
:math:`d_t = g_t - g_{t-1}`:

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    v_t &= \beta_2 v_{t-1} + (1-\beta_2)\, d_t \\
    n_t &= \beta_3 n_{t-1} + (1-\beta_3)\,(g_t + \beta_2 d_t)^2 \\
    w_t &= \frac{w_{t-1} - \eta\,(m_t + \beta_2 v_t) / \sqrt{n_t + \epsilon}}{1 + \lambda\eta}

Xie, Zhou, Li, Lin & Yan (2024), "Adan: Adaptive Nesterov Momentum Algorithm for Faster
Optimizing Deep Models", IEEE TPAMI (arXiv 2208.06677, 2022), Algorithm 1. The paper starts each
average from its first sample instead of from zero, which is its bias correction:
:math:`m_1 = g_1`, :math:`n_1 = g_1^2`, :math:`v_1 = 0` and :math:`v_2 = g_2 - g_1` (the
paper's :math:`m_0 = g_0,\ n_0 = g_0^2,\ v_0 = 0,\ v_1 = g_1 - g_0`, counted from 0). So the
EMA weight is 0 at the first sample of each average and :math:`\beta` after it.

=========  =================  =======
symbol     argument           default
=========  =================  =======
eta        ``lr``             1e-3
beta_1     ``beta1``          0.98
beta_2     ``beta2``          0.92
beta_3     ``beta3``          0.99
epsilon    ``eps``            1e-8
lambda     ``weight_decay``   0.0
(flag)     ``debias``         False
(flag)     ``eps_inside``     True
(flag)     ``proximal``       True
=========  =================  =======

Betas are the official code's (the paper's 0.02, 0.08, 0.01 in its own convention).

**Knobs for the official code and frameworks.**

* ``debias=True``: zero-initialised averages divided by :math:`1-\beta^t` (all three, with
  :math:`d_1 = 0`), as the authors' code (sail-sg/Adan ``adan.py``), pytorch-optimizer
  ``Adan`` and optax ``adan`` do. Not the same numbers as the paper from step 2 on.
* ``eps_inside=False``: :math:`\sqrt{\hat n_t} + \epsilon` (code) instead of
  :math:`\sqrt{n_t + \epsilon}` (paper).
* ``proximal=False``: :math:`w_t = w_{t-1}(1-\eta\lambda) - \eta\,(\ldots)` (the code's
  ``no_prox``, optax's added decay) instead of the proximal division.

sail-sg/Adan and pytorch-optimizer are ``debias=True, eps_inside=False`` (proximal by default).

**Discrepancies.** The cheat sheet mixes conventions: EMA-form averages with the paper's
Nesterov factor :math:`(1-\beta_2)`, which with the code's :math:`\beta_2 = 0.92` weights the
gradient difference by 0.08 instead of 0.92; it also has no bias correction, puts
:math:`\epsilon` outside the root and writes the decay as :math:`-\eta\lambda w` (the
``no_prox`` variant). optax ``adan`` makes the same 0.08 slip (``g + (1-b2) diff`` and
``m_hat + (1-b2) v_hat``), so it equals this rule only at :math:`\beta_2 = 1/2`; it also adds
an ``eps_root`` inside the root (1e-8 by default).

**Where the formula is undefined.** With ``eps = 0`` a coordinate whose gradients have all been
exactly 0 makes :math:`(m_t+\beta_2 v_t)/\sqrt{n_t+\epsilon}` 0/0: the step there is NaN from
step 1, every other coordinate stays finite. The formula is undefined there and the rule
propagates the NaN (DESIGN); ``refopt.check_finite`` reports it. With the default ``eps`` (1e-8)
the step there is exactly 0, and an all-zero gradient leaves the leaf unchanged.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class AdanState(NamedTuple):
    t: int
    m: object       # EMA of gradients
    v: object       # EMA of gradient differences
    n: object       # EMA of squared Nesterov gradients
    g_prev: object  # the previous gradient


def _weights(t, beta1, beta2, beta3, debias):
    """EMA weights at step t: the paper restarts each average at its first sample."""
    if debias:
        return beta1, beta2, beta3
    return (beta1 if t > 1 else 0.0), (beta2 if t > 2 else 0.0), (beta3 if t > 1 else 0.0)


def _update(w, g, m, v, n, g_prev, *, t, lr, beta1, beta2, beta3, eps, weight_decay,
            debias, eps_inside, proximal):
    xp = array_namespace(w)
    d = g - g_prev if t > 1 else xp.zeros_like(g)
    a1, a2, a3 = _weights(t, beta1, beta2, beta3, debias)
    m = a1 * m + (1 - a1) * g
    v = a2 * v + (1 - a2) * d
    n = a3 * n + (1 - a3) * (g + beta2 * d) ** 2
    c1, c2, c3 = ((1 - beta1**t), (1 - beta2**t), (1 - beta3**t)) if debias else (1.0, 1.0, 1.0)
    denom = xp.sqrt(n / c3 + eps) if eps_inside else xp.sqrt(n / c3) + eps
    step = lr * (m / c1 + beta2 * (v / c2)) / denom
    w = (w - step) / (1 + lr * weight_decay) if proximal else w * (1 - lr * weight_decay) - step
    # a copy, not g itself: a caller that zeroes its gradient buffer in place must not
    # rewrite the state (DESIGN: no state aliases an input)
    return w, m, v, n, xp.asarray(g, copy=True)


def adan(lr=1e-3, beta1=0.98, beta2=0.92, beta3=0.99, eps=1e-8, weight_decay=0.0,
         debias=False, eps_inside=True, proximal=True):
    """Adan, the paper's Algorithm 1 (flags give the official code's and optax's variants)."""
    for name, flag in (("debias", debias), ("eps_inside", eps_inside), ("proximal", proximal)):
        if not isinstance(flag, bool):
            raise ValueError(f"{name} must be True or False, got {flag!r}")
    return rule("adan", AdanState, lambda w: (zeros_like(w),) * 4, _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "beta3": (beta3, UNIT), "eps": (eps, NONNEGATIVE),
                 "weight_decay": (weight_decay, NONNEGATIVE), "debias": (debias, None),
                 "eps_inside": (eps_inside, None), "proximal": (proximal, None)})


INFO = RuleInfo(
    name="adan", factory=adan, family="F. Modern variants",
    paper="Xie et al. (2022)", year=2022, hook="Adam + (grad change) + Nesterov",
    equations="d_t = g_t - g_{t-1}\n"
              "m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "v_t = \\beta_2 v_{t-1} + (1-\\beta_2) d_t\n"
              "n_t = \\beta_3 n_{t-1} + (1-\\beta_3)(g_t + \\beta_2 d_t)^2\n"
              "w_t = (w_{t-1} - \\eta (m_t + \\beta_2 v_t) / \\sqrt{n_t + \\epsilon}) / (1 + \\lambda\\eta)",
    buffers=4,
    checked_against={"optax.adan": 1e-12, "pytorch_optimizer.Adan": 1e-12},
)
