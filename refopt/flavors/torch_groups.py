"""torch's parameter groups as a ``refopt.partition``.

torch takes ``Optimizer([{"params": [...], "lr": 1e-2}, {"params": [...]}], lr=1e-3, ...)``: each
group's options override the constructor's for its parameters. Here::

    param_groups(T.Adam, [{"params": ["['w']"], "lr": 1e-2}, {"params": lambda path, w: w.ndim == 1}],
                 lr=1e-3)

``"params"`` names the group's leaves: a list of leaf paths as refopt prints them (``"['w']"``,
``"['layer'][0]"``, ``"<root>"`` for a lone array; ``refopt.tree.fmt_path``), or a predicate
``(path, leaf) -> bool``. Every leaf must be in exactly one group (torch refuses a parameter in
two groups, and steps only the parameters it was given). Each group is the flavor built from
the constructor's options updated by the group's, so each validates its own options.

torch's Adagrad fills ``state['sum']`` from the constructor's ``initial_accumulator_value``
(``Adagrad.__init__`` and ``_init_group`` read ``self.defaults``), never the group's: a group's
value is ignored, and so it is here.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import refopt

from ..core import Optimizer
from . import torch as T

__all__ = ["param_groups"]


def _member(spec: Any, index: int) -> Callable[[str, Any], bool]:
    if callable(spec):
        return lambda path, w: bool(spec(path, w))
    if isinstance(spec, str) or not isinstance(spec, Sequence):
        raise ValueError(f"param_groups: group {index}'s 'params' must be a list of leaf paths or a "
                         f"predicate (path, leaf) -> bool, got {spec!r}")
    paths = set(spec)
    return lambda path, w: path in paths


def param_groups(constructor: Callable[..., Optimizer], groups: Sequence[dict], **defaults: Any) -> Optimizer:
    """``constructor`` (a ``refopt.flavors.torch`` flavor) over torch-style ``groups``; ``defaults``
    are the constructor's own arguments, as torch's keyword arguments after the groups."""
    if isinstance(groups, dict) or not isinstance(groups, Sequence) or not groups:
        raise ValueError("param_groups: groups must be a non-empty list of dicts with 'params'")
    rules, members = {}, []
    for i, group in enumerate(groups):
        if not isinstance(group, dict) or "params" not in group:
            raise ValueError(f"param_groups: group {i} must be a dict with a 'params' entry, got {group!r}")
        options = {**defaults, **{k: v for k, v in group.items() if k != "params"}}
        if constructor is T.Adagrad:  # torch reads the constructor's value, not the group's
            options["initial_accumulator_value"] = defaults.get("initial_accumulator_value", 0)
        rules[f"group{i}"] = constructor(**options)
        members.append(_member(group["params"], i))

    def label(path: str, w: Any) -> str:
        found = [i for i, is_member in enumerate(members) if is_member(path, w)]
        if len(found) != 1:
            where = "no group" if not found else f"groups {found}"
            raise ValueError(f"param_groups: leaf {path} is in {where}; each leaf must be in exactly one")
        return f"group{found[0]}"

    return refopt.partition(rules, label)
