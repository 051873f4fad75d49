"""Which array library a leaf comes from, and the dtype policy.

Rules call ``array_namespace`` (array-api-compat) and then use only functions of the
Python Array API standard, so one source runs on NumPy, CuPy, array-api-strict, torch
and JAX. Python floats meet arrays without promoting them: float32 in, float32 out.
"""
from __future__ import annotations

import contextlib
import sys
from typing import Any

import numpy as np
import array_api_compat
from array_api_compat import device, is_array_api_obj, is_cupy_array, is_torch_array

__all__ = ["array_namespace", "check_leaf", "check_buffer", "to_numpy", "zeros_like",
           "is_real_floating", "finfo", "article", "as_array_like", "no_grad",
           "accumulator", "rounded", "c_order", "unless_overflowed", "check_full_precision"]


_NUMPY = array_api_compat.array_namespace(np.empty(0))


def array_namespace(*arrays: Any) -> Any:
    """array-api-compat's ``array_namespace``, with all-NumPy arguments answered at once: it
    is asked once or more per leaf per step, and its general search costs about 2 us a call,
    as much as the arithmetic of a 1000-element leaf."""
    if arrays and all(type(x) is np.ndarray for x in arrays):
        return _NUMPY
    return array_api_compat.array_namespace(*arrays)


def _namespace(path: str, *arrays: Any, what: str = ""):
    try:
        return array_namespace(*arrays)
    except TypeError as err:
        raise TypeError(f"{what + ' ' if what else ''}leaf {path}: arrays come from different "
                        f"libraries ({err})") from None


def _ml_bfloat16(dtype: Any) -> bool:
    """NumPy arrays of ml_dtypes' bfloat16 (JAX's bfloat16 on the host). ml_dtypes is looked
    up, not imported: if it is not loaded yet, no array of its dtypes can exist."""
    ml_dtypes = sys.modules.get("ml_dtypes")
    # a NumPy dtype only: other libraries' dtype objects (array-api-strict's) warn when compared
    return ml_dtypes is not None and isinstance(dtype, np.dtype) and dtype == ml_dtypes.bfloat16


def is_real_floating(xp: Any, dtype: Any) -> bool:
    """The Array API's "real floating", plus bfloat16 where NumPy's ``isdtype`` refuses it.
    (Other ml_dtypes, the float8 formats, are not accepted: no rule is tested in them.)"""
    if isinstance(dtype, np.dtype) and dtype.kind == "f":  # NumPy's (and JAX's) floats, at once
        return True
    try:
        return bool(xp.isdtype(dtype, "real floating"))
    except TypeError:  # numpy.isdtype: "dtype argument must be a NumPy dtype"
        return _ml_bfloat16(dtype)


def finfo(w: Any) -> Any:
    """Machine limits of ``w``'s dtype (``numpy.finfo`` does not know ml_dtypes' bfloat16)."""
    if _ml_bfloat16(w.dtype):
        return sys.modules["ml_dtypes"].finfo(w.dtype)
    return array_namespace(w).finfo(w.dtype)


def _not_an_array(name: str, path: str, x: Any) -> TypeError:
    hint = ""
    if isinstance(x, (int, float, complex)):  # e.g. the entries of a Python list, a tree node
        hint = (" (refopt reads a list or tuple as a container of leaves, so a list of numbers"
                " is a list of non-array leaves: pass an array, e.g. np.asarray(...))")
    return TypeError(f"{name} leaf {path} is {article(type(x).__name__)}, not an array{hint}")


def article(word: str) -> str:
    """``"an AdamState"``, ``"a MuonState"``: the indefinite article by the first letter."""
    return f"{'an' if word[:1].lower() in 'aeiou' else 'a'} {word}"


def check_leaf(path: str, w: Any, g: Any, what: str = "grads") -> None:
    """A parameter and the array beside it (``what``: the gradient, or an extra tree such as
    Sophia's ``hess``): same library, real floating dtype, same dtype and shape."""
    for name, x in (("params", w), (what, g)):
        if not is_array_api_obj(x):
            raise _not_an_array(name, path, x)
    xp = _namespace(path, w, g, what=what)
    if not is_real_floating(xp, w.dtype):
        raise TypeError(f"params leaf {path} has dtype {w.dtype}; a real floating dtype is needed")
    if g.dtype != w.dtype:
        raise TypeError(f"{what} leaf {path} has dtype {g.dtype}, params have {w.dtype}")
    if tuple(g.shape) != tuple(w.shape):
        raise ValueError(f"{what} leaf {path} has shape {tuple(g.shape)}, "
                         f"params have {tuple(w.shape)} (no broadcasting)")


def check_full_precision(rule: str, title: str, path: str, w: Any, needs: str) -> None:
    """Refuse a leaf below float32 for a rule whose linear algebra (``needs``) has no float16 or
    bfloat16 version in NumPy, torch or JAX."""
    xp = array_namespace(w)
    if w.dtype not in (xp.float32, xp.float64):
        raise ValueError(f"{rule}: params leaf {path} has dtype {w.dtype}; {title} needs float32 "
                         f"or float64 ({needs} have no half-precision version)")


def check_buffer(path: str, field: str, w: Any, buf: Any) -> None:
    """A state buffer must live with its parameter: same library and dtype."""
    if not is_array_api_obj(buf):
        raise TypeError(f"state.{field} leaf {path} is {article(type(buf).__name__)}, not an array")
    _namespace(path, w, buf, what=f"state.{field}")
    if buf.dtype != w.dtype:
        raise TypeError(f"state.{field} leaf {path} has dtype {buf.dtype}, params have {w.dtype}")


def to_numpy(x: Any) -> np.ndarray:
    """A host NumPy copy of any supported array (for saving and comparing)."""
    if is_cupy_array(x):
        return x.get()
    if is_torch_array(x):
        return x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return x
    return np.from_dlpack(x)


def zeros_like(w: Any) -> Any:
    """A zero buffer with ``w``'s shape, dtype, library and device (the usual m_0, s_0)."""
    return array_namespace(w).zeros_like(w)


def as_array_like(w: Any, x: Any) -> Any:
    """``x`` (an output of a rule's math, or a tuple of them) as arrays of ``w``'s library.

    NumPy turns 0-d results into NumPy scalars (``np.ones(()) * 2.0`` is an ``np.float64``);
    they are made 0-d arrays again, keeping their dtype, so a 0-d leaf stays a 0-d array.
    """
    if isinstance(x, tuple):
        return tuple(as_array_like(w, b) for b in x)
    if isinstance(x, np.generic):
        return np.asarray(x)
    if not is_array_api_obj(x):  # a Python number from a rule's arithmetic on a 0-d leaf
        return array_namespace(w).asarray(x, dtype=w.dtype, device=device(w))
    return x


def no_grad(arrays: list) -> Any:
    """``torch.no_grad()`` when any of ``arrays`` is a torch tensor, else a no-op context.

    A step is arithmetic on values, not a model: under autograd, params with
    ``requires_grad`` would add one node per step to a graph that is never used. torch is
    imported only when a torch tensor is present (it is then loaded already).
    """
    if any(is_torch_array(a) for a in arrays):
        import torch
        return torch.no_grad()
    return contextlib.nullcontext()


def accumulator(x):
    """``x`` as float32 when its dtype is narrower (float16, bfloat16), else ``x`` itself: the
    dtype a reduction or matmul over a half-precision leaf accumulates in. Summing in float16
    overflows at 65504 (a norm of 256) and summing in bfloat16 loses the 9th bit of every
    partial sum; float32 is what torch's own half-precision reductions accumulate in."""
    xp = array_namespace(x)
    return xp.astype(x, xp.float32) if finfo(x).bits < 32 else x


def rounded(y, like):
    """``y`` in ``like``'s dtype: one rounding of a float32 accumulation back to a half-precision
    leaf (NumPy's matmul and norms of ml_dtypes' bfloat16 promote). ``y`` itself otherwise."""
    return y if y.dtype == like.dtype else array_namespace(like).astype(y, like.dtype)


def c_order(x):
    """``x`` with the same values laid out row-major: a view when it already is, else a copy.

    Reductions and matrix products sum in an order that follows the memory layout (NumPy's
    pairwise sums, BLAS's kernels for a transposed operand), so a Fortran-ordered or strided
    input would give other last bits than the same values in C order. Reshaping to 1-D and
    back is the Array API's way to ask for row-major order (NumPy, CuPy and torch copy a
    non-contiguous array into it; JAX has no layouts)."""
    xp = array_namespace(x)
    return xp.reshape(xp.reshape(x, (-1,)), x.shape)


def unless_overflowed(norm, x):
    """``norm`` (the 2-norm of all of ``x``, however computed), or, where x*x overflowed it to
    infinity (an entry above sqrt(max): 1.3e154 in float64, 1.8e19 in float32), the same norm
    taken as s ||x / s|| with s = max|x|. Dividing by an infinite norm would make a normalised
    step (Muon's, LARS's trust ratio) silently 0. Both forms are computed: no branch on a
    value, so it also runs traced; ``norm`` keeps its bits wherever it is finite."""
    xp = array_namespace(x)
    if 0 in tuple(x.shape):  # an empty array: its norm is 0, and max has no identity
        return norm
    s = xp.max(xp.abs(x))
    safe = xp.where(s > 0, s, xp.ones_like(s))
    scaled = s * xp.sqrt(xp.sum((x / safe) * (x / safe)))
    return xp.where(xp.isinf(norm) & xp.isfinite(s), scaled, norm)
