r"""Schedule-Free AdamW: Schedule-Free SGD's interpolate / step / average scheme with Adam's
second moment scaling the step on z, and decoupled weight decay taken at y.

.. math::

    y_t &= (1-\beta_1)\, z_t + \beta_1\, x_t \qquad \text{(the params given; } g_t = \nabla f(y_t)) \\
    s_t &= \beta_2\, s_{t-1} + (1-\beta_2)\, g_t \odot g_t \\
    \gamma_t &= \gamma\, \sqrt{1-\beta_2^t}\, \min(1, t / T_{warmup}) \\
    z_{t+1} &= z_t - \gamma_t\, g_t / (\sqrt{s_t} + \epsilon) - \gamma_t \lambda\, y_t \\
    \omega_t &= t^r\, (\max_{i \le t} \gamma_i)^p, \qquad c_{t+1} = \omega_t / \sum_{i \le t} \omega_i \\
    x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1} \\
    y_{t+1} &= (1-\beta_1)\, z_{t+1} + \beta_1\, x_{t+1}

with :math:`z_1 = x_1 = y_1` the initial params and :math:`s_0 = 0`. Defazio, Yang, Mehta,
Mishchenko, Khaled & Cutkosky (2024), "The Road Less Scheduled", NeurIPS 2024, arXiv
2405.15682, Algorithm 1 (the bias correction :math:`\sqrt{1-\beta_2^t}` is folded into
:math:`\gamma_t`, so it also enters the averaging weights and the decay); the :math:`t^r`,
:math:`\max\gamma` weighting is the authors' generalisation (``r``, ``weight_lr_power``;
:math:`r = 0, p = 2` is Algorithm 1's :math:`c_{t+1} = \gamma_t^2/\sum_{i\le t}\gamma_i^2`, as
:math:`\gamma_t` is non-decreasing). This is ``schedulefree.AdamWScheduleFreePaper``.

**Which point is which.** ``params`` are :math:`y_t`, where the gradient is taken, and the
params returned are :math:`y_{t+1}`; the point to evaluate and deploy is :math:`x`, returned by
``eval_params(state)``. State: ``z``, ``x``, ``s``; the averaging weights are a function of t
(``AveragingWeights``).

==================  ====================  =======
symbol              argument              default
==================  ====================  =======
gamma               ``lr``                0.0025
beta_1              ``beta1``             0.9
beta_2              ``beta2``             0.999
epsilon             ``eps``               1e-8
lambda              ``weight_decay``      0.0
T_warmup            ``warmup_steps``      0
r                   ``r``                 0.0
p                   ``weight_lr_power``   2.0
(convention)        ``bias_correction``   "lr"
==================  ====================  =======

Defaults are the authors'. Convention knob ``bias_correction``: ``"lr"`` is Algorithm 1;
``"moment"`` is what ``schedulefree.AdamWScheduleFree`` and its ``Reference``, optax.contrib,
pytorch-optimizer and keras compute: :math:`\gamma_t = \gamma\min(1, t/T_{warmup})` and the
step :math:`\gamma_t g_t/(\sqrt{s_t/(1-\beta_2^t)} + \epsilon)`, so eps sits beside the
corrected moment and the weights and decay see the uncorrected :math:`\gamma_t`.

**Where the formula is undefined.** With ``eps = 0`` a coordinate whose gradients have all
been 0 steps by 0/0: NaN, propagated (DESIGN). With ``lr = 0`` the weights are 0 and
:math:`c = 0/0`; this rule takes :math:`c = 0` there (x stays put), as the authors do.
"""
from __future__ import annotations

from typing import NamedTuple

from functools import partial

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, RuleInfo, number, rule
from .schedule_free_sgd import AveragingWeights, eval_params, init_leaf, value_at, warmup, warmup_steps_count

__all__ = ["schedule_free_adamw", "eval_params", "ScheduleFreeAdamWState"]

BIAS_CORRECTIONS = ("lr", "moment")


class ScheduleFreeAdamWState(NamedTuple):
    t: int
    z: object  # the base (Adam-scaled) sequence
    x: object  # the weighted average of the z's: the point to evaluate
    s: object  # running mean of squared gradients (second moment)


def _init_leaf(w):
    z, x = init_leaf(w)
    return z, x, zeros_like(w)


def _gamma(lr, beta2, t, warmup_steps, bias_correction):
    """gamma_t: Algorithm 1's lr sqrt(1-beta2^t) min(1, t/T), or the packages' lr min(1, t/T)."""
    correction = (1 - beta2**t) ** 0.5 if bias_correction == "lr" else 1.0
    return lr * correction * warmup(t, warmup_steps)


def _update(y, g, z, x, s, *, t, lr, beta1, beta2, eps, weight_decay, warmup_steps, r, weight_lr_power,
            bias_correction, weights):
    xp = array_namespace(y)
    gamma = _gamma(lr, beta2, t, warmup_steps, bias_correction)
    s = beta2 * s + (1 - beta2) * g * g
    if bias_correction == "lr":  # Algorithm 1: the correction is inside gamma_t
        z = z - gamma * g / (xp.sqrt(s) + eps) - gamma * weight_decay * y
    else:                        # the packages: it corrects the moment, eps outside the root
        z = z - gamma * g / (xp.sqrt(s / (1 - beta2**t)) + eps) - gamma * weight_decay * y
    c = weights(t)
    x = x + c * (z - x)  # = (1-c) x + c z; exact where z = x (a coordinate never moved)
    y = x + (1 - beta1) * (z - x)  # = (1-beta1) z + beta1 x, the same way
    return y, z, x, s


def schedule_free_adamw(lr=0.0025, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, warmup_steps=0,
                        r=0.0, weight_lr_power=2.0, bias_correction="lr"):
    """Schedule-Free AdamW (Defazio et al. 2024, Algorithm 1); params are y, ``eval_params`` is x."""
    if bias_correction not in BIAS_CORRECTIONS:
        raise ValueError(f"bias_correction must be one of {BIAS_CORRECTIONS}, got {bias_correction!r}")
    warmup_steps = warmup_steps_count(warmup_steps)

    def gamma(i):
        return _gamma(value_at("lr", lr, NONNEGATIVE, i), value_at("beta2", beta2, UNIT, i), i,
                      warmup_steps, bias_correction)
    weights = AveragingWeights(gamma, number("r", r, NONNEGATIVE),
                               number("weight_lr_power", weight_lr_power, NONNEGATIVE))
    return rule("schedule_free_adamw", ScheduleFreeAdamWState, _init_leaf, partial(_update, weights=weights),
                {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                 "eps": (eps, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE),
                 "warmup_steps": (warmup_steps, None),
                 "r": (r, NONNEGATIVE), "weight_lr_power": (weight_lr_power, NONNEGATIVE),
                 "bias_correction": (bias_correction, None)})


INFO = RuleInfo(
    name="schedule_free_adamw", factory=schedule_free_adamw, family="C. Adam family",
    paper="Defazio et al. (2024)", year=2024, hook="Schedule-Free averaging around Adam's scaling",
    equations="y_t = (1-\\beta_1) z_t + \\beta_1 x_t\n"
              "s_t = \\beta_2 s_{t-1} + (1-\\beta_2) g_t \\odot g_t\n"
              "\\gamma_t = \\gamma \\sqrt{1-\\beta_2^t} \\min(1, t/T_{warmup})\n"
              "z_{t+1} = z_t - \\gamma_t g_t / (\\sqrt{s_t} + \\epsilon) - \\gamma_t \\lambda y_t\n"
              "c_{t+1} = \\gamma_t^2 / \\sum_{i \\le t} \\gamma_i^2\n"
              "x_{t+1} = (1-c_{t+1}) x_t + c_{t+1} z_{t+1}",
    buffers=3,
    checked_against={"schedulefree.AdamWScheduleFreePaper": 1e-10,
                     "schedulefree.AdamWScheduleFreeReference": 1e-10},
)
