r"""AdEMAMix: Adam whose numerator mixes a fast EMA of gradients with a much slower one.

.. math::

    \alpha_t &= f_\alpha(t) = \min\bigl(t\,\alpha / T_\alpha,\ \alpha\bigr) \\
    \beta_{3,t} &= f_{\beta_3}(t) = \min\Bigl(\exp\Bigl(
        \frac{\ln\beta_1 \ln\beta_3}{(1 - t/T_{\beta_3})\ln\beta_3 + (t/T_{\beta_3})\ln\beta_1}\Bigr),
        \ \beta_3\Bigr) \\
    m_{1,t} &= \beta_1 m_{1,t-1} + (1-\beta_1)\, g_t \\
    m_{2,t} &= \beta_{3,t}\, m_{2,t-1} + (1-\beta_{3,t})\, g_t \\
    s_t &= \beta_2 s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    \hat m_{1,t} &= m_{1,t} / (1-\beta_1^t), \qquad \hat s_t = s_t / (1-\beta_2^t) \\
    w_t &= w_{t-1} - \eta\,\Bigl(\frac{\hat m_{1,t} + \alpha_t\, m_{2,t}}{\sqrt{\hat s_t} + \epsilon}
        + \lambda\, w_{t-1}\Bigr)

with :math:`m_{1,0} = m_{2,0} = s_0 = 0`. Pagliardini, Ablin & Grangier (2024), "The AdEMAMix
Optimizer: Better, Faster, Older", arXiv 2409.03137, Algorithm 1, with the warm-up schedulers of
its §3 (:math:`\beta_{start} = \beta_1`). The slow EMA is not bias-corrected (the paper lets it
fill slowly; its weight :math:`\alpha_t` grows instead). The :math:`\beta_3` scheduler is linear in
the EMA's time scale: :math:`1/\ln\beta_{3,t} = (1-s)/\ln\beta_1 + s/\ln\beta_3`, :math:`s = t/T`,
so the slow EMA's half-life grows linearly from :math:`\beta_1`'s to :math:`\beta_3`'s, which
keeps early steps from being dominated by a stale :math:`m_2`. Past :math:`T_{\beta_3}` the ``min``
holds it at :math:`\beta_3` when :math:`\beta_3 \ge \beta_1` (the paper's setting); with
:math:`\beta_3 < \beta_1` the formula, taken as written (bitsandbytes and pytorch-optimizer take
it so too), can fall below :math:`\beta_3` there. With :math:`\alpha = 0` the rule is
Adam with decoupled decay (AdamW).

===========  ================  =======
symbol       argument          default
===========  ================  =======
eta          ``lr``            1e-3
beta_1       ``beta1``         0.9
beta_2       ``beta2``         0.999
beta_3       ``beta3``         0.9999
alpha        ``alpha``         5.0
T_alpha      ``t_alpha``       None
T_beta3      ``t_beta3``       None
epsilon      ``eps``           1e-8
lambda       ``weight_decay``  0.0
===========  ================  =======

Defaults: the paper's betas and an :math:`\alpha` in its range (4-10; optax, bitsandbytes and
pytorch-optimizer all take 5). ``t_alpha`` / ``t_beta3`` ``None`` means no warm-up (constant
:math:`\alpha`, :math:`\beta_3`); the paper sets both to the run's length T. ``alpha`` and ``beta3``
may also be schedules ``t -> value`` (optax's way); the warm-up then applies to their value at t.

**Frameworks.** bitsandbytes ``AdEMAMix`` (32-bit) and pytorch-optimizer ``AdEMAMix`` (one
``t_alpha_beta3`` for both) use these schedulers with the same t; optax.contrib ``ademamix`` has
none built in and calls a schedule ``alpha``/``b3`` with the count *before* the step (t - 1).
bitsandbytes decays :math:`w(1-\eta\lambda)` as here; pytorch-optimizer's default is coupled L2.

**Where the formula is undefined.** With ``eps = 0`` a coordinate whose gradients have all been 0
gives 0/0 (NaN), as Adam (see ``refopt.adam``). The :math:`\beta_3` scheduler needs
:math:`0 < \beta_1, \beta_3 < 1` (logarithms): a ``t_beta3`` with a zero beta is refused.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, rule

class AdEMAMixState(NamedTuple):
    t: int
    m1: object  # fast EMA of gradients (beta1), bias-corrected in the step
    m2: object  # slow EMA of gradients (beta3_t), not bias-corrected
    s: object   # EMA of squared gradients (beta2)


def alpha_warmup(t: int, alpha: float, t_alpha: float | None) -> float:
    """The paper's f_alpha: alpha grows linearly from 0 to alpha over T_alpha steps."""
    return alpha if t_alpha is None else min(t * alpha / t_alpha, alpha)


def beta3_warmup(t: int, beta1: float, beta3: float, t_beta3: float | None) -> float:
    """The paper's f_beta3 (beta_start = beta1): from beta1 at t = 0 to beta3 at t = T_beta3."""
    if t_beta3 is None:
        return beta3
    if not (beta1 > 0 and beta3 > 0):
        raise ValueError(f"beta1 and beta3 must be > 0 when t_beta3 is set (the warm-up takes their "
                         f"logarithms), got beta1={beta1!r}, beta3={beta3!r} at step {t}")
    s = t / t_beta3
    ln1, ln3 = math.log(beta1), math.log(beta3)
    return min(math.exp(ln1 * ln3 / ((1 - s) * ln3 + s * ln1)), beta3)


def _update(w, g, m1, m2, s, *, t, lr, beta1, beta2, beta3, alpha, t_alpha, t_beta3, eps, weight_decay):
    xp = array_namespace(w)
    alpha_t = alpha_warmup(t, alpha, t_alpha)
    beta3_t = beta3_warmup(t, beta1, beta3, t_beta3)
    m1 = beta1 * m1 + (1 - beta1) * g
    m2 = beta3_t * m2 + (1 - beta3_t) * g
    s = beta2 * s + (1 - beta2) * g * g
    m1_hat = m1 / (1 - beta1**t)
    s_hat = s / (1 - beta2**t)
    w = w - lr * ((m1_hat + alpha_t * m2) / (xp.sqrt(s_hat) + eps) + weight_decay * w)
    return w, m1, m2, s


def _horizon(name: str, value) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0 or value == math.inf:
        raise ValueError(f"{name} must be None (no warm-up) or a finite number of steps > 0, got {value!r}")
    return float(value)


def ademamix(lr=1e-3, beta1=0.9, beta2=0.999, beta3=0.9999, alpha=5.0, t_alpha=None, t_beta3=None,
             eps=1e-8, weight_decay=0.0):
    """AdEMAMix (Pagliardini et al. 2024, Algorithm 1): ``(m1_hat + alpha_t*m2) / (sqrt(s_hat)+eps)``,
    with the paper's warm-ups of alpha and beta3 over ``t_alpha`` / ``t_beta3`` steps."""
    t_alpha, t_beta3 = _horizon("t_alpha", t_alpha), _horizon("t_beta3", t_beta3)
    if t_beta3 is not None:
        for name, b in (("beta1", beta1), ("beta3", beta3)):
            if isinstance(b, (int, float)) and b == 0:
                raise ValueError(f"{name} must be > 0 when t_beta3 is set (the beta3 warm-up takes its "
                                 f"logarithm), got {b!r}")
    return rule("ademamix", AdEMAMixState, lambda w: (zeros_like(w), zeros_like(w), zeros_like(w)), _update,
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "beta3": (beta3, UNIT), "alpha": (alpha, NONNEGATIVE), "t_alpha": (t_alpha, None),
                 "t_beta3": (t_beta3, None), "eps": (eps, NONNEGATIVE),
                 "weight_decay": (weight_decay, NONNEGATIVE)})


INFO = RuleInfo(
    name="ademamix", factory=ademamix, family="C. Adam family",
    paper="Pagliardini et al. (2024)", year=2024, hook="Adam plus a slow EMA, warmed up",
    equations="m_{1,t} = \\beta_1 m_{1,t-1} + (1-\\beta_1) g_t\n"
              "m_{2,t} = \\beta_{3,t} m_{2,t-1} + (1-\\beta_{3,t}) g_t\n"
              "s_t = \\beta_2 s_{t-1} + (1-\\beta_2) g_t \\odot g_t\n"
              "w_t = w_{t-1} - \\eta\\,\\Big(\\frac{\\hat m_{1,t} + \\alpha_t m_{2,t}}{\\sqrt{\\hat s_t}"
              " + \\epsilon} + \\lambda w_{t-1}\\Big)",
    buffers=3,
    checked_against={"optax.contrib.ademamix": 1e-10, "pytorch_optimizer.AdEMAMix": 1e-10,
                     "bitsandbytes.optim.AdEMAMix": 1e-4},
)
