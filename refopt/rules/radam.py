r"""RAdam: Adam whose adaptive step is switched on only once its variance is finite.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t, \qquad
    s_t = \beta_2 s_{t-1} + (1-\beta_2) g_t^2, \qquad \hat m_t = \frac{m_t}{1-\beta_1^t} \\
    \rho_\infty &= \frac{2}{1-\beta_2} - 1, \qquad
    \rho_t = \rho_\infty - \frac{2 t \beta_2^t}{1-\beta_2^t} \\
    r_t &= \sqrt{\frac{(\rho_t-4)(\rho_t-2)\rho_\infty}{(\rho_\infty-4)(\rho_\infty-2)\rho_t}} \\
    w_t &= w_{t-1} - \eta\, r_t \frac{\hat m_t}{\sqrt{s_t/(1-\beta_2^t) + \epsilon_{root}} + \epsilon}
        \quad \text{if } \rho_t > \text{threshold} \\
    w_t &= w_{t-1} - \eta\, \hat m_t \quad \text{otherwise}

with :math:`m_0 = s_0 = 0`. Liu, Jiang, He, Chen, Liu, Gao & Han (2020), "On the Variance of
the Adaptive Learning Rate and Beyond", ICLR, Algorithm 2.

:math:`\rho_t` is the length of the simple moving average that matches the EMA
:math:`s_t`; the variance of Adam's adaptive rate :math:`\sqrt{(1-\beta_2^t)/s_t}` is
infinite for :math:`\rho_t \le 4` (a pole at 4), so there the rule takes the
bias-corrected momentum step without any adaptive scaling. :math:`\rho_t` depends on
:math:`t` only, so the branch is a Python ``if`` on a number, the same for every entry.

**Differences recorded.** The paper switches at :math:`\rho_t > 4` and has no
:math:`\epsilon` (defaults here: ``threshold=4``, ``eps=0``, ``eps_root=0``). With
:math:`\beta_2 = 0.999`, :math:`\rho_4 = 3.998`, :math:`\rho_5 = 4.996`, :math:`\rho_6 = 5.994`:
the paper rectifies from step 5, torch (:math:`\rho_t > 5`) and optax (:math:`\rho_t \ge 5`,
``threshold=5.0``) from step 6; the official code also uses 5 ("more conservative since it's
an approximated value"). torch writes the adaptive factor as
:math:`\sqrt{1-\beta_2^t}/(\sqrt{s_t}+\epsilon)`, i.e. its :math:`\epsilon` acts as
:math:`\epsilon/\sqrt{1-\beta_2^t}` here (equal for ``eps=0``; otherwise a flavor).
optax places ``eps`` and ``eps_root`` as here. The cheat sheet's ">4" is the paper's; it
adds an :math:`\epsilon` the paper lacks and leaves :math:`\rho_t, r_t` undefined.

=========  =============  =======
symbol     argument       default
=========  =============  =======
eta        ``lr``         1e-3
beta_1     ``beta1``      0.9
beta_2     ``beta2``      0.999
epsilon    ``eps``        0 (paper; torch, optax 1e-8)
eps_root   ``eps_root``   0
threshold  ``threshold``  4 (paper; torch, optax, official code 5)
=========  =============  =======

**Where the formula is undefined.** The paper has no :math:`\epsilon` (default ``eps = 0``). A
coordinate whose gradients have all been exactly 0 has :math:`m_t = s_t = 0`: steps 1-4
(momentum steps, :math:`\rho_t \le 4` at :math:`\beta_2 = 0.999`) leave it unchanged, and from
step 5 the rectified step is 0/0 = NaN there (``radam()`` with :math:`g = [1, 0]`: :math:`w =
[0.996, \text{nan}]`), the other coordinates finite. The paper's formula is undefined there; the
rule propagates the NaN (DESIGN) and ``refopt.check_finite`` reports it. For sparse gradients
pass ``eps=1e-8`` (torch, optax): the step there is then 0.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, Interval, RuleInfo, rule


class RadamState(NamedTuple):
    t: int
    m: object  # first moment
    s: object  # second moment


def sma_length(t, beta2):
    """rho_t: the length of the simple moving average that matches the EMA s_t."""
    rho_inf = 2 / (1 - beta2) - 1
    return rho_inf - 2 * t * beta2**t / (1 - beta2**t)


def rectification(rho_t, beta2):
    """r_t = sqrt(Var[psi_inf] / Var[psi_t]) in the paper's first-order approximation."""
    rho_inf = 2 / (1 - beta2) - 1
    return math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))


def _update(w, g, m, s, *, t, lr, beta1, beta2, eps, eps_root, threshold):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t)
    rho_t = sma_length(t, beta2)
    if rho_t > threshold:
        r_t = rectification(rho_t, beta2)
        w = w - lr * r_t * m_hat / (xp.sqrt(s / (1 - beta2**t) + eps_root) + eps)
    else:
        w = w - lr * m_hat
    return w, m, s


def radam(lr=1e-3, beta1=0.9, beta2=0.999, eps=0.0, eps_root=0.0, threshold=4.0):
    """RAdam (Liu et al. 2020, Algorithm 2): the rectified Adam step while
    ``rho_t > threshold``, the bias-corrected momentum step before."""
    return rule("radam", RadamState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE),
                 # r_t needs rho_t > 4 to be real: the pole of Var[psi] is at 4
                 "threshold": (threshold, Interval(4.0))})


INFO = RuleInfo(
    name="radam", factory=radam, family="C. Adam family",
    paper="Liu et al. (2020)", year=2020, hook="Adam with early-step correction",
    equations="\\rho_t = \\rho_\\infty - \\frac{2 t \\beta_2^t}{1-\\beta_2^t}, "
              "\\rho_\\infty = \\frac{2}{1-\\beta_2} - 1\n"
              "r_t = \\sqrt{\\frac{(\\rho_t-4)(\\rho_t-2)\\rho_\\infty}"
              "{(\\rho_\\infty-4)(\\rho_\\infty-2)\\rho_t}}\n"
              "w_t = w_{t-1} - \\eta\\, r_t \\frac{\\hat m_t}{\\sqrt{\\hat s_t}} \\text{ if } \\rho_t > 4,"
              " \\text{ else } w_t = w_{t-1} - \\eta\\, \\hat m_t",
    buffers=2,
    checked_against={"torch.optim.RAdam": 1e-12, "optax.radam": 1e-12},
)
