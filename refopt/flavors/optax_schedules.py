"""optax schedules in refopt's flavors: ``CountSchedule`` turns an optax schedule (a function of
optax's ``count``, the number of updates already applied) into refopt's ``t -> value``: refopt's
step t runs at ``count = t - 1``. ``scheduled`` makes a flavor constructor read its learning
rates that way. Used by ``refopt.flavors.optax``."""
from __future__ import annotations

import inspect
from functools import wraps

__all__ = ["CountSchedule", "count_schedule", "scheduled"]


class CountSchedule:
    """An optax schedule ``count -> value`` as refopt's ``t -> float``: ``fn(t - 1)``.

    optax's ``scale_by_schedule`` calls the schedule with its ``count`` before incrementing it,
    so the first update runs at count 0 (refopt's t = 1). The count is passed as optax keeps
    it, a jax int32 scalar: optax's own schedules then round as they do inside optax (an int32
    count makes ``exponential_decay`` compute in float32 even with x64 on), and jit-compiled as
    in a jitted optax update (XLA's fused float32 ``power`` is 1 ulp off the eager one); a
    schedule jax cannot trace is called eagerly. The value is returned as a Python float."""

    def __init__(self, name: str, fn):
        self.name, self.fn, self._compiled = name, fn, None

    def _evaluate(self, count):
        import jax  # optax schedules need jax; imported only when one is used

        if self._compiled is None:
            self._compiled = jax.jit(self.fn)
        try:
            return self._compiled(count)
        except (jax.errors.JAXTypeError, TypeError):  # not traceable (Python control flow, ...)
            self._compiled = self.fn
            return self.fn(count)

    def __call__(self, t: int) -> float:
        import jax.numpy as jnp

        value = self._evaluate(jnp.asarray(t - 1, dtype=jnp.int32))
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{self.name}: the schedule must return one number, got {value!r} "
                             f"at count {t - 1}") from None


def count_schedule(name: str, value):
    """``value`` unchanged unless it is a schedule not yet wrapped (flavors call each other)."""
    return CountSchedule(name, value) if callable(value) and not isinstance(value, CountSchedule) else value


def scheduled(make):
    """The flavor constructor ``make`` with its learning rates read as optax schedules."""
    signature = inspect.signature(make)

    @wraps(make)
    def build(*args, **kwargs):
        bound = signature.bind(*args, **kwargs)
        for name in ("learning_rate", "adam_learning_rate"):
            if name in bound.arguments:
                bound.arguments[name] = count_schedule(name, bound.arguments[name])
        return make(*bound.args, **bound.kwargs)
    return build
