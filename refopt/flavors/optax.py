r"""optax's optimizers as refopt optimizers: optax's names, defaults and conventions.

``refopt.flavors.optax.adam(learning_rate, b1=0.9, ...)`` gives the numbers of ``optax.adam``
with the same arguments (checked to 1e-10 relative in float64 by
``tests/flavors/test_optax.py``). Each constructor is the canonical rule with optax's knobs
set, or a rule of its own where optax's algorithm is not the paper's: ``rmsprop`` with
``bias_correction`` or ``nesterov``, ``amsgrad``, ``adafactor``, ``lars`` and ``adan``.
Their update rules are in ``refopt.flavors.optax_rules``, whose docstring says how each
differs.

optax's ``learning_rate`` multiplies the whole update (decoupled decays included), as the
canonical rules' ``lr`` does. It may be an optax schedule (any function of optax's ``count``):
optax calls it with the number of updates already applied, so refopt's step t uses
``learning_rate(t - 1)``, count 0 at the first update (``optax_schedules.CountSchedule``).
Storage dtypes (``mu_dtype``, ``accumulator_dtype``, Adafactor's ``dtype_momentum``) are modelled
as optax computes with them (``optax_precision``); a complex or non-float dtype raises
``ValueError``. Adafactor's ``decay_rate_dtype`` (refopt's knob, not optax's) chooses the dtype of
optax's decay power: float32 as optax computes it by default, float64 as under
``optax.inject_hyperparams`` with x64 on. Masks are supported only at their default.

``optax.contrib`` is in ``optax_contrib``; ``framework`` (optax's own optimizer, for the oracle)
in ``optax_framework``.
"""
from __future__ import annotations

from functools import partial

import refopt

from ..backend import zeros_like
from ..core import NONNEGATIVE, UNIT, number, rule
from .optax_contrib import contrib
from .optax_framework import framework
from .optax_layerwise import adafactor, adan, lamb, lars, lion
from .optax_precision import default_only, storage_dtype, stored_in
from .optax_rules import AmsgradState, RmspropState, amsgrad_update, rmsprop_init, rmsprop_update
from .optax_schedules import scheduled
from .optax_catalogue import fromage, novograd, sign_sgd, signum
from .optax_catalogue_b import (noisy_sgd, optimistic_adam, optimistic_adam_v2, optimistic_gradient_descent,
                                polyak_sgd, sm3)
from .torch import decoupled, negated
from .torch_catalogue import optax_rprop as rprop

PREFIX = "optax."
__all__ = ["sgd", "adagrad", "rmsprop", "adadelta", "adam", "adamw", "nadam", "nadamw", "amsgrad", "adamax",
           "adamaxw", "radam", "yogi", "adabelief", "adafactor", "lars", "lamb", "lion", "adan", "rprop",
           "sign_sgd", "signum", "fromage", "novograd", "noisy_sgd", "optimistic_gradient_descent",
           "optimistic_adam", "optimistic_adam_v2", "polyak_sgd", "sm3", "contrib", "framework"]
NOT_MODELLED = {"lbfgs": "optax.lbfgs runs a zoom line search on the loss inside its update "
                "(value_fn, optax's own scaling of the first direction); refopt.rules.lbfgs models "
                "torch.optim.LBFGS, not this"}


@scheduled
def sgd(learning_rate, momentum=None, nesterov=False, accumulator_dtype=None):
    """``optax.sgd``: ``refopt.sgd``, ``refopt.momentum`` (optax's ``trace``, b_0 = 0) or
    ``refopt.nesterov_reformulated``; the trace stored in ``accumulator_dtype``."""
    dtype = storage_dtype("accumulator_dtype", accumulator_dtype)
    if momentum is None:
        return refopt.sgd(lr=learning_rate)
    if nesterov:
        opt, field = refopt.nesterov_reformulated(lr=learning_rate, beta1=momentum), "b"
    else:
        opt, field = refopt.momentum(lr=learning_rate, beta1=momentum), "m"
    return stored_in(opt, field, momentum, dtype, "accumulator_dtype")


@scheduled
def adagrad(learning_rate, initial_accumulator_value=0.1, eps=1e-7):
    """``optax.adagrad``: ``refopt.adagrad`` with eps inside the root and s_0 = 0.1."""
    return refopt.adagrad(lr=learning_rate, eps=0.0, eps_root=eps,
                          initial_accumulator=initial_accumulator_value)


@scheduled
def rmsprop(learning_rate, decay=0.9, eps=1e-8, initial_scale=0.0, eps_in_sqrt=True, centered=False,
            momentum=None, nesterov=False, bias_correction=False):
    """``optax.rmsprop``: ``refopt.rmsprop`` (eps inside the root by default, s_0 =
    ``initial_scale``), or ``optax_rules.rmsprop_update`` with ``bias_correction`` or
    ``nesterov``."""
    for name, value in (("eps_in_sqrt", eps_in_sqrt), ("centered", centered), ("nesterov", nesterov),
                        ("bias_correction", bias_correction)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    in_trace = callable(learning_rate) and momentum is not None  # optax: lr, then trace
    if not (bias_correction or nesterov or in_trace):
        return refopt.rmsprop(lr=learning_rate, beta2=decay, eps=0.0 if eps_in_sqrt else eps,
                              eps_root=eps if eps_in_sqrt else 0.0, momentum=momentum or 0.0,
                              centered=centered, initial_accumulator=initial_scale)
    s0 = number("initial_scale", initial_scale, NONNEGATIVE)
    mu = 0.0 if momentum is None else number("momentum", momentum, UNIT)

    init = partial(rmsprop_init, initial_scale=s0, centered=centered, momentum=momentum is not None)
    return rule("optax.rmsprop", RmspropState, init, rmsprop_update,
                {"lr": (learning_rate, NONNEGATIVE), "decay": (decay, UNIT), "eps": (eps, NONNEGATIVE),
                 "momentum": (mu, UNIT), "eps_in_sqrt": (eps_in_sqrt, None), "centered": (centered, None),
                 "nesterov": (nesterov, None), "bias_correction": (bias_correction, None),
                 "lr_in_trace": (in_trace, None)})


@scheduled
def adadelta(learning_rate=None, rho=0.9, eps=1e-6, weight_decay=0.0, weight_decay_mask=None):
    """``optax.adadelta``: ``refopt.adadelta`` after coupled decay (optax adds ``weight_decay*w``
    to the gradient first). ``learning_rate=None`` is optax's identity scaling, which does not
    flip the sign: the step *ascends* by the AdaDelta step, as optax 0.2.8 does."""
    default_only(weight_decay_mask=(weight_decay_mask, None))
    opt = (negated(refopt.adadelta(lr=1.0, beta2=rho, eps=eps)) if learning_rate is None
           else refopt.adadelta(lr=learning_rate, beta2=rho, eps=eps))
    return refopt.coupled_weight_decay(opt, weight_decay) if weight_decay else opt


@scheduled
def adam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, *, nesterov=False):
    """``optax.adam``: ``refopt.adam`` with ``eps_root``; ``nesterov=True``: ``refopt.nadam``;
    m stored in ``mu_dtype``."""
    make = refopt.nadam if nesterov else refopt.adam
    opt = make(lr=learning_rate, beta1=b1, beta2=b2, eps=eps, eps_root=eps_root)
    return stored_in(opt, "m", b1, storage_dtype("mu_dtype", mu_dtype), "mu_dtype")


@scheduled
def adamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, weight_decay=1e-4,
          mask=None, *, nesterov=False):
    """``optax.adamw``: ``refopt.adamw`` with the decay times the lr (optax's
    ``weight_decay*lr`` is the rule's ``weight_decay``); with ``nesterov``, NAdam then decay;
    m stored in ``mu_dtype``."""
    default_only(mask=(mask, None))
    lr = learning_rate if callable(learning_rate) else number("learning_rate", learning_rate, NONNEGATIVE)
    wd = number("weight_decay", weight_decay, NONNEGATIVE)
    dtype = storage_dtype("mu_dtype", mu_dtype)
    if nesterov:
        inner = stored_in(refopt.nadam(lr=lr, beta1=b1, beta2=b2, eps=eps, eps_root=eps_root), "m", b1, dtype,
                          "mu_dtype")
        return decoupled(inner, lr, wd)
    if callable(lr):  # optax's lr_t (adam + wd w): adamw's multiplier over a unit step
        opt = refopt.adamw(lr=1.0, schedule_multiplier=lr, beta1=b1, beta2=b2, eps=eps, eps_root=eps_root,
                           weight_decay=wd)
    else:
        opt = refopt.adamw(lr=lr, beta1=b1, beta2=b2, eps=eps, eps_root=eps_root, weight_decay=lr * wd)
    return stored_in(opt, "m", b1, dtype, "mu_dtype")


@scheduled
def nadam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, *, nesterov=True):
    """``optax.nadam``: ``adam(nesterov=True)``, i.e. ``refopt.nadam`` (Dozat's constant beta1)."""
    return adam(learning_rate, b1, b2, eps, eps_root, mu_dtype, nesterov=nesterov)


@scheduled
def nadamw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, weight_decay=1e-4,
           mask=None, *, nesterov=True):
    """``optax.nadamw``: ``adamw(nesterov=True)``."""
    return adamw(learning_rate, b1, b2, eps, eps_root, mu_dtype, weight_decay, mask, nesterov=nesterov)


@scheduled
def amsgrad(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, mu_dtype=None, bias_correction_mu=True,
            bias_correction_nu=True):
    """``optax.amsgrad``: ``optax_rules.amsgrad_update``, the max of the bias-corrected second
    moment. With both corrections off it is ``refopt.amsgrad`` (Reddi et al.). m stored in
    ``mu_dtype``."""
    dtype = storage_dtype("mu_dtype", mu_dtype)
    for name, value in (("bias_correction_mu", bias_correction_mu),
                        ("bias_correction_nu", bias_correction_nu)):
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be True or False, got {value!r}")
    opt = rule("optax.amsgrad", AmsgradState, lambda w: (zeros_like(w),) * 3, amsgrad_update,
               {"lr": (learning_rate, NONNEGATIVE), "beta1": (b1, UNIT), "beta2": (b2, UNIT),
                "eps": (eps, NONNEGATIVE), "eps_root": (eps_root, NONNEGATIVE),
                "bias_correction_mu": (bias_correction_mu, None),
                "bias_correction_nu": (bias_correction_nu, None)})
    return stored_in(opt, "m", b1, dtype, "mu_dtype")


@scheduled
def adamax(learning_rate, b1=0.9, b2=0.999, eps=1e-8):
    """``optax.adamax``: ``refopt.adamax`` with eps inside the max, ``max(|g| + eps, b2*u)``."""
    return refopt.adamax(lr=learning_rate, beta1=b1, beta2=b2, eps=eps)


@scheduled
def adamaxw(learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, mask=None):
    """``optax.adamaxw``: optax's ``-lr (u + weight_decay w)`` with AdaMax's ``u``, as
    ``w (1 - lr weight_decay)`` then ``adamax``'s step (which does not read w)."""
    default_only(mask=(mask, None))
    lr = learning_rate if callable(learning_rate) else number("learning_rate", learning_rate, NONNEGATIVE)
    return decoupled(adamax(lr, b1, b2, eps), lr, number("weight_decay", weight_decay, NONNEGATIVE))


@scheduled
def radam(learning_rate, b1=0.9, b2=0.999, eps=1e-8, eps_root=0.0, threshold=5.0, *, nesterov=False):
    r"""``optax.radam``: ``refopt.radam`` with optax's ``threshold`` (5) and eps placement.
    optax rectifies while :math:`\rho_t \ge` threshold, the rule while :math:`\rho_t >`
    threshold: they differ only if :math:`\rho_t` lands exactly on it."""
    default_only(nesterov=(nesterov, False))
    return refopt.radam(lr=learning_rate, beta1=b1, beta2=b2, eps=eps, eps_root=eps_root, threshold=threshold)


@scheduled
def yogi(learning_rate, b1=0.9, b2=0.999, eps=1e-3):
    r"""``optax.yogi``: ``refopt.yogi(bias_correction="moments")`` with both moments started at
    1e-6 (optax's ``initial_accumulator_value``): Adam's corrected
    :math:`\hat m_t/(\sqrt{\hat s_t} + \epsilon)`, not the authors' corrections in the step size."""
    return refopt.yogi(lr=learning_rate, beta1=b1, beta2=b2, eps=eps, initial_accumulator=1e-6,
                       initial_momentum=1e-6, bias_correction="moments")


@scheduled
def adabelief(learning_rate, b1=0.9, b2=0.999, eps=1e-16, eps_root=1e-16, *, nesterov=False):
    """``optax.adabelief``: ``refopt.adabelief`` (eps_root added to the stored s each step)."""
    default_only(nesterov=(nesterov, False))
    return refopt.adabelief(lr=learning_rate, beta1=b1, beta2=b2, eps=eps, eps_root=eps_root)


# --- examples, perturbations; the framework side is optax_framework.framework ------------

SHAPES = {"contrib.muon": {"w": (5, 4), "v": (3, 6), "b": (4,)}}


def precision(attr: str) -> tuple[str, dict | None] | None:
    """Adafactor's float32 decay power, as the flavor models it by default, and the argument
    that gives the float64 formula; None where optax computes in the params' dtype."""
    if attr == "adafactor":
        return "Adafactor's decay rate 1 - t^(-c) in float32, as optax computes it", {"decay_rate_dtype": "float64"}
    return None


def _example(attr, **kwargs):
    target = contrib.muon if attr == "contrib.muon" else globals()[attr]
    return partial(target, **kwargs)


EXAMPLES = {
    "optax.sgd": _example("sgd", learning_rate=0.05, momentum=0.9, nesterov=True),
    "optax.adagrad": _example("adagrad", learning_rate=0.05),
    "optax.rmsprop": _example("rmsprop", learning_rate=0.01, momentum=0.9, bias_correction=True),
    "optax.adadelta": _example("adadelta", learning_rate=1.0, weight_decay=0.01),
    "optax.adam": _example("adam", learning_rate=1e-2, eps_root=1e-8),
    "optax.adamw": _example("adamw", learning_rate=1e-2),
    "optax.nadam": _example("nadam", learning_rate=1e-2),
    "optax.amsgrad": _example("amsgrad", learning_rate=1e-2),
    "optax.adamax": _example("adamax", learning_rate=2e-3),
    "optax.radam": _example("radam", learning_rate=1e-2),
    "optax.yogi": _example("yogi", learning_rate=1e-2),
    "optax.adabelief": _example("adabelief", learning_rate=1e-2),
    "optax.adafactor": _example("adafactor", learning_rate=1e-2, min_dim_size_to_factor=2),
    "optax.lars": _example("lars", learning_rate=0.1, weight_decay=0.01),
    "optax.lamb": _example("lamb", learning_rate=1e-2, weight_decay=0.01),
    "optax.lion": _example("lion", learning_rate=1e-3),
    "optax.adan": _example("adan", learning_rate=1e-2, weight_decay=0.01),
    "optax.contrib.muon": _example("contrib.muon", learning_rate=0.02),
}


def _moved_eps(make, eps_default):
    def build(learning_rate, *args, eps=eps_default, eps_root=0.0, **rest):
        return make(learning_rate, *args, eps=0.0, eps_root=eps, **rest)
    return build


# the same optimizer with eps moved inside the square root (where optax puts eps_root)
PERTURBATIONS = {"eps-in-sqrt": {"adam": _moved_eps(adam, 1e-8), "adamw": _moved_eps(adamw, 1e-8),
                                 "nadam": _moved_eps(nadam, 1e-8), "amsgrad": _moved_eps(amsgrad, 1e-8),
                                 "radam": _moved_eps(radam, 1e-8)}}
