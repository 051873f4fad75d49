r"""Gradient clipping over any optimizer: the gradient is clipped, then ``opt`` steps with it.

Three ways, each a combinator ``clip*(opt, threshold) -> Optimizer`` (the threshold c may be a
schedule ``t -> c``):

.. math::

    \text{clip (by value):}\quad & \tilde g_t = \min(\max(g_t, -c), c)
        \quad\text{elementwise} \\
    \text{clip\_by\_norm (per leaf):}\quad & \tilde g^{(\ell)}_t = g^{(\ell)}_t\,
        \frac{c}{\max(\lVert g^{(\ell)}_t\rVert_2,\ c)} \\
    \text{clip\_by\_global\_norm:}\quad & \tilde g^{(\ell)}_t = g^{(\ell)}_t\,
        \frac{c}{\max(\lVert g_t\rVert_2,\ c)},\qquad
        \lVert g_t\rVert_2^2 = \textstyle\sum_\ell \lVert g^{(\ell)}_t\rVert_2^2

Norm clipping is Pascanu, Mikolov & Bengio (2013), "On the difficulty of training recurrent
neural networks", ICML, Algorithm 1 (rescale g to norm c when its norm exceeds c); per leaf
it is keras's ``clipnorm``, over the whole tree keras's ``global_clipnorm`` and optax's
``clip_by_global_norm``; by value it is keras's ``clipvalue`` and optax's ``clip``. Below the
threshold the scale is exactly 1, so the gradient keeps its bits.

Norms are taken in float64 arithmetic from each leaf's sum of squares (float32 for 16-bit
leaves, as ``backend.accumulator``), overflow-safe (``backend.unless_overflowed``); the
scale is a Python float, so the gradient keeps its dtype. A non-finite norm propagates: an
infinite entry gives NaN there and 0 elsewhere, a NaN makes the leaf (global: every leaf) NaN.
The state is ``ClipState(t, inner)``, ``inner`` being ``opt``'s own.
"""
from __future__ import annotations

import math
from typing import Any, Callable, NamedTuple

from . import tree
from .backend import accumulator, array_namespace, as_array_like, c_order, check_leaf, unless_overflowed
from .core import POSITIVE, Optimizer, hyper, number
from .validate import check_state_type, inner_optimizer, step_count

__all__ = ["clip", "clip_by_norm", "clip_by_global_norm", "ClipState", "leaf_norm"]


class ClipState(NamedTuple):
    t: int
    inner: Any  # the clipped optimizer's own state


def leaf_norm(g: Any) -> float:
    """:math:`\\lVert g\\rVert_2` as a Python float (float32 accumulation for 16-bit leaves)."""
    xp = array_namespace(g)
    a = accumulator(c_order(g))
    return float(unless_overflowed(xp.sqrt(xp.sum(a * a)), a))


def _scale(norm: float, c: float) -> float:
    """c / max(norm, c): exactly 1 under the threshold; NaN for a NaN norm, 0 for an infinite one."""
    return math.nan if math.isnan(norm) else c / max(norm, c)


def _clipped(opt: Optimizer, name: str, threshold: Any, transform: Callable) -> Optimizer:
    """``opt`` stepping with ``transform(grad leaves, c_t)`` instead of the grad leaves."""
    inner_optimizer(name, opt)
    c = hyper(name, threshold, POSITIVE)
    full = f"{name}({opt.name})"

    def init(params: Any) -> ClipState:
        return ClipState(0, opt.init(params))

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, ClipState]:
        check_state_type(full, state, ClipState)
        t = step_count(full, state.t) + 1
        c_t = number(name, c(t), POSITIVE, f" (schedule at step {t})") if callable(c) else c
        spec = tree.structure(params)
        g_leaves = tree.leaves_like(spec, grads, "grads")
        for (path, w), g in zip(tree.leaves_with_paths(params), g_leaves):
            check_leaf(tree.fmt_path(path), w, g)
        # as_array_like: NumPy makes a 0-d leaf times a float a scalar; the rule needs an array
        clipped = [as_array_like(g, x) for g, x in zip(g_leaves, transform(g_leaves, c_t))]
        new_params, inner = opt.step(params, tree.unflatten(spec, clipped), state.inner, **extra)
        return new_params, ClipState(t, inner)

    return Optimizer(full, init, step, {**opt.hyperparams, name: c}, {**opt.bounds, name: POSITIVE})


def clip(opt: Optimizer, max_value: float | Callable[[int], float]) -> Optimizer:
    """Each gradient entry clipped to ``[-max_value, max_value]``, then ``opt``'s step
    (keras ``clipvalue``, optax ``clip``)."""
    def by_value(g_leaves: list, c: float) -> list:
        return [array_namespace(g).clip(g, min=-c, max=c) for g in g_leaves]

    return _clipped(opt, "clip", max_value, by_value)


def clip_by_norm(opt: Optimizer, max_norm: float | Callable[[int], float]) -> Optimizer:
    """Each leaf's gradient rescaled to norm ``max_norm`` where its 2-norm is larger, then
    ``opt``'s step (keras ``clipnorm``; optax ``clip_by_block_rms(c)`` is this with the
    threshold ``c sqrt(size)`` for each leaf, since RMS = norm / sqrt(size))."""
    def per_leaf(g_leaves: list, c: float) -> list:
        return [g * _scale(leaf_norm(g), c) for g in g_leaves]

    return _clipped(opt, "clip_by_norm", max_norm, per_leaf)


def clip_by_global_norm(opt: Optimizer, max_norm: float | Callable[[int], float]) -> Optimizer:
    """All leaves rescaled together to global norm ``max_norm`` where the norm of the whole
    tree is larger, then ``opt``'s step (keras ``global_clipnorm``, optax ``clip_by_global_norm``)."""
    def global_(g_leaves: list, c: float) -> list:
        scale = _scale(math.hypot(*[leaf_norm(g) for g in g_leaves]), c)  # hypot: no overflow
        return [g * scale for g in g_leaves]

    return _clipped(opt, "clip_by_global_norm", max_norm, global_)
