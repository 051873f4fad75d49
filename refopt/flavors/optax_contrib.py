"""``optax.contrib`` optimizers as refopt flavors (``refopt.flavors.optax.contrib``): optax's names,
defaults and conventions, as ``refopt.flavors.optax`` does for the main aliases."""
from __future__ import annotations

import types

import refopt

from .optax_precision import default_only, storage_dtype, stored_in
from .optax_schedules import scheduled

__all__ = ["contrib", "muon"]


@scheduled
def muon(learning_rate, ns_coeffs=(3.4445, -4.775, 2.0315), ns_steps=5, beta=0.95, eps=1e-8,
         weight_decay=0.0, weight_decay_mask=None, mu_dtype=None, *, nesterov=True, adaptive=False,
         preconditioning="frobenius", adam_b1=0.9, adam_b2=0.999, adam_eps_root=0.0, adam_weight_decay=0.0,
         adam_learning_rate=None, muon_weight_dimension_numbers=None, consistent_rms=None):
    """``optax.contrib.muon``: 2-D leaves get ``refopt.muon`` with bias-corrected momentum,
    the NAdam-style Nesterov mix and optax's (in, out) layout; the other leaves get
    ``refopt.flavors.optax.adamw`` (``adam_*`` settings, muon's ``eps``, ``nesterov`` and
    ``mu_dtype``, lr ``adam_learning_rate`` or ``learning_rate``), routed by ``refopt.partition``
    as optax's ``combine.partition`` does. ``mu_dtype``: both momenta stored in it, as optax
    does (``optax_precision``). Only the ``frobenius`` preconditioning, fixed coefficients,
    the default dimension numbers and the width scaling (``consistent_rms=None``) are supported."""
    from .optax import adamw  # optax.py imports this module: adamw is read when muon is built

    default_only(weight_decay_mask=(weight_decay_mask, None), adaptive=(adaptive, False),
                  preconditioning=(preconditioning, "frobenius"), consistent_rms=(consistent_rms, None),
                  muon_weight_dimension_numbers=(muon_weight_dimension_numbers, None))
    if isinstance(ns_coeffs, str):
        raise ValueError(f"ns_coeffs={ns_coeffs!r}: only a tuple (a, b, c) is supported")
    dtype = storage_dtype("mu_dtype", mu_dtype)
    matrix = refopt.muon(lr=learning_rate, beta1=beta, weight_decay=weight_decay, eps=eps, nesterov=nesterov,
                         ns_steps=ns_steps, ns_coefficients=ns_coeffs, bias_correction=True, layout="in_out")
    other = adamw(learning_rate if adam_learning_rate is None else adam_learning_rate, b1=adam_b1, b2=adam_b2,
                  eps=eps, eps_root=adam_eps_root, weight_decay=adam_weight_decay, nesterov=nesterov,
                  mu_dtype=mu_dtype)
    return refopt.partition({"muon": stored_in(matrix, "m", beta, dtype, "mu_dtype"), "adam": other},
                            lambda path, w: "muon" if len(w.shape) == 2 else "adam")


from .optax_contrib_more import ademamix, adopt  # noqa: E402 (they read nothing from here)
from .optax_contrib_dadapt import dadapt_adamw, prodigy  # noqa: E402
from .optax_contrib_schedule_free import schedule_free_adamw, schedule_free_sgd  # noqa: E402

contrib = types.SimpleNamespace(muon=muon, adopt=adopt, ademamix=ademamix, prodigy=prodigy,
                                dadapt_adamw=dadapt_adamw, schedule_free_sgd=schedule_free_sgd,
                                schedule_free_adamw=schedule_free_adamw)
