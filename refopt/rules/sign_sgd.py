r"""signSGD: a step of fixed size against the sign of each gradient entry.

.. math::

    w_t = w_{t-1} - \eta\, \operatorname{sign}(g_t)

with :math:`\operatorname{sign}(0) = 0`. Bernstein, Wang, Azizzadenesheli & Anandkumar (2018),
"signSGD: Compressed Optimisation for Non-Convex Problems", ICML 2018 (arXiv 1802.04434),
Algorithm 1 (:math:`\delta` there is :math:`\eta` here, :math:`\tilde g_k` is :math:`g_t`).

Every entry of the step is exactly :math:`\pm\eta` (0 where the gradient entry is 0): the
step does not depend on the gradient's scale, only its signs, one bit per coordinate (the
paper's point: a worker sends signs, and a majority vote of them, Algorithm 2, is the
distributed form, not a rule of one worker and so not here).

=========  ========  =======
symbol     argument  default
=========  ========  =======
eta        ``lr``    1e-3
=========  ========  =======

The paper tunes the learning rate per experiment and states no default; 1e-3 is
pytorch-optimizer's (``SignSGD``); optax's ``sign_sgd`` has none.

**Notes and frameworks.** optax ``sign_sgd`` is ``scale_by_sign`` then the learning rate: this
rule. pytorch-optimizer ``SignSGD(momentum=0)`` is this rule (its default ``momentum=0.9`` is
Signum, ``refopt.signum``). The paper's analysis writes :math:`\operatorname{sign}` as
:math:`\pm 1`; an entry exactly 0 is where it and every framework's ``sign`` (0 there) could
differ, and this rule follows the frameworks: no step there.

**Where the formula is undefined.** Nowhere: :math:`\operatorname{sign}(0) = 0`, so an all-zero
gradient leaves the leaf unchanged.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace
from ..core import NONNEGATIVE, RuleInfo, rule


class SignSGDState(NamedTuple):
    t: int


def _update(w, g, *, t, lr):
    xp = array_namespace(w)
    w = w - lr * xp.sign(g)
    return (w,)


def sign_sgd(lr=1e-3):
    """signSGD (Bernstein et al. 2018, Algorithm 1): ``w <- w - lr * sign(g)``."""
    return rule("sign_sgd", SignSGDState, lambda w: (), _update, {"lr": (lr, NONNEGATIVE)})


INFO = RuleInfo(
    name="sign_sgd", factory=sign_sgd, family="E. Sign-based",
    paper="Bernstein et al. (2018)", year=2018, hook="Step = -LR x sign(gradient)",
    equations="w_t = w_{t-1} - \\eta\\, \\mathrm{sign}(g_t)",
    buffers=0,
    checked_against={"optax.sign_sgd": 1e-12, "pytorch_optimizer.SignSGD": 1e-12},
)
