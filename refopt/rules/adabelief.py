r"""AdaBelief: Adam whose second moment is the spread of g around its own EMA.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2)(g_t - m_t)^2 + \epsilon_{root} \\
    \hat m_t &= \frac{m_t}{1-\beta_1^t}, \qquad \hat s_t = \frac{s_t}{1-\beta_2^t} \\
    w_t &= w_{t-1} - \eta \frac{\hat m_t}{\sqrt{\hat s_t} + \epsilon}

with :math:`m_0 = s_0 = 0`. Zhuang, Tang, Ding, Tatikonda, Dvornek, Papademetris & Duncan
(2020), "AdaBelief Optimizer: Adapting Stepsizes by the Belief in Observed Gradients",
NeurIPS, Algorithm 2.

Viewing :math:`m_t` as the prediction of :math:`g_t`, a gradient close to the prediction
(small "surprise" :math:`g_t - m_t`) gets a large step and a surprising one a small step.
The residual uses the updated, un-corrected :math:`m_t`.

**Where epsilon goes.** The paper adds :math:`\epsilon` twice: into the *stored*
:math:`s_t` every step (so it accumulates to a floor of about :math:`\epsilon/(1-\beta_2)`)
and again outside the root. Here the first is ``eps_root`` (optax's name, which optax adds
to the stored :math:`s_t` exactly here) and the second ``eps``; the paper writes the same
:math:`\epsilon` for both, and both default to 1e-16 (optax, pytorch_optimizer; reported
for the authors' package too, unverified in formulas.md section 14). Set both when
changing :math:`\epsilon` to stay on the paper's rule.
The cheat sheet omits the :math:`+\epsilon` inside :math:`s_t`, which matters exactly in
AdaBelief's regime, where :math:`(g-m)^2` is tiny. pytorch_optimizer's ``AdaBelief`` adds
another 1e-15 under the root and divides its ``eps`` by :math:`\sqrt{1-\beta_2^t}`, a
different placement (``refopt.flavors``).

=========  ============  =======
symbol     argument      default
=========  ============  =======
eta        ``lr``        1e-3
beta_1     ``beta1``     0.9
beta_2     ``beta2``     0.999
epsilon    ``eps``       1e-16
epsilon    ``eps_root``  1e-16 (the same epsilon, inside s)
=========  ============  =======

**Where the formula is undefined.** With ``eps = 0`` and ``eps_root = 0`` a coordinate whose
gradients have all been exactly 0 makes :math:`\hat m_t/(\sqrt{\hat s_t}+\epsilon)` 0/0: the
step there is NaN from step 1, every other coordinate stays finite. The formula is undefined
there and the rule propagates the NaN (DESIGN); ``refopt.check_finite`` reports it. With the
default ``eps`` (1e-16, the paper's) the step there is exactly 0, and an all-zero gradient
leaves the leaf unchanged. (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class AdabeliefState(NamedTuple):
    t: int
    m: object  # first moment
    s: object  # EMA of the squared surprise (g - m)^2, eps_root included


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps, eps_root):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * (g - m) ** 2 + eps_root
    m_hat = m / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    w = w - lr * m_hat / (xp.sqrt(s_hat) + eps)
    return w, m, s


def adabelief(lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-16, eps_root=1e-16):
    """AdaBelief (Zhuang et al. 2020, Algorithm 2): Adam with
    ``s <- beta2*s + (1-beta2)*(g - m)^2 + eps_root``."""
    return rule("adabelief", AdabeliefState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE)})


INFO = RuleInfo(
    name="adabelief", factory=adabelief, family="C. Adam family",
    paper="Zhuang et al. (2020)", year=2020, hook="Variance of (grad - momentum)",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "s_t = \\beta_2 s_{t-1} + (1-\\beta_2)(g_t - m_t)^2 + \\epsilon\n"
              "w_t = w_{t-1} - \\eta \\frac{m_t/(1-\\beta_1^t)}{\\sqrt{s_t/(1-\\beta_2^t)} + \\epsilon}",
    buffers=2,
    checked_against={"optax.adabelief": 1e-12},
)
