r"""``torch.optim.Rprop``, ``ASGD`` and ``SparseAdam`` as refopt optimizers, under torch's names and
defaults, and ``optax.rprop`` (as ``optax_rprop``), whose update is not torch's.

* ``Rprop``: ``refopt.rprop`` (iRprop-) with torch's ``lr=1e-2`` as the initial step size.
* ``ASGD``: its own rule, ``refopt.rules.asgd.averaged_step`` driven by torch's scalars: torch
  keeps :math:`\eta_t` and :math:`\mu_t` as 0-d tensors of its scalar dtype (float32 unless its
  default dtype is float64), so even for float64 params :math:`\eta_t` is rounded to float32 (the
  float64 formula is 3e-7 to 8e-7 relative away over 50 steps, far above 1e-10); its
  :math:`\mu_t = 1/\max(1, t-1-t_0)` is the canonical rule's with ``t0 + 1``.
* ``SparseAdam``: ``refopt.sparse_adam`` with torch's eps placement
  (:math:`\epsilon/\sqrt{1-\beta_2^t}` beside :math:`\sqrt{\hat s_t}`); its ``step`` takes
  ``mask=`` as the rule's does. ``sparse_gradient`` turns a torch sparse COO gradient into the
  (dense, mask) pair the rule takes, coalescing repeated indices as torch does.
* ``optax_rprop``: optax 0.2.8's ``scale_by_rprop`` emits at step t the step it computed at
  step t-1 (0 at step 1; 0 where the sign flips now), with the step sizes of iRprop-, except that
  a step size is left unclipped where :math:`g_{t-1} g_t = 0`. A rule of its own,
  ``optax_rprop_update``; reported upstream as a bug (google-deepmind/optax PR #1725).

``maximize`` and the code-path options (``foreach``, ``differentiable``, ``capturable``) are
handled as in ``refopt.flavors.torch`` (``torch_scalars.code_path``; ``capturable=True`` is
refused). Read in torch 2.13: Rprop's paths all compute the plain path's numbers, and so does
ASGD's ``differentiable``; ASGD's ``foreach`` path computes :math:`\eta_t` with tensor operations
in the scalar dtype, modelled (``_foreach_eta``). ``SparseAdam`` has no such options. ``lr`` may
be a 1-element tensor or a schedule ``t -> lr``, each read as torch reads the group's lr: ``Rprop``
once, at the first step (its initial step size; later values change nothing), ``ASGD`` a step late
(torch computes :math:`\eta_{t}` at the end of step :math:`t-1` from that step's lr: ``_lagged``),
``SparseAdam`` at every step.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

import refopt

from .. import tree
from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, POSITIVE, Optimizer, number, rule
from ..rules.asgd import ASGDState, averaged_step, averaging_weight, step_size
from ..rules.muon import flag
from ..rules.rprop import ETA_MINUS, ETA_PLUS
from .torch_rules import resolve_scalar_dtype
from .torch_scalars import code_path, value
from .torch_wrappers import betas_pair, finish, negated

__all__ = ["Rprop", "ASGD", "SparseAdam", "sparse_gradient", "optax_rprop", "OptaxRpropState",
           "optax_rprop_update", "asgd_update"]

_PATHS = ("foreach", "differentiable", "capturable")  # what Rprop and ASGD take (torch 2.13)


def _number_lr(lr: Any, allowed=NONNEGATIVE) -> Any:
    """A number (a 1-element tensor's value), or a schedule as it is (the rule checks its values)."""
    return lr if callable(lr) else number("lr", value("lr", lr), allowed)


def _lagged(lr: Any) -> Any:
    """ASGD's lr as torch reads it: step t's eta from the lr of step t-1 (step 1's own lr at step 1)."""
    return (lambda t: lr(max(t - 1, 1))) if callable(lr) else lr


def _pair(name: str, pair: Any) -> tuple[Any, Any]:
    if not isinstance(pair, (tuple, list)) or len(pair) != 2:
        raise ValueError(f"{name} must be a pair, got {pair!r}")
    return pair[0], pair[1]


# --- Rprop --------------------------------------------------------------------------------

def Rprop(lr=1e-2, etas=(0.5, 1.2), step_sizes=(1e-6, 50), *, maximize=False, **impl):
    """``torch.optim.Rprop``: ``refopt.rprop`` (iRprop-) with ``lr`` the initial step size,
    ``etas = (eta_minus, eta_plus)`` and ``step_sizes = (min, max)``."""
    code_path("Rprop", impl, _PATHS)
    eta_minus, eta_plus = _pair("etas", etas)
    lo, hi = _pair("step_sizes", step_sizes)
    lr = _number_lr(lr)
    # torch sets each step size to the group's lr when it first sees the parameter: step 1's lr
    opt = refopt.rprop(lr=lr(1) if callable(lr) else lr, eta_minus=eta_minus, eta_plus=eta_plus,
                       min_step_size=lo, max_step_size=hi)
    return negated(opt) if flag("maximize", maximize) else opt


# --- ASGD ---------------------------------------------------------------------------------

def _rounded(x: float, dtype: str) -> float:
    """``x`` as torch stores it in a 0-d tensor of ``dtype`` and reads back with ``.item()``."""
    return float(np.float32(x)) if dtype == "float32" else x


def _foreach_eta(t: int, lr: float, lambd: float, alpha: float, dtype: str) -> float:
    r"""torch's foreach-path :math:`\eta_t`: ``lr / (1 + lambd*lr*step)**alpha`` with ``step`` its 0-d
    tensor, so every operation rounds to ``dtype`` (the power as below), and ``x / tensor`` is
    ``tensor.reciprocal() * x`` (``Tensor.__rdiv__``); :math:`\eta_1` is ``lr`` stored in ``dtype``."""
    if t == 1:
        return _rounded(lr, dtype)
    f = np.float32 if dtype == "float32" else np.float64
    base = f(1) + f(lambd * lr) * f(t - 1)
    # torch's 0-d pow: the power of the float base by the double alpha, rounded once (checked on
    # 3000 bases per alpha; NumPy's float32 ** float32 is one ulp off for a third of them)
    power = f(float(base) ** alpha)
    return float((f(1) / power) * f(lr))


def _foreach_step(w, g, w_avg, *, eta, mu, lambd):
    r"""torch's foreach ASGD step, the same numbers in its order: :math:`w - \eta_t (g + \lambda w)`
    (one ``addcmul``; the product :math:`\lambda\eta_t w` is not formed, so where :math:`g = 0` the
    decay rounds otherwise than :math:`(1 - \lambda\eta_t) w`: 1e-10 of such a step), and the average
    :math:`\bar w + \mu_t (w - \bar w)` also where :math:`\mu_t = 1` (where the single-tensor path
    copies :math:`w`: the same number whenever :math:`w - \bar w` is exact, as for successive iterates
    within a factor 2 of each other)."""
    w = w - eta * (g + lambd * w)
    return w, w_avg + mu * (w - w_avg)


def asgd_update(w, g, w_avg, *, t, lr, lambd, alpha, t0, scalar_dtype, foreach):
    r"""torch's ASGD step: :math:`\eta_t` and :math:`\mu_t` as its 0-d state tensors hold them
    (rounded to ``scalar_dtype``; the foreach path computes :math:`\eta_t` in that dtype,
    ``_foreach_eta``), :math:`\mu_t = 1/\max(1, t-1-t_0)`; then the canonical step (the foreach
    path: the same step in torch's order, ``_foreach_step``)."""
    eta = (_foreach_eta(t, lr, lambd, alpha, scalar_dtype) if foreach
           else _rounded(step_size(t, lr, lambd, alpha), scalar_dtype))
    mu = _rounded(averaging_weight(t, t0 + 1), scalar_dtype)
    return (_foreach_step if foreach else averaged_step)(w, g, w_avg, eta=eta, mu=mu, lambd=lambd)


def ASGD(lr=1e-2, lambd=1e-4, alpha=0.75, t0=1e6, weight_decay=0, foreach=None, maximize=False,
         differentiable=False, capturable=False, *, scalar_dtype=None):
    """``torch.optim.ASGD``: averaged SGD with torch's t0 and scalar precision (``asgd_update``);
    the average is ``state.w_avg`` (torch's ``ax``). ``weight_decay``: coupled L2, as torch.
    ``scalar_dtype`` ("float32", "float64", None: torch's default dtype now) is the dtype of
    torch's 0-d ``step``, ``eta`` and ``mu``."""
    path = code_path("ASGD", {"foreach": foreach, "differentiable": differentiable,
                              "capturable": capturable}, _PATHS)
    lr = _lagged(_number_lr(lr))
    opt = rule("torch.ASGD", ASGDState, lambda w: (zeros_like(w),), asgd_update,
               {"lr": (lr, NONNEGATIVE), "lambd": (lambd, NONNEGATIVE), "alpha": (alpha, NONNEGATIVE),
                "t0": (number("t0", t0, NONNEGATIVE), None),
                "scalar_dtype": (resolve_scalar_dtype(scalar_dtype), None),
                "foreach": (path == "foreach", None)})
    return finish(opt, lr, weight_decay, maximize)


# --- SparseAdam ---------------------------------------------------------------------------

def SparseAdam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, maximize=False):
    """``torch.optim.SparseAdam``: ``refopt.sparse_adam`` with eps beside the uncorrected root
    (``eps / sqrt(1 - beta2**t)`` in the rule's terms); ``step(params, grads, state, mask=...)``,
    the (grads, mask) pair from ``sparse_gradient``. lr and eps must be positive, as torch's."""
    beta1, beta2 = betas_pair(betas)
    eps = number("eps", eps, POSITIVE)
    dtype = str(getattr(lr, "dtype", "")).removeprefix("torch.")
    lr = _number_lr(lr, POSITIVE)
    if dtype == "float32":
        lr = _float32_step_size(lr, beta1, beta2)
    opt = refopt.sparse_adam(lr=lr, beta1=beta1, beta2=beta2, eps=lambda t: eps / math.sqrt(1 - beta2**t))
    if not flag("maximize", maximize):
        return opt

    def step(params: Any, grads: Any, state: Any, mask: Any = None) -> tuple[Any, Any]:
        return opt.step(params, tree.tree_map(lambda g: -g, grads), state, mask=mask)

    return Optimizer(f"{opt.name}+maximize", opt.init, step, opt.hyperparams, opt.bounds)


def _float32_step_size(lr: float, beta1: float, beta2: float):
    r"""torch's step size with a float32 tensor ``lr``: ``lr * sqrt(1 - beta2^t) / (1 - beta1^t)`` in
    0-d float32 tensors (each Python number rounded to float32 first; 9e-8 of the update otherwise),
    as the rule's lr: that step size times :math:`(1 - \beta_1^t) / \sqrt{1 - \beta_2^t}`."""
    f = np.float32

    def lr_t(t: int) -> float:
        bc1, root = 1 - beta1**t, math.sqrt(1 - beta2**t)
        return float(f(f(lr) * f(root)) / f(bc1)) * bc1 / root
    return lr_t


def sparse_gradient(grad: Any) -> tuple[Any, Any]:
    """A torch sparse COO gradient (``nn.Embedding(sparse=True)``'s) as ``(dense, mask)`` torch
    tensors: ``dense`` its coalesced values (repeated indices summed, as torch's SparseAdam
    coalesces), 0 elsewhere; ``mask`` True at every coordinate an index names (a hybrid tensor's
    dense dimensions whole), also where the summed value is 0."""
    import torch

    if not (isinstance(grad, torch.Tensor) and grad.layout == torch.sparse_coo):
        raise TypeError(f"grad must be a torch sparse COO tensor, got {type(grad).__name__}")
    g = grad.coalesce()
    mask = torch.zeros(g.shape, dtype=torch.bool, device=g.device)
    mask[tuple(g.indices())] = True
    return g.to_dense(), mask


# --- optax.rprop --------------------------------------------------------------------------

class OptaxRpropState(NamedTuple):
    t: int
    step_size: object    # optax's step_sizes
    prev_update: object  # optax's prev_updates: the step computed last time, emitted this time


def optax_rprop_update(w, g, step_size, prev_update, *, t, learning_rate, eta_minus, eta_plus,
                       min_step_size, max_step_size):
    r"""optax 0.2.8's ``scale_by_rprop`` then ``scale(-1)``, with :math:`u_{t-1}` = ``prev_update``:

    .. math::

        p_t &= g_t\, u_{t-1} \\
        \Delta_t &= \Delta_{t-1} \text{ where } p_t = 0, \text{ else }
            \mathrm{clip}((\eta^+ \text{ if } p_t > 0 \text{ else } \eta^-)\,\Delta_{t-1}) \\
        u_t &= 0 \text{ where } p_t < 0, \text{ else } \Delta_t\, \mathrm{sign}(g_t) \\
        w_t &= w_{t-1} - (0 \text{ where } p_t < 0, \text{ else } u_{t-1})

    The emitted step is :math:`u_{t-1}`, the one computed at the step before (torch's is
    :math:`u_t`): optax's step lags one behind, and its first is 0."""
    del t, learning_rate  # Delta_0 is in step_size (init)
    xp = array_namespace(w)
    p = g * prev_update
    factor = xp.where(p > 0, xp.full_like(w, eta_plus), xp.full_like(w, eta_minus))  # not promoted
    grown = xp.minimum(xp.maximum(step_size * factor, min_step_size), max_step_size)
    step_size = xp.where(p == 0, step_size, grown)
    zero = xp.zeros_like(w)
    update = xp.where(p < 0, zero, step_size * xp.sign(g))
    w = w - xp.where(p < 0, zero, prev_update)
    return w, step_size, update


def optax_rprop(learning_rate, eta_minus=0.5, eta_plus=1.2, min_step_size=1e-6, max_step_size=50.0):
    """``optax.rprop`` (optax 0.2.8), one-step-stale update included (``optax_rprop_update``);
    ``learning_rate`` is the initial step size, a number (optax has no default)."""
    delta0 = number("learning_rate", value("learning_rate", learning_rate), NONNEGATIVE)
    lo = number("min_step_size", min_step_size, NONNEGATIVE)
    hi = number("max_step_size", max_step_size, NONNEGATIVE)
    if lo > hi:
        raise ValueError(f"min_step_size must be <= max_step_size, got {lo:g} > {hi:g}")

    def init_leaf(w):
        return array_namespace(w).full_like(w, delta0), zeros_like(w)

    return rule("optax.rprop", OptaxRpropState, init_leaf, optax_rprop_update,
                {"learning_rate": (delta0, NONNEGATIVE), "eta_minus": (eta_minus, ETA_MINUS),
                 "eta_plus": (eta_plus, ETA_PLUS), "min_step_size": (lo, NONNEGATIVE),
                 "max_step_size": (hi, NONNEGATIVE)})
