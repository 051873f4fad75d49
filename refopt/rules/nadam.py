r"""NAdam: Adam with Nesterov momentum, in Dozat's constant-:math:`\beta_1` form.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2) g_t^2 \\
    \bar m_t &= \frac{\beta_1 m_t}{1-\beta_1^{t+1}} + \frac{(1-\beta_1) g_t}{1-\beta_1^t} \\
    \hat s_t &= \frac{s_t}{1-\beta_2^t} \\
    w_t &= w_{t-1} - \eta \frac{\bar m_t}{\sqrt{\hat s_t + \epsilon_{root}} + \epsilon}

with :math:`m_0 = s_0 = 0`. Dozat (2016), "Incorporating Nesterov Momentum into Adam",
ICLR workshop, Algorithm 2 with a constant momentum schedule :math:`\mu_t = \beta_1`.

Adam's bias-corrected momentum splits as
:math:`\hat m_t = \beta_1 m_{t-1}/(1-\beta_1^t) + (1-\beta_1) g_t/(1-\beta_1^t)`; NAdam
puts the current :math:`m_t` where :math:`m_{t-1}` was (the Nesterov look-ahead), and
:math:`m_t` holds :math:`t` gradients, so its correction is the one Adam would use at step
:math:`t+1`: :math:`1-\beta_1^{t+1}` (Dozat's :math:`1-\prod_{i=1}^{t+1}\mu_i`).

**Differences recorded.**

* The cheat sheet writes :math:`\beta_1\hat m_t` with :math:`\hat m_t = m_t/(1-\beta_1^t)`,
  i.e. exponent :math:`t` in the first term. Dozat (and optax, and the notes' own NAdam
  section) use :math:`t+1`; at :math:`t=1` the first term is :math:`0.9 m_1/0.19`, not
  :math:`0.9 m_1/0.1`. This rule follows Dozat.
* Dozat's Algorithm 2 also scales :math:`\hat s_t` by :math:`\beta_2` (optax's source says so
  and drops it, as torch and Keras do); dropped here too.
* torch ``NAdam`` and Keras ``Nadam`` use the momentum schedule
  :math:`\mu_t = \beta_1(1-\tfrac12 0.96^{t\psi})` with products of :math:`\mu_i` (a different
  algorithm, in ``refopt.flavors``). torch reduces to this rule exactly when
  :math:`0.96^{t\psi}` underflows to 0, e.g. ``momentum_decay=1e5``.
* ``eps_root`` (optax's name) is a constant inside the root, 0 in the paper and optax.

=========  ============  =======
symbol     argument      default
=========  ============  =======
eta        ``lr``        2e-3 (Dozat's, as in Keras 1 and torch)
beta_1     ``beta1``     0.9
beta_2     ``beta2``     0.999
epsilon    ``eps``       1e-8
eps_root   ``eps_root``  0
=========  ============  =======

**Where the formula is undefined.** With ``eps = 0`` and ``eps_root = 0`` a coordinate whose
gradients have all been exactly 0 makes :math:`\bar m_t/(\sqrt{\hat s_t}+\epsilon)` 0/0: the
step there is NaN from step 1, every other coordinate stays finite. The formula is undefined
there and the rule propagates the NaN (DESIGN); ``refopt.check_finite`` reports it. With the
default ``eps`` (1e-8) the step there is exactly 0, and an all-zero gradient leaves the leaf
unchanged. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class NadamState(NamedTuple):
    t: int
    m: object  # first moment
    s: object  # second moment


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps, eps_root):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    m_bar = beta1 * m / (1 - beta1 ** (t + 1)) + (1 - beta1) * g / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    w = w - lr * m_bar / (xp.sqrt(s_hat + eps_root) + eps)
    return w, m, s


def nadam(lr=2e-3, beta1=0.9, beta2=0.999, eps=1e-8, eps_root=0.0):
    """NAdam (Dozat 2016), constant beta1: Adam with ``beta1*m_t/(1-beta1^(t+1))
    + (1-beta1)*g_t/(1-beta1^t)`` in place of the bias-corrected momentum."""
    return rule("nadam", NadamState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE)})


INFO = RuleInfo(
    name="nadam", factory=nadam, family="C. Adam family",
    paper="Dozat (2016)", year=2016, hook="Adam + Nesterov peek",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "s_t = \\beta_2 s_{t-1} + (1-\\beta_2) g_t^2\n"
              "\\bar m_t = \\frac{\\beta_1 m_t}{1-\\beta_1^{t+1}} + \\frac{(1-\\beta_1) g_t}{1-\\beta_1^t}\n"
              "w_t = w_{t-1} - \\eta \\frac{\\bar m_t}"
              "{\\sqrt{s_t/(1-\\beta_2^t) + \\epsilon_{root}} + \\epsilon}",
    buffers=2,
    checked_against={"torch.optim.NAdam": 1e-12, "optax.nadam": 1e-12},
)
