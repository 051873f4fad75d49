r"""bitsandbytes' 8-bit optimizers as refopt optimizers: their names, arguments and defaults.

``refopt.flavors.bitsandbytes.Adam8bit(lr=..., betas=..., ...)`` gives the numbers of
``bitsandbytes.optim.Adam8bit`` on CPU (bitsandbytes 0.50.2, ``backends/cpu/ops.py``,
``_optimizer_update_8bit_blockwise_cpu``): the canonical rule run by ``refopt.storage.quantized``
over the library's storage, checked step by step by tests/flavors/test_bitsandbytes.py.

What bitsandbytes does, as modelled here:

- each step dequantizes the state (``code[q] * absmax`` in float32), runs the float32 update,
  writes the params with the *unrounded* new state, then requantizes it;
- blocks of 256 (fixed in the CPU kernel); leaves with fewer than ``min_8bit_size`` (4096)
  entries keep float32 state and take the 32-bit path, the same update;
- the first state uses the signed dynamic map, the second (Adam's :math:`s`) the unsigned one;
  RMSprop's only state, :math:`s \ge 0`, uses the *signed* map (``Optimizer1State``), so half
  its codes are never used;
- codes are looked up at 65536 evenly spaced points of [-1, 1], not searched
  (``refopt.storage.blockwise``, ``lut_bins``): not the nearest code below ~1e-4 of a block's
  absmax; an all-zero block is stored as absmax 0 and codes 0;
- ``Adam8bit`` and ``AdamW8bit`` are one algorithm, decoupled decay :math:`w(1 - \eta\lambda)`,
  with different default ``weight_decay`` (0 and 1e-2): ``refopt.flavors.torch.AdamW``;
  ``SGD8bit`` and ``RMSprop8bit`` add ``weight_decay * w`` to the gradient (coupled L2), and
  SGD's first step sets the buffer to the gradient (with :math:`m_0 = 0` the same number);
  ``Lion8bit`` decays decoupled, as ``refopt.lion``.

Refused, with a ``ValueError`` naming the argument: ``args`` (a config object that can switch on
``max_unorm`` and other paths), ``amsgrad=True`` and ``optim_bits`` other than 32 (bitsandbytes
refuses them too), ``SGD8bit`` with ``dampening`` or ``nesterov``, ``RMSprop8bit`` with
``momentum`` or ``centered`` (the CPU kernel ignores dampening, nesterov and RMSprop's momentum,
so their numbers would not be what the argument asks). ``is_paged`` is accepted: on CPU
bitsandbytes falls back to ordinary buffers, the same numbers. bitsandbytes 0.50.2 has no
``percentile_clipping`` argument on these classes.

Precision: bitsandbytes computes in float32 whatever the params' dtype (``p.data.float()``,
``g.float()``, float32 state, the result written back into the parameter), and so do these
flavors by default (``compute_dtype="float32"``, refopt's knob: ``refopt.flavors.compute``);
``compute_dtype=None`` computes in the params' dtype (the formula without those roundings).
"""
from __future__ import annotations

import inspect
from typing import Any

import refopt

from ..core import NONNEGATIVE, UNIT, number
from ..storage import SCHEMES, quantized
from ..storage.maps import bnb041_dynamic_map
from .compute import computed_in
from . import torch as torch_flavor
from .bitsandbytes_more import AdEMAMix, AdEMAMix8bit

PREFIX = "bitsandbytes.optim."
__all__ = ["Adam8bit", "AdamW8bit", "Lion8bit", "SGD8bit", "RMSprop8bit", "AdEMAMix", "AdEMAMix8bit"]

BLOCK = 256  # blocksize = 256 in _optimizer_update_8bit_blockwise_cpu and init_state
SIGNED = SCHEMES["dynamic8"].with_(name="bnb-cpu-dynamic8", lut_bins=65536)
UNSIGNED = SCHEMES["udynamic8"].with_(name="bnb-cpu-udynamic8", lut_bins=65536)


def _refuse(cls: str, arg: str, why: str) -> None:
    raise ValueError(f"bitsandbytes.optim.{cls}: {arg} is not modelled: {why}")


def _common(cls: str, args: Any, min_8bit_size: Any) -> int:
    if args is not None:
        _refuse(cls, "args", "a config object that can switch on max_unorm and other paths")
    if isinstance(min_8bit_size, bool) or not isinstance(min_8bit_size, int) or min_8bit_size < 0:
        raise ValueError(f"min_8bit_size must be an integer >= 0, got {min_8bit_size!r}")
    return min_8bit_size


def _store(opt: Any, maps: dict, min_8bit_size: int, compute_dtype: Any) -> Any:
    return computed_in(quantized(opt, maps, block_size=BLOCK, min_size=min_8bit_size), compute_dtype)


def _adam(cls, lr, betas, eps, weight_decay, amsgrad, optim_bits, args, min_8bit_size, compute_dtype):
    size = _common(cls, args, min_8bit_size)
    if amsgrad:
        _refuse(cls, "amsgrad=True", "bitsandbytes refuses it too")
    if optim_bits != 32:
        _refuse(cls, f"optim_bits={optim_bits!r}", "bitsandbytes accepts only 32 (the state is 8-bit anyway)")
    opt = torch_flavor.AdamW(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay)
    return _store(opt, {"m": SIGNED, "s": UNSIGNED}, size, compute_dtype)


def Adam8bit(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, optim_bits=32,
             args=None, min_8bit_size=4096, is_paged=False, *, compute_dtype="float32"):
    """``bitsandbytes.optim.Adam8bit``: decoupled decay ``w(1 - lr wd)`` (as AdamW), default 0."""
    return _adam("Adam8bit", lr, betas, eps, weight_decay, amsgrad, optim_bits, args, min_8bit_size, compute_dtype)


def AdamW8bit(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, optim_bits=32,
              args=None, min_8bit_size=4096, is_paged=False, *, compute_dtype="float32"):
    """``bitsandbytes.optim.AdamW8bit``: ``Adam8bit`` with ``weight_decay=1e-2`` by default."""
    return _adam("AdamW8bit", lr, betas, eps, weight_decay, amsgrad, optim_bits, args, min_8bit_size,
                 compute_dtype)


def Lion8bit(lr=1e-4, betas=(0.9, 0.99), weight_decay=0, args=None, min_8bit_size=4096, is_paged=False, *,
             compute_dtype="float32"):
    """``bitsandbytes.optim.Lion8bit``: ``refopt.lion`` (decay ``w(1 - lr wd)`` before the sign step)."""
    size = _common("Lion8bit", args, min_8bit_size)
    beta1, beta2 = torch_flavor._betas(betas)
    return _store(refopt.lion(lr=lr, beta1=beta1, beta2=beta2, weight_decay=weight_decay), {"m": SIGNED}, size, compute_dtype)


def SGD8bit(lr, momentum=0, dampening=0, weight_decay=0, nesterov=False, args=None, min_8bit_size=4096, *,
            compute_dtype="float32"):
    """``bitsandbytes.optim.SGD8bit``: ``refopt.momentum`` with coupled L2 decay."""
    size = _common("SGD8bit", args, min_8bit_size)
    mu = number("momentum", momentum, UNIT)
    if mu == 0:
        _refuse("SGD8bit", "momentum=0", "bitsandbytes raises NotImplementedError (no 8-bit state)")
    if dampening != 0 or nesterov:
        _refuse("SGD8bit", "dampening/nesterov", "the CPU kernel ignores them: m = momentum*m + g")
    opt = refopt.coupled_weight_decay(refopt.momentum(lr=lr, beta1=mu), number("weight_decay", weight_decay,
                                                                                NONNEGATIVE))
    return _store(opt, {"m": SIGNED}, size, compute_dtype)


def RMSprop8bit(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False, args=None,
                min_8bit_size=4096, *, compute_dtype="float32"):
    """``bitsandbytes.optim.RMSprop8bit``: ``refopt.rmsprop`` (eps outside the root) with coupled
    L2 decay; its state :math:`s` is stored with the signed map, as bitsandbytes stores it."""
    size = _common("RMSprop8bit", args, min_8bit_size)
    if momentum != 0 or centered:
        _refuse("RMSprop8bit", "momentum/centered", "the CPU kernel ignores momentum and bitsandbytes "
                "refuses centered")
    beta2 = number("alpha", alpha, UNIT)
    if beta2 == 0:
        _refuse("RMSprop8bit", "alpha=0", "bitsandbytes raises NotImplementedError")
    opt = refopt.coupled_weight_decay(refopt.rmsprop(lr=lr, beta2=beta2, eps=eps),
                                      number("weight_decay", weight_decay, NONNEGATIVE))
    return _store(opt, {"s": SIGNED}, size, compute_dtype)


# --- the framework side, examples, precision -------------------------------------------------

def framework(attr: str, **kwargs: Any) -> Any:
    """``bitsandbytes.optim.<attr>(params, **kwargs)`` on CPU tensors, as an adapter over NumPy
    params (their dtype kept: bitsandbytes computes in float32 whatever it is)."""
    import bitsandbytes.optim

    from ..interop.torch import torch_optimizer
    if attr not in __all__:
        raise ValueError(f"bitsandbytes.optim.{attr} has no refopt flavor; flavors: {', '.join(__all__)}")
    return torch_optimizer(getattr(bitsandbytes.optim, attr), **kwargs)


# above min_8bit_size: 4 full blocks and a partial one (4,196 entries), and a small leaf (float32 state)
SHAPES = {name: {"w": (1049, 4), "b": (300,)} for name in __all__}

# bitsandbytes computes in float32 whatever the params' dtype, and so do these flavors by default
# (compute_dtype="float32"), but not in the same order of float32 operations (torch's fused
# addcdiv_ and mul_().add_() against the rule's lines), so a state entry next to a point of the
# lookup grid can take the neighbouring code, and the step there moves by up to half a code gap
# times the absmax. Measured on the oracle CLI's float64 params, 60 steps, seeds 0-2, SHAPES:
# worst update error 0.014 (Adam8bit, AdamW8bit), 1.1e-4 (RMSprop8bit), 4.0e-6 (SGD8bit), 0 (Lion8bit).
RTOL = {name: 0.05 for name in __all__}
# AdEMAMix keeps 32-bit state: only float32 rounding in another order, measured 1.3e-5..2.9e-5 over
# 50 steps, seeds 0-2 (tests/flavors/test_catalogue_16a.py)
RTOL["AdEMAMix"] = 1e-4

# what the README's storage table says each flavor was checked against
CHECKED = ("bitsandbytes 0.50.2 on CPU, each of 60 mixed steps from the library's state "
           "(tests/flavors/test_bitsandbytes.py): codes at most one apart (1 of 251,760 per buffer for Adam8bit, "
           "AdamW8bit and AdEMAMix8bit, 0 for the others), stored moments within the map's gap at each code "
           "times absmax, absmax 2 ulps, params 4 ulps")


def precision(attr: str) -> tuple[str, dict]:
    """bitsandbytes' float32 computation and 8-bit state, as these flavors model them by default,
    and the argument that computes in the params' dtype instead."""
    return ("bitsandbytes computes in float32 whatever the params' dtype, as the flavor does "
            "(compute_dtype='float32'); the state is stored as 8-bit codes"), {"compute_dtype": None}


# No examples yet: a test vector (refopt.vectors) holds float arrays only (vectors_format.ARRAY_DTYPES),
# and these states hold uint8 codes. The CLI still accepts every name in __all__.
EXAMPLES: dict = {}


# --- perturbations: python -m refopt.oracle --perturb ---------------------------------------

# bitsandbytes 0.36-0.41's unsigned map (refopt.storage.maps.bnb041_dynamic_map: it ends at 0.0933,
# so every s entry above 0.0933 of its block's absmax is stored too small), on the CPU lookup grid
BNB041_UNSIGNED = UNSIGNED.with_(name="bnb-0.41-udynamic8",
                                 table=tuple(float(v) for v in bnb041_dynamic_map(False)))


def _with_bnb041_map(flavor: Any) -> Any:
    """``flavor`` (Adam8bit or AdamW8bit) with the second moment stored on the 0.36-0.41 map."""
    def factory(**kwargs: Any) -> Any:
        flavor(**kwargs)  # the flavor's own checks of the arguments (amsgrad, optim_bits, args)
        bound = inspect.signature(flavor).bind(**kwargs)
        bound.apply_defaults()
        a = bound.arguments
        opt = torch_flavor.AdamW(lr=a["lr"], betas=a["betas"], eps=a["eps"], weight_decay=a["weight_decay"])
        return _store(opt, {"m": SIGNED, "s": BNB041_UNSIGNED}, a["min_8bit_size"], a["compute_dtype"])
    return factory


PERTURBATIONS = {"bnb-0.41-map": {"Adam8bit": _with_bnb041_map(Adam8bit),
                                  "AdamW8bit": _with_bnb041_map(AdamW8bit)}}
