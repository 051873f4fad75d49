r"""Code maps: the finite sets of values a quantized state may take, before scaling by its block.

A block of a state buffer is stored as integer codes :math:`q_i` and one scale :math:`N_b`; an
entry is read back as :math:`Q[q_i]\, N_b`. ``Q`` is one of:

- the **dynamic tree** map (Dettmers 2015, "8-Bit Approximations for Parallelism in Deep
  Learning", arXiv 1511.04561; used for optimizer states by Dettmers, Lewis, Shleifer &
  Zettlemoyer 2022, "8-bit Optimizers via Block-wise Quantization", arXiv 2110.02861, §2.2).
  A code's bits read, from the top: a sign bit (signed map only), a run of :math:`e` zero bits
  that sets the decade :math:`10^{-e}`, an indicator bit 1 that ends the run, and the
  remaining bits as a linear fraction in :math:`[0.1, 1]`. Each decade holds the midpoints of
  an even split of :math:`[0.1, 1]` into as many pieces as its fraction bits can count; 0 and 1
  are added. The unsigned map gives the sign bit to the fraction, so each decade holds twice
  as many values. 8 bits, 7 exponent bits: decades :math:`10^{-6} \dots 10^0`, 256 values;
  4 bits, 3 exponent bits (torchao's 4-bit first moment, Li, Chen & Zhu 2023, "Memory
  Efficient Optimizers with 4-bit States", arXiv 2309.01507): 16 values;
- a **linear** map :math:`k/2^b` for :math:`k = 1 \dots 2^b`, without 0 (Li et al.'s 4-bit
  second moment: no code is exactly 0, so no entry of :math:`\sqrt{s}` becomes 0);
- **FP8 E4M3** (``float8_e4m3fn``: 4 exponent bits, bias 7, 3 mantissa bits, no infinities,
  largest 448): a code is the byte's bit pattern, sign bit on top.

The dynamic map is defined by its float32 arithmetic: bitsandbytes and torchao build it with
torch's float32 ``linspace`` (its step rounded to float32, the points computed in float64 and
rounded), float32 midpoints and a float32 product with the decade. The same construction in
float64, rounded once at the end, differs in 72 of the 256 signed values (by one float32 ulp),
so ``dynamic_map`` follows the float32 steps (tests/storage/test_maps.py checks every value
against ``bitsandbytes.functional.create_dynamic_map`` and torchao's).

``bnb041_dynamic_map`` is the wrong map bitsandbytes 0.36-0.41 built (issues 227, 659; fixed in
0.41.1), kept as a perturbation for the oracle (``refopt.flavors.bitsandbytes.PERTURBATIONS``) and
measured by ``analysis.storage_runs``: the unsigned map counted its free sign bit twice and added its
"additional items" once per decade, 524 values of which the kernels read the lowest 256, so it ends
at 0.0933 instead of 1 (read from the 0.41 source; rebuilt here, no code copied).
"""
from __future__ import annotations

import numpy as np

__all__ = ["dynamic_map", "linear_map", "e4m3_magnitudes", "E4M3_MAX", "gaps", "bnb041_dynamic_map"]

F32 = np.float32
E4M3_MAX = 448.0   # the largest finite float8_e4m3fn: 1.75 * 2^8


def _linspace32(start: float, stop: float, num: int) -> np.ndarray:
    """torch.linspace in float32: the step rounded to float32, each point computed in float64
    from the nearer end (start for the first half, stop for the rest) and rounded."""
    a, b = F32(start), F32(stop)
    step = float((b - a) / F32(num - 1))
    i = np.arange(num)
    points = np.where(i < num // 2, float(a) + step * i, float(b) - step * (num - 1 - i))
    return points.astype(F32)


def dynamic_map(signed: bool = True, exponent_bits: int = 7, bits: int = 8) -> np.ndarray:
    """The dynamic tree map, ``2**bits`` float32 values sorted ascending (module docstring).

    Decade ``i`` (``10**(i - exponent_bits + 1)``, i = 0 the smallest) has ``fraction_bits``
    = ``i + bits - 1 - exponent_bits`` bits of fraction, one more if unsigned: its values are
    the midpoints of ``2**fraction_bits + 1`` evenly spaced points of [0.1, 1], times the decade.
    """
    if bits - 1 < exponent_bits:
        raise ValueError(f"exponent_bits must be at most bits - 1 = {bits - 1}, got {exponent_bits}")
    values = [F32(0.0), F32(1.0)]
    for i in range(exponent_bits):
        fraction_bits = i + (bits - 1) - exponent_bits + (0 if signed else 1)
        points = _linspace32(0.1, 1.0, 2**fraction_bits + 1)
        midpoints = (points[:-1] + points[1:]) / F32(2)
        decade = F32(10.0 ** (i - exponent_bits + 1)) * midpoints
        values += list(decade) + (list(-decade) if signed else [])
    # the exponent run that uses every bit leaves 2^(bits-1-exponent_bits) - 1 more codes: none here
    if len(values) != 2**bits:
        raise ValueError(f"dynamic_map(bits={bits}, exponent_bits={exponent_bits}) has "
                         f"{len(values)} values, not {2**bits}: only exponent_bits = bits - 1 is built")
    return np.sort(np.array(values, dtype=F32))


def linear_map(bits: int = 4) -> np.ndarray:
    """``k / 2**bits`` for k = 1 .. 2**bits, float32 (Li et al.'s unsigned map without zero)."""
    return (np.arange(1, 2**bits + 1) / 2.0**bits).astype(F32)


def e4m3_magnitudes() -> np.ndarray:
    """The 127 non-negative finite float8_e4m3fn values, indexed by their bit pattern 0 .. 126
    (pattern 127, exponent and mantissa all ones, is NaN). Subnormals ``m/8 * 2^-6``,
    normals ``(1 + m/8) * 2^(e - 7)``; bit patterns of non-negative floats sort as their values."""
    e, m = np.divmod(np.arange(127), 8)
    return np.where(e == 0, m / 8 * 2.0**-6, (1 + m / 8) * 2.0 ** (e - 7)).astype(F32)


def gaps(table: np.ndarray) -> np.ndarray:
    """For each value of a sorted map, the larger of the distances to its neighbours (one
    neighbour at the ends): a value rounded to its nearest code moves by at most half the gap
    of the interval it fell in, so half this is the worst rounding error next to that code."""
    d = np.diff(table.astype(np.float64))
    return np.maximum(np.concatenate([d[:1], d]), np.concatenate([d, d[-1:]]))


def bnb041_dynamic_map(signed: bool = False) -> np.ndarray:
    """The 8-bit dynamic map as bitsandbytes 0.36-0.41 built it (module docstring), float32 as
    ``dynamic_map``: the unsigned map counts its free sign bit twice (2^(i+2) values in decade
    10^(i-6)) and adds its 2 'additional' midpoints of linspace(0.1, 1, 3) in every decade; the
    signed map has no additional items (it equals ``dynamic_map(True)``). Sorted, the first 256
    (all the kernels read)."""
    values = [F32(0.0), F32(1.0)]
    for i in range(7):
        decade = F32(10.0 ** (i - 6))
        for count in (2**i + 1,) if signed else (2 ** (i + 2) + 1, 3):
            points = _linspace32(0.1, 1.0, count)
            mids = decade * ((points[:-1] + points[1:]) / F32(2))
            values += list(mids) + (list(-mids) if signed else [])
    return np.sort(np.array(values, dtype=F32))[:256]
