"""``dadaptation`` (the D-Adaptation authors' package, 3.2) as refopt flavors: its class names,
argument names and defaults, returning the canonical rules, which follow this package
(tests/rules/test_dadapt_*.py: 1e-10, measured at most 2e-12). Defazio & Mishchenko (2023), arXiv
2301.07733. ``log_every`` only logs; FSDP and sparse gradients are not modelled."""
from __future__ import annotations

import math

import refopt

PREFIX = "dadaptation."

__all__ = ["DAdaptAdam", "DAdaptSGD", "DAdaptAdaGrad"]


def _no_fsdp(who, fsdp_in_use):
    if fsdp_in_use:
        raise ValueError(f"{who}: fsdp_in_use=True (sharded sums) is not modelled")


def DAdaptAdam(lr=1.0, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, log_every=0, decouple=False,
               use_bias_correction=False, d0=1e-6, growth_rate=math.inf, fsdp_in_use=False):
    """``dadaptation.DAdaptAdam``: refopt.dadapt_adam with the betas split."""
    _no_fsdp("DAdaptAdam", fsdp_in_use)
    beta1, beta2 = betas
    return refopt.dadapt_adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=weight_decay,
                              decouple=decouple, use_bias_correction=use_bias_correction, d0=d0,
                              growth_rate=growth_rate)


def DAdaptSGD(lr=1.0, momentum=0.0, weight_decay=0, log_every=0, d0=1e-6, growth_rate=math.inf,
              fsdp_in_use=False):
    """``dadaptation.DAdaptSGD``: refopt.dadapt_sgd (the package raises ZeroDivisionError on a
    zero first gradient; the rule waits for a nonzero one)."""
    _no_fsdp("DAdaptSGD", fsdp_in_use)
    return refopt.dadapt_sgd(lr=lr, momentum=momentum, weight_decay=weight_decay, d0=d0,
                             growth_rate=growth_rate)


def DAdaptAdaGrad(lr=1.0, momentum=0, log_every=0, weight_decay=0.0, eps=1e-6, d0=1e-6,
                  growth_rate=math.inf):
    """``dadaptation.DAdaptAdaGrad`` (dense gradients): refopt.dadapt_adagrad."""
    return refopt.dadapt_adagrad(lr=lr, momentum=momentum, weight_decay=weight_decay, eps=eps,
                                 d0=d0, growth_rate=growth_rate)


def framework(attr: str, **kwargs):
    """``dadaptation.<attr>(params, **kwargs)`` on CPU tensors, as an adapter over NumPy params."""
    import dadaptation

    from ..interop.torch import torch_optimizer
    if attr not in __all__:
        raise ValueError(f"dadaptation.{attr} has no refopt flavor; flavors: {', '.join(__all__)}")
    return torch_optimizer(getattr(dadaptation, attr), **kwargs)


# No test vectors recorded for these yet (the CLI accepts every name in __all__).
EXAMPLES: dict = {}
