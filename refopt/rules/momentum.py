r"""SGD with heavy-ball momentum, in the cheat sheet's (sum) form.

.. math::

    m_t &= \beta_1 m_{t-1} + g_t \\
    w_t &= w_{t-1} - \eta_t \, m_t

with :math:`m_0 = 0`. Polyak (1964), "Some methods of speeding up the convergence of
iteration methods", USSR Comput. Math. Math. Phys. 4(5).

The buffer is a plain sum, not an average: with the EMA form
:math:`\tilde m_t = \beta_1 \tilde m_{t-1} + (1-\beta_1) g_t` one has
:math:`m_t = \tilde m_t / (1-\beta_1)`, so that form needs an lr :math:`1/(1-\beta_1)` larger
(10x at 0.9) for the same steps. With a constant lr this is torch's ``SGD(momentum=beta1)``
with ``dampening=0`` and optax's ``sgd(momentum=beta1)``.

======  ==========  =======
symbol  argument    default
======  ==========  =======
eta     ``lr``      1e-3
beta_1  ``beta1``   0.9
======  ==========  =======

**Where the formula is undefined.** Nowhere: there is no division, and a coordinate whose
gradients have all been 0 keeps its value exactly. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class MomentumState(NamedTuple):
    t: int
    m: object  # the momentum buffer, one array per parameter


def _update(w, g, m, *, t, lr, beta1):
    m = beta1 * m + g
    w = w - lr * m
    return w, m


def momentum(lr=1e-3, beta1=0.9):
    """Heavy-ball momentum: ``m <- beta1*m + g``, ``w <- w - lr*m``."""
    return rule("momentum", MomentumState, lambda w: (zeros_like(w),), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT)})


INFO = RuleInfo(
    name="momentum", factory=momentum, family="A. Baselines",
    paper="Polyak (1964)", year=1964, hook="Remember where you were going",
    equations="m_t = \\beta_1 m_{t-1} + g_t\nw_t = w_{t-1} - \\eta\\, m_t", buffers=1,
    checked_against={"torch.optim.SGD": 1e-12, "optax.sgd": 1e-12},
)
