r"""AdaMax: Adam with the infinity norm in place of the root mean square.

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1) g_t \\
    u_t &= \max(\beta_2 u_{t-1},\ |g_t| + \epsilon) \\
    w_t &= w_{t-1} - \frac{\eta}{1-\beta_1^t} \frac{m_t}{u_t}

with :math:`m_0 = u_0 = 0`. Kingma & Ba (2015), "Adam: A Method for Stochastic
Optimization", ICLR, Section 7.1 and Algorithm 2.

:math:`u_t` is the limit :math:`p \to \infty` of
:math:`\big((1-\beta_2^p)\sum_i \beta_2^{p(t-i)} |g_i|^p\big)^{1/p}`, i.e.
:math:`\max(\beta_2^{t-1}|g_1|, \dots, |g_t|)`; it needs no bias correction because
:math:`u_t \ge |g_t|` from the first step on. Since :math:`|g_i| \le u_t/\beta_2^{t-i}`,
:math:`|m_t| \le (1-\beta_1) u_t \sum_{k<t} (\beta_1/\beta_2)^k`, so for :math:`\beta_1 < \beta_2`
the step is at most :math:`\eta (1-\beta_1)(1-(\beta_1/\beta_2)^t) / ((1-\beta_1/\beta_2)(1-\beta_1^t))`
per coordinate: :math:`1.009\,\eta` at the defaults. The paper's :math:`|\Delta_t| \le \alpha`
(and the notes' "always, unconditionally") is therefore approximate: gradients shrinking
by exactly :math:`\beta_2` per step reach the 0.9% excess (tested).

**Where epsilon goes.** The paper has no :math:`\epsilon` (default ``eps=0`` here gives
Algorithm 2 exactly). torch ``Adamax`` and optax ``adamax`` put it inside the max,
:math:`\max(\beta_2 u_{t-1}, |g_t|+\epsilon)` (both 1e-8), which is the placement used here.
Keras adds it to the denominator, :math:`m_t/((1-\beta_1^t)(u_t+\epsilon))` (1e-7): a
different placement, left to ``refopt.flavors``. The cheat sheet writes
:math:`\hat m_t/(u_t+\epsilon)`, the Keras placement. With ``eps=0`` a coordinate whose
gradients have all been exactly zero has :math:`u_t = m_t = 0` and the step is 0/0 = NaN, as
the paper's formula reads; pass ``eps=1e-8`` (torch, optax) for sparse gradients.

=========  ==========  =======
symbol     argument    default
=========  ==========  =======
eta        ``lr``      2e-3 (paper; torch 2e-3, keras 1e-3)
beta_1     ``beta1``   0.9
beta_2     ``beta2``   0.999
epsilon    ``eps``     0 (paper; torch, optax 1e-8)
=========  ==========  =======

**Where the formula is undefined.** With the paper's ``eps = 0`` a coordinate whose gradients
have all been exactly 0 has :math:`u_t = m_t = 0`: the step there is 0/0 = NaN from step 1, the
other coordinates finite. The paper's formula is undefined there; the rule propagates the NaN
(DESIGN) and ``refopt.check_finite`` reports it. With ``eps > 0`` the step there is 0.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule


class AdamaxState(NamedTuple):
    t: int
    m: object  # first moment (EMA of g)
    u: object  # exponentially weighted infinity norm of g


def _update(w, g, m, u, *, t, lr, beta1, beta2, eps):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    u = xp.maximum(beta2 * u, xp.abs(g) + eps)
    w = w - (lr / (1 - beta1**t)) * (m / u)
    return w, m, u


def adamax(lr=2e-3, beta1=0.9, beta2=0.999, eps=0.0):
    """AdaMax (Kingma & Ba 2015, Algorithm 2): ``u <- max(beta2*u, |g| + eps)``,
    ``w <- w - lr/(1-beta1^t) * m/u``."""
    return rule("adamax", AdamaxState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE)})


INFO = RuleInfo(
    name="adamax", factory=adamax, family="C. Adam family",
    paper="Kingma & Ba (2015)", year=2015, hook="Adam, but scale by max-grad",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "u_t = \\max(\\beta_2 u_{t-1}, |g_t| + \\epsilon)\n"
              "w_t = w_{t-1} - \\frac{\\eta}{1-\\beta_1^t} \\frac{m_t}{u_t}",
    buffers=2,
    checked_against={"torch.optim.Adamax": 1e-12, "optax.adamax": 1e-12},
)
