r"""AdamW: Adam's step plus a weight decay that bypasses the adaptive rescaling.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat s_t = s_t / (1-\beta_2^t) \\
    w_t &= w_{t-1} - \eta_t \left( \alpha\, \frac{\hat m_t}{\sqrt{\hat s_t + \epsilon_{root}} + \epsilon}
           + \lambda\, w_{t-1} \right)

with :math:`m_0 = s_0 = 0`. Loshchilov & Hutter (2019), "Decoupled Weight Decay
Regularization", ICLR, arXiv 1711.05101, Algorithm 2 ("AdamW"): the moments
see the raw gradient; the decay :math:`\lambda w_{t-1}` joins the step after the rescaling.

**The decay is multiplied by the schedule multiplier** :math:`\eta_t` **only, not by the
step size** :math:`\alpha`. Here :math:`\alpha` is ``lr`` and :math:`\eta_t` is
``schedule_multiplier`` (1 by default; a schedule ``t -> float``). torch, keras and optax
(and the cheat sheet, :math:`-\eta\lambda w_t`) multiply the decay by the whole learning
rate: their :math:`\lambda_{fw}` is :math:`\lambda/\alpha` here. With a constant learning
rate, ``torch.optim.AdamW(lr=a, weight_decay=wd)`` is ``adamw(lr=a, weight_decay=a * wd)``;
with a torch schedule :math:`a f(t)` it is
``adamw(lr=a, schedule_multiplier=f, weight_decay=a * wd)``.

======================  ========================  ==========================================
symbol                  argument                  default
======================  ========================  ==========================================
alpha                   ``lr``                    1e-3
eta_t                   ``schedule_multiplier``   1.0
lambda                  ``weight_decay``          1e-5 (torch's 1e-2 times its lr 1e-3)
beta_1, beta_2          ``beta1``, ``beta2``      0.9, 0.999
epsilon                 ``eps``                   1e-8
epsilon_root            ``eps_root``              0.0
======================  ========================  ==========================================

The paper gives no default :math:`\lambda` (it normalizes it by batch and run length); 1e-5
shrinks the weights by the same factor per step as torch's defaults. Framework defaults
differ 100-fold in their own units: torch 1e-2, keras 0.004, optax 1e-4. Convention knob:
``eps_root`` (optax). Not a knob: keras's :math:`\hat\epsilon` form (see ``refopt.adam``).

**Where the formula is undefined.** With ``eps = 0`` and ``eps_root = 0`` a coordinate whose
gradients have all been exactly 0 makes :math:`\hat m_t/(\sqrt{\hat s_t}+\epsilon)` 0/0: the
step there is NaN from step 1, every other coordinate stays finite. The formula is undefined
there and the rule propagates the NaN (DESIGN); ``refopt.check_finite`` reports it. With the
default ``eps`` (1e-8, the paper's) the step there is exactly 0, and an all-zero gradient leaves
the leaf unchanged. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class AdamWState(NamedTuple):
    t: int
    m: object  # running mean of gradients (first moment)
    s: object  # running mean of squared gradients (second moment)


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps, weight_decay, schedule_multiplier, eps_root):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    w = w - schedule_multiplier * (lr * m_hat / (xp.sqrt(s_hat + eps_root) + eps) + weight_decay * w)
    return w, m, s


def adamw(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=1e-5, schedule_multiplier=1.0,
          eps_root=0.0):
    """AdamW as in Loshchilov & Hutter's Algorithm 2: the decay is scaled by
    ``schedule_multiplier`` only, not by ``lr`` (frameworks' ``weight_decay`` is ours / lr)."""
    return rule("adamw", AdamWState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE),
                 "schedule_multiplier": (schedule_multiplier, NONNEGATIVE),
                 "eps_root": (eps_root, NONNEGATIVE)})


INFO = RuleInfo(
    name="adamw", factory=adamw, family="C. Adam family",
    paper="Loshchilov & Hutter (2019)", year=2019, hook="Adam step + separate shrink",
    equations="m_t, s_t, \\hat m_t, \\hat s_t \\text{ as Adam}\n"
              "w_t = w_{t-1} - \\eta_t \\left(\\alpha\\, \\frac{\\hat m_t}{\\sqrt{\\hat s_t} + \\epsilon}"
              " + \\lambda w_{t-1}\\right)",
    buffers=2,
    checked_against={"torch.optim.AdamW": 1e-12, "optax.adamw": 1e-12},
)
