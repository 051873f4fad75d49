r"""Sophia: momentum divided by a clipped diagonal-Hessian estimate, refreshed every k steps.

With :math:`m_0 = h_0 = 0`:

.. math::

    m_t &= \beta_1 m_{t-1} + (1-\beta_1)\, g_t \\
    h_t &= \beta_2 h_{t-1} + (1-\beta_2)\, \hat h_t \quad \text{on steps given } \hat h_t
        \text{ (else } h_t = h_{t-1}) \\
    w_t &= w_{t-1} - \eta\lambda\, w_{t-1}
        - \eta\,\operatorname{clip}\!\Bigl(\frac{m_t}{\max(\gamma h_t,\ \epsilon)},\ 1\Bigr)

with :math:`\operatorname{clip}(z, 1) = \max(\min(z, 1), -1)` per entry, so no coordinate of
the second term ever moves by more than :math:`\eta`. Liu, Li, Hall, Liang & Ma (2023),
"Sophia: A Scalable Stochastic Second-order Optimizer for Language Model Pre-training",
arXiv 2305.14342 (ICLR 2024), Algorithm 3.

The caller computes the estimate :math:`\hat h_t` (``refopt.hessian.hutchinson`` for
Sophia-H, ``refopt.hessian.gauss_newton_bartlett`` for Sophia-G) and passes it as
``step(params, grads, state, hess=h_hat)``; the paper does so when :math:`t \bmod k = 1`
(:math:`k = 10`: steps 1, 11, 21, ...), before the step. Steps without ``hess`` keep
:math:`h`. The estimate is taken as given, negative entries included: :math:`\max(\gamma h,
\epsilon)` then makes those coordinates plain clipped momentum steps.

=========  ===================  =======
symbol     argument             default
=========  ===================  =======
eta        ``lr``               1e-4
beta_1     ``beta1``            0.965
beta_2     ``beta2``            0.99
gamma      ``gamma``            0.01
epsilon    ``eps``              1e-12
lambda     ``weight_decay``     0.1
(flag)     ``bias_correction``  False
=========  ===================  =======

Defaults: betas, lr and decay of the authors' code (Liuhong99/Sophia); gamma and eps as the
paper's Sophia-H setting.

**Parametrisations.** The first arXiv version and the cheat sheet write
:math:`\eta\,\operatorname{clip}(m/\max(h,\epsilon), \rho)`; since
:math:`\operatorname{clip}(z,\rho) = \rho\operatorname{clip}(z/\rho, 1)` that is this rule
with :math:`\gamma = \rho` and lr :math:`\eta\rho` (and :math:`\epsilon\rho`). The cheat sheet
also writes :math:`h+\epsilon` for :math:`\max(h,\epsilon)` (equal only for :math:`h \ge 0`
up to :math:`\epsilon`) and omits the refresh interval and the estimators. The authors' code
writes the step as :math:`\operatorname{sign}(m)\min(|m|/(\rho B h + 10^{-15}), 1)`, with the
batch size :math:`B` of the Gauss-Newton-Bartlett estimator applied there.

**Frameworks.** optax ``contrib.sophia`` bias-corrects :math:`m` (``bias_correction=True``
here), uses Rademacher probes in its own Hutchinson estimator, and folds a fresh estimate in
*after* the step that computed it (the paper: before), so optax's step :math:`t` equals this
rule given that estimate at step :math:`t+1`. pytorch-optimizer ``SophiaH`` computes its
estimate internally by double back-propagation and clamps :math:`m/\max(h,\epsilon)` to
:math:`\pm p` (the first version); it is not used as a check.

**Where the formula is undefined.** :math:`m_t/\max(\gamma h_t, \epsilon)` is 0/0 at ``eps = 0``
where the gradient and the Hessian estimate have been 0, so ``eps`` must be positive (refused at
0). With ``eps > 0`` the ratio is defined everywhere: a zero-gradient coordinate gets no step
(only the decay). (tests/robustness/test_rules_edge.py)

**Precision.** Elementwise throughout, in the params' dtype (float16 and bfloat16 included:
dtype in, dtype out); float16 needs ``eps`` of at least 6e-8 (the default 1e-12 rounds to 0 and
is refused). (tests/rules/test_half_precision.py)
"""
from __future__ import annotations

from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, RuleInfo, rule


class SophiaState(NamedTuple):
    t: int
    m: object  # EMA of gradients
    h: object  # EMA of diagonal-Hessian estimates, updated only when one is given


def _update(w, g, m, h, *, t, lr, beta1, beta2, gamma, eps, weight_decay, bias_correction,
            hess):
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    if hess is not None:
        h = beta2 * h + (1 - beta2) * hess
    m_hat = m / (1 - beta1**t) if bias_correction else m
    w = w - lr * weight_decay * w
    # clip(z, 1) as maximum/minimum: NumPy's clip with both bounds promotes ml_dtypes' bfloat16
    w = w - lr * xp.minimum(xp.maximum(m_hat / xp.clip(gamma * h, min=eps), -1.0), 1.0)
    return w, m, h


def sophia(lr=1e-4, beta1=0.965, beta2=0.99, gamma=0.01, eps=1e-12, weight_decay=0.1,
           bias_correction=False):
    """Sophia; pass ``hess=`` (a tree like params) to ``step`` on the steps that refresh h."""
    if not isinstance(bias_correction, bool):
        raise ValueError(f"bias_correction must be True or False, got {bias_correction!r}")
    return rule("sophia", SophiaState, lambda w: (zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "gamma": (gamma, NONNEGATIVE), "eps": (eps, POSITIVE),
                 "weight_decay": (weight_decay, NONNEGATIVE),
                 "bias_correction": (bias_correction, None)}, aux=("hess",))


INFO = RuleInfo(
    name="sophia", factory=sophia, family="F. Modern variants",
    paper="Liu et al. (2023)", year=2023, hook="Adam-like, Hessian-aware step size",
    equations="m_t = \\beta_1 m_{t-1} + (1-\\beta_1) g_t\n"
              "h_t = \\beta_2 h_{t-k} + (1-\\beta_2) \\hat h_t \\text{ if } t \\bmod k = 1\n"
              "w_t = w_{t-1} - \\eta\\lambda w_{t-1} - \\eta\\, \\mathrm{clip}(m_t / \\max(\\gamma h_t, \\epsilon), 1)",
    buffers=2,
    checked_against={"optax.contrib.sophia": 1e-12},
)
