r"""bitsandbytes' ``AdEMAMix`` (32-bit state) and ``AdEMAMix8bit`` as refopt optimizers: their names,
arguments and defaults.

``AdEMAMix(...)`` gives the numbers of ``bitsandbytes.optim.AdEMAMix(..., optim_bits=32)`` on CPU
(bitsandbytes 0.50.2, ``optim/ademamix.py`` and ``backends/cpu/ops.py``, ``_optimizer_update_32bit_cpu``):
it is ``refopt.ademamix`` with the paper's warm-ups over ``t_alpha`` and ``t_beta3`` (0 or None: none),
decoupled decay :math:`w(1-\eta\lambda)` (default ``weight_decay=1e-2``, as AdamW's), and
:math:`\sqrt{s_t}/\sqrt{1-\beta_2^t} + \epsilon`, the paper's denominator. Pagliardini, Ablin &
Grangier (2024), "The AdEMAMix Optimizer: Better, Faster, Older", arXiv 2409.03137.

``AdEMAMix8bit(...)`` is ``refopt.storage.quantized(refopt.ademamix(...))`` over bitsandbytes'
8-bit state (``_optimizer_update_8bit_blockwise_cpu``, the ``ademamix`` branch): the same rule, its
buffers stored as bitsandbytes stores them (Dettmers et al. 2022, arXiv 2110.02861):

=============  =====================================  ==========================================
refopt buffer  bitsandbytes                           map, scale
=============  =====================================  ==========================================
``m1`` (fast)  ``state1[0]``, ``absmax1[0]``          signed dynamic map, one absmax per block
``m2`` (slow)  ``state1[1]``, ``absmax1[1]``          signed dynamic map, its own absmax per block
``s``          ``state2``, ``absmax2``                unsigned dynamic map
=============  =====================================  ==========================================

bitsandbytes stacks the two EMAs in one ``(2, *p.shape)`` uint8 buffer and a ``(2, blocks)`` absmax,
but quantizes each half on its own (blocks of 256 within ``state1[0]``, then within ``state1[1]``),
so the two refopt buffers hold exactly its bytes; ``bitsandbytes_layout`` stacks them back. The
step: dequantize, update in float32, write the params with the unrounded state, requantize
(``refopt.storage.quantized``); the warm-ups :math:`\alpha_t`, :math:`\beta_{3,t}` are computed in
Python floats and passed to the same kernel, as in ``refopt.ademamix``. Leaves under
``min_8bit_size`` (4096) take the 32-bit path, ``AdEMAMix`` itself. Codes are looked up on the CPU
kernel's 65536-point grid (``refopt.flavors.bitsandbytes``, ``SIGNED``/``UNSIGNED``).

Precision: bitsandbytes computes in float32 whatever the params' dtype (``p.data.float()``, float32
state, the result copied back into the parameter), and so do these flavors by default
(``compute_dtype="float32"``, ``refopt.flavors.compute``); ``compute_dtype=None`` computes in the
params' dtype. Refused: ``AdEMAMix(optim_bits=8)``, use ``AdEMAMix8bit`` (the class bitsandbytes
offers for it; ``optim_bits=8`` on ``AdEMAMix`` runs the same code). ``is_paged`` is accepted (on CPU
the same buffers).
"""
from __future__ import annotations

from typing import Any

import numpy as np

import refopt

from .compute import computed_in

PREFIX = "bitsandbytes.optim."
__all__ = ["AdEMAMix", "AdEMAMix8bit", "bitsandbytes_layout"]


def _rule(betas, alpha, t_alpha, t_beta3, lr, eps, weight_decay):
    if not isinstance(betas, (tuple, list)) or len(betas) != 3:
        raise ValueError(f"betas must be a triple (beta1, beta2, beta3), got {betas!r}")
    beta1, beta2, beta3 = betas
    # bitsandbytes tests `if t_alpha` / `if not config["t_alpha"]`: 0 means no warm-up, as None
    return refopt.ademamix(lr=lr, beta1=beta1, beta2=beta2, beta3=beta3, alpha=alpha, t_alpha=t_alpha or None,
                           t_beta3=t_beta3 or None, eps=eps, weight_decay=weight_decay)


def AdEMAMix(lr=1e-3, betas=(0.9, 0.999, 0.9999), alpha=5.0, t_alpha=None, t_beta3=None, eps=1e-8,
             weight_decay=1e-2, optim_bits=32, min_8bit_size=4096, is_paged=False, *,
             compute_dtype="float32"):
    """``bitsandbytes.optim.AdEMAMix`` with 32-bit state: ``refopt.ademamix`` computed in float32."""
    if optim_bits != 32:
        raise ValueError(f"bitsandbytes.optim.AdEMAMix: optim_bits={optim_bits!r} is not modelled here "
                         f"(only 32; the 8-bit state is AdEMAMix8bit)")
    return computed_in(_rule(betas, alpha, t_alpha, t_beta3, lr, eps, weight_decay), compute_dtype)


def AdEMAMix8bit(lr=1e-3, betas=(0.9, 0.999, 0.9999), alpha=5.0, t_alpha=None, t_beta3=None, eps=1e-8,
                 weight_decay=1e-2, min_8bit_size=4096, is_paged=False, *, compute_dtype="float32"):
    """``bitsandbytes.optim.AdEMAMix8bit``: ``refopt.ademamix`` with m1 and m2 on the signed dynamic
    map and s on the unsigned one, blocks of 256, each buffer its own absmax (module docstring)."""
    # imported here: refopt.flavors.bitsandbytes imports this module at its top
    from .bitsandbytes import SIGNED, UNSIGNED, _common, _store
    size = _common("AdEMAMix8bit", None, min_8bit_size)
    opt = _rule(betas, alpha, t_alpha, t_beta3, lr, eps, weight_decay)
    return _store(opt, {"m1": SIGNED, "m2": SIGNED, "s": UNSIGNED}, size, compute_dtype)


def bitsandbytes_layout(state: Any, leaf: str) -> dict[str, np.ndarray]:
    """An ``AdEMAMix8bit`` state's quantized ``leaf`` as bitsandbytes keeps it in ``optimizer.state[p]``:
    ``state1`` (2, n) uint8 (m1 codes, then m2), ``absmax1`` (2, blocks), ``state2``, ``absmax2``
    (flattened: bitsandbytes' buffers have the param's shape)."""
    (c1, a1), (c2, a2), (c3, a3) = (state.m1[leaf], state.m2[leaf], state.s[leaf])
    return {"state1": np.stack([np.asarray(c1), np.asarray(c2)]), "absmax1": np.stack([np.asarray(a1), np.asarray(a2)]),
            "state2": np.asarray(c3), "absmax2": np.asarray(a3)}
