"""The checks between a caller's input and a rule's math, each with an error that says what.

``rule()`` in ``core.py`` calls these so that its own body reads as the contract: numbers
(hyperparameters, the step count), the state's type, the layout of every buffer against what
the rule's ``init_leaf`` makes, and hyperparameters that a half-precision dtype cannot hold.
Nothing here imports an array library other than NumPy: torch, JAX or ml_dtypes are only
looked at when the caller's arrays already come from them.
"""
from __future__ import annotations

import math
import operator
import warnings
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .backend import array_namespace, article, check_buffer, finfo

__all__ = ["describe", "real_number", "step_count", "check_state_type", "ArraySpec", "layout_of",
           "LayoutCache", "check_layout", "check_representable"]


def describe(x: Any) -> str:
    """``x`` for an error message, never a 400-digit int in full."""
    if isinstance(x, int) and not isinstance(x, bool) and x.bit_length() > 64:
        return f"an int of about {int(x.bit_length() * math.log10(2)) + 1} digits"
    return repr(x)


def _dtype_kind(x: Any) -> str:
    """'bool', 'complex' or '' from an array-like's dtype, whatever its library."""
    name = str(getattr(x, "dtype", ""))
    return "bool" if "bool" in name else "complex" if "complex" in name else ""


def real_number(x: Any) -> float | None:
    """The one real value of ``x`` as a Python float, or None when ``x`` is not a number.

    Numbers are Python ints and floats, NumPy scalars and 0-d arrays of any library (NumPy,
    torch, JAX) with an integer or real floating dtype. Not numbers: bools (a flag passed by
    mistake), complex values, strings, arrays with a shape. An int too large for a float
    raises OverflowError, which the caller turns into a message naming the parameter.
    """
    if isinstance(x, (bool, np.bool_, str, bytes)):
        return None
    if isinstance(x, (int, float)):
        return float(x)
    if getattr(x, "shape", None) != () or _dtype_kind(x):
        return None
    try:
        return float(x)  # a 0-d array of any library converts itself
    except (TypeError, ValueError):  # an abstract (traced) JAX value, an exotic object
        return None


def step_count(rule_name: str, t: Any) -> int:
    """``state.t`` as a Python int. Accepted: Python ints and NumPy integers (a state built
    with ``np.int64(3)`` or read from an array); refused: bools, floats (even 3.0), strings
    and negative counts, which would make ``beta**t`` and bias corrections wrong."""
    if isinstance(t, (bool, np.bool_)) or not isinstance(t, (int, np.integer)):
        raise TypeError(f"{rule_name}: state.t must be a non-negative int (the number of steps "
                        f"taken), got {t!r} of type {type(t).__name__}")
    t = operator.index(t)
    if t < 0:
        raise ValueError(f"{rule_name}: state.t must be a non-negative int (the number of steps "
                         f"taken), got {t}")
    return t


def inner_optimizer(who: str, opt: Any) -> None:
    """A wrapper's ``opt`` must be a refopt optimizer (something with ``init`` and ``step``)."""
    if not (hasattr(opt, "init") and hasattr(opt, "step")):
        raise ValueError(f"{who}: opt must be a refopt Optimizer, got {opt!r}")


def positive_int(who: str, name: str, value: Any, note: str = "") -> None:
    """A count such as ``k`` or ``overwrite_every``: an int >= 1 (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{who}: {name} must be an int >= 1{note}, got {value!r}")


def check_state_type(rule_name: str, state: Any, State: type) -> None:
    """``state`` must be an instance of exactly ``State`` (a NamedTuple of one rule)."""
    got = type(state)
    if got is State:
        return
    if got.__name__ == State.__name__:
        raise TypeError(f"state is {article(got.__name__)} from module {got.__module__}: another "
                        f"class of the same name as the {State.__name__} of {State.__module__} "
                        f"that {rule_name} needs (made by {rule_name}.init)")
    raise TypeError(f"state is {article(got.__name__)}, but {rule_name} needs "
                    f"{article(State.__name__)} (made by {rule_name}.init)")


# --------------------------------------------------------------------------- buffer layouts

@dataclass(frozen=True)
class ArraySpec:
    """What a buffer array must be: its shape and dtype (its library is the params')."""
    shape: tuple
    dtype: Any


def layout_of(buf: Any) -> Any:
    """A per-leaf buffer (an array or a nested tuple of arrays) with arrays as ``ArraySpec``."""
    if isinstance(buf, tuple):
        return tuple(layout_of(b) for b in buf)
    return ArraySpec(tuple(buf.shape), buf.dtype)


class LayoutCache:
    """The buffers ``init_leaf`` makes for a leaf, computed once per (library, shape, dtype).

    The expected layout is the rule's own, so factored (Adafactor's row and column), matrix
    (Shampoo's) and reduced (NorMuon's row vector) states need no description of their own.
    """

    def __init__(self, init_leaf: Callable[[Any], Any]):
        self._init_leaf = init_leaf
        self._seen: dict = {}

    def __call__(self, w: Any) -> tuple:
        key = (type(w), tuple(w.shape), w.dtype)  # dtypes hash (NumPy, torch, JAX)
        if key not in self._seen:
            self._seen[key] = tuple(layout_of(b) for b in self._init_leaf(w))
        return self._seen[key]


def check_layout(path: str, field: str, want: Any, got: Any, w: Any) -> None:
    """``got`` (one leaf of ``state.<field>``) must have the layout ``want``, else an error
    names the leaf and the buffer (``state.v[0]`` for the first array of a tuple)."""
    if isinstance(want, tuple):
        if not isinstance(got, tuple) or len(got) != len(want):
            what = f"a tuple of {len(got)}" if isinstance(got, tuple) else type(got).__name__
            raise ValueError(f"state.{field} leaf {path} is {what}, but this rule keeps a tuple "
                             f"of {len(want)} array(s) there for params of shape {tuple(w.shape)}")
        for i, (a, b) in enumerate(zip(want, got)):
            check_layout(path, f"{field}[{i}]", a, b, w)
        return
    check_buffer(path, field, w, got)
    if tuple(got.shape) != want.shape:
        raise ValueError(f"state.{field} leaf {path} has shape {tuple(got.shape)}, but params of "
                         f"shape {tuple(w.shape)} need {want.shape} (was the state made for "
                         f"other params?)")
    if got.dtype != want.dtype:
        raise TypeError(f"state.{field} leaf {path} has dtype {got.dtype}, this rule keeps "
                        f"{want.dtype} there")


# --------------------------------------------------------------------------- half precision

def _wider(dtype: Any) -> str:
    return "float64" if "32" in str(dtype) else "float32"


def check_representable(rule_name: str, values: dict[str, float], path: str, w: Any,
                        when: str = "") -> None:
    """Refuse a hyperparameter that is nonzero but rounds to 0, or finite but rounds to
    infinity, in the dtype of the params leaf ``w`` (at ``path``) (eps = 1e-8 in float16 is 0: Adam then
    divides 0 by 0). Zeros and non-floats are skipped: only the value's rounding matters."""
    xp = array_namespace(w)
    for name, v in values.items():
        if not isinstance(v, float) or v == 0.0 or not math.isfinite(v):
            continue
        with warnings.catch_warnings():  # NumPy warns on the cast that overflows: that is the test
            warnings.simplefilter("ignore", RuntimeWarning)
            r = float(xp.asarray(v, dtype=w.dtype))
        if r != 0.0 and math.isfinite(r):
            continue
        info = finfo(w)
        dtype = str(w.dtype).removeprefix("torch.")
        if r == 0.0:
            tiny = float(info.smallest_normal) * float(info.eps)  # the smallest subnormal
            bound = f"(smallest positive {tiny:.0e}): pass {name} >= {tiny:.0e}"
        else:
            bound = f"(largest {float(info.max):g}): pass {name} <= {float(info.max):g}"
        raise ValueError(f"{rule_name}: {name} = {v:g}{when} rounds to {'0' if r == 0 else 'inf'}"
                         f" in {dtype} {bound}, or keep params in {_wider(w.dtype)} "
                         f"(params leaf {path} is {dtype})")
