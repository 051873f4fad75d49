r"""``torch.optim``'s optimizers as refopt optimizers: torch's names, defaults and conventions.

``refopt.flavors.torch.Adam(lr=1e-3, betas=(0.9, 0.999), ...)`` gives the numbers of
``torch.optim.Adam`` with the same arguments (checked to 1e-10 relative in float64 by
``tests/flavors/test_torch.py``). Each constructor is the canonical rule with torch's knobs
set; four are rules of their own, because torch's algorithm is not the paper's: ``SGD`` with
``dampening > 0``, ``NAdam`` (torch's momentum schedule), ``Adafactor`` (eps1 as clamps, its
decay order) and ``Muon`` (its normalisation and lr adjustment). Their update rules are in
``refopt.flavors.torch_rules`` (Muon's in ``refopt.flavors.torch_muon``), whose docstrings say how
each differs.

Conventions shared by all: ``weight_decay`` is coupled L2 (:math:`g \leftarrow g + \lambda w`,
``refopt.coupled_weight_decay``) except for ``AdamW``, ``Muon``, ``Adafactor`` and
``decoupled_weight_decay=True``, where it is :math:`w \leftarrow w(1 - \eta\lambda)` before the
step, at the current lr; ``maximize=True`` negates the gradient before anything else. ``lr`` may
be a schedule ``t -> lr``, the lr torch's group holds at its t-th step (``torch_schedules``).
torch's ``foreach``, ``fused``, ``differentiable`` and ``capturable`` are taken by the name and
default of each optimizer (``**impl`` below) and choose the precision torch's code path has;
``lr`` (and ``betas``) may be 1-element tensors, read in their dtype (``torch_scalars``, which says
which paths compute with float32 scalars). ``scalar_dtype`` (Adam, AdamW, NAdam: "float32",
"float64", None = torch's default dtype now) is the dtype of torch's 0-d scalar state.
Parameter groups: ``torch_groups.param_groups``.
"""
from __future__ import annotations

import math
from functools import partial

import refopt

from ..backend import zeros_like
from ..core import NONNEGATIVE, UNIT, Interval, number, rule
from ..rules.muon import flag
from .torch_catalogue import ASGD, Rprop, SparseAdam, sparse_gradient  # noqa: F401
from .torch_examples import PERTURBATIONS, framework  # noqa: F401
from .torch_lbfgs import LBFGS
from .torch_muon import Muon
from .torch_rules import (DampenedMomentumState, TorchAdafactorState, TorchNAdamState,  # noqa: F401
                          adafactor_init, adafactor_update, dampened_update, nadam_update,
                          resolve_scalar_dtype)
from .torch_scalars import TorchAdamState, adam_init, adam_update, code_path
from .torch_wrappers import betas_pair as _betas, decoupled, finish as _finish, lr_at as _lr_at
from .torch_wrappers import lr_of as _lr, negated  # noqa: F401

PREFIX = "torch.optim."
__all__ = ["SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam", "RAdam",
           "Adafactor", "Muon", "Rprop", "ASGD", "SparseAdam", "LBFGS"]
# what the oracle CLI cannot run, and why (its gradient streams are dense torch tensors)
CLI_REFUSES = {"SparseAdam": "torch.optim.SparseAdam takes sparse gradients only and the oracle's streams "
               "are dense; tests/rules/test_sparse_adam.py checks it with sparse COO gradients "
               "(refopt.flavors.torch.sparse_gradient gives the rule's dense + mask form)",
               "LBFGS": "torch.optim.LBFGS evaluates the loss inside its step (a closure) and the oracle's "
               "streams are gradients only; tests/rules/test_lbfgs.py checks refopt.rules.lbfgs and this "
               "flavor against torch on Rosenbrock and a logistic regression"}

# the code-path options each torch.optim constructor takes (torch 2.13)
_PATHS = ("foreach", "differentiable")
_TAKES = {"SGD": (*_PATHS, "fused"), "Adagrad": (*_PATHS, "fused"), "Adam": (*_PATHS, "fused", "capturable"),
          "Adafactor": ("foreach",)}



def extra_arguments(attr: str) -> tuple[str, ...]:
    """The code-path options ``torch.optim.<attr>`` takes, which its flavor takes through ``**impl``."""
    return _TAKES.get(attr, (*_PATHS, "capturable")) if attr not in ("Muon", "SparseAdam", "LBFGS") else ()


# imported from here by the other flavors and the oracle
_REEXPORTED = (PERTURBATIONS, framework, decoupled, negated)


def _path(name: str, impl: dict) -> str:
    takes = _TAKES.get(name, (*_PATHS, "capturable"))
    return code_path(name, impl, takes, fused="fused" in takes)


# --- SGD ----------------------------------------------------------------------------------

def SGD(lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *, maximize=False, **impl):
    r"""``torch.optim.SGD``. ``momentum=0``: ``refopt.sgd``; ``dampening=0``: ``refopt.momentum``
    (``nesterov=True``: ``refopt.nesterov_reformulated``); otherwise torch's own
    :math:`b_1 = g_1,\ b_t = \mu b_{t-1} + (1-\tau) g_t,\ w_t = w_{t-1} - \eta b_t`."""
    _path("SGD", impl)
    lr = _lr(lr)
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
            maximize=False, **impl):
    r"""``torch.optim.Adagrad``: ``refopt.adagrad`` with :math:`s_0` =
    ``initial_accumulator_value`` and the lr schedule :math:`\eta/(1 + (t-1)\,\text{lr\_decay})`."""
    _path("Adagrad", impl)
    lr = _lr(lr)
    decay = number("lr_decay", lr_decay, NONNEGATIVE)
    # torch: clr = group["lr"] / (1 + (step - 1) * lr_decay), group["lr"] read at each step
    schedule = (lambda t: _lr_at(lr, t) / (1 + (t - 1) * decay)) if decay else lr
    opt = refopt.adagrad(lr=schedule, eps=eps, initial_accumulator=initial_accumulator_value)
    return _finish(opt, lr, weight_decay, maximize)


def RMSprop(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0, centered=False,
            maximize=False, **impl):
    """``torch.optim.RMSprop``: ``refopt.rmsprop`` with ``beta2=alpha``, eps outside the root."""
    _path("RMSprop", impl)
    lr = _lr(lr)
    opt = refopt.rmsprop(lr=lr, beta2=alpha, eps=eps, momentum=momentum, centered=centered)
    return _finish(opt, lr, weight_decay, maximize)


def Adadelta(lr=1.0, rho=0.9, eps=1e-6, weight_decay=0, *, maximize=False, **impl):
    """``torch.optim.Adadelta``: ``refopt.adadelta`` with ``beta2=rho``; lr scales the step,
    not the stored squared update (as in the rule)."""
    _path("Adadelta", impl)
    lr = _lr(lr)
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
         decoupled_weight_decay=False, scalar_dtype=None, **impl):
    """``torch.optim.Adam``: ``refopt.adam`` (eps outside the root of the corrected second
    moment); ``amsgrad=True``: see ``_torch_amsgrad``; ``decoupled_weight_decay``: AdamW.
    ``differentiable=True``: ``torch_scalars.adam_update``, torch's bias corrections as 0-d
    tensors of ``scalar_dtype`` (float32: 1e-5 relative from the float64 update)."""
    path = _path("Adam", impl)
    beta1, beta2 = _betas(betas, path == "fused")
    lr = _lr(lr, path == "fused")
    wd = number("weight_decay", weight_decay, NONNEGATIVE)
    if path == "differentiable":
        opt = rule("torch.Adam", TorchAdamState, adam_init(flag("amsgrad", amsgrad)), adam_update,
                   {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                    "eps": (number("eps", eps, NONNEGATIVE), NONNEGATIVE), "amsgrad": (amsgrad, None),
                    "scalar_dtype": (resolve_scalar_dtype(scalar_dtype), None)})
        return _finish(opt, lr, wd, maximize, flag("decoupled_weight_decay", decoupled_weight_decay))
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
          maximize=False, scalar_dtype=None, **impl):
    """``torch.optim.AdamW``: ``Adam(decoupled_weight_decay=True)`` with torch's default decay 1e-2."""
    return Adam(lr, betas, eps, weight_decay, amsgrad, maximize=maximize, decoupled_weight_decay=True,
                scalar_dtype=scalar_dtype, **impl)


def Adamax(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, *, maximize=False, **impl):
    """``torch.optim.Adamax``: ``refopt.adamax`` with eps inside the max, ``max(beta2*u, |g| + eps)``."""
    path = _path("Adamax", impl)
    beta1, beta2 = _betas(betas, False)
    lr = _lr(lr, path == "foreach")
    return _finish(refopt.adamax(lr=lr, beta1=beta1, beta2=beta2, eps=eps), lr, weight_decay, maximize)


def NAdam(lr=2e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, momentum_decay=4e-3,
          decoupled_weight_decay=False, *, maximize=False, scalar_dtype=None, **impl):
    """``torch.optim.NAdam``: its own rule (``torch_rules.nadam_update``), because torch's momentum
    coefficient changes with t (``momentum_decay`` psi); with psi -> inf it is
    ``refopt.nadam``'s constant-beta1 form. ``scalar_dtype`` ("float32", "float64"; None: torch's
    default dtype now, float32 if torch is not imported) is the dtype torch keeps the product of
    the mu_i in. With float32 (torch's usual default), even for float64 params, the product is
    rounded each step, and the update differs from the float64 one by a measured 7e-9 to 2.4e-8
    relative over 50 mixed steps (tests/flavors/test_torch.py); refopt rounds it as torch does.
    ``differentiable=True`` also divides by float32 ``1 - mu_product`` (``nadam_update``)."""
    path, scalar_dtype = _path("NAdam", impl), resolve_scalar_dtype(scalar_dtype)
    if scalar_dtype == "float32" and any(hasattr(b, "item") for b in betas):
        # a tensor beta1 makes mu a 0-d float64 tensor: torch rounds mu_product * mu once, not twice
        raise ValueError("betas as tensors are not supported with a float32 scalar_dtype: torch's "
                         "mu_product then rounds differently (not modelled); pass floats")
    beta1, beta2 = _betas(betas, False)
    lr = _lr(lr, path == "foreach")
    opt = rule("torch.NAdam", TorchNAdamState, lambda w: (zeros_like(w), zeros_like(w)), nadam_update,
               {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
                "eps": (eps, NONNEGATIVE), "momentum_decay": (momentum_decay, NONNEGATIVE),
                "scalar_dtype": (scalar_dtype, None),
                "differentiable": (path == "differentiable", None)})
    return _finish(opt, lr, weight_decay, maximize, flag("decoupled_weight_decay", decoupled_weight_decay))


def RAdam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, decoupled_weight_decay=False, *,
          maximize=False, **impl):
    r"""``torch.optim.RAdam``: ``refopt.radam`` with ``threshold=5`` (rectify while
    :math:`\rho_t > 5`) and torch's eps, :math:`\sqrt{1-\beta_2^t}/(\sqrt{s_t}+\epsilon)`, which
    is the rule's eps outside :math:`\sqrt{\hat s_t}` at :math:`\epsilon/\sqrt{1-\beta_2^t}`."""
    path = _path("RAdam", impl)
    beta1, beta2 = _betas(betas, False)
    lr = _lr(lr, path != "foreach")
    eps = number("eps", eps, NONNEGATIVE)
    opt = refopt.radam(lr=lr, beta1=beta1, beta2=beta2, eps=lambda t: eps / math.sqrt(1 - beta2**t),
                       threshold=5.0)
    return _finish(opt, lr, weight_decay, maximize, flag("decoupled_weight_decay", decoupled_weight_decay))


# --- Adafactor ----------------------------------------------------------------------------

def Adafactor(lr=1e-2, beta2_decay=-0.8, eps=(None, 1e-3), d=1.0, weight_decay=0.0, *, maximize=False,
              **impl):
    """``torch.optim.Adafactor``: its own rule (``torch_rules.adafactor_update``; torch's clamps and decay
    order differ from ``refopt.adafactor``, which adds eps1 to G^2). ``eps = (eps1, eps2)``;
    ``eps1=None`` is the params' dtype's machine epsilon, as in torch."""
    _path("Adafactor", impl)
    lr = _lr(lr, False)
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


# --- examples, shapes, tolerances (the framework side and perturbations: torch_examples) -----

SHAPES = {"Muon": {"w": (5, 4), "v": (3, 6)}}

# torch computes Muon's Newton-Schulz in bfloat16, and so does this flavor (refopt.flavors.bfloat16):
# measured bit-equal NS, worst update error 5.5e-14 over 25 steps where the matmul kernel is the
# emulated one (AVX512-BF16, m*n*k > 4096), 5.0e-3 where torch's kernel sums in another order (16x16);
# the float64 formula is 2.5e-2..1.3e-1 away (scripts/measure_bfloat16_muon.py).
RTOL = {"Muon": 1e-2}


def precision(attr: str) -> tuple[str, dict | None] | None:
    """Where ``torch.optim.<attr>`` computes below the params' dtype, as this flavor models it by
    default, and the flavor arguments that give the float64 formula instead (None: no effect)."""
    if attr == "Muon":
        return "Newton-Schulz in bfloat16, as torch computes it", {"newton_schulz_dtype": "float64"}
    if attr in ("Adam", "AdamW", "NAdam"):
        dtype = resolve_scalar_dtype(None)
        state = "step, mu_product" if attr == "NAdam" else "step"
        formula = {"scalar_dtype": "float64"} if dtype == "float32" else None
        return f"scalar state ({state}) in torch's default dtype, {dtype}, as torch keeps it", formula
    return None


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
