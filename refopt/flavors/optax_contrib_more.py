"""``optax.contrib.adopt`` and ``optax.contrib.ademamix`` as refopt flavors: optax's names, defaults
and conventions (optax 0.2.8, ``optax/contrib/_adopt.py`` and ``_ademamix.py``).

- ``adopt`` is ``refopt.adopt``: optax's first update (count 0) sets ``nu = g*g`` and returns a zero
  update, as the paper's :math:`v_0 = g_0^2`; ``clip_value_fn`` is called with the count before the
  step, which is the paper's t from then on (``refopt.adopt``'s ``clip``). ``nesterov=True`` (not in
  the paper) and ``mu_dtype`` are refused.
- ``ademamix`` is ``refopt.ademamix`` without built-in warm-ups: optax's ``alpha`` and ``b3`` may
  be schedules of its ``count_m2``, the count before the step (refopt's t - 1, as for
  ``learning_rate``); ``weight_decay`` is added to the update before the learning rate scales it,
  the paper's decoupled :math:`\\eta\\lambda w`. ``mu_dtype`` and ``mask`` are refused.
"""
from __future__ import annotations

import types

import refopt

from .optax_precision import default_only
from .optax_schedules import count_schedule, scheduled

__all__ = ["contrib", "adopt", "ademamix"]


def _paper_step(fn):
    """optax's ``clip_value_fn(count)`` as ``refopt.adopt``'s ``clip(t_paper)``: count = t_paper. optax
    calls it with its int32 count inside the update; here with x64 on, as the float64 checks run
    optax (``interop.optax``), so ``count**0.25`` is a float64 number (float32 with x64 off)."""
    def clip(t_paper: int) -> float:
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(True):
            return float(fn(jnp.asarray(t_paper, dtype=jnp.int32)))
    return clip


@scheduled
def adopt(learning_rate, b1=0.9, b2=0.9999, eps=1e-6, mu_dtype=None, *, nesterov=False, use_clipping=True,
          clip_value_fn=lambda x: x**0.25):
    """``optax.contrib.adopt``: ``refopt.adopt`` (``use_clipping=False``: ``clip=None``)."""
    default_only(mu_dtype=(mu_dtype, None), nesterov=(nesterov, False))
    if not isinstance(use_clipping, bool):
        raise ValueError(f"use_clipping must be True or False, got {use_clipping!r}")
    if use_clipping and not callable(clip_value_fn):
        raise ValueError(f"clip_value_fn must be a function of the step count, got {clip_value_fn!r}")
    clip = _paper_step(clip_value_fn) if use_clipping else None
    return refopt.adopt(lr=learning_rate, beta1=b1, beta2=b2, eps=eps, clip=clip)


@scheduled
def ademamix(learning_rate, b1=0.9, b2=0.999, b3=0.9999, alpha=5.0, eps=1e-8, eps_root=0.0, mu_dtype=None,
             weight_decay=0.0, mask=None):
    """``optax.contrib.ademamix``: ``refopt.ademamix`` with ``alpha`` and ``b3`` read as optax
    schedules (no ``t_alpha``/``t_beta3``); ``eps_root`` is supported at 0 only."""
    default_only(mu_dtype=(mu_dtype, None), mask=(mask, None), eps_root=(eps_root, 0.0))
    return refopt.ademamix(lr=learning_rate, beta1=b1, beta2=b2, beta3=count_schedule("b3", b3),
                           alpha=count_schedule("alpha", alpha), eps=eps, weight_decay=weight_decay)


contrib = types.SimpleNamespace(adopt=adopt, ademamix=ademamix)
