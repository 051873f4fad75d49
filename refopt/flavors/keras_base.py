r"""What keras's base optimizer adds around every update rule, and the precision of its lr.

Read from ``keras/src/optimizers/base_optimizer.py`` and ``keras/src/backend/jax/optimizer.py``
(keras 3.15.1, the JAX backend's ``_backend_apply_gradients``). One call of ``apply`` does, in
this order:

1. ``loss_scale_factor`` s: :math:`g \leftarrow g / s`;
2. ``gradient_accumulation_steps`` k: the gradients are summed and the rest runs only at every
   k-th call, with :math:`(g_n + S_{n-1})/k` (``refopt.accumulate``; its inner step count
   is keras's ``iterations = floor(_iterations / k)``, the real steps, but a
   ``LearningRateSchedule`` is called with ``_iterations``, the micro-steps: inner lr
   :math:`\eta(jk)` at real step j in refopt's 1-based t);
3. ``clipnorm`` (per leaf), ``global_clipnorm`` or ``clipvalue`` (at most one; a value <= 0 is
   no clipping, as keras's ``if self.clipnorm and self.clipnorm > 0``): ``refopt.clip*``;
4. the decoupled weight decay, then the rule's ``update_step`` (``refopt.flavors.keras``);
5. ``use_ema``: the average of the params after the step, ``ema_momentum`` :math:`\mu`, the first
   step (``iterations == 0``) copying them, and with ``ema_overwrite_frequency`` f the params
   replaced by the average when ``(iterations + 1) % f == 0`` (``refopt.ema``). Under
   accumulation keras updates the average at *every* call, with momentum 0 while
   ``iterations`` is 0 (the first k calls): ``refopt.ema`` outside ``refopt.accumulate`` with
   :math:`\mu_n = 0` for :math:`n \le k`. The overwrite counts real steps there; that
   combination is refused.

**Precision.** keras keeps a constant learning rate in a variable of ``floatx`` (float32 unless
the user set it) and casts it to each variable's dtype in the step: a float64 model trains with
lr rounded to float32 (1e-3 becomes 1.0000000474974513e-3). A ``LearningRateSchedule`` or a
callable is no variable: its value is cast to the variable's dtype only (with x64 on a schedule
computes in float64 whatever floatx is). ``floatx`` selects the constant's rounding:
None reads ``keras.config.floatx()`` when keras is imported (else keras's default, float32),
at construction as keras reads it when the optimizer is built.
"""
from __future__ import annotations

import dataclasses
import inspect
import sys
from typing import Any, Callable

import numpy as np

import refopt

from .. import tree
from ..core import NONNEGATIVE, Optimizer, number

__all__ = ["KERAS_OPTIONS", "resolve_floatx", "options", "learning_rate_of", "wrap"]

# the base optimizer's arguments and their defaults (name is accepted and changes nothing)
KERAS_OPTIONS = {"clipnorm": None, "clipvalue": None, "global_clipnorm": None, "use_ema": False,
                 "ema_momentum": 0.99, "ema_overwrite_frequency": None, "loss_scale_factor": None,
                 "gradient_accumulation_steps": None, "name": None, "floatx": None}
_FLOATX = ("float16", "float32", "float64")


def resolve_floatx(value: Any = None) -> str:
    """keras's floatx: ``value``, or keras's current one if keras is imported, else float32."""
    if value is None:
        keras = sys.modules.get("keras")
        config = getattr(keras, "config", None)
        return str(config.floatx()) if config is not None else "float32"
    if value not in _FLOATX:
        raise ValueError(f"floatx must be one of {_FLOATX} or None (keras's current floatx), got {value!r}")
    return value


def options(base: dict) -> dict:
    """The base optimizer's arguments with keras's defaults filled in, validated as keras does."""
    for key in base:
        if key not in KERAS_OPTIONS:
            raise ValueError(f"unexpected argument {key!r} for a keras optimizer")
    opts = {**KERAS_OPTIONS, **base}
    opts["floatx"] = resolve_floatx(opts["floatx"])
    clips = [k for k in ("clipnorm", "clipvalue", "global_clipnorm") if opts[k] is not None]
    if len(clips) > 1:
        raise ValueError(f"only one of clipnorm, clipvalue and global_clipnorm can be set, got {clips}")
    for k in clips:
        number(k, opts[k], refopt.Interval(-np.inf))
    k = opts["gradient_accumulation_steps"]
    if k and (isinstance(k, bool) or not isinstance(k, int) or k < 2):
        raise ValueError(f"gradient_accumulation_steps must be an int >= 2 or None, got {k!r}")
    if opts["use_ema"]:
        number("ema_momentum", opts["ema_momentum"], refopt.Interval(0.0, 1.0, hi_open=False))
        f = opts["ema_overwrite_frequency"]
        if f is not None and (isinstance(f, bool) or not isinstance(f, int) or f < 1):
            raise ValueError(f"ema_overwrite_frequency must be an int >= 1 or None, got {f!r}")
        if f is not None and k:
            raise ValueError("ema_overwrite_frequency with gradient_accumulation_steps is not supported by "
                             "the refopt flavor: keras overwrites at real-step counts inside micro-steps")
    if opts["loss_scale_factor"] is not None:
        number("loss_scale_factor", opts["loss_scale_factor"], refopt.Interval(0.0, lo_open=True))
    return opts


def _rounded(x: float, floatx: str) -> float:
    return float(np.asarray(x, dtype=floatx))


def _keras_values(schedule: Any) -> Callable[[int], float]:
    """A keras schedule's value at ``iterations`` as keras computes it in the oracle: jitted, as
    keras's train step runs it (eager: ~0.1 s a call for a cosine), with x64 on (this thread
    only). A Python-float argument then becomes a float64 tensor whatever floatx is (JAX's
    default float), so the value is float64 arithmetic (the cosines' ``ops.cos`` excepted, which
    keras takes in float32): keras casts it to each variable's dtype, never to floatx."""
    import jax
    jitted = jax.jit(schedule)

    def value(iterations: int) -> float:
        with jax.enable_x64(True):
            return float(jitted(np.int64(iterations)))
    return value


def _takes_no_argument(fn: Any) -> bool:
    """keras's own callable lr is called with no argument (``_get_current_learning_rate``)."""
    try:
        return not any(p.default is p.empty and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
                       for p in inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # no signature (a builtin): refopt's t -> lr
        return False


def learning_rate_of(learning_rate: Any, opts: dict) -> Any:
    """The lr the rule sees: a number rounded to floatx (keras holds it in a floatx variable); a
    keras ``LearningRateSchedule`` called at ``t - 1`` (at the micro-step ``jk - 1`` under
    accumulation), its value as keras computes it, not rounded (it is no variable); a callable
    of no argument (keras's own form) called at every step, not rounded either; else a schedule
    ``t -> lr`` of refopt's 1-based t, taken at the micro-step jk, each value rounded to floatx."""
    floatx, k = opts["floatx"], opts["gradient_accumulation_steps"] or 1
    if not callable(learning_rate):
        return _rounded(number("learning_rate", learning_rate, NONNEGATIVE), floatx)
    keras = sys.modules.get("keras")
    schedules = getattr(getattr(keras, "optimizers", None), "schedules", None)
    if schedules is not None and isinstance(learning_rate, schedules.LearningRateSchedule):
        value = _keras_values(learning_rate)
        return lambda j: value(j * k - 1)
    if _takes_no_argument(learning_rate):
        return lambda j: float(learning_rate())
    return lambda j: _rounded(float(learning_rate(j * k)), floatx)


def _loss_scaled(opt: Optimizer, scale: float) -> Optimizer:
    """keras's ``loss_scale_factor``: the gradients divided by it before anything else."""
    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, Any]:
        return opt.step(params, tree.tree_map(lambda g: g / scale, grads), state, **extra)

    return dataclasses.replace(opt, name=f"{opt.name}/loss_scale", step=step,
                               hyperparams={**opt.hyperparams, "loss_scale_factor": scale})


def wrap(opt: Optimizer, opts: dict) -> Optimizer:
    """``opt`` (the rule with keras's decay) inside the base optimizer's options, keras's order."""
    if opts["clipnorm"] and opts["clipnorm"] > 0:
        opt = refopt.clip_by_norm(opt, opts["clipnorm"])
    elif opts["global_clipnorm"] and opts["global_clipnorm"] > 0:
        opt = refopt.clip_by_global_norm(opt, opts["global_clipnorm"])
    elif opts["clipvalue"] and opts["clipvalue"] > 0:
        opt = refopt.clip(opt, opts["clipvalue"])
    k = opts["gradient_accumulation_steps"]
    if k:
        opt = refopt.accumulate(opt, k)
    if opts["use_ema"]:
        mu = float(opts["ema_momentum"])
        momentum: float | Callable[[int], float] = (lambda n: 0.0 if n <= k else mu) if k else mu
        opt = refopt.ema(opt, momentum, opts["ema_overwrite_frequency"])
    if opts["loss_scale_factor"] is not None:
        opt = _loss_scaled(opt, float(opts["loss_scale_factor"]))
    return opt
