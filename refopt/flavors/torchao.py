r"""torchao's low-bit AdamW optimizers as refopt optimizers: their names, arguments and defaults.

``refopt.flavors.torchao.AdamW8bit(lr=..., betas=..., ...)`` gives the numbers of
``torchao.optim.AdamW8bit`` (and ``AdamW4bit``, ``AdamWFp8``) of torchao 0.18.0 on CPU
(``torchao/optim/adam.py``, ``single_param_adam``, run by torch.compile): the rule below run by
``refopt.storage.quantized`` over torchao's storage, checked after every step, codes and scales
bit for bit, by tests/flavors/test_torchao.py.

The update (decoupled decay, Loshchilov & Hutter 2019, arXiv 1711.05101; Adam's moments and
bias corrections, Kingma & Ba 2015, arXiv 1412.6980), every operation rounded in float32:

.. math::

    w' = w - (\eta\lambda)\,w, \quad
    m_t = \mathrm{lerp}(\tilde m_{t-1}, g_t, 1-\beta_1), \quad
    s_t = \mathrm{lerp}(\tilde s_{t-1}, g_t^2, 1-\beta_2) \\
    w_t = w' - \eta\,(m_t / (1-\beta_1^t)) \,/\, (\sqrt{s_t} / \sqrt{1-\beta_2^t} + \epsilon)

with :math:`\mathrm{lerp}(a, b, c) = a + c(b - a)` below :math:`c = 1/2` (``_lerp`` for the
rest), the tilde marking the dequantized state. The params move with the unrounded
:math:`m_t, s_t`; only the stored state is rounded (``refopt.storage.quantized``'s order,
which is torchao's: dequantize, update in float32, write the params, requantize).

Why a rule of its own and not ``refopt.flavors.torch.AdamW``: same math, different float32
roundings. torchao forms the moments with ``lerp`` and its bias corrections as float32 powers;
torch's AdamW with :math:`\beta m + (1-\beta) g` and float64 powers. On a zero gradient the new
moment is :math:`0.9\,\tilde m`, and :math:`\tilde m / N` then often falls exactly on a code or
midpoint of the FP8 grid; the one-ulp differences there chose another code for 16 of 5,120
FP8 codes by step 60 of a mixed run (measured), and the states drifted apart from there. With
this rule codes, scales and params agree bit for bit (tests/flavors/test_torchao.py).

Storage, as torchao keeps it (``subclass_8bit.py``, ``subclass_4bit.py``, ``subclass_fp8.py``,
``quant_utils.py``):

- ``AdamW8bit``: blocks of 256, the signed dynamic map for ``m``, the unsigned one for ``s``
  (Dettmers et al. 2022, arXiv 2110.02861);
- ``AdamW4bit``: blocks of 128, the signed 4-bit dynamic map (3 exponent bits) for ``m``, the
  linear map ``k/16``, k = 1..16 (no zero), for ``s`` (Li, Chen & Zhu 2023, arXiv 2309.01507),
  two codes a byte, the first in the high nibble;
- ``AdamWFp8``: blocks of 256, ``float8_e4m3fn`` codes for both, scale absmax/448;
- the scale is the block's absmax clipped below at 1e-12, so a block of zeros is stored with
  scale 1e-12 after the first step (0 before it); rounding is to the nearest code, a tie to the
  upper code (``residual >= gap/2``), FP8's to even; no stochastic rounding of the state;
- only leaves of at least 4096 entries whose size is a multiple of ``block_size`` are quantized;
  every other leaf keeps float32 state (no partial block: ``partial_blocks=False``).

Refused, with a ``ValueError`` naming the argument: ``amsgrad=True`` (torchao 0.18.0 accepts
it, then fails at the first step on a quantized leaf: its state classes do not implement
``aten.maximum``, so there is nothing to reproduce), ``bf16_stochastic_round=True`` (it rounds
bfloat16 params with random bits from torch's generator, not reproducible here; on float32
params torchao ignores it, so pass False), and a negative ``weight_decay`` (torchao does not
check it).

Precision: torchao computes in float32 whatever the params' dtype (``p.float()``), and so do
these flavors by default (``compute_dtype="float32"``, refopt's knob: ``refopt.flavors.compute``);
``compute_dtype=None`` computes in the params' dtype.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, rule
from ..storage import SCHEMES, quantized
from . import torch as torch_flavor
from .compute import computed_in

PREFIX = "torchao.optim."
__all__ = ["AdamW8bit", "AdamW4bit", "AdamWFp8"]

MIN_SIZE = 4096   # _AdamBase._new_buffer: numel >= 4096 and numel % block_size == 0
FLOOR = 1e-12     # scale_tensor / quantize_fp8: absmax.clip(1e-12)


def _torchao(scheme: str, name: str, **changes: Any):
    return SCHEMES[scheme].with_(name=name, floor=FLOOR, **changes)


# (first moment, second moment) per class; ties: residual >= gap/2 is "up"
MAPS = {
    "AdamW8bit": (_torchao("dynamic8", "torchao-dynamic8", ties="up"),
                  _torchao("udynamic8", "torchao-udynamic8", ties="up")),
    "AdamW4bit": (_torchao("dynamic4", "torchao-dynamic4", ties="up"),
                  _torchao("linear4", "torchao-linear4", ties="up")),
    "AdamWFp8": (_torchao("e4m3", "torchao-e4m3"),) * 2,
}


class TorchaoAdamState(NamedTuple):
    t: int
    m: object      # first moment (exp_avg)
    s: object      # second moment (exp_avg_sq)


def _lerp(start: Any, end: Any, weight: float, f: type) -> Any:
    """``lerp`` with a scalar weight as torch.compile's CPU code computes it (inductor's
    ``_lerp_scalar``: a product, then a sum, no FMA): ``start + c (end - start)`` below 1/2,
    ``end + (end - start)(-(1 - c))`` from 1/2 on, with :math:`1 - c` taken in float64 and the
    coefficient then rounded to the arrays' dtype (eager torch rounds ``c`` first)."""
    if weight < 0.5:
        return start + float(f(weight)) * (end - start)
    return end + (end - start) * float(f(-(1.0 - weight)))


def adamw_update(w, g, m, s, *, t, lr, beta1, beta2, eps, weight_decay):
    """torchao's ``single_param_adam`` with ``IS_ADAMW`` (module docstring), the scalars rounded
    to the params' dtype where torchao holds them in float32 tensors (lr, the step count)."""
    xp = array_namespace(w, g)
    f = np.float32 if w.dtype == xp.float32 else np.float64
    w = w - float(f(lr) * f(weight_decay)) * w
    m = _lerp(m, g, 1 - beta1, f)
    s = _lerp(s, g * g, 1 - beta2, f)
    bias_correction1 = f(1) - f(beta1) ** f(t)
    bias_correction2 = f(1) - f(beta2) ** f(t)
    denom = xp.sqrt(s) / float(np.sqrt(bias_correction2)) + float(f(eps))
    w = w - float(f(lr)) * (m / float(bias_correction1)) / denom
    return w, m, s


def _adamw(cls: str, lr, betas, eps, weight_decay, amsgrad, block_size, bf16_stochastic_round, compute_dtype):
    if bf16_stochastic_round:
        raise ValueError(f"torchao.optim.{cls}: bf16_stochastic_round=True is not modelled: it rounds "
                         "bfloat16 params with torch's random bits; torchao ignores it on float32 params")
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ValueError(f"block_size must be an integer >= 1, got {block_size!r}")
    if amsgrad:
        raise ValueError(f"torchao.optim.{cls}: amsgrad=True is not modelled: torchao 0.18.0 fails on it "
                         "for every quantized leaf (its state classes lack aten.maximum)")
    beta1, beta2 = torch_flavor._betas(betas)
    opt = rule(f"torchao.{cls}", TorchaoAdamState,
               lambda w: (zeros_like(w), zeros_like(w)), adamw_update,
               {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                "eps": (eps, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE)})
    first, second = MAPS[cls]
    return computed_in(quantized(opt, {"m": first, "s": second}, block_size=block_size,
                                 min_size=MIN_SIZE, partial_blocks=False), compute_dtype)


def AdamW8bit(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, block_size=256,
              bf16_stochastic_round=False, compute_dtype="float32"):
    """``torchao.optim.AdamW8bit``: dynamic 8-bit maps (signed m, unsigned s), blocks of 256."""
    return _adamw("AdamW8bit", lr, betas, eps, weight_decay, amsgrad, block_size, bf16_stochastic_round,
                  compute_dtype)


def AdamW4bit(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, block_size=128,
              bf16_stochastic_round=False, compute_dtype="float32"):
    """``torchao.optim.AdamW4bit``: 4-bit dynamic map for m, linear k/16 for s, blocks of 128."""
    return _adamw("AdamW4bit", lr, betas, eps, weight_decay, amsgrad, block_size, bf16_stochastic_round,
                  compute_dtype)


def AdamWFp8(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *, block_size=256,
             bf16_stochastic_round=False, compute_dtype="float32"):
    """``torchao.optim.AdamWFp8``: float8_e4m3fn codes for m and s, scale absmax/448, blocks of 256."""
    return _adamw("AdamWFp8", lr, betas, eps, weight_decay, amsgrad, block_size, bf16_stochastic_round,
                  compute_dtype)


# --- the framework side, examples, precision -------------------------------------------------

def framework(attr: str, **kwargs: Any) -> Any:
    """``torchao.optim.<attr>(params, **kwargs)`` on CPU tensors, as an adapter over NumPy params
    (their dtype kept: torchao computes in float32 whatever it is)."""
    import torchao.optim

    from ..interop.torch import torch_optimizer
    if attr not in __all__:
        raise ValueError(f"torchao.optim.{attr} has no refopt flavor; flavors: {', '.join(__all__)}")
    return torch_optimizer(getattr(torchao.optim, attr), **kwargs)


# w: quantized (20 blocks of 256, 40 of 128); v: >= 4096 entries but not a multiple of the block,
# b: small: both keep float32 state
SHAPES = {name: {"w": (64, 80), "v": (1049, 4), "b": (300,)} for name in __all__}

# what the README's storage table says each flavor was checked against
CHECKED = ("torchao 0.18.0 on CPU, after each of 60 mixed steps (tests/flavors/test_torchao.py): codes, "
           "scales and params bit for bit")

# No RTOL: torchao computes in float32 whatever the params' dtype, and so do these flavors by
# default (compute_dtype="float32", refopt.flavors.compute), so on the oracle CLI's float64 params
# they agree as on float32 ones: measured 0 (bit for bit) over 60 steps, seeds 0-2, each class.


def precision(attr: str) -> tuple[str, dict]:
    """torchao's float32 computation and its low-bit state, as these flavors model them by default,
    and the argument that computes in the params' dtype instead."""
    return ("torchao computes in float32 whatever the params' dtype, as the flavor does "
            "(compute_dtype='float32'); the moments are stored as low-bit codes"), {"compute_dtype": None}

# No examples: a test vector holds float arrays only, and these states hold uint8 codes.
EXAMPLES: dict = {}
