r"""Optimistic gradient descent: a gradient step plus a correction by the last gradient change.

.. math::

    u_t &= (\alpha + \beta)\, g_t - \beta\, g_{t-1} \\
    w_t &= w_{t-1} - \eta_t\, u_t

with :math:`g_0 = g_1` (the first step is plain gradient descent with :math:`\alpha+\beta-\beta
= \alpha`). With :math:`\alpha = \beta = 1` this is optimistic mirror descent in the Euclidean
case, :math:`w_t = w_{t-1} - 2\eta g_t + \eta g_{t-1}`: Daskalakis, Ilyas, Syrgkanis & Zeng
(2018), "Training GANs with Optimism", ICLR, arXiv 1711.00141, eq. (5) ("OMD"). The
:math:`\alpha, \beta` generalisation is Mokhtari, Ozdaglar & Pattathil (2020), arXiv 1901.08511.

=========  ============  =======
symbol     argument      default
=========  ============  =======
eta        ``lr``        1e-2
alpha      ``alpha``     1.0
beta       ``optimism``  1.0
=========  ============  =======

(:math:`\beta` is called ``optimism`` here, as in optax's ``optimistic_adam``, since it is no
decay rate in [0, 1): any finite number is accepted, as optax does.)

On the bilinear game :math:`\min_x\max_y xy` plain simultaneous gradient descent-ascent spirals
out while this rule converges to the saddle point (the paper's Figure/Thm 1;
tests/rules/test_optimistic_gd.py measures both).

**Frameworks.** optax ``optimistic_gradient_descent`` (``scale_by_optimistic_gradient``) is this
rule, including the first step's :math:`g_0 = g_1` (optax issue 1082).

**Where the formula is undefined.** Nowhere: no division; a coordinate whose gradients have all
been 0 keeps its value exactly. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, Interval, RuleInfo, rule

REAL = Interval(-float("inf"), lo_open=True)  # any finite number


class OptimisticGDState(NamedTuple):
    t: int
    g_prev: object  # the previous step's gradient g_{t-1}


def _update(w, g, g_prev, *, t, lr, alpha, optimism):
    xp = array_namespace(w)
    if t == 1:
        g_prev = g  # no g_0: the first step is plain gradient descent
    u = (alpha + optimism) * g - optimism * g_prev
    w = w - lr * u
    return w, xp.asarray(g, copy=True)  # the state owns its g_{t-1}: the caller may reuse g


def optimistic_gd(lr=1e-2, alpha=1.0, optimism=1.0):
    """Optimistic GD: ``w <- w - lr*((alpha+optimism) g_t - optimism g_{t-1})``; each may be a schedule."""
    return rule("optimistic_gd", OptimisticGDState, lambda w: (zeros_like(w),), _update,
                {"lr": (lr, NONNEGATIVE), "alpha": (alpha, REAL), "optimism": (optimism, REAL)})


INFO = RuleInfo(
    name="optimistic_gd", factory=optimistic_gd, family="A. Baselines",
    paper="Daskalakis et al. (2018)", year=2018, hook="Step extrapolated by last gradient change",
    equations="u_t = (\\alpha+\\beta)\\, g_t - \\beta\\, g_{t-1}\n"
              "w_t = w_{t-1} - \\eta\\, u_t",
    buffers=1,
    checked_against={"optax.optimistic_gradient_descent": 1e-12},
)
