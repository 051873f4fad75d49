r"""AMSGrad: Adam whose second-moment denominator may only grow.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    \bar s_t &= \max(\bar s_{t-1}, s_t) \\
    w_t &= w_{t-1} - \eta_t\, \frac{m_t}{\sqrt{\bar s_t + \epsilon_{root}} + \epsilon}

with :math:`m_0 = s_0 = \bar s_0 = 0`. Reddi, Kale & Kumar (2018), "On the Convergence of Adam
and Beyond", ICLR, arXiv 1904.09237, Algorithm 2 (:math:`v_t, \hat v_t` there are
:math:`s_t, \bar s_t`): **no bias correction** of either moment, the maximum of the raw
second moment. The paper's :math:`\beta_{1t}` may be passed as a schedule (its theory uses
:math:`\beta_1\lambda^{t-1}` and :math:`\alpha_t = \alpha/\sqrt t`); its projection onto a
feasible set is not part of the rule. The paper has no :math:`\epsilon`: ``eps=0``
reproduces it, at the price of 0/0 in a coordinate whose gradients have all been 0; the
default 1e-8 is Adam's.

Because :math:`\bar s_t` never decreases, neither does the denominator, and for a
non-increasing :math:`\eta_t` the effective step :math:`\eta_t/(\sqrt{\bar s_t}+\epsilon)` never
grows: the paper's condition :math:`\Gamma_t \succeq 0` that Adam violates.

Three placements of the maximum exist, and they are different algorithms:

- **paper** (this rule): max of raw :math:`s_t`, no correction. optax
  ``amsgrad(bias_correction_mu=False, bias_correction_nu=False)`` is exactly this.
- **torch** ``Adam(amsgrad=True)`` (and keras): max of raw :math:`s_t`, then both :math:`m_t`
  and the max are divided by the *current* corrections,
  :math:`\hat m_t/(\sqrt{\bar s_t/(1-\beta_2^t)}+\epsilon)`. That is this rule with the
  schedules ``lr=lambda t: lr * sqrt(1 - beta2**t) / (1 - beta1**t)`` and
  ``eps=lambda t: eps * sqrt(1 - beta2**t)``. Its denominator can *decrease* as
  :math:`1-\beta_2^t` grows, so torch's form does not have the paper's monotone step.
- **optax** ``amsgrad`` (default): max of the *bias-corrected* :math:`\hat s_t`. A maximum
  of time-rescaled values is not a rescaled maximum, so no schedule reproduces it: it is
  not a knob. The cheat sheet's :math:`\hat m_t/(\sqrt{\bar s_t}+\epsilon)` (corrected
  :math:`m`, uncorrected max) is optax with ``bias_correction_nu=False`` only, and this rule
  with ``lr=lambda t: lr / (1 - beta1**t)``.

======================  ==============  ==========================
symbol                  argument        default
======================  ==============  ==========================
eta (paper alpha_t)     ``lr``          1e-3
beta_1                  ``beta1``       0.9
beta_2                  ``beta2``       0.999
epsilon                 ``eps``         1e-8 (none in the paper)
epsilon_root            ``eps_root``    0.0
======================  ==============  ==========================

The paper's experiments use :math:`\beta_2 \in \{0.99, 0.999\}`; 0.999 is Adam's default and
torch's and optax's.

**Where the formula is undefined.** With ``eps = 0`` and ``eps_root = 0`` a coordinate whose
gradients have all been exactly 0 makes :math:`m_t/(\sqrt{\bar s_t}+\epsilon)` 0/0: the step
there is NaN from step 1, every other coordinate stays finite. The formula is undefined there
and the rule propagates the NaN (DESIGN); ``refopt.check_finite`` reports it. With the default
``eps`` (1e-8) the step there is exactly 0, and an all-zero gradient leaves the leaf unchanged.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class AMSGradState(NamedTuple):
    t: int
    m: object      # running mean of gradients
    s: object      # running mean of squared gradients
    s_max: object  # the largest s so far, elementwise


def _update(w, g, m, s, s_max, *, t, lr, beta1, beta2, eps, eps_root):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    s_max = xp.maximum(s_max, s)
    w = w - lr * m / (xp.sqrt(s_max + eps_root) + eps)
    return w, m, s, s_max


def amsgrad(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8, eps_root=0.0):
    """AMSGrad as in Reddi et al.'s Algorithm 2: running max of the raw second moment, no
    bias correction (torch's form is this rule with lr and eps schedules)."""
    return rule("amsgrad", AMSGradState, lambda w: (zeros_like(w), zeros_like(w), zeros_like(w)),
                _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE)})


INFO = RuleInfo(
    name="amsgrad", factory=amsgrad, family="C. Adam family",
    paper="Reddi, Kale & Kumar (2018)", year=2018, hook="Adam, but s_t can only go up",
    equations="m_t, s_t \\text{ as Adam}\n"
              "\\bar s_t = \\max(\\bar s_{t-1}, s_t)\n"
              "w_t = w_{t-1} - \\eta\\, \\frac{m_t}{\\sqrt{\\bar s_t} + \\epsilon}",
    buffers=3,
    checked_against={"torch.optim.Adam": 1e-12, "optax.amsgrad": 1e-12},
)
