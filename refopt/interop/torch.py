r"""torch and refopt, both directions: ``torch_optimizer`` (a torch optimizer as a refopt pair, for the
oracle) and ``Optimizer`` (a refopt rule as a real ``torch.optim.Optimizer``).

``refopt.interop.torch.Optimizer(model.parameters(), refopt.flavors.torch.AdamW(lr=1e-3))`` trains
a torch model with the reference rule itself: each ``step()`` runs, under ``torch.no_grad``, the
rule's pure ``step`` on every parameter that has a gradient, on the tensors themselves (CPU or CUDA:
the rules are Array API code, array-api-compat gives them torch's namespace), and copies the result
into the parameter. A parameter is one tree of one leaf, as torch applies its per-parameter update:
each keeps its own state and step count, and one without a gradient is skipped (its state stays).
So a rule that couples leaves (global-norm clipping over a tree, a partition routed by leaf path)
sees one leaf at a time: give such a rule its own param group per leaf set, or step it as refopt.

Param groups are torch's list of dicts; a group's ``"rule"`` key overrides the default rule for its
parameters (``[{"params": decay, "rule": AdamW(weight_decay=0.1)}, {"params": rest, "rule":
AdamW(weight_decay=0.0)}]``). The rules are kept beside ``param_groups``, not in them, so that
``state_dict()`` holds tensors and numbers only and saves with ``torch.save`` and loads with
``torch.load(weights_only=True)``. A learning rate that changes goes in the rule as a schedule
``t -> lr`` (torch's ``lr_scheduler`` classes drive ``group["lr"]``, which this optimizer does not
read: ``refopt.flavors.torch_schedules`` gives them as schedules).

The state of a parameter is ``{"step": t, <field>: <tensor>, ...}``: the rule's state NamedTuple
opened into a dict (torch's own layout), rebuilt into the NamedTuple for each step.
``load_state_dict`` keeps each saved tensor's dtype (torch would cast every tensor to the
parameter's: a quantized state's uint8 codes or float32 scales must stay what they are).
"""
from __future__ import annotations

from typing import Any, Iterable

import numpy as np
import torch

from .. import tree
from . import Adapter

__all__ = ["Optimizer", "torch_optimizer"]


def torch_optimizer(cls: Any, **kwargs: Any) -> Adapter:
    """A ``torch.optim.Optimizer`` subclass (torch's own or pytorch-optimizer's), built
    with ``kwargs`` over float tensors made from the params' NumPy leaves (their dtype kept).
    torch's default dtype is left alone, so its scalar state is in the user's default dtype."""
    def init(params: Any) -> Any:
        spec = tree.structure(params)
        leaves = [torch.nn.Parameter(torch.tensor(np.array(w))) for _, w in tree.leaves_with_paths(params)]
        return spec, leaves, cls(leaves, **kwargs)

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        spec, leaves, opt = state
        for p, g in zip(leaves, tree.leaves_like(spec, grads, "grads")):
            p.grad = torch.tensor(np.array(g))
        opt.step()
        return tree.unflatten(spec, [p.detach().numpy().copy() for p in leaves]), state

    return Adapter(f"{cls.__module__}.{cls.__name__}", init, step)


def _check_rule(rule: Any, where: str) -> Any:
    if not (callable(getattr(rule, "init", None)) and callable(getattr(rule, "step", None))):
        raise TypeError(f"{where} must be a refopt optimizer (with init and step), got {type(rule).__name__}")
    return rule


def _copy_to(value: Any, device: torch.device) -> Any:
    """``value`` (a tensor, or tuples/lists/dicts of them) copied to ``device``, dtypes kept."""
    if isinstance(value, torch.Tensor):
        return value.detach().to(device=device, copy=True)
    if isinstance(value, dict):
        return {k: _copy_to(v, device) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return type(value)(_copy_to(v, device) for v in value)
    return value


class Optimizer(torch.optim.Optimizer):
    """``torch.optim.Optimizer`` stepping ``rule`` (module docstring); ``rule`` is the default for
    groups without a ``"rule"`` key."""

    def __init__(self, params: Iterable[Any], rule: Any):
        self._default_rule = _check_rule(rule, "rule")
        self._rules: list[Any] = []
        self._state_types: dict[int, type] = {}
        super().__init__(params, defaults={})

    def add_param_group(self, param_group: dict) -> None:
        group = dict(param_group)
        rule = _check_rule(group.pop("rule", self._default_rule), f"param group {len(self._rules)}'s rule")
        super().add_param_group(group)
        self._rules.append(rule)

    def _state_type(self, index: int, rule: Any, p: torch.Tensor) -> type:
        if index not in self._state_types:
            state = rule.init(p.detach())
            if not (isinstance(state, tuple) and getattr(state, "_fields", ())[:1] == ("t",)):
                raise TypeError(f"param group {index}'s rule {getattr(rule, 'name', rule)!r} keeps a state "
                                f"{type(state).__name__} that is not a NamedTuple with t first")
            self._state_types[index] = type(state)
        return self._state_types[index]

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for index, (group, rule) in enumerate(zip(self.param_groups, self._rules)):
            if not group["params"]:
                continue
            cls = self._state_type(index, rule, group["params"][0])
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError(f"param group {index}: a sparse gradient; refopt's rules take dense ones")
                entry = self.state[p]
                state = cls(entry["step"], *(entry[f] for f in cls._fields[1:])) if entry else rule.init(p.detach())
                new, state = rule.step(p.detach(), p.grad.detach(), state)
                p.copy_(new)
                self.state[p] = {"step": state.t, **dict(zip(cls._fields[1:], state[1:]))}
        return loss

    def load_state_dict(self, state_dict: dict) -> None:
        saved = state_dict["state"]
        super().load_state_dict(state_dict)
        params = [p for group in self.param_groups for p in group["params"]]
        for i, p in enumerate(params):
            if i in saved:
                self.state[p] = _copy_to(saved[i], p.device)
