"""pytorch-optimizer's (4.1.0) ``Prodigy``, ``DAdaptAdam``, ``DAdaptSGD`` and ``DAdaptAdaGrad``
as refopt flavors: its names and defaults, returning the canonical rules.

Where it departs from the authors' packages:

- ``Prodigy(weight_decouple=False)``: the coupled decay is added to ``p.grad`` *after* the
  moments and sums have used it, so it has no effect: this flavor returns the rule without
  decay (what the library computes), not the package's coupled decay.
- ``DAdaptSGD`` defaults to ``momentum=0.9`` (dadaptation: 0.0); ``DAdaptAdaGrad`` to
  ``eps=0.0`` (dadaptation: 1e-6; its a_0 = 1e-6 keeps the root positive).
- Its running sums (numerator, denominators) are ``torch.tensor([0.0])``, i.e. float32 under
  torch's default dtype, whatever the params' dtype: tests/flavors/test_dadapt_flavors.py
  measures that departure; with ``torch.set_default_dtype(torch.float64)`` it agrees to 1e-10.

Not modelled (a ValueError): ``fixed_decay``, decoupled decay in DAdaptSGD / DAdaptAdaGrad,
Prodigy's ``eps=None`` (atan2 update), ``maximize``.
"""
from __future__ import annotations

import math

import refopt

__all__ = ["Prodigy", "DAdaptAdam", "DAdaptSGD", "DAdaptAdaGrad"]


def _unsupported(who, **flags):
    for name, (value, default) in flags.items():
        if value != default:
            raise ValueError(f"{who}: {name}={value!r} is not modelled (only {default!r})")


def Prodigy(lr=1.0, betas=(0.9, 0.999), beta3=None, d0=1e-6, d_coef=1.0, growth_rate=math.inf,
            weight_decay=0.0, weight_decouple=True, fixed_decay=False, bias_correction=False,
            safeguard_warmup=False, eps=1e-8, maximize=False, foreach=None):
    """``pytorch_optimizer.Prodigy``; coupled decay is a no-op there, so here (module docstring)."""
    _unsupported("Prodigy", fixed_decay=(fixed_decay, False), maximize=(maximize, False))
    if eps is None:
        raise ValueError("Prodigy: eps=None (the atan2 update) is not modelled")
    beta1, beta2 = betas
    return refopt.prodigy(lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, eps=eps,
                          weight_decay=weight_decay if weight_decouple else 0.0, decouple=True,
                          use_bias_correction=bias_correction, safeguard_warmup=safeguard_warmup,
                          d0=d0, d_coef=d_coef, growth_rate=growth_rate)


def DAdaptAdam(lr=1.0, betas=(0.9, 0.999), d0=1e-6, growth_rate=math.inf, weight_decay=0.0,
               weight_decouple=False, fixed_decay=False, bias_correction=False, eps=1e-8,
               maximize=False, foreach=None):
    """``pytorch_optimizer.DAdaptAdam``: refopt.dadapt_adam."""
    _unsupported("DAdaptAdam", fixed_decay=(fixed_decay, False), maximize=(maximize, False))
    beta1, beta2 = betas
    return refopt.dadapt_adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                              decouple=weight_decouple, use_bias_correction=bias_correction,
                              d0=d0, growth_rate=growth_rate)


def DAdaptSGD(lr=1.0, momentum=0.9, d0=1e-6, growth_rate=math.inf, weight_decay=0.0,
              weight_decouple=False, fixed_decay=False, maximize=False, foreach=None):
    """``pytorch_optimizer.DAdaptSGD`` (momentum 0.9 by default): refopt.dadapt_sgd."""
    _unsupported("DAdaptSGD", weight_decouple=(weight_decouple, False),
                 fixed_decay=(fixed_decay, False), maximize=(maximize, False))
    return refopt.dadapt_sgd(lr=lr, momentum=momentum, weight_decay=weight_decay, d0=d0,
                             growth_rate=growth_rate)


def DAdaptAdaGrad(lr=1.0, momentum=0.0, d0=1e-6, growth_rate=math.inf, weight_decay=0.0,
                  weight_decouple=False, fixed_decay=False, eps=0.0, maximize=False, foreach=None):
    """``pytorch_optimizer.DAdaptAdaGrad`` (eps 0 by default): refopt.dadapt_adagrad."""
    _unsupported("DAdaptAdaGrad", weight_decouple=(weight_decouple, False),
                 fixed_decay=(fixed_decay, False), maximize=(maximize, False))
    return refopt.dadapt_adagrad(lr=lr, momentum=momentum, weight_decay=weight_decay, eps=eps,
                                 d0=d0, growth_rate=growth_rate)
