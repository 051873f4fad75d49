r"""Gradient accumulation over any optimizer: one real step per k calls, with the mean gradient.

``accumulate(opt, k)`` adds up the gradients of k consecutive calls (micro-steps) and, at every
k-th call, lets ``opt`` step once with their mean:

.. math::

    S_n = S_{n-1} + g_n, \qquad
    (w, \sigma) \leftarrow \mathrm{step}_{opt}\big(w, \tfrac1k S_n, \sigma\big),\ S_n \leftarrow 0
    \quad\text{when } n \equiv 0 \bmod k

and the params stay as they are (returned as given) at the other calls. That is one step with
a batch k times larger when the loss is a mean over examples (the mean of the k batch-mean
gradients is the gradient of the big batch's mean loss). keras's
``gradient_accumulation_steps`` and optax's ``MultiSteps`` are the same idea.

**Counts.** ``state.t`` counts calls (micro-steps); the inner rule's own ``t`` counts real
steps, so its bias corrections and schedules see 1, 2, 3, ... at calls k, 2k, 3k. optax's
``MultiSteps`` does the same (the inner state, count included, only advances at a real step).
keras also bias-corrects with the real steps (its ``iterations`` is ``floor(_iterations / k)``),
but calls a ``LearningRateSchedule`` with the micro-step count ``_iterations`` (= n - 1 at call
n): a keras schedule s becomes the inner lr ``lambda j: s(j k - 1)``
(``refopt.flavors.keras`` does that). **Sums.** keras keeps the sum in the params' dtype and
divides by k at the real step, as here; optax keeps a running mean
(:math:`\bar g \leftarrow \bar g + (g - \bar g)/(i+1)`, equal up to rounding) in ``float32``
by default (``accumulator_dtype``), so a float64 run of ``MultiSteps`` differs from this by
float32 rounding unless ``accumulator_dtype=float64`` is passed. The state is
``AccumulateState(t, inner, sum)``.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from . import tree
from .backend import as_array_like, check_leaf, zeros_like
from .core import Optimizer
from .validate import check_state_type, inner_optimizer, positive_int, step_count

__all__ = ["accumulate", "AccumulateState"]


class AccumulateState(NamedTuple):
    t: int
    inner: Any  # the inner optimizer's state (its own t counts real steps)
    sum: Any    # the gradients summed since the last real step, a tree like the params


def accumulate(opt: Optimizer, k: int) -> Optimizer:
    """``opt`` stepping once every ``k`` calls with the mean of their gradients (module docstring)."""
    inner_optimizer("accumulate", opt)
    positive_int("accumulate", "k", k, " (the micro-steps per real step)")
    name = f"accumulate({opt.name}, k={k})"

    def init(params: Any) -> AccumulateState:
        return AccumulateState(0, opt.init(params), tree.tree_map(zeros_like, params))

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, AccumulateState]:
        check_state_type(name, state, AccumulateState)
        t = step_count(name, state.t) + 1
        spec = tree.structure(params)
        g_leaves = tree.leaves_like(spec, grads, "grads")
        s_leaves = tree.leaves_like(spec, state.sum, "state.sum")
        for (path, w), g, s in zip(tree.leaves_with_paths(params), g_leaves, s_leaves):
            check_leaf(tree.fmt_path(path), w, g)
            check_leaf(tree.fmt_path(path), w, s, what="state.sum")
        total = [as_array_like(g, s + g) for g, s in zip(g_leaves, s_leaves)]
        if t % k:
            return params, AccumulateState(t, state.inner, tree.unflatten(spec, total))
        mean = tree.unflatten(spec, [as_array_like(s, s / k) for s in total])
        new_params, inner = opt.step(params, mean, state.inner, **extra)
        return new_params, AccumulateState(t, inner, tree.unflatten(spec, [zeros_like(s) for s in total]))

    return Optimizer(name, init, step, {**opt.hyperparams, "accumulate_k": k}, opt.bounds)
