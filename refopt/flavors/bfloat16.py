r"""Newton-Schulz in bfloat16 as torch and pytorch-optimizer compute it on a CPU, emulated with
NumPy and ml_dtypes.

``torch.optim.Muon`` (``_zeropower_via_newtonschulz``) and pytorch-optimizer's Muon, NorMuon and
MARS (``zero_power_via_newton_schulz_5``) cast the matrix to bfloat16 and iterate there:

.. math::

    X_0 = \mathrm{bf}(G) / \max(\mathrm{bf}\lVert \mathrm{bf}(G)\rVert_F, \epsilon), \quad
    A = \mathrm{bf}(X X^\top), \quad
    B = \mathrm{bf}(b A + c\,A A), \quad
    X \leftarrow \mathrm{bf}(a X + B X)

where :math:`\mathrm{bf}` rounds to bfloat16 (8 significant bits, nearest, ties to even). What
torch 2.13 does inside each :math:`\mathrm{bf}(\cdot)` was found by experiment on bfloat16 CPU
tensors (tests/flavors/test_bfloat16_muon.py keeps the experiments that tell the candidates
apart):

* the cast from float64 goes through float32 (``c10::BFloat16`` is built from a ``float``): two
  roundings, which differ from one direct rounding (ml_dtypes' float64 cast) near ties;
* elementwise operations (the division by the norm) and a Python scalar times a tensor compute in
  float32 with the scalar rounded to float32 (not to bfloat16), then round once;
* the norm accumulates in float32 and rounds once; ``clamp(min=eps)`` compares with
  :math:`\mathrm{bf}(\epsilon)`;
* a product of two bfloat16 numbers is exact in float32, and the matmul sums these products in
  float32. The order of that sum is the kernel's: oneDNN's AVX512-BF16 kernel (``vdpbf16ps``)
  adds each pair of terms odd index first, pair after pair, and this is what ``matmul`` below
  does. Other kernels (smaller products, CPUs without AVX512-BF16) sum in other orders: the
  results then differ from this emulation in the last bit of a few outputs;
* ``addmm(C, A, B, beta, alpha)`` rounds :math:`t = \alpha\,(AB)` to float32, forms
  :math:`\beta C + t` with one float32 rounding (a fused multiply-add) and rounds that once to
  bfloat16; torch's Muon writes its two lines with it, so :math:`bA + cAA` and :math:`aX + BX`
  are each one bfloat16 rounding, not three.

Arrays here are float32 NumPy arrays that hold bfloat16 values (every ``bf`` result is exact in
float32), which keeps the float32 arithmetic of the framework explicit.
"""
from __future__ import annotations

import ml_dtypes
import numpy as np

from ..rules import ns_presets

__all__ = ["DTYPES", "bf", "from_float64", "matmul", "addmm", "newton_schulz", "scaled"]

DTYPES = ("bfloat16", "float64")  # the values of the flavors' ``newton_schulz_dtype``
_F32 = np.float32


def bf(x):
    """Round float32 values to bfloat16 (nearest, ties to even), returned as float32."""
    return np.asarray(x, dtype=_F32).astype(ml_dtypes.bfloat16).astype(_F32)


def from_float64(x):
    """torch's ``Tensor.bfloat16()`` of a float64 tensor: to float32 first, then to bfloat16."""
    return bf(np.asarray(x, dtype=np.float64).astype(_F32))


def matmul(a, b):
    """The float32 sum of the (exact) products of bfloat16 ``a`` (m, k) and ``b`` (k, n), not
    rounded: terms 1, 0, 3, 2, 5, 4, ... in that order, one float32 rounding per addition."""
    k = a.shape[1]
    order = [j for i in range(0, k, 2) for j in ((i + 1, i) if i + 1 < k else (i,))]
    total = np.zeros((a.shape[0], b.shape[1]), dtype=_F32)
    for j in order:
        total = total + np.multiply.outer(a[:, j], b[j, :])  # float32 product: exact
    return total


def addmm(c, a, b, beta, alpha=1.0):
    """torch's bfloat16 ``addmm``: bf(fma(beta, c, f32(alpha * (a @ b)))) with float32 scalars."""
    t = (_F32(alpha) * matmul(a, b)).astype(np.float64)
    fused = np.float64(_F32(beta)) * c.astype(np.float64) + t  # exact in float64: one rounding below
    return bf(fused.astype(_F32))


def frobenius(x):
    """bf(||x||_F), the norm accumulated in float32 (here exactly, then rounded to float32)."""
    return bf(_F32(np.sqrt(np.sum(np.square(x.astype(np.float64))))))


def newton_schulz(G, steps=5, coefficients=(3.4445, -4.7750, 2.0315), eps=1e-7):
    """torch's ``_zeropower_via_newtonschulz`` (and pytorch-optimizer's
    ``zero_power_via_newton_schulz_5``, the same operations) on a float64 NumPy matrix ``G``;
    returns the bfloat16 result as float64 (exact), as the frameworks' ``update`` enters the
    float64 parameter."""
    if not isinstance(G, np.ndarray) or G.ndim != 2:
        raise TypeError(f"the bfloat16 Newton-Schulz emulation takes a 2-D NumPy array, got "
                        f"{type(G).__name__} of shape {getattr(G, 'shape', None)}")
    triples = ns_presets.unscaled_schedule(coefficients, steps, "the bfloat16 emulation")
    X = from_float64(G)
    tall = X.shape[0] > X.shape[1]
    X = X.T if tall else X
    X = bf(X / np.maximum(frobenius(X), bf(_F32(eps))))
    for a, b, c in triples:
        A = bf(matmul(X, X.T))
        B = addmm(A, A, A, beta=b, alpha=c)
        X = addmm(X, B, X, beta=a)
    X = X.T if tall else X
    return np.ascontiguousarray(X, dtype=np.float64)


def scaled(x, s):
    """torch's ``x.mul_(s)`` on a bfloat16 ``x`` with a Python float ``s``: bf(f32(s) * x)."""
    return bf(_F32(s) * np.asarray(x, dtype=_F32)).astype(np.asarray(x).dtype)
