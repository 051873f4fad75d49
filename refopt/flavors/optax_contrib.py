"""``optax.contrib`` optimizers as refopt flavors (``refopt.flavors.optax.contrib``): optax's names,
defaults and conventions, as ``refopt.flavors.optax`` does for the main aliases."""
from __future__ import annotations

import types

import refopt

from ..rules import ns_presets
from .optax_precision import default_only, storage_dtype, stored_in
from .optax_schedules import scheduled

__all__ = ["contrib", "muon"]


def _ns_schedule(ns_coeffs, ns_steps):
    """optax's reading of ``ns_coeffs``: a preset name ('standard', 'dion') as its numbers; a 2-D
    (n, 3) schedule runs its n triples whatever ``ns_steps`` is, and n > ns_steps is an error."""
    if isinstance(ns_coeffs, str):
        names = ns_presets.LIBRARY_NAMES["optax.contrib"]
        if ns_coeffs not in names:
            raise ValueError(f"ns_coeffs={ns_coeffs!r}: unknown preset; optax's are {tuple(names)}")
        triples = ns_presets.PRESETS[names[ns_coeffs]].coefficients
        ns_coeffs = triples[0] if len(triples) == 1 else triples  # 'standard' is optax's (3,) array
    value = ns_presets.validated(ns_coeffs)
    if isinstance(value[0], tuple):
        if len(value) > ns_steps:
            raise ValueError(f"ns_coeffs: {len(value)} triples for ns_steps={ns_steps} (optax: 'Not enough "
                             f"coeffs to perform {ns_steps} steps')")
        return value, len(value)
    return value, ns_steps


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
    does (``optax_precision``). ``ns_coeffs``: a triple, optax's presets or an (n, 3) schedule
    (``_ns_schedule``). Only the ``frobenius`` preconditioning, the default dimension numbers and
    the width scaling (``consistent_rms=None``) are supported."""
    from .optax import adamw  # optax.py imports this module: adamw is read when muon is built

    default_only(weight_decay_mask=(weight_decay_mask, None), adaptive=(adaptive, False),
                  preconditioning=(preconditioning, "frobenius"), consistent_rms=(consistent_rms, None),
                  muon_weight_dimension_numbers=(muon_weight_dimension_numbers, None))
    ns_coeffs, ns_steps = _ns_schedule(ns_coeffs, ns_steps)
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
