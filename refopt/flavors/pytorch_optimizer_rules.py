r"""pytorch-optimizer's conventions shared by the constructors of ``refopt.flavors.pytorch_optimizer``:
its weight decay and ``maximize`` (``finish``), AdamD's step size (``debiased_lr``), its split of
leaves by ndim (``by_ndim``), its Newton-Schulz coefficient presets (``ns_coefficients``), and the
refusal of options that no refopt rule reproduces (``no_extras``, ``refuse``).

The flavors add no update rule of their own: where pytorch-optimizer's algorithm is not the
paper's (Yogi), it is a setting of the canonical rule (``refopt.yogi(bias_correction="moments")``).
"""
from __future__ import annotations

from typing import Any

import refopt

from ..core import NONNEGATIVE, Optimizer, number
from ..rules import ns_presets
from ..rules.muon import flag
from .torch import decoupled, negated

__all__ = ["no_extras", "refuse", "finish", "debiased_lr", "by_ndim", "ns_coefficients"]


# extra keywords some of pytorch-optimizer's classes read from ``**kwargs`` (group.get(...))
_EXTRAS = {"use_gc": "gradient centralization", "adanorm": "AdaNorm gradient rescaling",
           "adanorm_r": "AdaNorm gradient rescaling", "cautious": "the cautious update mask"}


def refuse(cls: str, option: str, why: str) -> None:
    raise ValueError(f"pytorch_optimizer.{cls}: {option} is not modelled by refopt ({why})")


def no_extras(cls: str, extras: dict, reads: tuple[str, ...] = ()) -> None:
    """``extras``: the keywords beyond the flavor's named arguments. Those the class ``reads``
    (``_EXTRAS``) are refused when set (falsy values change nothing); any other is a
    ``TypeError``, as a misspelled argument is."""
    for key, value in extras.items():
        if key not in reads:
            raise TypeError(f"pytorch_optimizer.{cls} got an unexpected keyword argument {key!r}")
        if value:
            refuse(cls, f"{key}={value!r}", _EXTRAS[key])


def finish(opt: Optimizer, lr: float, weight_decay: float, weight_decouple: bool, fixed_decay: bool,
           maximize: bool) -> Optimizer:
    """pytorch-optimizer's ``apply_weight_decay`` around ``opt``, then ``maximize`` outermost (it
    negates the gradient before the decay is added to it)."""
    wd = number("weight_decay", weight_decay, NONNEGATIVE)
    if wd and flag("weight_decouple", weight_decouple):
        opt = decoupled(opt, 1.0 if flag("fixed_decay", fixed_decay) else lr, wd)
    elif wd:
        opt = refopt.coupled_weight_decay(opt, wd)
    return negated(opt) if flag("maximize", maximize) else opt


def debiased_lr(lr: float, beta1: float, adam_debias: bool) -> Any:
    """``adam_debias=True`` (AdamD) drops the first moment's 1 - beta1^t from the step size: the
    rules divide m by it, so their lr is multiplied by it back."""
    return (lambda t: lr * (1 - beta1**t)) if flag("adam_debias", adam_debias) else lr


def by_ndim(matrices: Optimizer, others: Optimizer) -> Optimizer:
    """``matrices`` for leaves of ndim >= 2, ``others`` for the rest (pytorch-optimizer's split)."""
    return refopt.partition({"ndim>=2": matrices, "ndim<2": others},
                            lambda path, w: "ndim>=2" if w.ndim >= 2 else "ndim<2")


def ns_coefficients(cls: str, ns_coeffs: Any) -> Any:
    """pytorch-optimizer's ``ns_coeffs``: one of its preset names (any case, as it reads them) as the
    refopt preset with those numbers (``ns_presets.LIBRARY_NAMES``), one (a, b, c) triple, or a
    sequence of per-iteration triples (the last repeated, as theirs)."""
    if isinstance(ns_coeffs, str):
        names = ns_presets.LIBRARY_NAMES["pytorch_optimizer"]
        if ns_coeffs.lower() not in names:
            raise ValueError(f"pytorch_optimizer.{cls}: ns_coeffs={ns_coeffs!r} is none of its presets "
                             f"{tuple(names)}")
        return names[ns_coeffs.lower()]
    return ns_presets.validated(ns_coeffs)
