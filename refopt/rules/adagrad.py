r"""AdaGrad: each coordinate's step divided by the root of its summed squared gradients.

.. math::

    s_t &= s_{t-1} + g_t \odot g_t \\
    w_t &= w_{t-1} - \eta_t \, \frac{g_t}{\sqrt{s_t + \epsilon_{root}} + \epsilon}

with :math:`s_0 = s_{init}` (0 in the paper). Duchi, Hazan & Singer (2011), "Adaptive
Subgradient Methods for Online Learning and Stochastic Optimization", JMLR 12, diagonal
variant: :math:`H_t = \delta I + \mathrm{diag}(s_t)^{1/2}` and, unconstrained with no
regularizer, the mirror-descent step :math:`w_t = w_{t-1} - \eta H_t^{-1} g_t`; the constant
:math:`\delta` (``eps``) sits outside the root, as in the cheat sheet and torch (paper as
restated by secondary sources; the JMLR text was not re-read). The paper gives no default
step size or :math:`\delta`; the defaults here are
torch's (its ``Adagrad`` is this rule with ``eps`` outside and ``s_0 = 0``).

======================  ========================  =======
symbol                  argument                  default
======================  ========================  =======
eta                     ``lr``                    1e-2
epsilon (paper delta)   ``eps``                   1e-10
epsilon_root            ``eps_root``              0.0
s_0                     ``initial_accumulator``   0.0
======================  ========================  =======

Convention knobs (the same algorithm, a constant placed elsewhere): ``eps_root`` puts a
constant inside the root (keras and optax put their ``eps`` there, 1e-7, and leave none
outside); ``initial_accumulator`` is :math:`s_0` (torch ``initial_accumulator_value``, 0;
keras and optax start at 0.1). optax returns a zero update where :math:`s_t = 0`; here that
case is :math:`0/(\sqrt{\epsilon_{root}}+\epsilon) = 0` too, since :math:`s_t = 0` needs
every gradient so far to be 0.

Not knobs: torch's ``lr_decay`` is the schedule ``lr=lambda t: lr / (1 + (t - 1) * lr_decay)``;
torch's ``weight_decay`` is ``refopt.coupled_weight_decay``.

**Where the formula is undefined.** With ``eps = 0`` and ``eps_root = 0`` a coordinate whose
gradients have all been exactly 0 makes :math:`g_t/(\sqrt{s_t+\epsilon_{root}}+\epsilon)` 0/0:
the step there is NaN from step 1, every other coordinate stays finite. The formula is undefined
there and the rule propagates the NaN (DESIGN); ``refopt.check_finite`` reports it. With the
default ``eps`` (1e-10) the step there is exactly 0, and an all-zero gradient leaves the leaf
unchanged. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from dataclasses import replace
from typing import NamedTuple

from ..backend import array_namespace
from ..core import NONNEGATIVE, RuleInfo, number, rule


class AdagradState(NamedTuple):
    t: int
    s: object  # the running sum of squared gradients


def _update(w, g, s, *, t, lr, eps, eps_root):
    xp = array_namespace(w)
    s = s + g * g
    w = w - lr * g / (xp.sqrt(s + eps_root) + eps)
    return w, s


def adagrad(lr=1e-2, eps=1e-10, eps_root=0.0, initial_accumulator=0.0):
    """AdaGrad: ``s <- s + g^2``, ``w <- w - lr * g / (sqrt(s + eps_root) + eps)``."""
    s0 = number("initial_accumulator", initial_accumulator, NONNEGATIVE)

    def init_leaf(w):
        return (array_namespace(w).full_like(w, s0),)

    opt = rule("adagrad", AdagradState, init_leaf, _update,
               {"lr": (lr, NONNEGATIVE), "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE)})
    # s_0 is used once, by init, so it is no schedule; it is listed with the others
    return replace(opt, hyperparams={**opt.hyperparams, "initial_accumulator": s0},
                   bounds={**opt.bounds, "initial_accumulator": NONNEGATIVE})


INFO = RuleInfo(
    name="adagrad", factory=adagrad, family="B. Adaptive (diagonal)",
    paper="Duchi, Hazan & Singer (2011)", year=2011, hook="Remembers all squared grads",
    equations="s_t = s_{t-1} + g_t \\odot g_t\n"
              "w_t = w_{t-1} - \\eta\\, \\frac{g_t}{\\sqrt{s_t} + \\epsilon}",
    buffers=1,
    checked_against={"torch.optim.Adagrad": 1e-12, "optax.adagrad": 1e-12},
)
