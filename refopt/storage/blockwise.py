r"""Block-wise quantization of one array: codes and a scale per block, and back.

Dettmers et al. (2022), "8-bit Optimizers via Block-wise Quantization", arXiv 2110.02861, §2.1:
the flattened array :math:`x` is cut into blocks of :math:`B` entries (the last may be shorter),
each with its own scale :math:`N_b = \max_{i \in b} |x_i| / Q_{top}`, and each entry is stored as
the index of the nearest value of the code map :math:`Q`:

.. math::

    q_i = \arg\min_j \bigl|Q_j - x_i / N_b\bigr|, \qquad \tilde x_i = Q_{q_i} N_b .

:math:`Q_{top}` is 1 for the dynamic and linear maps (so :math:`N_b` is the block's absmax) and
448 for FP8 E4M3. With :math:`x_i/N_b` between neighbours :math:`Q_j \le x_i/N_b \le Q_{j+1}`, the
error is at most half their gap: :math:`|\tilde x_i - x_i| \le \tfrac12 (Q_{j+1}-Q_j) N_b`.

Where the two distances are equal, schemes differ: bitsandbytes' CUDA kernel keeps the lower
code, torchao takes the upper, FP8 the even bit pattern (IEEE round to nearest even). The
distances are differences of neighbouring float values, exact in float32 (Sterbenz), so these
are the only places the choice matters.

bitsandbytes 0.50's CPU kernel does not search the map: it multiplies by ``1/absmax``, rounds
the result to one of 65536 evenly spaced points of [-1, 1] (spacing 2/65535 = 3.05e-5) and
reads the code of that point from a table (``lut_bins=65536`` here; measured equal to
``bitsandbytes.functional.quantize_blockwise`` on CPU for every one of 204,800 values spread
over nine decades, tests/storage/test_maps.py). It is not the nearest code wherever a value
lies within half a point's spacing of a midpoint between two codes, at any magnitude (the point's
code is its own nearest, not the value's), and wholesale where the map's gap is finer than the
spacing, below about 1e-4 of the absmax: an exact 0 in a block with a nonzero entry is stored as
the code next to 1.5e-5. ``analysis/storage.py`` measures the excess over the nearest-code bound:
up to 1.5e-5 of the absmax, 2.1e-5 below 1e-4 of it.
Everything is Array API: NumPy, CuPy, array-api-strict, torch.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from array_api_compat import array_namespace, device, size

from . import maps

__all__ = ["Scheme", "quantize", "dequantize", "n_blocks", "n_bytes", "SCHEMES"]

TIES = ("down", "up", "even")


@dataclass(frozen=True)
class Scheme:
    """How one buffer is stored. ``table`` is the sorted map searched for the nearest value
    (the magnitudes where ``sign_bit``: then the code's top bit holds the sign); ``bits`` per
    code (4: two codes per byte, the first in the high nibble); ``top`` is :math:`Q_{top}`;
    ``floor`` clips the absmax from below before it becomes a scale (torchao 1e-12);
    ``lut_bins`` > 0 looks codes up at that many evenly spaced points of [-1, 1] instead of
    searching the map (bitsandbytes' CPU kernel, 65536; module docstring)."""
    name: str
    table: tuple
    bits: int = 8
    ties: str = "down"
    top: float = 1.0
    floor: float = 0.0
    sign_bit: bool = False
    lut_bins: int = 0

    def __post_init__(self):
        if self.bits not in (4, 8):
            raise ValueError(f"{self.name}: bits must be 8 or 4, got {self.bits!r}")
        if self.ties not in TIES:
            raise ValueError(f"{self.name}: ties must be one of {TIES}, got {self.ties!r}")
        if len(self.table) > (2 ** (self.bits - 1) if self.sign_bit else 2**self.bits):
            raise ValueError(f"{self.name}: {len(self.table)} values do not fit in {self.bits} bits")

    @property
    def values(self) -> np.ndarray:
        """code -> value, float32: the table itself, or for ``sign_bit`` the magnitudes then
        their negatives at code + 2**(bits - 1)."""
        t = np.asarray(self.table, dtype=np.float32)
        if not self.sign_bit:
            return t
        pad = np.full(2 ** (self.bits - 1) - len(t), np.nan, dtype=np.float32)
        return np.concatenate([t, pad, -t, pad])

    def lut(self) -> np.ndarray:
        """point k of ``lut_bins`` -> its code (the table bitsandbytes' CPU kernel builds)."""
        return _lut(self.table, self.lut_bins)

    def with_(self, **changes: Any) -> "Scheme":
        return type(self)(**{**self.__dict__, **changes})


@lru_cache(maxsize=8)
def _lut(table: tuple, bins: int) -> np.ndarray:
    """The number of midpoints of neighbouring map values below each of ``bins`` evenly spaced
    points of [-1, 1], all in float32."""
    t = np.asarray(table, dtype=np.float32)
    midpoints = np.float32(0.5) * (t[:-1] + t[1:])
    k = np.arange(bins).astype(np.float32)
    points = np.float32(-1.0) + np.float32(2.0) * k / np.float32(bins - 1)
    return np.searchsorted(midpoints, points, side="left").astype(np.uint8)


def _table(table: np.ndarray) -> tuple:
    return tuple(float(v) for v in table)


SCHEMES = {
    "dynamic8": Scheme("dynamic8", _table(maps.dynamic_map(True))),
    "udynamic8": Scheme("udynamic8", _table(maps.dynamic_map(False))),
    "dynamic4": Scheme("dynamic4", _table(maps.dynamic_map(True, 3, 4)), bits=4),
    "linear4": Scheme("linear4", _table(maps.linear_map(4)), bits=4),
    "e4m3": Scheme("e4m3", _table(maps.e4m3_magnitudes()), ties="even", top=maps.E4M3_MAX,
                   sign_bit=True),
}


def n_blocks(n: int, block: int) -> int:
    return -(-n // block)


def n_bytes(n: int, bits: int) -> int:
    return -(-n * bits // 8)


def _nearest(xp, y, table, ties: str):
    """Index of the nearest entry of the sorted 1-D ``table`` to each entry of the 1-D ``y``."""
    lo = xp.searchsorted(table, y, side="right") - 1
    lo = xp.clip(lo, 0, table.shape[0] - 2)
    hi = lo + 1
    d_lo = y - xp.take(table, lo)        # negative only below the smallest value: keep lo
    d_hi = xp.take(table, hi) - y        # negative only above the largest: take hi
    if ties == "down":
        up = d_hi < d_lo
    elif ties == "up":
        up = d_hi <= d_lo
    else:
        up = (d_hi < d_lo) | ((d_hi == d_lo) & (hi % 2 == 0))
    return xp.where(up, hi, lo)


def quantize(x: Any, scheme: Scheme, block: int, clip: bool = True) -> tuple[Any, Any]:
    """``(codes, scale)`` of the array ``x``: codes uint8 of shape ``(n_bytes(n, bits),)`` and
    one float32 scale per block. ``clip=False`` skips the scheme's floor (a buffer that starts
    at zero is stored with scale 0, as the libraries initialise it)."""
    xp = array_namespace(x)
    n = size(x)
    flat = xp.reshape(x, (n,))
    nb = n_blocks(n, block)
    padded = xp.concat([flat, xp.zeros(nb * block - n, dtype=x.dtype, device=device(x))])
    absmax = xp.max(xp.abs(xp.reshape(padded, (nb, block))), axis=1)
    if clip and scheme.floor > 0:
        absmax = xp.maximum(absmax, xp.asarray(scheme.floor, dtype=x.dtype, device=device(x)))
    scale = xp.astype(xp.astype(absmax, xp.float32) / scheme.top, xp.float32)
    per_entry = xp.reshape(xp.broadcast_to(xp.astype(scale, x.dtype)[:, None], (nb, block)), (nb * block,))
    safe = xp.where(per_entry > 0, per_entry, xp.ones_like(per_entry))
    if scheme.lut_bins:
        codes = _looked_up(xp, padded * (1.0 / safe), scheme, device(x))
        codes = xp.where(per_entry > 0, codes, xp.zeros_like(codes))  # an all-zero block: code 0
        return _packed(xp, xp.astype(codes[:n], xp.uint8), scheme, device(x)), scale
    y = xp.where(per_entry > 0, padded / safe, xp.zeros_like(padded))  # an all-zero block: 0
    table = xp.asarray(np.asarray(scheme.table), dtype=x.dtype, device=device(x))
    if scheme.sign_bit:
        codes = _nearest(xp, xp.abs(y), table, scheme.ties)
        codes = xp.where(xp.signbit(y), codes + 2 ** (scheme.bits - 1), codes)
    else:
        codes = _nearest(xp, y, table, scheme.ties)
    return _packed(xp, xp.astype(codes[:n], xp.uint8), scheme, device(x)), scale


def _looked_up(xp, y, scheme: Scheme, dev):
    """bitsandbytes' CPU lookup: y clipped to [-1, 1], then point ``(y + 1)/2 (bins - 1) + 1/2``
    truncated, each operation rounded in y's dtype as the kernel rounds in float32."""
    y = xp.clip(y, -1.0, 1.0)
    k = xp.astype(((y + 1.0) * 0.5) * float(scheme.lut_bins - 1) + 0.5, xp.int64)
    return xp.take(xp.asarray(scheme.lut(), device=dev), k)


def _packed(xp, codes, scheme: Scheme, dev):
    """4-bit codes two to a byte, the first in the high nibble (torchao's packing)."""
    if scheme.bits == 8:
        return codes
    if codes.shape[0] % 2:
        codes = xp.concat([codes, xp.zeros(1, dtype=xp.uint8, device=dev)])
    return (codes[0::2] << 4) | codes[1::2]


def dequantize(codes: Any, scale: Any, scheme: Scheme, block: int, like: Any) -> Any:
    """The array of ``like``'s shape and dtype that ``(codes, scale)`` stand for:
    ``values[code] * scale``, the product taken in float32 as the libraries take it."""
    xp = array_namespace(codes, scale)
    n = size(like)
    if scheme.bits == 4:
        pairs = xp.stack([codes >> 4, codes & 15], axis=1)
        codes = xp.reshape(pairs, (2 * codes.shape[0],))
    values = xp.asarray(scheme.values, dtype=xp.float32, device=device(codes))
    v = xp.take(values, xp.astype(codes[:n], xp.int64))
    nb = scale.shape[0]
    per_entry = xp.reshape(xp.broadcast_to(scale[:, None], (nb, block)), (nb * block,))[:n]
    return xp.reshape(xp.astype(v * per_entry, like.dtype), like.shape)
