r"""Same math, different storage (notes, line 61: "8-bit / quantized states: same formulas,
compressed state tensors for memory savings"), measured on ``refopt.storage.quantized`` around
the real ``refopt.adam``.

Block-wise quantization (Dettmers, Lewis, Shleifer & Zettlemoyer 2022, "8-bit Optimizers via
Block-wise Quantization", arXiv 2110.02861, §2; 4-bit: Li, Chen & Zhu 2023, arXiv 2309.01507)
stores a buffer of n entries as codes of b bits and one float32 scale per block of B entries:

.. math::  \text{bytes per param} = \sum_{\text{buffers}} \bigl(b/8 + 4/B\bigr),

so Adam's two buffers take 8 B in float32, 2 + 8/B at 8 bits and FP8, 1 + 8/B at 4 bits.

Rounding bound. An entry x of a block with scale N is stored as the code q nearest to y = x/N
in the sorted map Q. If Q_j <= y <= Q_{j+1}, the nearest of the two is at most half their gap
away, |Q_q - y| <= (Q_{j+1} - Q_j)/2; multiplying by N (> 0), |Q_q N - x| <= N gap(y)/2. Outside
[Q_0, Q_top] the end code is nearest and the error is the distance to it (the linear 4-bit map
has no 0: a zero second moment is stored as N/16). Only the stored state is rounded (the params
move with the unrounded one, ``quantized``), and the bound holds for each step's requantization,
not for the error accumulated over steps. bitsandbytes' CPU lookup grid (``lut_bins``) rounds
y to a grid of spacing 3.05e-5 first, so it is not nearest-code and is measured apart.

Trajectories and the bitsandbytes 0.36-0.41 map: ``analysis.storage_runs``.
"""
from __future__ import annotations

import numpy as np

import refopt
from refopt.oracle.streams import mixed_gradients
from refopt.storage import SCHEMES, Scheme, dequantize, is_quantized_leaf, quantize, quantized

from .claim import Verdict, claim

F32 = np.float32
SOURCE_LINE = 61
KINDS = {"8-bit": {"m": "dynamic8", "s": "udynamic8"}, "4-bit": {"m": "dynamic4", "s": "linear4"},
         "fp8": {"m": "e4m3", "s": "e4m3"}}
BLOCKS = (256, 2048)


def q_adam(maps_: dict, block: int, lr: float = 1e-3):
    """refopt.adam with m and s block-quantized; min_size 0: every leaf stored, small ones too."""
    return quantized(refopt.adam(lr=lr), maps=maps_, block_size=block, min_size=0)


# --- 1. bytes -------------------------------------------------------------------------------

def state_bytes(state) -> int:
    """nbytes of the state's per-parameter buffers (m, s): codes + scales, or the arrays."""
    total = 0
    for f in type(state)._fields[1:]:
        leaf = getattr(state, f)
        total += sum(a.nbytes for a in leaf) if is_quantized_leaf(leaf) else leaf.nbytes
    return total


def closed_form_bytes(kind: str, block: int) -> float:
    """Bytes per parameter by the formula of the module docstring (b bits per code)."""
    return {"float32": 8.0, "8-bit": 2 + 8 / block, "4-bit": 1 + 8 / block, "fp8": 2 + 8 / block}[kind]


@claim("storage-bytes-per-param",
       "8-bit / quantized states: same formulas, compressed state tensors for memory savings "
       "(Adam: 8 B per parameter in float32; 8-bit and FP8 2 + 8/block, 4-bit 1 + 8/block)",
       source_line=SOURCE_LINE)
def storage_bytes(quick: bool) -> Verdict:
    n = 2**16 if quick else 2**22  # a multiple of every block: no partial block
    w = np.zeros(n, dtype=F32)
    g = np.random.default_rng(0).standard_normal(n).astype(F32)
    figures, worst = {}, 0.0
    runs = [("float32", 0, refopt.adam(lr=1e-3))] + [
        (k, b, q_adam(m, b)) for k, m in KINDS.items() for b in BLOCKS]
    for kind, block, opt in runs:
        _, state = opt.step(w, g, opt.init(w))
        per = state_bytes(state) / n
        name = kind if kind == "float32" else f"{kind}_block{block}"
        figures[f"bytes_per_param_{name}"] = per
        worst = max(worst, abs(per - closed_form_bytes(kind, block or 1)))
    figures["max_abs_diff_bytes_vs_closed_form"] = worst
    figures["saving_8bit_block256"] = 8.0 / figures["bytes_per_param_8-bit_block256"]
    return Verdict("holds" if worst == 0 else "false", figures, key="bytes_per_param_8-bit_block256",
                   detail=(
        f"Holds to the byte: on a leaf of {n} entries quantized Adam's state arrays take, per "
        f"parameter, {figures['bytes_per_param_8-bit_block256']:g} B at 8 bits (block 256; "
        f"{figures['bytes_per_param_8-bit_block2048']:g} at 2048), {figures['bytes_per_param_4-bit_block256']:g} "
        f"at 4 bits, {figures['bytes_per_param_fp8_block256']:g} in FP8, against 8 in float32 (a "
        f"{figures['saving_8bit_block256']:.2f}x saving): b/8 per code and 4/block per float32 "
        f"absmax, for each of m and s (largest difference {worst:g} B; t is one integer per state)."))


# --- 2. rounding bound ----------------------------------------------------------------------

def block_absmax(x: np.ndarray, block: int) -> np.ndarray:
    """Each entry's block absmax, rounded to float32 as the scale is stored, in float64."""
    x = np.abs(np.ravel(x)).astype(np.float64)
    amax = np.concatenate([x, np.zeros(-x.size % block)]).reshape(-1, block).max(axis=1)
    return np.repeat(amax.astype(F32).astype(np.float64), block)[:x.size]


def rounding_bound(x: np.ndarray, scheme: Scheme, block: int) -> np.ndarray:
    """N gap(x/N)/2 for each entry (module docstring), in float64, plus the float32 rounding of
    y = x/N and of Q N (2^-23 |x|: each is one rounding of relative size 2^-24)."""
    x, scale = x.astype(np.float64).ravel(), block_absmax(x, block) / scheme.top
    y = np.divide(x, scale, out=np.zeros_like(x), where=scale > 0)
    y = np.abs(y) if scheme.sign_bit else y
    t = np.asarray(scheme.table, dtype=np.float64)
    j = np.clip(np.searchsorted(t, y, side="right") - 1, 0, t.size - 2)
    outside = np.maximum(np.maximum(t[0] - y, y - t[-1]), 0.0)
    half = np.where(outside > 0, outside, (t[j + 1] - t[j]) / 2)
    return half * scale + 2.0**-23 * np.abs(x)


def requantization_ratios(schemes: dict, block: int, steps: int, n: int) -> dict[str, float]:
    """max over steps and entries of |stored - exact| / bound for each buffer, where exact is
    the unrounded m_t, s_t that refopt.adam computes from the dequantized previous state, and
    stored what refopt.storage.quantized keeps of it; plus the params' largest difference
    from that unrounded step (0: the params move with the unrounded state)."""
    base = refopt.adam(lr=1e-3)
    opt = quantized(base, maps=schemes, block_size=block, min_size=0)
    w = np.zeros(n, dtype=F32)
    state, worst, w_diff = opt.init(w), {f: 0.0 for f in schemes}, 0.0
    for g in mixed_gradients(w, steps, seed=3):
        plain = state._replace(**{f: dequantize(*getattr(state, f), schemes[f], block, like=w)
                                  for f in schemes})
        w_exact, exact = base.step(w, g, plain)
        w, state = opt.step(w, g, state)
        w_diff = max(w_diff, float(np.max(np.abs(w - w_exact))))
        for f, s in schemes.items():
            x = getattr(exact, f)
            err = np.abs(dequantize(*getattr(state, f), s, block, like=w).astype(np.float64) - x)
            # an all-zero block has bound 0 and must have error 0: 1e-300 keeps that a ratio
            worst[f] = max(worst[f], float(np.max(err / np.maximum(rounding_bound(x, s, block), 1e-300))))
    return {**worst, "params": w_diff}


def lut_excess(scheme: Scheme, steps: int, n: int, block: int = 256) -> tuple[float, float]:
    """The largest error beyond the nearest-code bound, over the block absmax, of ``scheme``
    with bitsandbytes' CPU lookup grid (65536 points) requantizing the exact m_t of
    refopt.adam: (for entries >= 1e-4 of the absmax, for those below)."""
    lut = scheme.with_(name=scheme.name + "-lut", lut_bins=65536)
    base, w = refopt.adam(lr=1e-3), np.zeros(n, dtype=F32)
    state, excess, below = base.init(w), 0.0, 0.0
    for g in mixed_gradients(w, steps, seed=3):
        w, state = base.step(w, g, state)
        x = state.m
        stored = dequantize(*quantize(x, lut, block), lut, block, like=x).astype(np.float64)
        amax = np.maximum(block_absmax(x, block), 1e-300)
        over = (np.abs(stored - x) - rounding_bound(x, scheme, block)) / amax
        small = np.abs(x) < 1e-4 * amax
        excess = max(excess, float(np.max(over[~small], initial=0.0)))
        below = max(below, float(np.max(over[small], initial=0.0)))
    return excess, below


@claim("storage-error-bound",
       "8-bit / quantized states: same formulas, compressed state tensors: each requantization "
       "moves a state entry by at most half the map's gap at x/N times the block's absmax N",
       source_line=SOURCE_LINE)
def storage_error_bound(quick: bool) -> Verdict:
    steps, n = (60, 4096) if quick else (400, 16384)
    figures, worst, w_diff = {}, 0.0, 0.0
    for kind, names in KINDS.items():
        schemes = {f: SCHEMES[s] for f, s in names.items()}
        for block in BLOCKS:
            r = requantization_ratios(schemes, block, steps, n)
            for f in schemes:
                figures[f"max_error_over_bound_{kind}_{f}_block{block}"] = r[f]
                worst = max(worst, r[f])
            w_diff = max(w_diff, r["params"])
    figures["max_error_over_bound"] = worst
    figures["max_param_diff_vs_unrounded_step"] = w_diff
    figures["lut_excess_over_absmax_dynamic8"], figures["lut_excess_over_absmax_dynamic8_below_1e-4"] = \
        lut_excess(SCHEMES["dynamic8"], steps, n)
    ok = worst <= 1.0 and w_diff == 0.0
    return Verdict("holds" if ok else "false", figures, key="max_error_over_bound", detail=(
        f"Holds for the nearest-code schemes: over {steps} steps of the mixed gradient stream "
        f"({n} entries; dense, sparse and spiking steps) every requantization of m and s stayed "
        f"within N gap(x/N)/2 (largest ratio {worst:.4f}; the bound is nearly attained) for the "
        "8-bit dynamic maps, the 4-bit dynamic/linear pair and FP8 E4M3, blocks 256 and 2048. "
        "The params moved exactly as the unrounded step moves them (largest difference "
        f"{w_diff:g}). The bound is per step: the rounding error enters the next step's state. "
        "bitsandbytes' CPU lookup grid (65536 points, spacing 3.05e-5) is not nearest-code: it "
        f"exceeds the bound by up to {figures['lut_excess_over_absmax_dynamic8']:.2e} of the absmax "
        "(y moved to a grid point near a midpoint) and by up to "
        f"{figures['lut_excess_over_absmax_dynamic8_below_1e-4']:.2e} for entries under 1e-4 of it, "
        "where the map is finer than the grid."))
