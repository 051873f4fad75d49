r"""``torch.optim.Muon`` as a refopt optimizer: its rule and its constructor.

torch's Muon is not Keller Jordan's rule in ``refopt.rules.muon``: its momentum is an EMA
(torch's ``lerp``), the Newton-Schulz input is divided by ``max(norm, eps)``, and the step is
scaled by ``adjust_lr_fn``. torch casts the Newton-Schulz input to bfloat16 and iterates there:
``newton_schulz_dtype="bfloat16"`` (the default) does the same through ``refopt.flavors.bfloat16``
(bit for bit, on the shapes and streams of tests/flavors/test_bfloat16_muon.py), and
``"float64"`` runs the formula in the params' dtype.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, rule
from ..rules import ns_presets
from ..rules.muon import choice, flag, matrix_check, ns_settings
from . import bfloat16

__all__ = ["Muon", "TorchMuonState", "muon_update"]


# --- Muon ---------------------------------------------------------------------------------

def _unscaled(ns_steps, ns_coefficients):
    """Validated coefficients (a triple, per-iteration triples, a preset) that torch's normalisation,
    max(norm, eps), can run: a preset with a norm safety factor is refused here, at construction."""
    value = ns_settings(ns_steps, ns_coefficients)
    ns_presets.unscaled_schedule(value, ns_steps, "torch")
    return value


class TorchMuonState(NamedTuple):
    t: int
    b: object  # momentum buffer, EMA form (torch's lerp)


def _newton_schulz(X, steps, coefficients, eps):
    """torch's ``_zeropower_via_newtonschulz`` in the input's dtype (torch: bfloat16)."""
    xp = array_namespace(X)
    triples = ns_presets.unscaled_schedule(coefficients, steps, "torch")
    tall = X.shape[0] > X.shape[1]
    X = xp.matrix_transpose(X) if tall else X
    X = X / xp.maximum(xp.linalg.matrix_norm(X), xp.asarray(eps, dtype=X.dtype))
    for a, b, c in triples:
        A = X @ xp.matrix_transpose(X)
        X = a * X + (b * A + c * (A @ A)) @ X
    return xp.matrix_transpose(X) if tall else X


def _lr_ratio(shape, adjust_lr_fn):
    rows, cols = shape
    if adjust_lr_fn == "match_rms_adamw":
        return 0.2 * math.sqrt(max(rows, cols))
    return math.sqrt(max(1.0, rows / cols))


def orthogonalize(u, ns_steps, ns_coefficients, eps, newton_schulz_dtype):
    """torch's Newton-Schulz of ``u``: emulated in bfloat16 (NumPy leaves only), or the formula in
    ``u``'s dtype."""
    if newton_schulz_dtype == "float64":
        return _newton_schulz(u, ns_steps, ns_coefficients, eps)
    if not isinstance(u, np.ndarray) or u.dtype not in (np.float32, np.float64):
        raise TypeError(f"newton_schulz_dtype='bfloat16' emulates torch on float32/float64 NumPy arrays, "
                        f"got {type(u).__name__} of dtype {u.dtype}; pass newton_schulz_dtype='float64'")
    return bfloat16.newton_schulz(u, ns_steps, ns_coefficients, eps).astype(u.dtype)


def _scalars(lr, weight_decay, ratio, lr_dtype):
    """torch's ``1 - lr * weight_decay`` and ``lr * ratio``: Python floats, or, for a tensor lr (torch
    keeps it a tensor), computed in its dtype, each Python number rounded to that dtype first."""
    if lr_dtype is None:
        return 1 - lr * weight_decay, lr * ratio
    f = np.dtype(lr_dtype).type
    return float(f(1) - f(lr) * f(weight_decay)), float(f(lr) * f(ratio))


def muon_update(w, g, b, *, t, lr, weight_decay, momentum, nesterov, ns_coefficients, eps,
                ns_steps, adjust_lr_fn, newton_schulz_dtype, lr_dtype):
    r""":math:`B_t = \mu B_{t-1} + (1-\mu) G_t`, :math:`U_t = (1-\mu) G_t + \mu B_t` (Nesterov)
    or :math:`B_t`, :math:`w_t = w_{t-1}(1-\eta\lambda) - \eta\,r(\text{shape})\,\mathrm{NS}(U_t)`."""
    b = momentum * b + (1 - momentum) * g
    u = (1 - momentum) * g + momentum * b if nesterov else b
    o = orthogonalize(u, ns_steps, ns_coefficients, eps, newton_schulz_dtype)
    keep, step = _scalars(lr, weight_decay, _lr_ratio(w.shape, adjust_lr_fn), lr_dtype)
    w = w * keep - step * o
    return w, b


def _tensor_dtype(x):
    """The dtype name of a torch tensor ``x`` ('float32'), else None (a Python number, a schedule)."""
    if type(x).__module__.startswith("torch") and hasattr(x, "dtype"):
        return str(x.dtype).removeprefix("torch.")
    return None


# --- Muon ---------------------------------------------------------------------------------

def Muon(lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True, ns_coefficients=(3.4445, -4.775, 2.0315),
         eps=1e-7, ns_steps=5, adjust_lr_fn=None, newton_schulz_dtype="bfloat16"):
    """``torch.optim.Muon`` (2-D params only): its own rule (``muon_update``) for torch's
    ``max(norm, eps)`` normalisation and ``adjust_lr_fn`` (None/"original": Keller's
    ``sqrt(max(1, rows/cols))``; "match_rms_adamw": Moonlight's ``0.2 sqrt(max(rows, cols))``).
    ``newton_schulz_dtype`` is not torch's: "bfloat16" computes as torch does, "float64" the formula.
    A tensor ``lr`` (torch's optim_db passes ``torch.tensor(0.001)``) is used in its dtype, as torch does."""
    if adjust_lr_fn not in (None, "original", "match_rms_adamw"):
        raise ValueError(f"adjust_lr_fn must be None, 'original' or 'match_rms_adamw', got {adjust_lr_fn!r}")
    return rule("torch.Muon", TorchMuonState, lambda w: (zeros_like(w),), muon_update,
                {"lr": (lr, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE),
                 "momentum": (momentum, UNIT), "nesterov": (flag("nesterov", nesterov), None),
                 "ns_coefficients": (_unscaled(ns_steps, ns_coefficients), None),
                 "eps": (eps, NONNEGATIVE), "ns_steps": (ns_steps, None),
                 "adjust_lr_fn": (adjust_lr_fn, None), "lr_dtype": (_tensor_dtype(lr), None),
                 "newton_schulz_dtype": (choice("newton_schulz_dtype", newton_schulz_dtype, bfloat16.DTYPES),
                                         None)},
                check=matrix_check("torch.Muon"))
