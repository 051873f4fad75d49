r"""``keras.optimizers.schedules``'s learning-rate schedules as refopt schedules ``t -> lr``.

**Iterations and t.** Keras evaluates a schedule at ``optimizer.iterations``, the number of
updates already applied: 0 at the first update. ``schedule(t)`` here is the lr of refopt's step
t, Keras's schedule at ``step = t - 1``. Pass these (or any ``t -> lr``) as a keras flavor's
``learning_rate``; a Keras ``LearningRateSchedule`` object given to a flavor directly is called
at ``t - 1`` the same way (``refopt.flavors.keras``).

**Precision.** Each formula below is Keras 3.15.1's (``keras/src/optimizers/schedules/
learning_rate_schedule.py``), in the same order of operations, in Python floats (float64).
Keras computes in the dtype of ``initial_learning_rate`` as a tensor (``floatx`` for a Python
float). With floatx float64 (and NumPy float64 arguments) the exponential, piecewise,
polynomial and inverse-time schedules agree with Keras to 1e-12 relative over steps 0..999
(measured 2.1e-15); Keras's two cosine schedules take ``ops.cos`` in float32 even then (a
weakly typed operand), so they sit up to 8.2e-8 of the peak lr from this float64 formula. With
Keras's default float32 the gap is Keras's float32 rounding, measured at most 3.0e-7 of the
peak lr; ``tests/flavors/test_keras_schedules.py`` bounds both. This module does not emulate
float32: the flavors run in the params' precision.
"""
from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Callable, Sequence

__all__ = ["KerasSchedule", "ExponentialDecay", "PiecewiseConstantDecay", "PolynomialDecay",
           "InverseTimeDecay", "CosineDecay", "CosineDecayRestarts"]


class KerasSchedule:
    """``t -> lr``: Keras's ``fn(step)`` at ``step = t - 1`` (``t`` >= 1, refopt's step count)."""

    def __init__(self, name: str, fn: Callable[[int], float]):
        self.name, self.fn = name, fn

    def __call__(self, t: int) -> float:
        if isinstance(t, bool) or not isinstance(t, int) or t < 1:
            raise ValueError(f"{self.name}: t must be an int >= 1 (refopt's step count), got {t!r}")
        return float(self.fn(t - 1))


def _number(name: str, value, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) \
            or value < 0 or (positive and value == 0):
        raise ValueError(f"{name} must be a number {'> 0' if positive else '>= 0'}, got {value!r}")
    return float(value)


def ExponentialDecay(initial_learning_rate, decay_steps, decay_rate, staircase=False):
    r""":math:`\eta_0 r^{p}`, :math:`p = s/S` (``staircase``: :math:`\lfloor s/S\rfloor`)."""
    lr, S = _number("initial_learning_rate", initial_learning_rate), _number("decay_steps", decay_steps, True)
    rate = _number("decay_rate", decay_rate)

    def fn(s):
        p = math.floor(s / S) if staircase else s / S
        return lr * rate**p
    return KerasSchedule("ExponentialDecay", fn)


def PiecewiseConstantDecay(boundaries: Sequence[int], values: Sequence[float]):
    r"""``values[0]`` for :math:`s \le b_0`, ``values[i+1]`` for :math:`b_i < s \le b_{i+1}`,
    ``values[-1]`` for :math:`s > b_{-1}`."""
    bounds, vals = list(boundaries), [_number(f"values[{i}]", v) for i, v in enumerate(values)]
    if len(bounds) != len(vals) - 1:
        raise ValueError(f"boundaries must have one entry fewer than values, got {len(bounds)} "
                         f"and {len(vals)}")
    if any(b >= c for b, c in zip(bounds, bounds[1:])):
        raise ValueError(f"boundaries must increase, got {bounds!r}")
    return KerasSchedule("PiecewiseConstantDecay", lambda s: vals[bisect_left(bounds, s)])


def PolynomialDecay(initial_learning_rate, decay_steps, end_learning_rate=0.0001, power=1.0, cycle=False):
    r""":math:`(\eta_0 - \eta_e)(1 - s/S)^{p} + \eta_e` with :math:`s \leftarrow \min(s, S)`;
    ``cycle``: :math:`S \leftarrow S\lceil s/S\rceil` (1 at s = 0) instead of the clamp."""
    lr, S = _number("initial_learning_rate", initial_learning_rate), _number("decay_steps", decay_steps, True)
    end, power = _number("end_learning_rate", end_learning_rate), _number("power", power)

    def fn(s):
        if cycle:
            steps = S * (1.0 if s == 0 else math.ceil(s / S))
        else:
            s, steps = min(s, S), S
        return (lr - end) * (1 - s / steps) ** power + end
    return KerasSchedule("PolynomialDecay", fn)


def InverseTimeDecay(initial_learning_rate, decay_steps, decay_rate, staircase=False):
    r""":math:`\eta_0 / (1 + r p)`, :math:`p = s/S` (``staircase``: :math:`\lfloor s/S\rfloor`)."""
    lr, S = _number("initial_learning_rate", initial_learning_rate), _number("decay_steps", decay_steps, True)
    rate = _number("decay_rate", decay_rate)

    def fn(s):
        p = math.floor(s / S) if staircase else s / S
        return lr / (1 + rate * p)
    return KerasSchedule("InverseTimeDecay", fn)


def _cosine(s, steps, lr, alpha):
    return lr * ((1 - alpha) * (0.5 * (1.0 + math.cos(math.pi * (s / steps)))) + alpha)


def CosineDecay(initial_learning_rate, decay_steps, alpha=0.0, warmup_target=None, warmup_steps=0):
    r"""Loshchilov & Hutter's cosine (SGDR, arXiv 1608.03983) without restarts:
    :math:`\eta\,((1-\alpha)\tfrac12(1 + \cos(\pi s/S)) + \alpha)`, :math:`s \leftarrow \min(s, S)`.
    With ``warmup_target`` :math:`\eta_w` and W warmup steps: :math:`\eta_0 + (\eta_w - \eta_0)s/W`
    for :math:`s < W`, then the cosine from :math:`\eta_w` at :math:`s - W`, clamped at S + W."""
    lr, S = _number("initial_learning_rate", initial_learning_rate), _number("decay_steps", decay_steps, True)
    alpha = _number("alpha", alpha)
    if warmup_target is None:
        return KerasSchedule("CosineDecay", lambda s: _cosine(min(s, S), S, lr, alpha))
    target, W = _number("warmup_target", warmup_target), _number("warmup_steps", warmup_steps)

    def fn(s):
        s = min(s, S + W)
        return (target - lr) * (s / W) + lr if s < W else _cosine(s - W, S, target, alpha)
    return KerasSchedule("CosineDecay", fn)


def CosineDecayRestarts(initial_learning_rate, first_decay_steps, t_mul=2.0, m_mul=1.0, alpha=0.0):
    r"""SGDR (Loshchilov & Hutter, arXiv 1608.03983): with :math:`f = s/S_0`, restart
    :math:`i = \lfloor f\rfloor` (``t_mul`` = 1) or :math:`\lfloor \log(1 - f(1 - T))/\log T\rfloor`,
    fraction :math:`(f - (1 - T^i)/(1 - T))/T^i`; the lr is
    :math:`\eta_0((1-\alpha)\tfrac12 M^i(1 + \cos(\pi\,\mathrm{fraction})) + \alpha)`."""
    lr = _number("initial_learning_rate", initial_learning_rate)
    S0, T = _number("first_decay_steps", first_decay_steps, True), _number("t_mul", t_mul, True)
    M, alpha = _number("m_mul", m_mul), _number("alpha", alpha)

    def fn(s):
        f = s / S0
        if T == 1.0:
            i = math.floor(f)
            f -= i
        else:
            i = math.floor(math.log(1.0 - f * (1.0 - T)) / math.log(T))
            f = (f - (1.0 - T**i) / (1.0 - T)) / T**i
        return lr * ((1 - alpha) * (0.5 * M**i * (1.0 + math.cos(math.pi * f))) + alpha)
    return KerasSchedule("CosineDecayRestarts", fn)
