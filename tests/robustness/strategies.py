"""Hypothesis strategies and helpers for the robustness fuzz suite (tests/robustness/test_fuzz.py).

Everything here is written for the tests, independent of the library's own helpers (its tree
code and validation are under test): a tiny tree mapper, the problems each rule is run on, and
the bad-input transforms. A *problem* is params, three gradient trees and, for Sophia and
MARS-M, the extra per-step tree the rule takes (``hess=``, ``prev_grad=``).
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refopt

RULE_NAMES = tuple(refopt.RULES)
AUX = {"sophia": "hess", "mars_m": "prev_grad", "mars": "prev_grad"}  # the extra tree each such rule's step takes
STEPS = 3

# Rules whose update of one coordinate reads only that coordinate (written from the rules'
# docstrings, not from the registry): for them a 0-d or 1-element run must equal the matching
# entry of a run on a bigger array. The layer-wise ones (norms, factored or matrix states) are
# the rest: lars, lamb, adafactor, shampoo, the Muon family, partition (routes to Muon).
ELEMENTWISE = frozenset({
    "sgd", "momentum", "nesterov", "nesterov_reformulated", "adagrad", "rmsprop", "adadelta",
    "adam", "adamw", "amsgrad", "adamax", "nadam", "radam", "yogi", "adabelief", "lion", "adan",
    "sophia"})


def is_matrix(name: str) -> bool:
    return refopt.RULES[name].matrix_only


def make(name: str):
    return refopt.RULES[name].make_example()


# ----------------------------------------------------------------------------- trees

def tmap(f: Callable, tree: Any) -> Any:
    """Apply ``f`` to every non-container leaf (dict / list / tuple are containers)."""
    if isinstance(tree, dict):
        return {k: tmap(f, v) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)) and not hasattr(tree, "_fields"):
        return type(tree)(tmap(f, v) for v in tree)
    if hasattr(tree, "_fields"):  # a state NamedTuple: keep t, map the buffers
        return type(tree)(tree[0], *(tmap(f, v) for v in tree[1:]))
    return f(tree)


def leaves(tree: Any) -> list:
    out: list = []
    tmap(out.append, tree)
    return out


def wrap(kind: str, leaf: Any) -> tuple[Any, str]:
    """``leaf`` placed in a tree, with the path the library must print for it."""
    if kind == "root":
        return leaf, "<root>"
    if kind == "dict":
        return {"w": leaf}, "['w']"
    return {"layer": [leaf]}, "['layer'][0]"


WRAPS = st.sampled_from(["root", "dict", "nested"])


# ----------------------------------------------------------------------------- problems

@dataclasses.dataclass
class Problem:
    name: str
    params: Any
    grads: list          # STEPS gradient trees
    extras: list         # STEPS dicts of step keywords ({} or {"hess": tree} ...)
    path: str            # the printed path of the (one) drawn leaf

    def map(self, f: Callable) -> "Problem":
        """The same problem with ``f`` applied to every array of params, grads and extras."""
        return Problem(self.name, tmap(f, self.params), [tmap(f, g) for g in self.grads],
                       [{k: tmap(f, v) for k, v in e.items()} for e in self.extras], self.path)


def shapes(name: str, min_side: int = 1, max_side: int = 4):
    if is_matrix(name):
        return hnp.array_shapes(min_dims=2, max_dims=2, min_side=min_side, max_side=max_side)
    return hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=max_side)


def moderate(dtype=np.float64, lo: float = 1e-2, hi: float = 10.0, zeros: bool = False):
    """Floats with |x| in [lo, hi] (and 0 if ``zeros``), representable in every float dtype."""
    mag = st.floats(lo, hi)  # drawn in float64; arrays() rounds to the dtype
    signed = st.tuples(st.booleans(), mag).map(lambda p: -p[1] if p[0] else p[1])
    return (signed | st.just(0.0)) if zeros else signed


def arrays(shape, elements, dtype=np.float64):
    return hnp.arrays(np.float64, shape, elements=elements).map(lambda a: a.astype(dtype))


@st.composite
def problems(draw, name: str, shape=None, dtype=np.float64, elements=None, wraps=WRAPS):
    """A finite problem for rule ``name``: one drawn leaf, wrapped in a drawn tree."""
    shape = draw(shapes(name)) if shape is None else shape
    elements = moderate(dtype) if elements is None else elements
    kind = draw(wraps)
    w = draw(arrays(shape, elements, dtype))
    gs = [draw(arrays(shape, elements, dtype)) for _ in range(STEPS)]
    params, path = wrap(kind, w)
    grads = [wrap(kind, g)[0] for g in gs]
    extras: list = [{} for _ in range(STEPS)]
    if name in AUX:
        use = draw(st.lists(st.booleans(), min_size=STEPS, max_size=STEPS))
        for i, on in enumerate(use):
            if on:  # Sophia's h must be >= 0 to be a curvature; MARS-M's is any gradient
                aux = np.abs(gs[i]) if name == "sophia" else gs[(i + 1) % STEPS]
                extras[i] = {AUX[name]: wrap(kind, aux)[0]}
    return Problem(name, params, grads, extras, path)


def run(opt, prob: Problem, state=None):
    """``STEPS`` steps of ``opt`` on ``prob`` from ``state`` (its init if None)."""
    params = prob.params
    state = opt.init(params) if state is None else state
    for g, extra in zip(prob.grads, prob.extras):
        params, state = opt.step(params, g, state, **extra)
    return params, state


# ----------------------------------------------------------------------------- bad inputs

EMPTY_SHAPES = [(0,), (3, 0), (0, 3), (0, 0), (2, 0, 3)]
ONE_ELEMENT_SHAPES = [(1,), (1, 1), (1, 1, 1)]
NON_FLOAT_DTYPES = [np.complex64, np.complex128, np.int32, np.int64, np.uint8, np.bool_, object]


def subnormals(dtype):
    """Nonzero subnormal magnitudes of ``dtype``, both signs."""
    info = np.finfo(dtype)
    tiny, smallest = float(info.smallest_normal), float(info.smallest_subnormal)
    # float32 subnormals are normal float64 numbers; arrays() rounds each to a float32 subnormal
    mag = st.floats(smallest, tiny, exclude_max=True, allow_subnormal=dtype == np.float64)
    return st.tuples(st.booleans(), mag).map(lambda p: -p[1] if p[0] else p[1])


def huge(dtype):
    """Finite magnitudes whose square overflows ``dtype`` (1e154.. in float64, 1e19.. in float32)."""
    info = np.finfo(dtype)
    lo = float(np.sqrt(info.max)) * 2.0
    mag = st.floats(lo, float(info.max))
    return st.tuples(st.booleans(), mag).map(lambda p: -p[1] if p[0] else p[1])


def non_contiguous(kind: str) -> Callable:
    """A view of the same values that is not C-contiguous: a strided slice or a transpose."""
    def view(a):
        if kind == "T":  # the values of a, held in a Fortran-ordered buffer
            return np.ascontiguousarray(a.T).T
        base = np.zeros((2 * a.shape[0],) + a.shape[1:], a.dtype)
        base[::2] = a
        return base[::2]
    return view


def read_only(a):
    a = np.array(a, copy=True)
    a.setflags(write=False)
    return a


def contiguous_copy(a):
    return np.array(a, copy=True, order="C")


def tampered_t_values():
    return [-3, -1, 0.5, 2.0, True, False, "3", None, float("nan")]
