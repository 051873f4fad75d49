"""Which array library a leaf comes from, and the dtype policy.

Rules call ``array_namespace`` (array-api-compat) and then use only functions of the
Python Array API standard, so one source runs on NumPy, CuPy, array-api-strict, torch
and JAX. Python floats meet arrays without promoting them: float32 in, float32 out.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from array_api_compat import (array_namespace, is_array_api_obj, is_cupy_array,
                              is_torch_array)

__all__ = ["array_namespace", "check_leaf", "check_buffer", "to_numpy", "zeros_like"]


def _namespace(path: str, *arrays: Any):
    try:
        return array_namespace(*arrays)
    except TypeError as err:
        raise TypeError(f"leaf {path}: arrays come from different libraries ({err})") from None


def check_leaf(path: str, w: Any, g: Any) -> None:
    """A parameter and its gradient: same library, real floating dtype, same dtype and shape."""
    for name, x in (("params", w), ("grads", g)):
        if not is_array_api_obj(x):
            raise TypeError(f"{name} leaf {path} is a {type(x).__name__}, not an array")
    xp = _namespace(path, w, g)
    if not xp.isdtype(w.dtype, "real floating"):
        raise TypeError(f"params leaf {path} has dtype {w.dtype}; a real floating dtype is needed")
    if g.dtype != w.dtype:
        raise TypeError(f"grads leaf {path} has dtype {g.dtype}, params have {w.dtype}")
    if tuple(g.shape) != tuple(w.shape):
        raise ValueError(f"grads leaf {path} has shape {tuple(g.shape)}, "
                         f"params have {tuple(w.shape)} (no broadcasting)")


def check_buffer(path: str, field: str, w: Any, buf: Any) -> None:
    """A state buffer must live with its parameter: same library and dtype."""
    if not is_array_api_obj(buf):
        raise TypeError(f"state.{field} leaf {path} is a {type(buf).__name__}, not an array")
    _namespace(path, w, buf)
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
