r"""bitsandbytes' ``AdEMAMix`` (32-bit state) as a refopt optimizer: its name, arguments and defaults.

``refopt.flavors.bitsandbytes_more.AdEMAMix(...)`` gives the numbers of
``bitsandbytes.optim.AdEMAMix(..., optim_bits=32)`` on CPU (bitsandbytes 0.50.2,
``optim/ademamix.py`` and ``backends/cpu/ops.py``, ``_optimizer_update_32bit_cpu``): it is
``refopt.ademamix`` with the paper's warm-ups over ``t_alpha`` and ``t_beta3`` (0 or None: none),
decoupled decay :math:`w(1-\eta\lambda)` (default ``weight_decay=1e-2``, as AdamW's), and
:math:`\sqrt{s_t}/\sqrt{1-\beta_2^t} + \epsilon`, the paper's denominator.

Precision: bitsandbytes computes in float32 whatever the params' dtype (``p.data.float()``, float32
state, the result copied back into the parameter), and so does this flavor by default
(``compute_dtype="float32"``, ``refopt.flavors.compute``); ``compute_dtype=None`` computes in the
params' dtype. Refused: ``optim_bits=8`` (8-bit state: not modelled here; leaves under
``min_8bit_size`` would be 32-bit anyway). ``is_paged`` is accepted (on CPU the same buffers).
"""
from __future__ import annotations

import refopt

from .compute import computed_in

PREFIX = "bitsandbytes.optim."
__all__ = ["AdEMAMix"]


def AdEMAMix(lr=1e-3, betas=(0.9, 0.999, 0.9999), alpha=5.0, t_alpha=None, t_beta3=None, eps=1e-8,
             weight_decay=1e-2, optim_bits=32, min_8bit_size=4096, is_paged=False, *,
             compute_dtype="float32"):
    """``bitsandbytes.optim.AdEMAMix`` with 32-bit state: ``refopt.ademamix`` computed in float32."""
    if optim_bits != 32:
        raise ValueError(f"bitsandbytes.optim.AdEMAMix: optim_bits={optim_bits!r} is not modelled "
                         f"(only 32: the 8-bit state is not)")
    if not isinstance(betas, (tuple, list)) or len(betas) != 3:
        raise ValueError(f"betas must be a triple (beta1, beta2, beta3), got {betas!r}")
    beta1, beta2, beta3 = betas
    opt = refopt.ademamix(lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, alpha=alpha, t_alpha=t_alpha or None,
                          t_beta3=t_beta3 or None, eps=eps, weight_decay=weight_decay)
    return computed_in(opt, compute_dtype)
