"""keras's own update rules, where its algorithm is not a canonical rule with knobs set: AdaMax
with eps after the max, the velocity keras keeps for momentum (the lr inside it), which
differs from the rules' form once the lr changes, and Adafactor with keras's float32 means.
Used by ``refopt.flavors.keras``."""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from .. import tree
from ..backend import accumulator, array_namespace, finfo, zeros_like
from ..core import Optimizer

__all__ = ["AdamaxState", "adamax_update", "velocity", "KerasAdafactorState", "adafactor_init",
           "adafactor_update"]


class AdamaxState(NamedTuple):
    t: int
    m: object  # first moment
    u: object  # exponentially weighted infinity norm, max(beta2*u, |g|)


def adamax_update(w, g, m, u, *, t, lr, beta1, beta2, eps):
    r"""Keras's AdaMax, eps after the max:

    .. math::

        m_t = \beta_1 m_{t-1} + (1-\beta_1) g_t,\quad u_t = \max(\beta_2 u_{t-1}, |g_t|),\quad
        w_t = w_{t-1} - \frac{\eta\, m_t}{(1-\beta_1^t)(u_t + \epsilon)}
    """
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    u = xp.maximum(beta2 * u, xp.abs(g))
    w = w - lr * m / ((1 - beta1**t) * (u + eps))
    return w, m, u


def velocity(opt: Optimizer, momentum: float, nesterov: bool = False) -> Optimizer:
    r"""Keras's velocity over ``opt``'s momentum-free step :math:`d_t` (the lr inside):
    :math:`u_t = \mu u_{t-1} + d_t`, :math:`w_t = w_{t-1} - u_t` (Nesterov:
    :math:`w_{t-1} - (\mu u_t + d_t)`); Keras's velocity is :math:`-u_t`. Used for a scheduled
    lr, where it differs from the rules' :math:`\eta_t b_t`."""
    def init(params: Any) -> Any:
        return opt.init(params), tree.tree_map(zeros_like, params)

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        inner, u = state
        moved, inner = opt.step(params, grads, inner)
        d = tree.tree_map(lambda w, x: w - x, params, moved)
        u = tree.tree_map(lambda a, b: momentum * a + b, u, d)
        step_ = tree.tree_map(lambda a, b: momentum * a + b, u, d) if nesterov else u
        return tree.tree_map(lambda w, x: w - x, params, step_), (inner, u)

    return Optimizer(f"{opt.name}+keras-velocity", init, step, {**opt.hyperparams, "momentum": momentum},
                     opt.bounds)


# --- Adafactor, with keras's means -----------------------------------------------------------

class KerasAdafactorState(NamedTuple):
    t: int
    v: object  # per leaf: (r, c), the row and column means of G^2 + eps1, for rank >= 2; else V itself


def _mean(xp, x, axis, mean_dtype, keepdims=False):
    """keras 3.15.1's JAX ``ops.mean``: computed in ``result_type(x.dtype, "float32")``, which keras
    makes float32 even for float64 input, then cast back (``mean_dtype="float32"``); None: in x's
    own dtype, as the formula reads."""
    if mean_dtype is None or finfo(x).bits <= 32:
        return xp.astype(xp.mean(accumulator(x), axis=axis, keepdims=keepdims), x.dtype)
    return xp.astype(xp.mean(xp.astype(x, xp.float32), axis=axis, keepdims=keepdims), x.dtype)


def _rms(xp, x, mean_dtype):
    flat = xp.reshape(x, (-1,))
    return xp.sqrt(_mean(xp, flat * flat, None, mean_dtype))


def adafactor_init(w):
    xp = array_namespace(w)
    if w.ndim >= 2:  # zeros reduced away along an axis: right shape, dtype and device
        return ((xp.sum(zeros_like(w), axis=-1), xp.sum(zeros_like(w), axis=-2)),)
    return (zeros_like(w),)


def adafactor_update(w, g, v, *, t, lr, eps1, eps2, d, decay, mean_dtype):
    r"""Keras's Adafactor (``keras/src/optimizers/adafactor.py``), Shazeer & Stern (2018) with
    row and column *means* (the same :math:`\hat V` as the paper's sums, other roundings):

    .. math::

        \hat\beta_{2t} = 1 - t^{-c},\quad \alpha_t = \max(\epsilon_2, \mathrm{RMS}(w))\min(\eta, t^{-1/2}),
        \quad r_t = \hat\beta_{2t} r_{t-1} + (1-\hat\beta_{2t})\,\mathrm{mean}_{-1}(G^2 + \epsilon_1),
        \quad c_t \text{ likewise over axis } -2 \\
        \hat V_t = \frac{r_t}{\mathrm{mean}(r_t)} c_t^\top,\quad U_t = G/\sqrt{\hat V_t},\quad
        w_t = w_{t-1} - \alpha_t\, U_t / \max(1, \mathrm{RMS}(U_t)/d)

    A vector keeps :math:`\hat V` whole. Every mean (RMS included) is taken as ``_mean`` does.
    """
    xp = array_namespace(w)
    beta2_t = 1 - t ** (-decay)
    rho_t = min(lr, 1 / math.sqrt(t))
    alpha_t = xp.maximum(_rms(xp, w, mean_dtype), xp.full((), eps2, dtype=w.dtype)) * rho_t
    g2 = g * g + eps1
    if isinstance(v, tuple):
        r, c = v
        r = beta2_t * r + (1 - beta2_t) * _mean(xp, g2, -1, mean_dtype)
        c = beta2_t * c + (1 - beta2_t) * _mean(xp, g2, -2, mean_dtype)
        row = r / _mean(xp, r, -1, mean_dtype, keepdims=True)
        V = xp.expand_dims(row, axis=-1) * xp.expand_dims(c, axis=-2)
        v = (r, c)
    else:
        V = v = beta2_t * v + (1 - beta2_t) * g2
    U = g / xp.sqrt(V)
    U_hat = U / xp.maximum(xp.ones((), dtype=w.dtype), _rms(xp, U, mean_dtype) / d)
    return w - alpha_t * U_hat, v
