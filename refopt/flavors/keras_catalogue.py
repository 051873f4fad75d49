r"""keras 3's ``Ftrl`` and ``Muon`` as refopt optimizers: keras's names, defaults and conventions.

Read from ``keras/src/optimizers/{ftrl,muon}.py`` of keras 3.15.1; built on ``keras_base`` (the
float32 lr variable, schedules, the base options) as ``refopt.flavors.keras`` is.

* ``Ftrl``: ``refopt.ftrl`` with keras's knobs: ``beta`` 0 (paper 1), ``initial_accumulator_value``
  0.1 (paper 0), ``learning_rate_power``, ``l2_shrinkage_regularization_strength``, and
  ``l2_regularization_strength`` half the paper's :math:`\lambda_2` (keras's denominator has
  :math:`2\lambda_2`).
* ``Muon``: keras routes each leaf (``_should_use_adamw``): a leaf that is not 2-D, or whose keras
  path contains "embedding" (``exclude_embeddings``), or matches a regex of ``exclude_layers``, gets
  keras's Adam step (eps-hat form) with lr ``learning_rate * adam_lr_ratio`` and decay
  ``adam_weight_decay``; every other leaf gets ``muon_update`` below with decay ``weight_decay``
  (``refopt.partition``). Both decays are keras's :math:`w \leftarrow w - w\lambda\eta` with the
  main lr. A leaf's keras path is its keys joined by "/" (``{"dense": {"kernel": W}}`` is
  ``dense/kernel``, as keras names a Dense layer's kernel).
"""
from __future__ import annotations

import math
import re
from typing import Any, NamedTuple

import numpy as np

import refopt

from ..backend import array_namespace, finfo, zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, number, rule
from ..rules.muon import flag, matmul, matrix_check, ns_settings
from .keras_base import learning_rate_of, options, wrap
from .torch import _lr_at
from .torch_wrappers import decoupled

__all__ = ["Ftrl", "Muon", "MuonState", "muon_update", "keras_path"]


def _base(learning_rate: Any, base: dict) -> tuple[Any, Any, dict]:
    opts = options(base)
    return learning_rate_of(learning_rate, opts), lambda opt: wrap(opt, opts), opts


def _decay(opt, lr, weight_decay, name="weight_decay"):
    """keras's ``_apply_weight_decay``: ``w <- w - w*weight_decay*lr`` before the step."""
    if weight_decay is None:
        return opt
    wd = number(name, weight_decay, NONNEGATIVE)
    return decoupled(opt, lr, wd) if wd else opt


def Ftrl(learning_rate=0.001, learning_rate_power=-0.5, initial_accumulator_value=0.1,
         l1_regularization_strength=0.0, l2_regularization_strength=0.0,
         l2_shrinkage_regularization_strength=0.0, beta=0.0, weight_decay=None, **base):
    r"""``keras.optimizers.Ftrl``: ``refopt.ftrl`` with :math:`\lambda_2` = 2 x keras's
    ``l2_regularization_strength``, keras's :math:`n_0` = 0.1 and :math:`\beta` = 0. One departure
    kept out: where :math:`n = \beta = \lambda_2 = 0` keras divides 0/0 (NaN), the rule gives 0."""
    lr, finish, _ = _base(learning_rate, base)
    opt = refopt.ftrl(lr=lr, offset=beta, l1=l1_regularization_strength,
                      l2=2 * number("l2_regularization_strength", l2_regularization_strength, NONNEGATIVE),
                      lr_power=learning_rate_power, initial_accumulator=initial_accumulator_value,
                      l2_shrinkage=l2_shrinkage_regularization_strength)
    return finish(_decay(opt, lr, weight_decay))


# --- Muon -----------------------------------------------------------------------------------

class MuonState(NamedTuple):
    t: int
    m: object  # keras's momentum, the *sum* form m = mu*m + g (refopt.muon keeps the EMA (1-mu)m)


def _keras_ns(u, steps, coefficients, norm_dtype):
    """keras's ``zeropower_via_newtonschulz5``: refopt.muon's iteration, but the Frobenius norm
    taken as keras 3.15.1's JAX ``ops.norm`` takes it, in float32 even for float64 input
    (``norm_dtype="float32"``; None: in u's dtype)."""
    xp = array_namespace(u)
    a, b, c = coefficients
    tall = u.shape[0] > u.shape[1]
    x = xp.matrix_transpose(u) if tall else u
    y = x if norm_dtype is None or finfo(x).bits <= 32 else xp.astype(x, xp.float32)
    x = x / (xp.astype(xp.sqrt(xp.sum(y * y)), x.dtype) + 1e-7)
    for _ in range(steps):
        A = matmul(x, xp.matrix_transpose(x))
        x = a * x + matmul(b * A + c * matmul(A, A), x)
    return xp.matrix_transpose(x) if tall else x


def muon_update(w, g, m, *, t, lr, momentum, nesterov, ns_steps, ns_coefficients, scale, norm_dtype):
    r"""keras's ``_muon_update_step``: :math:`m_t = \mu m_{t-1} + g_t`, :math:`u_t = g_t + \mu m_t`
    (Nesterov) or :math:`m_t`, :math:`w_t = w_{t-1} - \eta\, s\, \mathrm{NS}_k(u_t)` with
    :math:`\mathrm{NS}` normalising by :math:`\lVert u\rVert_F + 10^{-7}` and :math:`s` keras's
    ``lr_adjust``, ``rms_rate`` :math:`\sqrt{\max(\text{rows}, \text{cols})}` (1 for ``None``).
    Since :math:`m_t = B_t/(1-\mu)` for refopt.muon's EMA :math:`B_t`, this is ``refopt.muon`` with
    eps :math:`10^{-7}(1-\mu)` and ``rms=rms_rate`` (tests/flavors/test_keras_catalogue.py)."""
    m = momentum * m + g
    u = g + momentum * m if nesterov else m
    return w - lr * (_keras_ns(u, ns_steps, ns_coefficients, norm_dtype) * scale(w.shape)), m


def keras_path(path: str) -> str:
    """refopt's printed leaf path (``['dense']['kernel']``) as keras's ``dense/kernel``."""
    keys = re.findall(r"\[('(?:[^'\\]|\\.)*'|\"[^\"]*\"|[^\]]*)\]", path)
    return "/".join(k[1:-1] if k[:1] in "'\"" and len(k) > 1 else k for k in keys) or path


def _router(exclude_layers, exclude_embeddings):
    """keras's ``_should_use_adamw``, on the leaf's keras path."""
    def label(path, w):
        name = keras_path(path)
        if len(w.shape) != 2 or (exclude_embeddings and "embedding" in name.lower()):
            return "adamw"
        return "adamw" if any(re.search(k, name) for k in exclude_layers) else "muon"
    return label


def _lr_adjust(rms_rate, floatx):
    """keras's ``lr_adjust``: ``rms_rate * sqrt(max(rows, cols))``, the root taken in floatx."""
    if rms_rate is None:
        return lambda shape: 1.0
    rate = number("rms_rate", rms_rate, NONNEGATIVE)
    return lambda shape: float(np.sqrt(np.asarray(max(shape), dtype=floatx))) * rate


def Muon(learning_rate=0.001, adam_beta_1=0.9, adam_beta_2=0.999, adam_weight_decay=0.004, epsilon=1e-7,
         weight_decay=0.004, exclude_layers=None, exclude_embeddings=True, muon_a=3.4445, muon_b=-4.7750,
         muon_c=2.0315, adam_lr_ratio=1, momentum=0.95, ns_steps=5, nesterov=True, rms_rate=0.2, *,
         norm_dtype="float32", **base):
    """``keras.optimizers.Muon``: ``refopt.partition`` of ``muon_update`` (2-D leaves not excluded)
    and keras's Adam (the rest), each after its own decoupled decay (module docstring)."""
    lr, finish, opts = _base(learning_rate, base)
    if norm_dtype not in ("float32", None):
        raise ValueError(f"norm_dtype must be 'float32' (keras on JAX) or None (the params' dtype), "
                         f"got {norm_dtype!r}")
    b1, b2 = number("adam_beta_1", adam_beta_1, UNIT), number("adam_beta_2", adam_beta_2, UNIT)
    eps = number("epsilon", epsilon, NONNEGATIVE)
    ratio = number("adam_lr_ratio", adam_lr_ratio, POSITIVE)
    layers = list(exclude_layers or [])
    if not all(isinstance(k, str) for k in layers):
        raise ValueError(f"exclude_layers must be a list of regex strings, got {exclude_layers!r}")
    floatx = opts["floatx"]
    # keras multiplies its floatx lr by the ratio in floatx; a schedule's value is not rounded
    adam_lr = ((lambda t: _lr_at(lr, t) * ratio) if callable(lr)
               else float(np.asarray(lr * ratio, dtype=floatx)))

    # keras's eps-hat Adam: eps-hat outside sqrt(s_t) is eps-hat/sqrt(1-beta2^t) outside sqrt(s_hat_t)
    adam = refopt.adam(lr=adam_lr, beta1=b1, beta2=b2, eps=lambda t: eps / math.sqrt(1 - b2**t))
    coefficients = ns_settings(ns_steps, (muon_a, muon_b, muon_c))
    muon = rule("keras.Muon", MuonState, lambda w: (zeros_like(w),), muon_update,
                {"lr": (lr, NONNEGATIVE), "momentum": (momentum, UNIT),
                 "nesterov": (flag("nesterov", nesterov), None), "ns_steps": (ns_steps, None),
                 "ns_coefficients": (coefficients, None), "scale": (_lr_adjust(rms_rate, floatx), None),
                 "norm_dtype": (norm_dtype, None)},
                check=matrix_check("keras.Muon"))
    opt = refopt.partition({"muon": _decay(muon, lr, weight_decay),
                            "adamw": _decay(adam, lr, adam_weight_decay, "adam_weight_decay")},
                           _router(layers, flag("exclude_embeddings", exclude_embeddings)))
    return finish(opt)


# keras's float32 norm in float64 runs: the same precision, not the same bits (XLA's summation
# order), so Muon agrees to float32 rounding of the norm (measured below in the report / tests)
RTOL = {"Muon": 1e-6}
EXAMPLES = {
    "keras.optimizers.Ftrl": lambda: Ftrl(learning_rate=0.05, l1_regularization_strength=0.01),
    "keras.optimizers.Muon": lambda: Muon(learning_rate=0.01),
}
