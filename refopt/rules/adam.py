r"""Adam: a bias-corrected running mean of gradients over the root of their running mean square.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    \hat m_t &= m_t / (1-\beta_1^t), \qquad \hat s_t = s_t / (1-\beta_2^t) \\
    w_t &= w_{t-1} - \eta_t\, \frac{\hat m_t}{\sqrt{\hat s_t + \epsilon_{root}} + \epsilon}

with :math:`m_0 = s_0 = 0`. Kingma & Ba (2015), "Adam: A Method for Stochastic
Optimization", ICLR, arXiv 1412.6980, Algorithm 1 (:math:`v_t` there is :math:`s_t` here, the
cheat sheet's name, and :math:`\alpha` is :math:`\eta`). :math:`\beta_1^t` and
:math:`\beta_2^t` are Python floats of the integer step count, so a float32 or float16 run
never computes them in its own precision.

======================  ==============  =======
symbol                  argument        default
======================  ==============  =======
eta (paper alpha)       ``lr``          1e-3
beta_1                  ``beta1``       0.9
beta_2                  ``beta2``       0.999
epsilon                 ``eps``         1e-8
epsilon_root            ``eps_root``    0.0
======================  ==============  =======

The defaults are the paper's (and torch's and optax's). Convention knob: ``eps_root`` is
optax's constant inside the root. Not knobs:

- keras computes the paper's "efficient" form (just before §2.1),
  :math:`\eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)\cdot m_t/(\sqrt{s_t}+\hat\epsilon)`, with
  :math:`\hat\epsilon = 10^{-7}`: that is this rule with the schedule
  ``eps=lambda t: eps_hat / sqrt(1 - beta2**t)`` (3.2e-6 at t = 1 for :math:`\beta_2 = 0.999`);
- torch's ``weight_decay`` is coupled L2: ``refopt.coupled_weight_decay(adam(...), wd)``;
- torch ``amsgrad=True`` is ``refopt.amsgrad`` with schedules (see there).

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


class AdamState(NamedTuple):
    t: int
    m: object  # running mean of gradients (first moment)
    s: object  # running mean of squared gradients (second moment)


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps, eps_root):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    w = w - lr * m_hat / (xp.sqrt(s_hat + eps_root) + eps)
    return w, m, s


def adam(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, eps_root=0.0):
    """Adam (Kingma & Ba 2015, Algorithm 1); ``eps_root`` adds a constant inside the root."""
    return rule("adam", AdamState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE)})


INFO = RuleInfo(
    name="adam", factory=adam, family="C. Adam family",
    paper="Kingma & Ba (2015)", year=2015, hook="(mean grad) / (RMS grad)",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1)\\, g_t\n"
              "s_t = \\beta_2 s_{t-1} + (1-\\beta_2)\\, g_t \\odot g_t\n"
              "\\hat m_t = m_t / (1-\\beta_1^t),\\quad \\hat s_t = s_t / (1-\\beta_2^t)\n"
              "w_t = w_{t-1} - \\eta\\, \\frac{\\hat m_t}{\\sqrt{\\hat s_t} + \\epsilon}",
    buffers=2,
    checked_against={"torch.optim.Adam": 1e-12, "optax.adam": 1e-12},
)
