"""Optimizers made from other optimizers.

``coupled_weight_decay`` is the notes' L2 regularization, usable with any rule: the decay
term joins the gradient before the rule sees it (g <- g + lambda*w), so an adaptive rule
rescales it too. Decoupled decay (AdamW's) is the rules' own ``weight_decay``.
"""
from __future__ import annotations

from typing import Any

from . import tree
from .backend import check_leaf
from .core import NONNEGATIVE, Optimizer, number

__all__ = ["coupled_weight_decay"]

INFOS: tuple = ()  # combinators that are also registered rules add their RuleInfo here


def coupled_weight_decay(opt: Optimizer, weight_decay: float) -> Optimizer:
    """L2 regularization: ``g_t <- g_t + weight_decay * w_{t-1}``, then ``opt``'s step.

    Loshchilov & Hutter (2019), "Decoupled Weight Decay Regularization", eq. (1)-(2): for
    SGD this equals decoupled decay with lambda' = lambda / lr; for adaptive rules it does not.
    """
    lam = number("weight_decay", weight_decay, NONNEGATIVE)

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, Any]:
        spec = tree.structure(params)
        g_leaves = tree.leaves_like(spec, grads, "grads")
        decayed = []
        for (path, w), g in zip(tree.leaves_with_paths(params), g_leaves):
            check_leaf(tree.fmt_path(path), w, g)  # before g + lam*w could broadcast
            decayed.append(g + lam * w)
        return opt.step(params, tree.unflatten(spec, decayed), state, **extra)

    return Optimizer(f"{opt.name}+l2", opt.init, step,
                     {**opt.hyperparams, "l2": lam}, {**opt.bounds, "l2": NONNEGATIVE})
