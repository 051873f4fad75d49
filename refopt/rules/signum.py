r"""Signum: signSGD on a running mean of the gradients (sign momentum).

.. math::

    m_t &= \beta\, m_{t-1} + (1-\beta)\, g_t \\
    w_t &= w_{t-1} - \eta\, \operatorname{sign}(m_t)

with :math:`m_0 = 0` and :math:`\operatorname{sign}(0) = 0`. Bernstein, Wang,
Azizzadenesheli & Anandkumar (2018), "signSGD: Compressed Optimisation for Non-Convex
Problems", ICML 2018 (arXiv 1802.04434), Algorithm 3 (:math:`\delta` there is :math:`\eta`).

The momentum is not bias-corrected: a positive factor does not change a sign, so
:math:`m_t/(1-\beta^t)` would give the same step. Every entry of the step is :math:`\pm\eta`
(0 where :math:`m_t = 0`). :math:`\beta = 0` is signSGD (``refopt.sign_sgd``).

=========  ========  =======
symbol     argument  default
=========  ========  =======
eta        ``lr``    1e-4
beta       ``beta``  0.9
=========  ========  =======

Defaults: :math:`\beta = 0.9`, the paper's experiments' and optax's; the paper tunes the
learning rate per experiment and states no default, 1e-4 is Lion's (another sign step with
an EMA inside the sign, ``refopt.lion``; Lion with :math:`\beta_1 = \beta_2` is Signum).

**Notes and frameworks.** optax ``signum`` is ``ema(beta, debias=False)``, sign, then the
learning rate: this rule. pytorch-optimizer ``SignSGD`` (default ``momentum=0.9``, which is
:math:`\beta`) is this rule; it updates :math:`m` as ``lerp`` (:math:`m + (1-\beta)(g - m)`),
the same number to one rounding.

**Where the formula is undefined.** Nowhere: :math:`\operatorname{sign}(0) = 0`, so a
coordinate whose gradients have all been 0 keeps its value exactly.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class SignumState(NamedTuple):
    t: int
    m: object  # EMA of gradients, not bias-corrected (its sign is all that is used)


def _update(w, g, m, *, t, lr, beta):
    xp = array_namespace(w)
    m = beta * m + (1 - beta) * g
    w = w - lr * xp.sign(m)
    return w, m


def signum(lr=1e-4, beta=0.9):
    """Signum (Bernstein et al. 2018, Algorithm 3): ``m <- beta*m + (1-beta)*g``, ``w <- w - lr*sign(m)``."""
    return rule("signum", SignumState, lambda w: (zeros_like(w),), _update,
                {"lr": (lr, NONNEGATIVE), "beta": (beta, UNIT)})


INFO = RuleInfo(
    name="signum", factory=signum, family="E. Sign-based",
    paper="Bernstein et al. (2018)", year=2018, hook="Sign of the gradient's running mean",
    equations="m_t = \\beta m_{t-1} + (1-\\beta) g_t\n"
              "w_t = w_{t-1} - \\eta\\, \\mathrm{sign}(m_t)",
    buffers=1,
    checked_against={"optax.signum": 1e-12, "pytorch_optimizer.SignSGD": 1e-12},
)
