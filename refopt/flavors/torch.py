r"""``torch.optim``'s optimizers as refopt optimizers: torch's names, defaults and conventions.

``refopt.flavors.torch.Adam(lr=1e-3, betas=(0.9, 0.999), ...)`` gives the numbers of
``torch.optim.Adam`` with the same arguments (checked to 1e-10 relative in float64 by
``tests/flavors/test_torch.py``). Each constructor is the canonical rule with torch's knobs
set; four are rules of their own, because torch's algorithm is not the paper's: ``SGD`` with
``dampening > 0``, ``NAdam`` (torch's momentum schedule), ``Adafactor`` (eps1 as clamps, its
decay order) and ``Muon`` (its normalisation and lr adjustment). Their update rules are in
``refopt.flavors.torch_rules`` (Muon's in ``refopt.flavors.torch_muon``), whose docstrings say how each differs.

Conventions shared by all: ``weight_decay`` is coupled L2 (:math:`g \leftarrow g + \lambda w`,
``refopt.coupled_weight_decay``) except for ``AdamW``, ``Muon``, ``Adafactor`` and
``decoupled_weight_decay=True``, where it is :math:`w \leftarrow w(1 - \eta\lambda)` before the
step, at the current lr; ``maximize=True`` negates the gradient before anything else. ``lr`` may
be a schedule ``t -> lr``, the lr torch's group holds at its t-th step (``torch_schedules``).
torch's ``foreach``, ``fused``, ``capturable`` and ``differentiable`` choose code paths, not
numbers: not taken.
torch keeps 0-d scalar state in float32 unless its default dtype is float64; of the optimizers
here only NAdam computes with it (its step counts are exact integers): see ``NAdam(scalar_dtype)``.
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any

import refopt

from .. import tree
from ..backend import zeros_like
from ..core import NONNEGATIVE, UNIT, Interval, Optimizer, number, rule
from ..rules.muon import flag
from .torch_muon import Muon
from .torch_rules import (DampenedMomentumState, TorchAdafactorState, TorchNAdamState,
                          adafactor_init, adafactor_update, dampened_update, nadam_update,
                          resolve_scalar_dtype)

PREFIX = "torch.optim."
__all__ = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
           "Adafactor", "Muon"]


# --- wrappers: torch's gradient preprocessing and decoupled decay --------------------------

def negated(opt: Optimizer) -> Optimizer:
    """``maximize=True``: the step of ``opt`` on ``-g``."""
    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        return opt.step(params, tree.tree_map(lambda g: -g, grads), state)

    return Optimizer(f"{opt.name}+maximize", opt.init, step, opt.hyperparams, opt.bounds)


def _lr(lr: Any) -> Any:  # a float, or a schedule t -> lr checked where it is evaluated
    return lr if callable(lr) else number("lr", lr, NONNEGATIVE)


def _lr_at(lr: Any, t: int) -> float:  # torch reads its group's lr afresh at every .step()
    return number("lr", lr(t), NONNEGATIVE, f" (schedule at step {t})") if callable(lr) else lr


def decoupled(opt: Optimizer, lr: Any, weight_decay: float) -> Optimizer:
    """``w <- w (1 - lr_t*weight_decay)`` with the current lr (torch's), then ``opt``'s step;
    ``opt`` is a ``refopt.core.rule`` optimizer, whose state's ``t`` counts the steps taken."""
    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        factor = 1 - _lr_at(lr, state.t + 1) * weight_decay
        return opt.step(tree.tree_map(lambda w: w * factor, params), grads, state)

    return Optimizer(f"{opt.name}+decay", opt.init, step,
                     {**opt.hyperparams, "decay": weight_decay}, opt.bounds)


def _finish(opt: Optimizer, lr: Any, weight_decay: float, maximize: bool,
            decoupled_decay: bool = False) -> Optimizer:
    number("weight_decay", weight_decay, NONNEGATIVE)
    if weight_decay:
        opt = (decoupled(opt, lr, weight_decay) if decoupled_decay
               else refopt.coupled_weight_decay(opt, weight_decay))
    return negated(opt) if flag("maximize", maximize) else opt


def _betas(betas: Any) -> tuple[float, float]:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise ValueError(f"betas must be a pair (beta1, beta2), got {betas!r}")
    return number("betas[0]", betas[0], UNIT), number("betas[1]", betas[1], UNIT)


# --- SGD ----------------------------------------------------------------------------------

def SGD(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False):
    r"""``torch.optim.SGD``. ``momentum=0``: ``refopt.sgd``; ``dampening=0``: ``refopt.momentum``
    (``nesterov=True``: ``refopt.nesterov_reformulated``); otherwise torch's own
    :math:`b_1 = g_1,\ b_t = \mu b_{t-1} + (1-\tau) g_t,\ w_t = w_{t-1} - \eta b_t`."""
    number("momentum", momentum, NONNEGATIVE)
    number("dampening", dampening, Interval(0.0, 1.0, hi_open=False))
    if flag("nesterov", nesterov) and (momentum <= 0 or dampening != 0):
        raise ValueError("nesterov=True needs momentum > 0 and dampening = 0 (as torch)")
    if momentum == 0:
        opt = refopt.sgd(lr=lr)
    elif nesterov:
        opt = refopt.nesterov_reformulated(lr=lr, beta1=momentum)
    elif dampening == 0:
        opt = refopt.momentum(lr=lr, beta1=momentum)
    else:
        opt = rule("torch.SGD", DampenedMomentumState, lambda w: (zeros_like(w),), dampened_update,
                   {"lr": (lr, NONNEGATIVE), "momentum": (momentum, UNIT),
                    "dampening": (dampening, Interval(0.0, 1.0, hi_open=False))})
    return _finish(opt, lr, weight_decay, maximize)


# --- AdaGrad, RMSprop, Adadelta -----------------------------------------------------------

def Adagrad(lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0, eps=1e-10, *,
            maximize=False):
    r"""``torch.optim.Adagrad``: ``refopt.adagrad`` with :math:`s_0` =
    ``initial_accumulator_value`` and the lr schedule :math:`\eta/(1 + (t-1)\,\text{lr\_decay})`."""
    lr = _lr(lr)
    decay = number("lr_decay", lr_decay, NONNEGATIVE)
    # torch: clr = group["lr"] / (1 + (step - 1) * lr_decay), group["lr"] read at each step
    schedule = (lambda t: _lr_at(lr, t) / (1 + (t - 1) * decay)) if decay else lr
    opt = refopt.adagrad(lr=schedule, eps=eps, initial_accumulator=initial_accumulator_value)
    return _finish(opt, lr, weight_decay, maximize)


def RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
            maximize=False):
    """``torch.optim.RMSprop``: ``refopt.rmsprop`` with ``beta2=alpha``, eps outside the root."""
    opt = refopt.rmsprop(lr=lr, beta2=alpha, eps=eps, momentum=momentum, centered=centered)
    return _finish(opt, lr, weight_decay, maximize)


def Adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False):
    """``torch.optim.Adadelta``: ``refopt.adadelta`` with ``beta2=rho``; lr scales the step,
    not the stored squared update (as in the rule)."""
    return _finish(refopt.adadelta(lr=lr, beta2=rho, eps=eps), lr, weight_decay, maximize)


# --- the Adam family ----------------------------------------------------------------------

def _torch_amsgrad(lr, beta1, beta2, eps):
    r"""torch's AMSGrad: the max of the *raw* second moment, then Adam's corrections at the
    current step, :math:`\eta\,\hat m_t/(\sqrt{s^{\max}_t}/\sqrt{1-\beta_2^t} + \epsilon)`:
    ``refopt.amsgrad`` with lr :math:`\eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)` and eps
    :math:`\epsilon\sqrt{1-\beta_2^t}`."""
    return refopt.amsgrad(lr=lambda t: _lr_at(lr, t) * math.sqrt(1 - beta2**t) / (1 - beta1**t),
                          beta1=beta1, beta2=beta2, eps=lambda t: eps * math.sqrt(1 - beta2**t))


def Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *, maximize=False,
         decoupled_weight_decay=False):
    """``torch.optim.Adam``: ``refopt.adam`` (eps outside the root of the corrected second
    moment); ``amsgrad=True``: see ``_torch_amsgrad``; ``decoupled_weight_decay``: AdamW."""
    beta1, beta2 = _betas(betas)
    lr = _lr(lr)
    wd = number("weight_decay", weight_decay, NONNEGATIVE)
    if flag("amsgrad", amsgrad):
        opt = _torch_amsgrad(lr, beta1, beta2, number("eps", eps, NONNEGATIVE))
    elif flag("decoupled_weight_decay", decoupled_weight_decay) and wd:
        # refopt.adamw scales the decay by its schedule multiplier only: torch's lr*wd is ours;
        # a torch schedule lr_t is adamw's multiplier over a unit step size, lr_t (step + wd w)
        opt = (refopt.adamw(lr=1.0, schedule_multiplier=lambda t: _lr_at(lr, t), beta1=beta1,
                            beta2=beta2, eps=eps, weight_decay=wd) if callable(lr)
               else refopt.adamw(lr=lr, beta1=beta1, beta2=beta2, eps=eps, weight_decay=lr * wd))
        return _finish(opt, lr, 0, maximize)
    else:
        opt = refopt.adam(lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    return _finish(opt, lr, wd, maximize, decoupled_weight_decay)


def AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False, *,
          maximize=False):
    """``torch.optim.AdamW``: ``Adam(decoupled_weight_decay=True)`` with torch's default decay 1e-2."""
    return Adam(lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True)


def Adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, *, maximize=False):
    """``torch.optim.Adamax``: ``refopt.adamax`` with eps inside the max, ``max(beta2*u, |g| + eps)``."""
    beta1, beta2 = _betas(betas)
    return _finish(refopt.adamax(lr=lr, beta1=beta1, beta2=beta2, eps=eps), lr, weight_decay, maximize)


def NAdam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
          decoupled_weight_decay=False, *, maximize=False, scalar_dtype=None):
    """``torch.optim.NAdam``: its own rule (``torch_rules.nadam_update``), because torch's momentum
    coefficient changes with t (``momentum_decay`` psi); with psi -> inf it is
    ``refopt.nadam``'s constant-beta1 form. ``scalar_dtype`` ("float32", "float64"; None: torch's
    default dtype now, float32 if torch is not imported) is the dtype torch keeps the product of
    the mu_i in. With float32 (torch's usual default), even for float64 params, the product is
    rounded each step, and the update differs from the float64 one by a measured 7e-9 to 2.4e-8
    relative over 50 mixed steps (tests/flavors/test_torch.py); refopt rounds it as torch does."""
    beta1, beta2 = _betas(betas)
    opt = rule("torch.NAdam", TorchNAdamState, lambda w: (zeros_like(w), zeros_like(w)), nadam_update,
               {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                "eps": (eps, NONNEGATIVE), "momentum_decay": (momentum_decay, NONNEGATIVE),
                "scalar_dtype": (resolve_scalar_dtype(scalar_dtype), None)})
    return _finish(opt, lr, weight_decay, maximize, flag("decoupled_weight_decay", decoupled_weight_decay))


def RAdam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False, *,
          maximize=False):
    r"""``torch.optim.RAdam``: ``refopt.radam`` with ``threshold=5`` (rectify while
    :math:`\rho_t > 5`) and torch's eps, :math:`\sqrt{1-\beta_2^t}/(\sqrt{s_t}+\epsilon)`, which
    is the rule's eps outside :math:`\sqrt{\hat s_t}` at :math:`\epsilon/\sqrt{1-\beta_2^t}`."""
    beta1, beta2 = _betas(betas)
    eps = number("eps", eps, NONNEGATIVE)
    opt = refopt.radam(lr=lr, beta1=beta1, beta2=beta2, eps=lambda t: eps / math.sqrt(1 - beta2**t),
                       threshold=5.0)
    return _finish(opt, lr, weight_decay, maximize, flag("decoupled_weight_decay", decoupled_weight_decay))


# --- Adafactor ----------------------------------------------------------------------------

def Adafactor(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *, maximize=False):
    """``torch.optim.Adafactor``: its own rule (``torch_rules.adafactor_update``; torch's clamps and decay
    order differ from ``refopt.adafactor``, which adds eps1 to G^2). ``eps = (eps1, eps2)``;
    ``eps1=None`` is the params' dtype's machine epsilon, as in torch."""
    if not isinstance(eps, (tuple, list)) or len(eps) != 2:
        raise ValueError(f"eps must be a pair (eps1, eps2), got {eps!r}")
    eps1 = None if eps[0] is None else number("eps[0]", eps[0], NONNEGATIVE)
    if not isinstance(beta2_decay, (int, float)) or not beta2_decay <= 0:
        raise ValueError(f"beta2_decay must be a number <= 0, got {beta2_decay!r}")
    opt = rule("torch.Adafactor", TorchAdafactorState, adafactor_init, adafactor_update,
               {"lr": (lr, NONNEGATIVE), "beta2_decay": (float(beta2_decay), None), "eps1": (eps1, None),
                "eps2": (eps[1], NONNEGATIVE), "d": (d, Interval(0.0, lo_open=True)),
                "weight_decay": (weight_decay, NONNEGATIVE)})
    return negated(opt) if flag("maximize", maximize) else opt


# --- the framework side, examples, perturbations -------------------------------------------

def framework(attr: str, **kwargs: Any) -> Any:
    """``torch.optim.<attr>(params, **kwargs)`` as an adapter over NumPy params."""
    import torch

    from ..oracle.adapters import torch_optimizer
    if not hasattr(torch.optim, attr):
        raise ValueError(f"torch.optim has no optimizer {attr!r}")
    return torch_optimizer(getattr(torch.optim, attr), **kwargs)


SHAPES = {"Muon": {"w": (5, 4), "v": (3, 6)}}

# torch computes Muon's Newton-Schulz in bfloat16 (8-bit significand, unit roundoff 2^-8):
# against this float64 flavor the worst relative update error measured over 25-30 steps of
# mixed gradients is 5.2e-2 (tests/flavors/test_torch.py), so the oracle allows 0.1.
RTOL = {"Muon": 0.1}


def _example(name, **kwargs):
    return partial(globals()[name], **kwargs)


EXAMPLES = {
    "torch.optim.SGD": _example("SGD", lr=0.05, momentum=0.9, dampening=0.5, weight_decay=0.01),
    "torch.optim.Adagrad": _example("Adagrad", lr=0.05, lr_decay=0.01, initial_accumulator_value=0.1),
    "torch.optim.RMSprop": _example("RMSprop", lr=0.01, centered=True, momentum=0.9),
    "torch.optim.Adadelta": _example("Adadelta", lr=1.0, rho=0.9),
    "torch.optim.Adam": _example("Adam", lr=1e-2, amsgrad=True),
    "torch.optim.AdamW": _example("AdamW", lr=1e-2),
    "torch.optim.Adamax": _example("Adamax", lr=2e-3),
    "torch.optim.NAdam": _example("NAdam", lr=2e-3),
    "torch.optim.RAdam": _example("RAdam", lr=1e-2),
    "torch.optim.Adafactor": _example("Adafactor", lr=1e-2, weight_decay=0.01),
    "torch.optim.Muon": _example("Muon", lr=0.02),
}


def _adam_eps_in_sqrt(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, **rest):
    beta1, beta2 = _betas(betas)
    return refopt.adam(lr=lr, beta1=beta1, beta2=beta2, eps=0.0, eps_root=eps)


def _rmsprop_eps_in_sqrt(lr=1e-2, alpha=0.99, eps=1e-8, momentum=0, centered=False, **rest):
    return refopt.rmsprop(lr=lr, beta2=alpha, eps=0.0, eps_root=eps, momentum=momentum, centered=centered)


def _adagrad_eps_in_sqrt(lr=1e-2, eps=1e-10, initial_accumulator_value=0, **rest):
    return refopt.adagrad(lr=lr, eps=0.0, eps_root=eps, initial_accumulator=initial_accumulator_value)


def _radam_paper_threshold(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, **rest):
    beta1, beta2 = _betas(betas)
    eps = number("eps", eps, NONNEGATIVE)
    return refopt.radam(lr=lr, beta1=beta1, beta2=beta2, eps=lambda t: eps / math.sqrt(1 - beta2**t),
                        threshold=4.0)


# eps-in-sqrt: eps moved inside the square root (optax's and keras's placement);
# paper-threshold: RAdam rectifying from rho_t > 4 (the paper) instead of torch's 5, which
# with beta2 = 0.999 changes step 5 only (rho_5 = 4.996)
PERTURBATIONS = {"eps-in-sqrt": {"Adam": _adam_eps_in_sqrt, "RMSprop": _rmsprop_eps_in_sqrt,
                                 "Adagrad": _adagrad_eps_in_sqrt},
                 "paper-threshold": {"RAdam": _radam_paper_threshold}}
