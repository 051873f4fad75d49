"""``prodigyopt`` (the Prodigy authors' package, 1.1.2) as a refopt flavor: its class name,
argument names and defaults, returning the canonical ``refopt.prodigy``, which follows this
package (tests/rules/test_prodigy.py: 1e-10, measured 0). Mishchenko & Defazio (2024), arXiv
2306.06101.

Not modelled: ``slice_p > 1`` (statistics on every p-th entry, an approximation) and FSDP.
With ``betas[0] == 0`` the package steps by ``d_{k+1} g`` where its ``beta1 > 0`` branch (and the
paper) use ``d_k``; refopt.prodigy keeps the paper's ``d_k`` there (a different number once d grows).
"""
from __future__ import annotations

import math

import refopt

PREFIX = "prodigyopt."

__all__ = ["Prodigy"]


def Prodigy(lr=1.0, betas=(0.9, 0.999), beta3=None, eps=1e-8, weight_decay=0, decouple=True,
            use_bias_correction=False, safeguard_warmup=False, d0=1e-6, d_coef=1.0,
            growth_rate=math.inf, fsdp_in_use=False, slice_p=1):
    """``prodigyopt.Prodigy(params, lr, betas, beta3, eps, weight_decay, decouple, ...)``."""
    if slice_p != 1:
        raise ValueError(f"Prodigy: slice_p={slice_p!r}: only 1 (exact statistics) is modelled")
    if fsdp_in_use:
        raise ValueError("Prodigy: fsdp_in_use=True (sharded sums) is not modelled")
    beta1, beta2 = betas
    return refopt.prodigy(lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, eps=eps,
                          weight_decay=weight_decay, decouple=decouple,
                          use_bias_correction=use_bias_correction, safeguard_warmup=safeguard_warmup,
                          d0=d0, d_coef=d_coef, growth_rate=growth_rate)


def framework(attr: str, **kwargs):
    """``prodigyopt.<attr>(params, **kwargs)`` on CPU tensors, as an adapter over NumPy params."""
    import prodigyopt

    from ..interop.torch import torch_optimizer
    if attr not in __all__:
        raise ValueError(f"prodigyopt.{attr} has no refopt flavor; flavors: {', '.join(__all__)}")
    return torch_optimizer(getattr(prodigyopt, attr), **kwargs)


# No test vectors recorded for these yet (the CLI accepts every name in __all__).
EXAMPLES: dict = {}
