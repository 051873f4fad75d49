"""A canonical rule's contract around an in-place kernel: ``FastOptimizer`` and ``fast()``.

Everything but the arithmetic comes from the core. ``step_`` first runs ``rule()``'s own
``step`` with an update that computes nothing and only notes the hyperparameters at ``t``:
the core then checks the state's type and ``t``, every leaf of grads and state, evaluates
and checks the schedules, exactly as for the canonical rule. Only after all of that
passed does a kernel touch memory, so a bad leaf late in the tree never leaves the earlier
leaves half updated.
"""
from __future__ import annotations

import functools
import threading
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .. import tree
from ..core import Optimizer, rule
from ..validate import check_state_type

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class FastOptimizer(Optimizer):
    """An ``Optimizer`` (``init``, pure ``step``) with ``step_``, its in-place form, and the
    ``canonical`` rule whose numbers it computes."""
    step_: Callable[..., Any] | None = None
    canonical: Optimizer | None = None


def scalars(dtype: np.dtype, *values: float) -> tuple:
    """Python floats as the arrays' dtype, rounded as NumPy rounds a Python float that meets
    an array of that dtype (NEP 50): the kernel then does the canonical rule's arithmetic."""
    return tuple(dtype.type(v) for v in values)


def _flat(x: Any) -> Any:
    """A 1-D view of a C-contiguous array (a 0-d leaf too); empty tuples (absent buffers) pass."""
    return x.reshape(-1) if isinstance(x, np.ndarray) else x


def _check_numpy(name: str, canonical: str, params: Any) -> None:
    for path, w in tree.leaves_with_paths(params):
        if not isinstance(w, np.ndarray):
            raise TypeError(f"{name} runs numba kernels on NumPy arrays only, but params leaf "
                            f"{tree.fmt_path(path)} is {type(w).__module__}.{type(w).__name__}: "
                            f"use refopt.{canonical}, which runs on any Array API library")
        if w.dtype not in FLOATS:
            raise TypeError(f"{name} has kernels for float32 and float64, but params leaf "
                            f"{tree.fmt_path(path)} is {w.dtype}: use refopt.{canonical}")


def _check_in_place(name: str, params: Any, i: int, w: Any, g: Any, buffers: dict) -> None:
    """Leaf ``i``'s arrays must be writable in place and apart from each other (arrays of one
    leaf that overlap in memory would be written over each other)."""
    arrays = {"params": w, **{f"state.{f}": b for f, b in buffers.items() if isinstance(b, np.ndarray)}}
    for what, x in arrays.items():
        flags = x.flags
        if not (flags.c_contiguous and flags.writeable):
            why = "read-only" if not flags.writeable else "not C-contiguous"
            raise ValueError(f"{name}.step_ writes {what} leaf {_path(params, i)} in place, but it "
                             f"is {why}: pass np.ascontiguousarray copies or use {name}.step")
    named = [("grads", g), *arrays.items()]
    for j, (k, a) in enumerate(named):
        for other, b in named[j + 1:]:
            if np.may_share_memory(a, b):
                raise ValueError(f"{name}.step_: {k} and {other} of leaf {_path(params, i)} share "
                                 f"memory, so writing one in place would change the other: make "
                                 f"the state with {name}.init (separate buffers) or use {name}.step")


def _path(params: Any, i: int) -> str:
    """The path of the ``i``-th leaf, for an error message (not walked on the happy path)."""
    return tree.fmt_path(list(tree.leaves_with_paths(params))[i][0])


def _unaliased(state: Any) -> Any:
    """``state`` with every buffer its own array (a canonical init may hand one zero array to
    several fields, harmless for a pure rule, not for one that writes them in place)."""
    seen: set = set()

    def own(x: Any) -> Any:
        if isinstance(x, np.ndarray) and id(x) in seen:
            return x.copy()
        seen.add(id(x))
        return x

    return type(state)(state.t, *[tree.tree_map(own, leaf) for leaf in state[1:]])


def _copy(x: Any) -> Any:
    # only NumPy arrays: anything else goes on unchanged, for the core to reject by name
    return x.copy(order="C") if isinstance(x, np.ndarray) else x


def fused(canonical: Optimizer, State: type, update: Callable) -> FastOptimizer:
    """``canonical``'s contract around ``update(w, g, *buffers, t=t, **hyperparams)``, which
    overwrites the 1-D arrays ``w`` and ``buffers`` with the rule's step (``()`` for a buffer
    the canonical rule keeps empty)."""
    name = f"fast.{canonical.name}"
    fields = State._fields[1:]
    noted = threading.local()

    def note(w, g, *buffers, t, **now):
        # the core hands over each leaf's own arrays, checked: the kernels write those
        noted.now = dict(now, t=t)  # the same for every leaf
        noted.leaves.append((w, g, buffers))
        return (w, *buffers)

    checked = rule(name, State, lambda w: tuple(canonical.init(w))[1:], note,
                   {k: (v, canonical.bounds.get(k)) for k, v in canonical.hyperparams.items()})

    def step_(params: Any, grads: Any, state: Any) -> Any:
        """Update ``params`` and the state's arrays IN PLACE (they are overwritten: the
        trailing underscore); returns the new state (same arrays, ``t`` one larger)."""
        _check_numpy(name, canonical.name, params)
        noted.now, noted.leaves = None, []
        _, new = checked.step(params, grads, state)  # every check of the core; no arithmetic
        leaves, noted.leaves = noted.leaves, []
        for i, (w, g, buffers) in enumerate(leaves):
            _check_in_place(name, params, i, w, g, dict(zip(fields, buffers)))
        for w, g, buffers in leaves:
            update(_flat(w), np.ascontiguousarray(g).reshape(-1), *[_flat(b) for b in buffers], **noted.now)
        return new

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        """Pure: ``step_`` on copies of params and state; the inputs are never modified."""
        _check_numpy(name, canonical.name, params)
        check_state_type(name, state, State)
        params = tree.tree_map(_copy, params)
        state = State(state.t, *[tree.tree_map(_copy, getattr(state, f)) for f in fields])
        return params, step_(params, grads, state)

    def init(params: Any) -> Any:
        _check_numpy(name, canonical.name, params)
        return _unaliased(canonical.init(params))

    return FastOptimizer(name, init, step, canonical.hyperparams, canonical.bounds,
                         step_=step_, canonical=canonical)


def fast(factory: Callable[..., Optimizer], State: type, update: Callable) -> Callable[..., FastOptimizer]:
    """``refopt.fast.<rule>``: the canonical ``factory``'s signature and validation, with
    ``update`` as its kernel."""

    @functools.wraps(factory)
    def make(*args: Any, **kwargs: Any) -> FastOptimizer:
        return fused(factory(*args, **kwargs), State, update)

    make.__doc__ = (f"refopt.{factory.__name__} as one fused in-place numba pass per leaf: the "
                    f"same arguments, state and numbers (``step_`` mutates; ``step`` is pure).\n\n"
                    f"{factory.__doc__}")
    make.__module__ = update.__module__
    return make
