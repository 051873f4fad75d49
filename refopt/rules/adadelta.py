r"""AdaDelta: a step whose size is the RMS of past steps over the RMS of gradients.

.. math::

    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    \Delta_t &= -\frac{\sqrt{u_{t-1} + \epsilon}}{\sqrt{s_t + \epsilon}} \odot g_t \\
    u_t &= \beta_2 u_{t-1} + (1-\beta_2)\, \Delta_t \odot \Delta_t \\
    w_t &= w_{t-1} + \eta_t\, \Delta_t

with :math:`s_0 = u_0 = 0`. Zeiler (2012), "ADADELTA: An Adaptive Learning Rate Method",
arXiv 1212.5701, Algorithm 1 (:math:`\rho` is ``beta2`` here, the cheat sheet's name;
:math:`E[g^2]` is :math:`s`, :math:`E[\Delta x^2]` is :math:`u`), with :math:`\rho = 0.95`,
:math:`\epsilon = 10^{-6}`.

The paper has no learning rate: :math:`\eta = 1` here reproduces Algorithm 1 exactly.
``lr`` is kept as a convention knob because every framework multiplies the *applied* step by
one while the accumulator :math:`u` keeps the unscaled :math:`\Delta_t` (torch default 1.0,
keras 0.001, optax none: pass 1.0); that is one constant placed outside the same
algorithm, and it is also where a schedule goes. With :math:`\eta \ne 1`, :math:`u` is no
longer the mean square of the steps actually taken.

Units (paper §3.2): :math:`\Delta_t` is meant to carry the units of :math:`w`. The numerator's
:math:`\epsilon` sets them: :math:`u_0 = 0`, so the first step is
:math:`-\sqrt{\epsilon}\, g_1/\sqrt{(1-\beta_2) g_1^2 + \epsilon}`, about
:math:`\sqrt{\epsilon/(1-\beta_2)}` in absolute parameter units whatever the problem's scale.
Exactly: gradients times :math:`c` with :math:`\epsilon` times :math:`c^2` give steps times
:math:`c`; with one shared :math:`\epsilon` the units argument holds only where
:math:`\epsilon` is negligible against both accumulators.

======  ==========  ========================================
symbol  argument    default
======  ==========  ========================================
eta     ``lr``      1.0 (none in the paper)
rho     ``beta2``   0.95 (paper, keras; torch and optax 0.9)
eps     ``eps``     1e-6 (paper, torch, optax; keras 1e-7)
======  ==========  ========================================

**Where the formula is undefined.** With ``eps = 0`` a coordinate whose gradients have all been
exactly 0 makes :math:`\sqrt{u_{t-1}+\epsilon}/\sqrt{s_t+\epsilon}` 0/0: the step there is NaN
from step 1, every other coordinate stays finite. The formula is undefined there and the rule
propagates the NaN (DESIGN); ``refopt.check_finite`` reports it. With the default ``eps`` (1e-6)
the step there is exactly 0, and an all-zero gradient leaves the leaf unchanged.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class AdadeltaState(NamedTuple):
    t: int
    s: object  # running mean of squared gradients, E[g^2]
    u: object  # running mean of squared steps, E[Delta w^2]


def _update(w, g, s, u, *, t, lr, beta2, eps):
    xp = array_namespace(w)
    s = beta2 * s + (1 - beta2) * g * g
    delta = -xp.sqrt(u + eps) / xp.sqrt(s + eps) * g
    u = beta2 * u + (1 - beta2) * delta * delta
    w = w + lr * delta
    return w, s, u


def adadelta(lr=1.0, beta2=0.95, eps=1e-6):
    """AdaDelta (Zeiler 2012, Algorithm 1); ``lr=1`` is the paper, which has none."""
    return rule("adadelta", AdadeltaState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta2": (beta2, UNIT), "eps": (eps, NONNEGATIVE)})


INFO = RuleInfo(
    name="adadelta", factory=adadelta, family="B. Adaptive (diagonal)",
    paper="Zeiler (2012)", year=2012, hook="Scales updates by past update RMS",
    equations="s_t = \\beta_2 s_{t-1} + (1-\\beta_2)\\, g_t \\odot g_t\n"
              "v_t = -\\frac{\\sqrt{u_{t-1}+\\epsilon}}{\\sqrt{s_t+\\epsilon}} \\odot g_t\n"
              "u_t = \\beta_2 u_{t-1} + (1-\\beta_2)\\, v_t \\odot v_t\n"
              "w_t = w_{t-1} + v_t",
    buffers=2,
    checked_against={"torch.optim.Adadelta": 1e-12, "optax.adadelta": 1e-12},
)
