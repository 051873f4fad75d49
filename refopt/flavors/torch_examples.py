"""The framework side of the torch flavors (``framework``) and their deliberately wrong variants
(``PERTURBATIONS``) for ``python -m refopt.oracle --perturb``; re-exported by
``refopt.flavors.torch``."""
from __future__ import annotations

import math
from typing import Any

import refopt

from ..core import NONNEGATIVE, number
from .torch_wrappers import betas_pair as _betas

__all__ = ["framework", "PERTURBATIONS"]


def framework(attr: str, **kwargs: Any) -> Any:
    """``torch.optim.<attr>(params, **kwargs)`` as an adapter over NumPy params."""
    import torch

    from ..interop.torch import torch_optimizer
    if not hasattr(torch.optim, attr):
        raise ValueError(f"torch.optim has no optimizer {attr!r}")
    return torch_optimizer(getattr(torch.optim, attr), **kwargs)


def _adam_eps_in_sqrt(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, **rest):
    beta1, beta2 = _betas(betas)
    return refopt.adam(lr=lr, beta1=beta1, beta2=beta2, eps=0.0, eps_root=eps)


def _rmsprop_eps_in_sqrt(lr=1e-2, alpha=0.99, eps=1e-8, momentum=0, centered=False, **rest):
    return refopt.rmsprop(lr=lr, beta2=alpha, eps=0.0, eps_root=eps, momentum=momentum, centered=centered)


def _adagrad_eps_in_sqrt(lr=1e-2, eps=1e-10, initial_accumulator_value=0, **rest):
    return refopt.adagrad(lr=lr, eps=0.0, eps_root=eps, initial_accumulator=initial_accumulator_value)


def _radam_paper_threshold(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, **rest):
    beta1, beta2 = _betas(betas)
    eps = number("eps", eps, NONNEGATIVE)
    return refopt.radam(lr=lr, beta1=beta1, beta2=beta2, eps=lambda t: eps / math.sqrt(1 - beta2**t),
                        threshold=4.0)


# eps-in-sqrt: eps moved inside the square root (optax's and keras's placement);
# paper-threshold: RAdam rectifying from rho_t > 4 (the paper) instead of torch's 5, which
# with beta2 = 0.999 changes step 5 only (rho_5 = 4.996)
PERTURBATIONS = {"eps-in-sqrt": {"Adam": _adam_eps_in_sqrt, "RMSprop": _rmsprop_eps_in_sqrt,
                                 "Adagrad": _adagrad_eps_in_sqrt},
                 "paper-threshold": {"RAdam": _radam_paper_threshold}}
