r"""The pieces every torch flavor shares: ``maximize``, decoupled decay at the current lr, the lr
that may be a schedule, and the ``betas`` pair (a tensor-valued beta read by
``torch_scalars.value``). ``refopt.flavors.torch`` re-exports them (other flavors import them
from there)."""
from __future__ import annotations

from typing import Any

import refopt

from .. import tree
from ..core import NONNEGATIVE, UNIT, Optimizer, number
from ..rules.muon import flag
from .torch_scalars import value

__all__ = ["negated", "decoupled", "finish", "betas_pair", "lr_of", "lr_at"]


def negated(opt: Optimizer) -> Optimizer:
    """``maximize=True``: the step of ``opt`` on ``-g``."""
    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        return opt.step(params, tree.tree_map(lambda g: -g, grads), state)

    return Optimizer(f"{opt.name}+maximize", opt.init, step, opt.hyperparams, opt.bounds)


def lr_of(lr: Any, exact_in_float32: bool = True) -> Any:
    """A float (or a 1-element tensor, ``torch_scalars.value``), or a schedule t -> lr checked
    where it is evaluated."""
    return lr if callable(lr) else number("lr", value("lr", lr, exact_in_float32), NONNEGATIVE)


def lr_at(lr: Any, t: int) -> float:  # torch reads its group's lr afresh at every .step()
    return number("lr", lr(t), NONNEGATIVE, f" (schedule at step {t})") if callable(lr) else lr


def decoupled(opt: Optimizer, lr: Any, weight_decay: float) -> Optimizer:
    """``w <- w (1 - lr_t*weight_decay)`` with the current lr (torch's), then ``opt``'s step;
    ``opt`` is a ``refopt.core.rule`` optimizer, whose state's ``t`` counts the steps taken."""
    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        factor = 1 - lr_at(lr, state.t + 1) * weight_decay
        return opt.step(tree.tree_map(lambda w: w * factor, params), grads, state)

    return Optimizer(f"{opt.name}+decay", opt.init, step,
                     {**opt.hyperparams, "decay": weight_decay}, opt.bounds)


def finish(opt: Optimizer, lr: Any, weight_decay: float, maximize: bool,
           decoupled_decay: bool = False) -> Optimizer:
    """``opt`` with torch's weight decay (coupled L2, or decoupled) and ``maximize``."""
    number("weight_decay", weight_decay, NONNEGATIVE)
    if weight_decay:
        opt = (decoupled(opt, lr, weight_decay) if decoupled_decay
               else refopt.coupled_weight_decay(opt, weight_decay))
    return negated(opt) if flag("maximize", maximize) else opt


def betas_pair(betas: Any, exact_in_float32: bool = True) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return tuple(number(f"betas[{i}]", value(f"betas[{i}]", b, exact_in_float32), UNIT)
                 for i, b in enumerate(betas))
