"""optax's layer-wise and sign-based optimizers as refopt flavors: ``adafactor``, ``lars``, ``lamb``,
``lion``, ``adan``, re-exported by ``refopt.flavors.optax`` (whose docstring says how the flavors
follow optax's arguments)."""
from __future__ import annotations

from functools import partial

import refopt

from ..backend import zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, number, rule
from .optax_precision import default_only, storage_dtype, stored_in
from .optax_rules import (AdafactorState, AdanState, LarsState, adafactor_init, adafactor_update, adan_update,
                          factored_axes, lars_update)
from .optax_schedules import scheduled

__all__ = ["adafactor", "lars", "lamb", "lion", "adan"]


# --- Adafactor ----------------------------------------------------------------------------

@scheduled
def adafactor(learning_rate=None, min_dim_size_to_factor=128, decay_rate=0.8, decay_offset=0,
              multiply_by_parameter_scale=True, clipping_threshold=1.0, momentum=None,
              dtype_momentum="float32", weight_decay_rate=None, eps=1e-30, factored=True,
              weight_decay_mask=None, *, decay_rate_dtype="float32"):
    """``optax.adafactor``: its own rule (``optax_rules.adafactor_update``). The momentum is
    stored in ``dtype_momentum`` (float32 by default, as optax does; ``optax_precision``).
    ``decay_rate_dtype`` (refopt's): the dtype of optax's :math:`1 - t^{-c}`: ``"float32"``
    for a Python-float ``decay_rate`` (optax's default), ``"float64"`` for the float64 array
    ``optax.inject_hyperparams`` makes of it with x64 on (1.5e-7 apart)."""
    default_only(weight_decay_mask=(weight_decay_mask, None))
    if decay_rate_dtype not in ("float32", "float64"):
        raise ValueError(f"decay_rate_dtype must be 'float32' or 'float64', got {decay_rate_dtype!r}")

    def update_leaf(w, g, row, col, v, m, **hyper):
        axes = factored_axes(tuple(w.shape), factored, min_dim_size_to_factor)
        return adafactor_update(w, g, row, col, v, m, axes=axes, **hyper)

    init = partial(adafactor_init, factored=factored, min_dim=min_dim_size_to_factor,
                   momentum=momentum is not None)
    optional = {"lr": learning_rate, "clipping_threshold": clipping_threshold, "momentum": momentum,
                "weight_decay_rate": weight_decay_rate}
    for name, value in optional.items():
        if value is not None and not callable(value):
            number(name, value, UNIT if name == "momentum" else NONNEGATIVE)
    opt = rule("optax.adafactor", AdafactorState, init, update_leaf,
               {**{k: (v, NONNEGATIVE if callable(v) else None) for k, v in optional.items()},
                "decay_rate": (decay_rate, POSITIVE), "decay_offset": (decay_offset, None),
                "decay_rate_dtype": (decay_rate_dtype, None), "eps": (eps, NONNEGATIVE),
                "multiply_by_parameter_scale": (bool(multiply_by_parameter_scale), None)})
    if momentum is None:
        return opt
    return stored_in(opt, "m", momentum, storage_dtype("dtype_momentum", dtype_momentum), "dtype_momentum")


# --- LARS, LAMB, Lion, Adan ---------------------------------------------------------------

@scheduled
def lars(learning_rate, weight_decay=0.0, weight_decay_mask=True, trust_coefficient=0.001, eps=0.0,
         trust_ratio_mask=True, momentum=0.9, nesterov=False):
    """``optax.lars``: its own rule (``optax_rules.lars_update``): the trust ratio uses the norm
    of the decayed gradient, and momentum traces the lr-scaled step."""
    default_only(weight_decay_mask=(weight_decay_mask, True), trust_ratio_mask=(trust_ratio_mask, True))
    if not isinstance(nesterov, bool):
        raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
    return rule("optax.lars", LarsState, lambda w: (zeros_like(w),), lars_update,
                {"lr": (learning_rate, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE),
                 "trust_coefficient": (trust_coefficient, NONNEGATIVE), "eps": (eps, NONNEGATIVE),
                 "momentum": (momentum, UNIT), "nesterov": (nesterov, None)})


@scheduled
def lamb(learning_rate, b1=0.9, b2=0.999, eps=1e-6, eps_root=0.0, weight_decay=0.0, mask=None):
    """``optax.lamb``: ``refopt.lamb`` (bias-corrected Adam direction plus decay, scaled by
    ``||w||/||r||``). ``refopt.lamb`` has no ``eps_root``: only 0 is supported."""
    default_only(eps_root=(eps_root, 0.0), mask=(mask, None))
    return refopt.lamb(lr=learning_rate, beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay)


@scheduled
def lion(learning_rate, b1=0.9, b2=0.99, mu_dtype=None, weight_decay=1e-3, mask=None):
    """``optax.lion``: ``refopt.lion`` (decay inside the lr-scaled step; optax's default 1e-3).
    With ``mu_dtype``, m is stored as optax stores it; optax also takes ``b1*m`` (the sign's
    argument) in ``mu_dtype``, the rule in the params' dtype: the signs can differ only where
    that argument is within an ulp of ``mu_dtype`` of 0."""
    default_only(mask=(mask, None))
    opt = refopt.lion(lr=learning_rate, beta1=b1, beta2=b2, weight_decay=weight_decay)
    return stored_in(opt, "m", b2, storage_dtype("mu_dtype", mu_dtype), "mu_dtype")


@scheduled
def adan(learning_rate, b1=0.98, b2=0.92, b3=0.99, eps=1e-8, eps_root=1e-8, weight_decay=0.0, mask=None):
    """``optax.adan``: its own rule (``optax_rules.adan_update``): optax weighs the gradient
    difference by ``1 - b2`` where the official code (``refopt.adan``) uses ``b2``."""
    default_only(mask=(mask, None))
    return rule("optax.adan", AdanState, lambda w: (zeros_like(w),) * 4, adan_update,
                {"lr": (learning_rate, NONNEGATIVE), "beta1": (b1, UNIT), "beta2": (b2, UNIT),
                 "beta3": (b3, UNIT), "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE),
                 "weight_decay": (weight_decay, NONNEGATIVE)})
