r"""Lion: the sign of an interpolated momentum, with decoupled weight decay.

.. math::

    c_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    w_t &= w_{t-1} - \eta\,\bigl(\operatorname{sign}(c_t) + \lambda\, w_{t-1}\bigr) \\
    m_t &= \beta_2 m_{t-1} + (1-\beta_2)\, g_t

with :math:`m_0 = 0` and :math:`\operatorname{sign}(0) = 0`. Chen, Liang, Huang, Real, Wang,
Pham, Dong, Luong, Hsieh, Lu & Le (2023), "Symbolic Discovery of Optimization Algorithms",
arXiv 2302.06675, Algorithm 2.

Before decay every entry of the step is :math:`\pm\eta` (or 0 where :math:`c_t = 0`), so the
step's size does not depend on the gradient's scale. Two different betas: the sign is taken of
an interpolation with weight :math:`\beta_1` while the memory keeps the slower :math:`\beta_2`.

=========  ================  =======
symbol     argument          default
=========  ================  =======
eta        ``lr``            1e-4
beta_1     ``beta1``         0.9
beta_2     ``beta2``         0.99
lambda     ``weight_decay``  0.0
=========  ================  =======

Defaults: the paper's betas; lr 1e-4 and no decay as in the authors' released code (the paper
advises an lr 3-10x smaller and a decay 3-10x larger than AdamW's).

**Notes and frameworks.** The cheat sheet omits the decay term :math:`-\eta\lambda w_{t-1}`,
which is part of Algorithm 2. optax ``lion`` (defaults ``weight_decay=1e-3``) and
pytorch-optimizer ``Lion`` (decay applied as :math:`w(1-\eta\lambda)` before the sign step,
the same number) implement this update.

**Where the formula is undefined.** Nowhere: :math:`\mathrm{sign}(0) = 0`, so a coordinate whose
gradients have all been 0 gets no step (only the decay, :math:`-\eta\lambda w`).
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class LionState(NamedTuple):
    t: int
    m: object  # the momentum memory, an EMA of gradients with beta2


def _update(w, g, m, *, t, lr, beta1, beta2, weight_decay):
    xp = array_namespace(w)
    c = beta1 * m + (1 - beta1) * g
    w = w - lr * (xp.sign(c) + weight_decay * w)
    m = beta2 * m + (1 - beta2) * g
    return w, m


def lion(lr=1e-4, beta1=0.9, beta2=0.99, weight_decay=0.0):
    """Lion: ``w <- w - lr*(sign(beta1*m + (1-beta1)*g) + weight_decay*w)``, then ``m`` with beta2."""
    return rule("lion", LionState, lambda w: (zeros_like(w),), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "weight_decay": (weight_decay, NONNEGATIVE)})


INFO = RuleInfo(
    name="lion", factory=lion, family="E. Sign-based",
    paper="Chen et al. (2023)", year=2023, hook="Sign step, momentum memory",
    equations="c_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "w_t = w_{t-1} - \\eta\\,(\\mathrm{sign}(c_t) + \\lambda w_{t-1})\n"
              "m_t = \\beta_2 m_{t-1} + (1-\\beta_2) g_t",
    buffers=1,
    checked_against={"optax.lion": 1e-12, "pytorch_optimizer.Lion": 1e-12},
)
