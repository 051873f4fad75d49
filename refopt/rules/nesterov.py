r"""Nesterov's accelerated gradient, in two forms that give the same iterates.

**Look-ahead form** (the cheat sheet; Sutskever, Martens, Dahl & Hinton (2013), "On the
importance of initialization and momentum in deep learning", ICML, eq. (3)-(4), writing
Nesterov (1983), "A method of solving a convex programming problem with convergence rate
O(1/k^2)"), with :math:`v_0 = 0`:

.. math::

    v_t &= \beta_1 v_{t-1} - \eta \, \nabla L(w_{t-1} + \beta_1 v_{t-1}) \\
    w_t &= w_{t-1} + v_t

The gradient is taken at the look-ahead point :math:`w_{t-1} + \beta_1 v_{t-1}`, which
``opt.look_ahead(params, state)`` returns; pass the gradient there to ``opt.step``.

**Reformulated form** (``nesterov_reformulated``; torch's ``SGD(nesterov=True)``, optax's
``sgd(nesterov=True)``): the gradient is taken at the stored point.

.. math::

    b_t &= \beta_1 b_{t-1} + g_t, \qquad g_t = \nabla L(\phi_{t-1}) \\
    \phi_t &= \phi_{t-1} - \eta\,(g_t + \beta_1 b_t)

**Change of variables.** Let :math:`\phi_t = w_t + \beta_1 v_t` (the look-ahead point) and
:math:`v_t = -\eta b_t`. Then :math:`g_t = \nabla L(\phi_{t-1})`, :math:`b_t = \beta_1 b_{t-1}
+ g_t`, and

.. math::

    \phi_t = w_{t-1} + v_t + \beta_1 v_t
           = (\phi_{t-1} - \beta_1 v_{t-1}) + v_t + \beta_1 v_t
           = \phi_{t-1} + \beta_1 v_t - \eta g_t
           = \phi_{t-1} - \eta(g_t + \beta_1 b_t),

so the reformulated iterates are the look-ahead points of the first form, for constant
:math:`\eta` and :math:`\beta_1` (with a schedule, :math:`v = -\eta b` no longer holds).

**Where the formula is undefined.** Nowhere: there is no division, and a coordinate whose
gradients have all been 0 keeps its value exactly. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, NamedTuple

from .. import tree
from ..backend import zeros_like
from ..core import NONNEGATIVE, UNIT, Optimizer, RuleInfo, rule


class NesterovState(NamedTuple):
    t: int
    v: object  # the velocity, lr included


class NesterovReformulatedState(NamedTuple):
    t: int
    b: object  # the momentum buffer, lr excluded


@dataclass(frozen=True)
class LookAheadOptimizer(Optimizer):
    """An optimizer whose gradient must be taken at ``look_ahead(params, state)``."""
    look_ahead: Callable[[Any, Any], Any] | None = None


def _lookahead_update(w, g, v, *, t, lr, beta1):
    v = beta1 * v - lr * g
    w = w + v
    return w, v


def nesterov(lr=1e-3, beta1=0.9):
    """Nesterov momentum, look-ahead form; take the gradient at ``opt.look_ahead(params, state)``."""
    opt = rule("nesterov", NesterovState, lambda w: (zeros_like(w),), _lookahead_update,
               {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT)})

    def look_ahead(params, state):
        t = state.t + 1
        b1 = opt.hyperparams["beta1"](t) if callable(opt.hyperparams["beta1"]) else opt.hyperparams["beta1"]
        return tree.tree_map(lambda w, v: w + b1 * v, params, state.v)

    return LookAheadOptimizer(opt.name, opt.init, opt.step, opt.hyperparams, opt.bounds, look_ahead)


def _reformulated_update(w, g, b, *, t, lr, beta1):
    b = beta1 * b + g
    w = w - lr * (g + beta1 * b)
    return w, b


def nesterov_reformulated(lr=1e-3, beta1=0.9):
    """Nesterov momentum with the gradient at the current point (torch, optax)."""
    return rule("nesterov_reformulated", NesterovReformulatedState, lambda w: (zeros_like(w),),
                _reformulated_update, {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT)})


_PAPER = "Nesterov (1983); Sutskever et al. (2013)"
INFOS = (
    RuleInfo(name="nesterov", factory=nesterov, family="A. Baselines", paper=_PAPER, year=1983,
             hook="Momentum, but peek ahead",
             equations="v_t = \\beta_1 v_{t-1} - \\eta\\, \\nabla L(w_{t-1} + \\beta_1 v_{t-1})\n"
                       "w_t = w_{t-1} + v_t", buffers=1),
    RuleInfo(name="nesterov_reformulated", factory=nesterov_reformulated, family="A. Baselines",
             paper=_PAPER, year=1983, hook="Nesterov with the gradient at the current point",
             equations="b_t = \\beta_1 b_{t-1} + g_t\n\\phi_t = \\phi_{t-1} - \\eta\\,(g_t + \\beta_1 b_t)",
             buffers=1, checked_against={"torch.optim.SGD": 1e-12, "optax.sgd": 1e-12}),
)
