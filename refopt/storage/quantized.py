r"""Quantized optimizer state: a rule's own step, with chosen buffers stored block-quantized.

``quantized(opt, maps={"m": "dynamic8", "s": "udynamic8"})`` is ``opt`` whose buffers ``m`` and
``s`` are kept as codes and per-block scales (``blockwise``). Each step, for every leaf:

.. math::

    \tilde m_{t-1} = Q[q^m_{t-1}]\, N^m_{t-1} \quad(\text{dequantize}) \\
    (w_t, m_t) = \mathrm{step}(w_{t-1}, g_t, \tilde m_{t-1}) \quad(\text{the rule's own code}) \\
    N^m_t = \max_{i \in b} |m_{t,i}| / Q_{top}, \quad q^m_t = \mathrm{nearest}(m_t / N^m_t)
    \quad(\text{requantize})

so the params move with the unrounded :math:`m_t` and only the stored state is rounded: the
order of bitsandbytes' CPU 8-bit blockwise step (``backends/cpu/ops.py``,
``_optimizer_update_8bit_blockwise_cpu``: dequantize, update in float32, write the params,
requantize) and of torchao's ``single_param_adam`` (the float32 moments are used for the step
and copied into the quantized buffers). Dettmers et al. (2022), "8-bit Optimizers via Block-wise
Quantization", arXiv 2110.02861, §2.

=================  ==================  =================================================
argument           default             meaning
=================  ==================  =================================================
``maps``           first buffer        buffer name -> ``blockwise.Scheme`` or a name of
                   ``dynamic8``,       ``blockwise.SCHEMES``; other buffers stay as the
                   second              rule keeps them (bitsandbytes' choice: a signed map
                   ``udynamic8``       for the first state, an unsigned for the second)
``block_size``     256                 entries per scale (bitsandbytes since 0.44; the
                                       paper 2048; torchao 4-bit 128)
``min_size``       4096                leaves with fewer entries keep the rule's buffers
``partial_blocks`` True                False: a leaf whose size is not a multiple of the
                                       block stays unquantized (torchao)
=================  ==================  =================================================

Rounding is to the nearest code; no reproduced scheme rounds states stochastically, so there
is no such option. The state is the rule's own state NamedTuple whose quantized leaves are
pairs ``(codes, scale)``: codes ``uint8`` (two 4-bit codes per byte), scale ``float32``, one
per block; it saves and loads as any refopt state. A buffer that starts at zero is stored
with scale 0 (every entry reads back as 0), as both libraries initialise it. An unsigned map
cannot hold a negative entry: requantizing one raises ``ValueError`` naming buffer and leaf,
instead of silently storing 0.
"""
from __future__ import annotations

from typing import Any, Mapping

from array_api_compat import array_namespace, size

from .. import tree
from ..core import Optimizer
from .blockwise import SCHEMES, Scheme, dequantize, n_blocks, n_bytes, quantize

__all__ = ["quantized", "is_quantized_leaf"]


def _scheme(field: str, s: Scheme | str) -> Scheme:
    if isinstance(s, Scheme):
        return s
    if s not in SCHEMES:
        raise ValueError(f"maps[{field!r}] must be a blockwise.Scheme or one of {sorted(SCHEMES)}, got {s!r}")
    return SCHEMES[s]


def _positive_int(name: str, x: Any, lo: int) -> int:
    if isinstance(x, bool) or not isinstance(x, int) or x < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {x!r}")
    return x


def is_quantized_leaf(x: Any) -> bool:
    """A state leaf stored as ``(codes, scale)``."""
    return isinstance(x, tuple) and not hasattr(x, "_fields") and len(x) == 2 \
        and all(hasattr(a, "shape") for a in x)


def quantized(opt: Optimizer, maps: Mapping[str, Scheme | str] | None = None, *, block_size: int = 256,
              min_size: int = 4096, partial_blocks: bool = True) -> Optimizer:
    """``opt`` with the buffers named in ``maps`` stored block-quantized (module docstring)."""
    block = _positive_int("block_size", block_size, 1)
    smallest = _positive_int("min_size", min_size, 0)
    if not isinstance(partial_blocks, bool):
        raise ValueError(f"partial_blocks must be True or False, got {partial_blocks!r}")
    schemes = None if maps is None else {f: _scheme(f, s) for f, s in dict(maps).items()}
    name = f"quantized({opt.name})"

    def chosen(state: Any) -> dict[str, Scheme]:
        fields = getattr(type(state), "_fields", ())[1:]
        if schemes is None:  # bitsandbytes: state1 signed, state2 unsigned
            return dict(zip(fields, (SCHEMES["dynamic8"], SCHEMES["udynamic8"])))
        missing = [f for f in schemes if f not in fields]
        if missing:
            raise TypeError(f"{name}: state is a {type(state).__name__}, which has no buffer "
                            f"{missing[0]!r} (buffers: {', '.join(fields) or 'none'})")
        return schemes

    def stored(w: Any) -> bool:
        return size(w) >= smallest and (partial_blocks or size(w) % block == 0)

    def columns(params: Any, state: Any, fields: dict) -> tuple[Any, list, dict]:
        spec = tree.structure(params)
        leaves = list(tree.leaves_with_paths(params))
        return spec, leaves, {f: tree.leaves_like(spec, getattr(state, f), f"state.{f}") for f in fields}

    def pack(params: Any, state: Any, clip: bool) -> Any:
        """``state`` with each stored leaf of the chosen buffers as ``(codes, scale)``."""
        fields = chosen(state)
        spec, leaves, cols = columns(params, state, fields)
        new = {}
        for f, scheme in fields.items():
            out = []
            for (path, w), buf in zip(leaves, cols[f]):
                where = f"state.{f}{tree.fmt_path(path)}"
                if not hasattr(buf, "shape") or not stored(w):
                    out.append(buf)  # an absent buffer (()) or a small leaf: as the rule keeps it
                    continue
                if tuple(buf.shape) != tuple(w.shape):
                    raise ValueError(f"{name}: {where} has shape {tuple(buf.shape)}, not the params' "
                                     f"{tuple(w.shape)}: only elementwise buffers can be quantized")
                if not scheme.sign_bit and scheme.table[0] >= 0 and bool(array_namespace(buf).any(buf < 0)):
                    raise ValueError(f"{name}: {where} has negative entries, which the unsigned map "
                                     f"{scheme.name} cannot hold")
                out.append(quantize(buf, scheme, block, clip=clip))
            new[f] = tree.unflatten(spec, out)
        return state._replace(**new)

    def check(where: str, w: Any, leaf: Any, scheme: Scheme) -> None:
        n = size(w)
        want = ((n_bytes(n, scheme.bits),), "uint8"), ((n_blocks(n, block),), "float32")
        ok = is_quantized_leaf(leaf) and all(
            tuple(a.shape) == shape and str(a.dtype).endswith(dtype) for a, (shape, dtype) in zip(leaf, want))
        if not ok:
            raise ValueError(f"{name}: {where} must be (codes, scale) with codes uint8 of shape "
                             f"{want[0][0]} and scale float32 of shape {want[1][0]} for a leaf of "
                             f"{n} entries, got {_describe(leaf)}")

    def unpack(params: Any, state: Any) -> Any:
        """``state`` with the stored leaves dequantized to arrays like their params leaf."""
        fields = chosen(state)
        spec, leaves, cols = columns(params, state, fields)
        new = {}
        for f, scheme in fields.items():
            out = []
            for (path, w), leaf in zip(leaves, cols[f]):
                if stored(w) and not (isinstance(leaf, tuple) and len(leaf) == 0):
                    check(f"state.{f}{tree.fmt_path(path)}", w, leaf, scheme)
                    leaf = dequantize(*leaf, scheme, block, like=w)
                out.append(leaf)
            new[f] = tree.unflatten(spec, out)
        return state._replace(**new)

    def init(params: Any) -> Any:
        return pack(params, opt.init(params), clip=False)

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, Any]:
        if not hasattr(type(state), "_fields"):
            raise TypeError(f"{name}: state is a {type(state).__name__}, not a refopt state")
        params_new, state_new = opt.step(params, grads, unpack(params, state), **extra)
        return params_new, pack(params, state_new, clip=True)

    settings = {"maps": {f: s.name for f, s in (schemes or {}).items()} or "bitsandbytes",
                "block_size": block, "min_size": smallest, "partial_blocks": partial_blocks}
    return Optimizer(name, init, step, {**opt.hyperparams, **settings}, opt.bounds)


def _describe(leaf: Any) -> str:
    if hasattr(leaf, "shape"):
        return f"an array of shape {tuple(leaf.shape)} and dtype {leaf.dtype}"
    if is_quantized_leaf(leaf):
        return ", ".join(f"{tuple(a.shape)} {a.dtype}" for a in leaf)
    return type(leaf).__name__
