r"""Keras 3's optimizers as refopt optimizers: Keras's names, defaults and conventions.

``refopt.flavors.keras.Adam(learning_rate=1e-3, beta_1=0.9, ...)`` gives the numbers of
``keras.optimizers.Adam`` with the same arguments (checked to 1e-10 relative in float64
against keras 3.15.1 on the JAX backend by ``tests/flavors/test_keras.py``). Read from
``keras/src/optimizers/{base_optimizer,sgd,rmsprop,adagrad,adadelta,adam,adamw,adamax,nadam,
lion,adafactor,lamb}.py`` of keras 3.15.1. Each constructor is the canonical rule with Keras's
knobs set, or a rule of its own below where Keras's algorithm is not the paper's:

* ``Adam`` and ``AdamW``: Kingma & Ba's "epsilon-hat" form (end of Section 2, just before
  Section 2.1): :math:`\alpha_t = \eta\sqrt{1-\beta_2^t}/(1-\beta_1^t)`,
  :math:`w_t = w_{t-1} - \alpha_t m_t/(\sqrt{s_t} + \hat\epsilon)`. That is the canonical
  Adam with eps :math:`\hat\epsilon/\sqrt{1-\beta_2^t}` outside :math:`\sqrt{\hat s_t}`
  (exact in real arithmetic), so eps weighs :math:`1/\sqrt{1-\beta_2^t}` times more early
  on (~31.6x at t = 1 with beta_2 = 0.999). ``amsgrad=True`` keeps the max of the *raw*
  :math:`s_t` (as torch), i.e. ``refopt.amsgrad`` with lr :math:`\alpha_t`.
* ``Adamax``: ``adamax_update``: eps is added *after* the max,
  :math:`m_t/((1-\beta_1^t)(u_t + \epsilon))` with :math:`u_t = \max(\beta_2 u_{t-1}, |g_t|)`
  (``refopt.adamax``, torch and optax put it inside the max, :math:`\max(\beta_2 u, |g| + \epsilon)`).
* ``Nadam``: torch's NAdam momentum schedule with Keras's decay per step,
  :math:`\mu_t = \beta_1(1 - \tfrac12 0.96^{t})` (torch: :math:`0.96^{0.004 t}`), i.e.
  ``refopt.flavors.torch_rules.nadam_update`` with ``momentum_decay = 1``.
* ``SGD`` and ``RMSprop(momentum>0)``: Keras keeps the velocity with the lr inside,
  :math:`v_t = \mu v_{t-1} - \eta g_t,\ w_t = w_{t-1} + v_t` (Nesterov:
  :math:`w_{t-1} + \mu v_t - \eta g_t`), which is ``refopt.momentum`` /
  ``refopt.nesterov_reformulated`` with :math:`v_t = -\eta b_t` for a constant lr; with a
  scheduled lr the flavor keeps Keras's velocity itself (``keras_rules.velocity``).
* ``Lamb``: the decay is Keras's decoupled one, applied before the step, so it is *not* part
  of the direction whose norm sets the trust ratio (``refopt.lamb`` and optax put
  :math:`\lambda w` inside :math:`r_t`): ``refopt.lamb(weight_decay=0)`` after the decay.
* ``Adafactor``: ``refopt.adafactor``'s formula (eps1 added to :math:`G^2`, row and column
  means of the last two axes, :math:`\hat\beta_{2t} = 1 - t^{c}` with ``beta_2_decay`` c,
  :math:`\rho_t = \min(\eta, 1/\sqrt t)`, clipping at ``clip_threshold``), in keras's own
  form (``keras_rules.adafactor_update``) because keras 3.15.1 on JAX takes every mean in
  float32, float64 input included (``mean_dtype``; the precision is modelled, not the bits: XLA
  sums in its own order, so the flavor agrees with keras to float32 rounding, ``RTOL``).
  ``relative_step`` changes nothing: ``update_step`` applies :math:`\min(\eta, 1/\sqrt t)`
  whatever its value, so the flavor accepts both and ignores it, as Keras does.

Conventions shared by all (``base_optimizer.py``, ``_apply_weight_decay``): ``weight_decay``
is decoupled and applied *before* the step, :math:`w \leftarrow w - w\lambda\eta`, the decay
multiplied by the lr (so refopt.adamw's decay is ``learning_rate * weight_decay``), for every
optimizer including ``Adam`` and ``SGD`` (torch's ``weight_decay`` there is coupled L2).
Epsilon defaults to 1e-7 everywhere. ``learning_rate`` may be a schedule ``t -> lr`` (refopt's
t, 1 at the first update; ``refopt.flavors.keras_schedules`` has Keras's schedules in that
form) or a Keras ``LearningRateSchedule`` object, which Keras calls at ``iterations`` = t - 1,
or a callable of no argument, keras's own callable form, called at every step.
The base optimizer's options (``clipnorm``, ``clipvalue``, ``global_clipnorm``, ``use_ema``,
``ema_momentum``, ``ema_overwrite_frequency``, ``gradient_accumulation_steps``,
``loss_scale_factor``) are taken by keras's names and applied in keras's order
(``keras_base``: ``refopt.clip*``, ``refopt.accumulate``, ``refopt.ema``).

**Precision** (keras's defaults, knobs for the rest): ``floatx`` (None: keras's current
floatx, float32 unless set) rounds a constant lr as keras's lr variable holds it (float32:
about 2e-8 to 5e-8 relative); ``Adafactor(mean_dtype="float32")`` takes its means in float32
as keras's JAX ``ops.mean`` does (``mean_dtype=None``: in the params' dtype).
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any

import refopt

from ..backend import zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, Interval, Optimizer, number, rule
from ..rules.muon import flag
from .keras_base import KERAS_OPTIONS, learning_rate_of, options, resolve_floatx, wrap
from .keras_catalogue import Ftrl, Muon
from .keras_schedule_free import ScheduleFreeAdamW
from .keras_rules import (AdamaxState, KerasAdafactorState, adafactor_init, adafactor_update, adamax_update,
                          velocity)
from .torch import _lr_at, decoupled
from .torch_rules import TorchNAdamState, nadam_update

PREFIX = "keras.optimizers."
__all__ = ["SGD", "RMSprop", "Adagrad", "Adadelta", "Adam", "AdamW", "Adamax", "Nadam", "Lion", "Adafactor",
           "Lamb", "Ftrl", "Muon", "ScheduleFreeAdamW"]
NOT_MODELLED = {
    "LossScaleOptimizer": "a wrapper for mixed precision, not an update rule: it scales the loss and "
                          "unscales the gradients around the optimizer it wraps, which has its flavor",
    "MultiOptimizer": "routing, not an update rule: each variable goes to one optimizer (OptimizerMap or "
                      "a callable), as refopt.partition routes leaves to rules",
}

def _base(learning_rate: Any, base: dict) -> tuple[Any, Any]:
    """The lr the rule sees (a number or a schedule ``t -> lr``, rounded to floatx) and the
    base optimizer's options around the rule (``keras_base.wrap``), from keras's arguments."""
    opts = options(base)
    return learning_rate_of(learning_rate, opts), lambda opt: wrap(opt, opts)


def _decay(opt: Optimizer, lr: float, weight_decay: Any) -> Optimizer:
    """Keras's ``_apply_weight_decay``: ``w <- w - w*weight_decay*lr`` before the step."""
    if weight_decay is None:
        return opt
    wd = number("weight_decay", weight_decay, NONNEGATIVE)
    return decoupled(opt, lr, wd) if wd else opt


# --- SGD, RMSprop, Adagrad, Adadelta ------------------------------------------------------

def SGD(learning_rate=0.01, momentum=0.0, nesterov=False, weight_decay=None, **base):
    r"""``keras.optimizers.SGD``: ``refopt.sgd``, ``refopt.momentum`` or
    ``refopt.nesterov_reformulated`` (Keras's velocity :math:`v = -\eta b`, see the module
    docstring)."""
    lr, finish = _base(learning_rate, base)
    mu = number("momentum", momentum, Interval(0.0, 1.0, hi_open=False))
    if callable(lr) and mu:
        opt = velocity(refopt.sgd(lr=lr), mu, flag("nesterov", nesterov))
    elif flag("nesterov", nesterov) and mu:
        opt = refopt.nesterov_reformulated(lr=lr, beta1=mu)
    elif mu:
        opt = refopt.momentum(lr=lr, beta1=mu)
    else:  # Keras ignores nesterov without momentum
        opt = refopt.sgd(lr=lr)
    return finish(_decay(opt, lr, weight_decay))


def RMSprop(learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False, weight_decay=None,
            **base):
    """``keras.optimizers.RMSprop``: ``refopt.rmsprop`` with eps inside the root (also of the
    centered variance) and ``beta2=rho``; momentum with the lr inside the velocity is the
    rule's heavy ball for a constant lr."""
    lr, finish = _base(learning_rate, base)
    scheduled = callable(lr) and number("momentum", momentum, UNIT) > 0  # Keras's velocity, lr inside
    opt = refopt.rmsprop(lr=lr, beta2=rho, eps=0.0, eps_root=epsilon, momentum=0.0 if scheduled else momentum,
                         centered=flag("centered", centered))
    if scheduled:
        opt = velocity(opt, momentum)
    return finish(_decay(opt, lr, weight_decay))


def Adagrad(learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7, weight_decay=None, **base):
    """``keras.optimizers.Adagrad``: ``refopt.adagrad`` with eps inside the root and s_0 = 0.1."""
    lr, finish = _base(learning_rate, base)
    opt = refopt.adagrad(lr=lr, eps=0.0, eps_root=epsilon, initial_accumulator=initial_accumulator_value)
    return finish(_decay(opt, lr, weight_decay))


def Adadelta(learning_rate=0.001, rho=0.95, epsilon=1e-7, weight_decay=None, **base):
    """``keras.optimizers.Adadelta``: ``refopt.adadelta`` (eps inside both roots), ``beta2=rho``.
    Keras's default lr is 1e-3, where Zeiler's method (and torch's default) has 1."""
    lr, finish = _base(learning_rate, base)
    return finish(_decay(refopt.adadelta(lr=lr, beta2=rho, eps=epsilon), lr, weight_decay))


# --- the Adam family ----------------------------------------------------------------------

def _alpha(lr, beta1, beta2):
    """Kingma & Ba's :math:`\\alpha_t = \\eta_t\\sqrt{1-\\beta_2^t}/(1-\\beta_1^t)`."""
    return lambda t: _lr_at(lr, t) * math.sqrt(1 - beta2**t) / (1 - beta1**t)


def _eps_hat(eps, beta2):
    """eps-hat outside sqrt(s_t) is eps-hat/sqrt(1-beta2^t) outside sqrt(s_hat_t)."""
    return lambda t: eps / math.sqrt(1 - beta2**t)


def Adam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False, weight_decay=None,
         **base):
    """``keras.optimizers.Adam``: the eps-hat form (module docstring); ``amsgrad=True``:
    ``refopt.amsgrad`` with lr alpha_t; ``weight_decay``: Keras's decoupled decay (AdamW)."""
    lr, finish = _base(learning_rate, base)
    beta1, beta2 = number("beta_1", beta_1, UNIT), number("beta_2", beta_2, UNIT)
    eps = number("epsilon", epsilon, NONNEGATIVE)
    if flag("amsgrad", amsgrad):
        opt = refopt.amsgrad(lr=_alpha(lr, beta1, beta2), beta1=beta1, beta2=beta2, eps=eps)
    elif weight_decay:
        wd = number("weight_decay", weight_decay, NONNEGATIVE)
        # refopt.adamw's decay is not multiplied by lr: Keras's lr*wd is ours; a scheduled
        # lr_t is adamw's multiplier over a unit step, lr_t (step + wd w)
        if callable(lr):
            return finish(refopt.adamw(lr=1.0, schedule_multiplier=lambda t: _lr_at(lr, t), beta1=beta1,
                                       beta2=beta2, eps=_eps_hat(eps, beta2), weight_decay=wd))
        return finish(refopt.adamw(lr=lr, beta1=beta1, beta2=beta2, eps=_eps_hat(eps, beta2),
                                   weight_decay=lr * wd))
    else:
        opt = refopt.adam(lr=lr, beta1=beta1, beta2=beta2, eps=_eps_hat(eps, beta2))
    return finish(_decay(opt, lr, weight_decay))


def AdamW(learning_rate=0.001, weight_decay=0.004, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False,
          **base):
    """``keras.optimizers.AdamW``: ``Adam`` with Keras's default decay 0.004 (None is refused, as Keras)."""
    if weight_decay is None:
        raise ValueError("weight_decay must be a number for AdamW, got None")
    return Adam(learning_rate, beta_1, beta_2, epsilon, amsgrad, weight_decay, **base)


def Adamax(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **base):
    """``keras.optimizers.Adamax``: its own rule (``adamax_update``), eps outside the max."""
    lr, finish = _base(learning_rate, base)
    opt = rule("keras.Adamax", AdamaxState, lambda w: (zeros_like(w), zeros_like(w)), adamax_update,
               {"lr": (lr, NONNEGATIVE), "beta1": (beta_1, UNIT), "beta2": (beta_2, UNIT),
                "eps": (epsilon, NONNEGATIVE)})
    return finish(_decay(opt, lr, weight_decay))


def Nadam(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **base):
    r"""``keras.optimizers.Nadam``: torch's NAdam rule (``torch_rules.nadam_update``) with the momentum
    schedule :math:`\mu_t = \beta_1(1 - \tfrac12 0.96^t)`, i.e. ``momentum_decay = 1``."""
    lr, finish = _base(learning_rate, base)
    opt = rule("keras.Nadam", TorchNAdamState, lambda w: (zeros_like(w), zeros_like(w)), nadam_update,
               {"lr": (lr, NONNEGATIVE), "beta1": (beta_1, UNIT), "beta2": (beta_2, UNIT),
                "eps": (epsilon, NONNEGATIVE), "momentum_decay": (1.0, NONNEGATIVE)})
    return finish(_decay(opt, lr, weight_decay))


def Lion(learning_rate=0.001, beta_1=0.9, beta_2=0.99, weight_decay=None, **base):
    """``keras.optimizers.Lion``: ``refopt.lion`` after Keras's decoupled decay (the same
    numbers as the rule's own ``weight_decay``). Keras refuses ``beta_1`` outside (0, 1]."""
    lr, finish = _base(learning_rate, base)
    beta1 = number("beta_1", beta_1, Interval(0.0, 1.0, lo_open=True, hi_open=False))
    return finish(_decay(refopt.lion(lr=lr, beta1=beta1, beta2=beta_2), lr, weight_decay))


def Adafactor(learning_rate=0.001, beta_2_decay=-0.8, epsilon_1=1e-30, epsilon_2=1e-3, clip_threshold=1.0,
              relative_step=True, weight_decay=None, *, mean_dtype="float32", **base):
    r"""``keras.optimizers.Adafactor``: ``refopt.adafactor``'s formula with ``decay_rate =
    -beta_2_decay``, ``d = clip_threshold``, in keras's form (``keras_rules.adafactor_update``);
    the RMS of w in the relative step is read after the decay, as Keras decays first.
    ``relative_step`` is accepted and, as in Keras 3.15.1, changes nothing. ``mean_dtype``:
    "float32" (keras on JAX, the default) or None (the params' dtype)."""
    lr, finish = _base(learning_rate, base)
    flag("relative_step", relative_step)
    c = number("beta_2_decay", beta_2_decay, Interval(-math.inf, 0.0, lo_open=True, hi_open=True))
    if mean_dtype not in ("float32", None):
        raise ValueError(f"mean_dtype must be 'float32' (keras on JAX) or None (the params' dtype), "
                         f"got {mean_dtype!r}")
    opt = rule("keras.Adafactor", KerasAdafactorState, adafactor_init, adafactor_update,
               {"lr": (lr, NONNEGATIVE), "eps1": (epsilon_1, NONNEGATIVE), "eps2": (epsilon_2, NONNEGATIVE),
                "d": (clip_threshold, POSITIVE), "decay": (-c, POSITIVE),
                "mean_dtype": (mean_dtype, None)})
    return finish(_decay(opt, lr, weight_decay))


def Lamb(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, weight_decay=None, **base):
    r"""``keras.optimizers.Lamb``: ``refopt.lamb`` without its own decay, after Keras's
    decoupled one: :math:`w \leftarrow w(1-\eta\lambda)`, then
    :math:`w - \eta\,(\lVert w\rVert/\lVert r\rVert)\,r` with :math:`r = \hat m/(\sqrt{\hat s}+\epsilon)`."""
    lr, finish = _base(learning_rate, base)
    opt = refopt.lamb(lr=lr, beta1=beta_1, beta2=beta_2, eps=epsilon, weight_decay=0.0)
    return finish(_decay(opt, lr, weight_decay))


# --- the framework side, examples, perturbations -------------------------------------------

def framework(attr: str, floatx: str | None = None, mean_dtype: Any = None, **kwargs: Any) -> Any:
    """``keras.optimizers.<attr>(**kwargs)`` on the JAX backend with x64, built under ``floatx``
    (None: keras's current floatx, as the flavor reads it), as an adapter. ``mean_dtype`` is the
    flavor's knob, not keras's: keras computes its means as it does whatever it is."""
    from .keras_framework import keras_at
    return keras_at(attr, floatx, **kwargs)


# keras 3.15.1's JAX ops.mean sums float64 in float32 (keras's result_type(float64, "float32") is
# float32), in XLA's order: the flavor's float32 means (mean_dtype) have the same precision but
# not the same bits (NumPy sums in another order), so Adafactor agrees to float32 rounding:
# measured worst 1.4e-7 relative over 25 steps (the means enter V-hat through a product and a
# quotient, then the RMS of w and of U); 1e-6 bounds that (tests/flavors/test_keras.py)
RTOL = {"Adafactor": 1e-6}
# keras's JAX ops.norm returns float32 for float64 input, in XLA's summation order; the Muon flavor's
# float32 norm has that precision, not those bits: worst 3.0e-7 (tests/flavors/test_keras_catalogue.py)
RTOL["Muon"] = 1e-6


def extra_arguments(attr: str) -> tuple[str, ...]:
    """keras's base-optimizer arguments, which every flavor takes through ``**base``."""
    return tuple(KERAS_OPTIONS)


def precision(attr: str) -> tuple[str, dict | None]:
    """keras's float32 learning-rate variable (and Adafactor's float32 means), as these flavors
    model them by default, and the arguments that give the float64 formula instead."""
    dtype = resolve_floatx(None)
    text = f"learning rate held in a keras variable of floatx, {dtype}"
    formula = {} if dtype == "float64" else {"floatx": "float64"}
    if attr == "Adafactor":
        text += "; means taken in float32 (ops.mean on JAX)"
        formula["mean_dtype"] = None
    return text, formula or None


def _example(name, **kwargs):
    return partial(globals()[name], **kwargs)


EXAMPLES = {
    "keras.optimizers.SGD": _example("SGD", learning_rate=0.05, momentum=0.9, nesterov=True,
                                     weight_decay=0.01),
    "keras.optimizers.RMSprop": _example("RMSprop", learning_rate=0.01, momentum=0.9, centered=True),
    "keras.optimizers.Adagrad": _example("Adagrad", learning_rate=0.05),
    "keras.optimizers.Adadelta": _example("Adadelta", learning_rate=1.0),
    "keras.optimizers.Adam": _example("Adam", learning_rate=1e-2, amsgrad=True),
    "keras.optimizers.AdamW": _example("AdamW", learning_rate=1e-2),
    "keras.optimizers.Adamax": _example("Adamax", learning_rate=2e-3),
    "keras.optimizers.Nadam": _example("Nadam", learning_rate=2e-3),
    "keras.optimizers.Lion": _example("Lion", learning_rate=1e-3, weight_decay=0.1),
    "keras.optimizers.Adafactor": _example("Adafactor", learning_rate=1e-2, weight_decay=0.01),
    "keras.optimizers.Lamb": _example("Lamb", learning_rate=1e-2, weight_decay=0.01),
    "keras.optimizers.Ftrl": _example("Ftrl", learning_rate=0.05, l1_regularization_strength=0.01),
    "keras.optimizers.Muon": _example("Muon", learning_rate=0.02),
}


def _adam_paper_eps(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **rest):
    return refopt.adam(lr=learning_rate, beta1=beta_1, beta2=beta_2, eps=epsilon)


def _adamax_eps_in_max(learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, **rest):
    return refopt.adamax(lr=learning_rate, beta1=beta_1, beta2=beta_2, eps=epsilon)


# Keras's own eps placement undone: the paper's eps outside sqrt(s_hat) (not eps-hat), and
# AdaMax's eps inside the max (torch's and optax's)
PERTURBATIONS = {"paper-eps": {"Adam": _adam_paper_eps, "Adamax": _adamax_eps_in_max}}
