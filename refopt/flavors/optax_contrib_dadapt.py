"""``optax.contrib.prodigy`` and ``optax.contrib.dadapt_adamw`` (optax 0.2.8) as refopt flavors:
optax's names and defaults, returning the canonical rules with the knobs optax fixes.

Both always bias-correct (``sqrt(1-b2^k)/(1-b1^k)`` in the step size) and decay decoupled
(``-weight_decay * eta * w``, eta = d lr times that correction); neither has growth_rate
(inf) and prodigy's ``d = max(d, d_hat)`` is the package's rule at growth inf. Schedules are
optax's (``learning_rate(count)``, count from 0). optax computes in the params' dtype, float32
unless ``jax_enable_x64``: tests/flavors/test_dadapt_flavors.py measures that departure.
``weight_decay_mask`` is not modelled.
"""
from __future__ import annotations

import refopt

from .optax_schedules import scheduled

__all__ = ["prodigy", "dadapt_adamw"]


@scheduled
def prodigy(learning_rate=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, estim_lr0=1e-6,
            estim_lr_coef=1.0, weight_decay=0.0, safeguard_warmup=False):
    """``optax.contrib.prodigy``: refopt.prodigy with bias correction and decoupled decay."""
    beta1, beta2 = betas
    return refopt.prodigy(lr=learning_rate, beta1=beta1, beta2=beta2, beta3=beta3, eps=eps,
                          weight_decay=weight_decay, decouple=True, use_bias_correction=True,
                          safeguard_warmup=safeguard_warmup, d0=estim_lr0, d_coef=estim_lr_coef)


@scheduled
def dadapt_adamw(learning_rate=1.0, betas=(0.9, 0.999), eps=1e-8, estim_lr0=1e-6,
                 weight_decay=0.0):
    """``optax.contrib.dadapt_adamw``: refopt.dadapt_adam with bias correction, decoupled decay."""
    beta1, beta2 = betas
    return refopt.dadapt_adam(lr=learning_rate, beta1=beta1, beta2=beta2, eps=eps,
                              weight_decay=weight_decay, decouple=True, use_bias_correction=True,
                              d0=estim_lr0)
