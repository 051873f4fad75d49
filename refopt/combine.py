"""Optimizers made from other optimizers.

``partition`` routes each leaf to one of several rules by a label (Muon for 2-D weights,
AdamW for the rest); it is registered as a rule itself (``INFOS`` below).

``coupled_weight_decay`` is the notes' L2 regularization, usable with any rule: the decay
term joins the gradient before the rule sees it (g <- g + lambda*w), so an adaptive rule
rescales it too. Decoupled decay (AdamW's) is the rules' own ``weight_decay``.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable, Mapping, NamedTuple

from . import tree
from .backend import check_leaf
from .core import NONNEGATIVE, Optimizer, RuleInfo, number
from .validate import check_state_type, step_count

__all__ = ["coupled_weight_decay", "partition", "PartitionState"]


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

    # replace, not a new Optimizer: a subclass's fields and methods (Nesterov's look_ahead) stay
    return dataclasses.replace(opt, name=f"{opt.name}+l2", step=step,
                               hyperparams={**opt.hyperparams, "coupled_weight_decay": lam},
                               bounds={**opt.bounds, "coupled_weight_decay": NONNEGATIVE})


class PartitionState(NamedTuple):
    t: int
    inner: dict  # label -> that rule's state over its own leaves, a flat dict keyed by leaf path


def _route(label_fn: Callable, labels: dict, leaves: list) -> dict:
    """{label: {path: leaf}}, every label present (possibly empty), in the params' order."""
    routed: dict = {label: {} for label in labels}
    for path, w in leaves:
        label = label_fn(path, w)
        try:
            known = label in routed
        except TypeError:  # unhashable: a list, a dict, an array
            raise ValueError(f"partition: label_fn gave {label!r} for leaf {path}, which is not a "
                             f"label (labels are strings: {sorted(routed)})") from None
        if not known:
            raise ValueError(f"partition: label_fn gave {label!r} for leaf {path}, but the rules are "
                             f"labelled {sorted(routed)}")
        routed[label][path] = w
    return routed


def _has_inner(state: PartitionState, label: str, mine: dict) -> None:
    if not isinstance(state.inner, dict) or label not in state.inner:
        leaves = f" (leaf {next(iter(mine))} is routed there)" if mine else ""
        raise ValueError(f"partition: state.inner has no entry for label {label!r}{leaves}; "
                         f"was the state made by another partition's init?")


def partition(rules_by_label: Mapping[str, Optimizer], label_fn: Callable[[str, Any], str]) -> Optimizer:
    """One optimizer made of several: ``label_fn(path, leaf)`` names the rule for each leaf.

    For example Muon for 2-D weights and AdamW for the rest (optax's ``multi_transform``,
    Keller Jordan's ``MuonWithAuxAdam``)::

        partition({"matrix": refopt.muon(), "other": refopt.adamw()},
                  lambda path, w: "matrix" if w.ndim == 2 else "other")

    ``path`` is the printed leaf path (``['layer']['w']``, ``<root>`` for a lone array). Each
    rule sees only its own leaves, as a flat dict keyed by that path, so its errors name the
    original leaf; its step count is its own. The state is ``PartitionState(t, inner)`` with
    ``inner`` mapping each label to that rule's state. An extra keyword tree of ``step`` (MARS-M's
    ``prev_grad``, Sophia's ``hess``) goes to a rule only where it has a leaf that is not
    ``None`` for that rule's leaves, so other rules never see a keyword they do not take.
    """
    rules = dict(rules_by_label)
    for label, opt in rules.items():
        if not isinstance(label, str):
            raise ValueError(f"partition: labels must be strings (they name state entries), got {label!r}")
        if not (hasattr(opt, "init") and hasattr(opt, "step")):
            raise ValueError(f"partition: the rule for label {label!r} is not an optimizer: {opt!r}")
    if not rules:
        raise ValueError("partition: rules_by_label is empty")
    name = "partition(" + ", ".join(f"{k}={v.name}" for k, v in rules.items()) + ")"

    def checked_leaves(params: Any) -> list:
        leaves = [(tree.fmt_path(p), w) for p, w in tree.leaves_with_paths(params)]
        for path, w in leaves:
            check_leaf(path, w, w)
        return leaves

    def init(params: Any) -> PartitionState:
        routed = _route(label_fn, rules, checked_leaves(params))
        return PartitionState(0, {label: rules[label].init(routed[label]) for label in rules})

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, PartitionState]:
        check_state_type(name, state, PartitionState)
        t = step_count(name, state.t) + 1
        spec = tree.structure(params)
        leaves = checked_leaves(params)
        g_leaves = tree.leaves_like(spec, grads, "grads")
        for (path, w), g in zip(leaves, g_leaves):
            check_leaf(path, w, g)
        routed = _route(label_fn, rules, leaves)
        grads_of = dict(zip([path for path, _ in leaves], g_leaves))
        extra_of = {k: dict(zip([path for path, _ in leaves], tree.leaves_like(spec, v, k)))
                    for k, v in extra.items() if v is not None}
        new_leaf, inner = {}, {}
        for label, opt in rules.items():
            mine = routed[label]
            _has_inner(state, label, mine)
            kw = {k: {p: by_path[p] for p in mine} for k, by_path in extra_of.items()}
            kw = {k: sub for k, sub in kw.items() if any(v is not None for v in sub.values())}
            new, inner[label] = opt.step(mine, {p: grads_of[p] for p in mine}, state.inner[label], **kw)
            new_leaf.update(new)
        new_params = tree.unflatten(spec, [new_leaf[path] for path, _ in leaves])
        return new_params, PartitionState(t, inner)

    hyper = {f"{label}.{k}": v for label, opt in rules.items() for k, v in opt.hyperparams.items()}
    bounds = {f"{label}.{k}": v for label, opt in rules.items() for k, v in opt.bounds.items()}
    return Optimizer(name, init, step, hyper, bounds)


def _matrices_to_muon(path: str, w: Any) -> str:
    return "matrix" if len(w.shape) == 2 else "other"


def _example() -> Optimizer:
    from .rules.adamw import adamw
    from .rules.muon import muon
    return partition({"matrix": muon(lr=0.02), "other": adamw(lr=1e-3)}, _matrices_to_muon)


INFOS = (
    RuleInfo(name="partition", factory=partition, family="Combinators",
             paper="Jordan et al. (2024) (MuonWithAuxAdam); optax multi_transform", year=None,
             hook="Each leaf to the rule its label names",
             equations="w^{(\\ell)}_t = \\mathrm{step}_{\\mathrm{label}(\\ell)}"
                       "(w^{(\\ell)}_{t-1}, g^{(\\ell)}_t)",
             buffers="those of the inner rules", example=_example,
             checked_against={"torch.optim.Muon (flavor, NS in float64)+torch.optim.AdamW": 1e-12}),
)
