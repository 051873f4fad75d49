r"""Schedule-Free SGD: a gradient step on z, an online weighted average x of the z's, and the
gradient taken at an interpolation y of the two; no learning-rate schedule is needed.

.. math::

    y_t &= (1-\beta)\, z_t + \beta\, x_t \qquad \text{(the params given; } g_t = \nabla f(y_t)) \\
    \gamma_t &= \gamma \min(1, t / T_{warmup}) \\
    z_{t+1} &= z_t - \gamma_t\,(g_t + \lambda\, y_t) \\
    \omega_t &= t^r\, (\max_{i \le t} \gamma_i)^p, \qquad c_{t+1} = \omega_t / \sum_{i \le t} \omega_i \\
    x_{t+1} &= (1 - c_{t+1})\, x_t + c_{t+1}\, z_{t+1} \\
    y_{t+1} &= (1-\beta)\, z_{t+1} + \beta\, x_{t+1} \qquad \text{(the params returned)}

with :math:`z_1 = x_1 = y_1` the initial params. Defazio, Yang, Mehta, Mishchenko, Khaled &
Cutkosky (2024), "The Road Less Scheduled", NeurIPS 2024, arXiv 2405.15682, equations (1)-(3)
(SGD form) with Algorithm 1's warmup and averaging weights; the :math:`t^r` and
:math:`\max\gamma` weighting is the authors' generalisation (their ``schedulefree`` package,
``r`` and ``weight_lr_power``). With :math:`r = 0`, :math:`p = 2` and a non-decreasing
:math:`\gamma_t` (warmup, then constant) :math:`c_{t+1} = \gamma_t^2/\sum_{i\le t}\gamma_i^2`,
Algorithm 1's.

**Which point is which.** ``step(params, grads, state)`` takes the gradient AT ``params``, so
``params`` are :math:`y_t` and the params returned are :math:`y_{t+1}`: the point where the next
gradient must be taken, not the answer. The answer, the point a user evaluates and deploys,
is :math:`x`: ``eval_params(state)`` returns it (the authors' ``optimizer.eval()``).
The state holds ``z`` and ``x``; the averaging weights are a function of t (and the lr), so
they are computed in float64 from ``state.t`` (``AveragingWeights``), not stored.

==================  ====================  =======
symbol              argument              default
==================  ====================  =======
gamma               ``lr``                1.0
beta                ``beta``              0.9
lambda              ``weight_decay``      0.0
T_warmup            ``warmup_steps``      0
r                   ``r``                 0.0
p                   ``weight_lr_power``   2.0
==================  ====================  =======

Defaults are the authors' (``SGDScheduleFree``; their ``momentum`` is :math:`\beta`). The
decay is L2 at :math:`y` added to the gradient, as the authors' SGD does. :math:`\beta = 0`
gives SGD on z with x its weighted (Polyak) average; :math:`\beta \to 1` takes the gradient
at the average (primal averaging; refused at 1, as the betas of other rules). The fast
forms (``schedulefree``, pytorch-optimizer, optax)
keep only y and z and rebuild :math:`x = (y - (1-\beta) z)/\beta`, so they need
:math:`\beta > 0`; see ``refopt.flavors.schedulefree``.

**Where the formula is undefined.** With ``lr = 0`` every weight is 0 and
:math:`c_{t+1} = 0/0`; this rule takes :math:`c = 0` there (x stays put), as the authors do.
Elsewhere nowhere: the weights are Python floats of t and the lr.
"""
from __future__ import annotations

from typing import NamedTuple

from functools import partial

from ..backend import array_namespace
from ..core import NONNEGATIVE, UNIT, RuleInfo, number, rule

__all__ = ["schedule_free_sgd", "eval_params", "ScheduleFreeSGDState"]


class ScheduleFreeSGDState(NamedTuple):
    t: int
    z: object  # the base SGD sequence
    x: object  # the weighted average of the z's: the point to evaluate


def eval_params(state):
    """x, the averaged point a user evaluates and deploys (``params`` are y, the gradient point)."""
    return state.x


def warmup_steps_count(value) -> int:
    """``warmup_steps`` as an int >= 0, else a ValueError naming it."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"warmup_steps must be an int >= 0, got {value!r}")
    return value


def value_at(name, value, allowed, t):
    """A hyperparameter (a number or a schedule ``t -> number``) at step t, validated."""
    return number(name, value(t) if callable(value) else value, allowed, f" (at step {t})")


def warmup(t, warmup_steps):
    return min(1.0, t / warmup_steps) if warmup_steps else 1.0


class AveragingWeights:
    """``c(t)`` = c_{t+1} = omega_t / sum_{i<=t} omega_i, omega_i = i^r (max_{j<=i} gamma_j)^p.

    The weights depend on t and the step sizes only, so they are a function of the state's t, not
    state: kept as Python float64 sums in a table grown on demand (two floats a step), the same
    numbers for any state at the same t, and a saved state needs nothing more than t."""

    def __init__(self, gamma, r, weight_lr_power):
        self.gamma, self.r, self.p = gamma, r, weight_lr_power
        self.weights, self.sums, self.lr_max = [0.0], [0.0], 0.0

    def __call__(self, t: int) -> float:
        while len(self.sums) <= t:
            i = len(self.sums)
            self.lr_max = max(self.lr_max, self.gamma(i))
            self.weights.append(i**self.r * self.lr_max**self.p)
            self.sums.append(self.sums[-1] + self.weights[-1])
        # lr = 0: every weight is 0 and c = 0/0; x stays put (the authors' choice)
        return self.weights[t] / self.sums[t] if self.sums[t] > 0 else 0.0


def init_leaf(w):
    xp = array_namespace(w)
    return xp.asarray(w, copy=True), xp.asarray(w, copy=True)


def _update(y, g, z, x, *, t, lr, beta, weight_decay, warmup_steps, r, weight_lr_power, weights):
    gamma = lr * warmup(t, warmup_steps)
    z = z - gamma * (g + weight_decay * y)
    c = weights(t)
    x = x + c * (z - x)  # = (1-c) x + c z; exact where z = x (a coordinate never moved)
    y = x + (1 - beta) * (z - x)  # = (1-beta) z + beta x, the same way
    return y, z, x


def schedule_free_sgd(lr=1.0, beta=0.9, weight_decay=0.0, warmup_steps=0, r=0.0, weight_lr_power=2.0):
    """Schedule-Free SGD (Defazio et al. 2024); params are y, ``eval_params(state)`` is x."""
    warmup_steps = warmup_steps_count(warmup_steps)
    weights = AveragingWeights(lambda i: value_at("lr", lr, NONNEGATIVE, i) * warmup(i, warmup_steps),
                               number("r", r, NONNEGATIVE),
                               number("weight_lr_power", weight_lr_power, NONNEGATIVE))
    return rule("schedule_free_sgd", ScheduleFreeSGDState, init_leaf, partial(_update, weights=weights),
                {"lr": (lr, NONNEGATIVE), "beta": (beta, UNIT),
                 "weight_decay": (weight_decay, NONNEGATIVE), "warmup_steps": (warmup_steps, None),
                 "r": (r, NONNEGATIVE), "weight_lr_power": (weight_lr_power, NONNEGATIVE)})


INFO = RuleInfo(
    name="schedule_free_sgd", factory=schedule_free_sgd, family="A. Baselines",
    paper="Defazio et al. (2024)", year=2024, hook="Interpolate, step, average: no schedule",
    equations="y_t = (1-\\beta) z_t + \\beta x_t\n"
              "z_{t+1} = z_t - \\gamma_t (g_t + \\lambda y_t),\\quad "
              "\\gamma_t = \\gamma \\min(1, t/T_{warmup})\n"
              "c_{t+1} = \\gamma_t^2 / \\sum_{i \\le t} \\gamma_i^2\n"
              "x_{t+1} = (1-c_{t+1}) x_t + c_{t+1} z_{t+1}",
    buffers=2,
    checked_against={"schedulefree.SGDScheduleFreeReference": 1e-10},
)
