r"""What D-Adaptation and Prodigy share: one distance estimate :math:`d` for the whole tree.

:math:`\hat d = r / \lVert s\rVert` is a ratio of sums over *all* leaves (an inner product
:math:`\langle g, \cdot\rangle` and a norm of the gradient sum :math:`s`), so these rules cannot be
written per leaf with ``refopt.core.rule``. This module gives them the same checks ``rule`` makes
(state type and step count, every grads and buffer leaf against its params leaf, no autograd
graph, 0-d leaves kept 0-d) and the tree-wide reductions, each a Python float accumulated in the
leaf dtype (float32 for 16-bit leaves, as ``refopt.backend.accumulator`` says).

Defazio & Mishchenko (2023), "Learning-Rate-Free Learning by D-Adaptation", ICML, arXiv
2301.07733; Mishchenko & Defazio (2024), "Prodigy: An Expeditiously Adaptive Parameter-Free
Learner", ICML, arXiv 2306.06101. No ``INFO`` here: this module is not a rule.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .. import tree
from ..backend import (accumulator, rounded, array_namespace, as_array_like, c_order, check_buffer,
                       check_leaf, no_grad, zeros_like)
from ..core import Interval, hyper, number
from ..validate import check_state_type, describe, real_number, step_count

GROWTH = Interval(1.0, math.inf, hi_open=False)   # growth_rate: d may grow by this factor; inf: free


@dataclass
class Leaves:
    """One step's inputs as aligned lists: the step count, the tree structure, the paths, the
    params as given (``like``), and the params, grads and each buffer field's leaves in the
    accumulation dtype (float32 for 16-bit leaves: the step is computed there and each result
    rounded once to the leaf's dtype, so that a moment made and used in the same step does not
    overflow or underflow before it is stored)."""
    t: int
    spec: Any
    paths: list
    like: list
    w: list
    g: list
    buffers: dict


def init_leaves(name: str, params: Any) -> tuple[Any, list]:
    """Every params leaf checked (real floating arrays), as ``(spec, leaves)``."""
    pairs = [(tree.fmt_path(p), w) for p, w in tree.leaves_with_paths(params)]
    for path, w in pairs:
        check_leaf(path, w, w, what="params")
    return tree.structure(params), [w for _, w in pairs]


def zeros_tree(spec: Any, leaves: list) -> Any:
    return tree.unflatten(spec, [zeros_like(w) for w in leaves])


def copy_tree(spec: Any, leaves: list) -> Any:
    """x_0: a copy of each params leaf (so later in-place changes by the caller cannot reach it)."""
    with no_grad(leaves):
        return tree.unflatten(spec, [array_namespace(w).asarray(w, copy=True) for w in leaves])


def gather(name: str, State: type, params: Any, grads: Any, state: Any,
           buffers: tuple[str, ...], scalars: tuple[str, ...]) -> tuple[Leaves, Any]:
    """The checks before any arithmetic: state type, ``state.t``, the scalar fields (each a
    real number: NaN passes, as the math propagates it), every grads and buffer leaf
    (library, dtype, shape). Returns the leaves and the state with its scalars as Python floats."""
    check_state_type(name, state, State)
    t = step_count(name, state.t) + 1
    numbers = {}
    for field in scalars:
        numbers[field] = real_number(getattr(state, field))
        if numbers[field] is None:
            raise TypeError(f"{name}: state.{field} must be a real number, "
                            f"got {describe(getattr(state, field))}")
    state = state._replace(**numbers)  # Python floats (a loaded or 0-d array value too)
    spec = tree.structure(params)
    pairs = [(tree.fmt_path(p), w) for p, w in tree.leaves_with_paths(params)]
    paths, ws = [p for p, _ in pairs], [w for _, w in pairs]
    gs = tree.leaves_like(spec, grads, "grads")
    cols = {f: tree.leaves_like(spec, getattr(state, f), f"state.{f}") for f in buffers}
    for i, (path, w) in enumerate(pairs):
        check_leaf(path, w, gs[i])
        for f, col in cols.items():
            check_buffer(path, f, w, col[i])
            if tuple(col[i].shape) != tuple(w.shape):
                raise ValueError(f"state.{f} leaf {path} has shape {tuple(col[i].shape)}, params "
                                 f"have {tuple(w.shape)} (a state made for other params?)")
    wide = lambda leaves: [accumulator(a) for a in leaves]  # noqa: E731
    return Leaves(t, spec, paths, ws, wide(ws), wide(gs), {f: wide(c) for f, c in cols.items()}), state


def vdot(a: list, b: list) -> float:
    r""":math:`\langle a, b\rangle` over all leaves, a Python float."""
    total = 0.0
    for x, y in zip(a, b):
        xp = array_namespace(x)
        total += float(xp.sum(accumulator(c_order(x)) * accumulator(c_order(y))))
    return total


def l1_norm(a: list) -> float:
    r""":math:`\lVert a\rVert_1` over all leaves, a Python float."""
    return sum(float(array_namespace(x).sum(array_namespace(x).abs(accumulator(c_order(x)))))
               for x in a)


def squared_norm(a: list) -> float:
    r""":math:`\lVert a\rVert_2^2` over all leaves, a Python float."""
    return vdot(a, a)


def weighted_squared_norm(a: list, weight: list) -> float:
    r""":math:`\sum_i a_i^2 / \mathrm{weight}_i` over all leaves, a Python float."""
    total = 0.0
    for x, h in zip(a, weight):
        xp = array_namespace(x)
        ax = accumulator(c_order(x))
        total += float(xp.sum(ax * ax / accumulator(c_order(h))))
    return total


def as_leaves(w_leaves: list, new: list) -> list:
    """Each computed leaf in its params leaf's dtype and library (0-d kept 0-d)."""
    return [as_array_like(w, rounded(as_array_like(w, x), w)) for w, x in zip(w_leaves, new)]


def estimate(d: float, d_hat: float, growth_rate: float) -> float:
    r"""D-Adaptation's :math:`d_{k+1} = \max(d_k, \min(\hat d_{k+1}, \text{growth}\cdot d_k))`.
    A NaN :math:`\hat d` (from NaN gradients) is passed on, as the math does."""
    if math.isnan(d_hat):
        return d_hat
    return max(d, min(d_hat, d * growth_rate))


def hyperparameters(name: str, settings: dict, flags: dict) -> tuple[dict, dict]:
    """``settings``: name -> (value, interval), validated by ``refopt.core.hyper`` (``lr`` alone
    may be a schedule ``t -> float``); ``flags``: name -> a bool. Returns ``(values, bounds)``."""
    values = {k: hyper(k, v, allowed) for k, (v, allowed) in settings.items()}
    for k, v in values.items():
        if callable(v) and k != "lr":
            raise ValueError(f"{name}: {k} must be a number, not a schedule (only lr may be one)")
    for k, v in flags.items():
        if not isinstance(v, bool):
            raise ValueError(f"{name}: {k} must be True or False, got {describe(v)}")
    return {**values, **flags}, {k: allowed for k, (_, allowed) in settings.items()}


def lr_at(values: dict, bounds: dict, t: int) -> float:
    """The lr multiplier at step t: a number, or a schedule checked where it is evaluated."""
    lr = values["lr"]
    return number("lr", lr(t), bounds["lr"], f" (schedule at step {t})") if callable(lr) else lr
