r"""The update rules of optax optimizers that are not the paper's: each a rule of its own
(State NamedTuple, per-leaf update, init), used by the constructors of ``refopt.flavors.optax``:

* ``rmsprop_update`` (``rmsprop(bias_correction=True)`` or ``nesterov=True``): optax divides
  both EMAs by :math:`1-\rho^t` (the initial scale included) and may take a Nesterov step on
  the rescaled gradient; the canonical RMSProp has neither.
* ``amsgrad_update``: the running max is of the *bias-corrected* :math:`\hat s_t` (Reddi et
  al. and torch take it of the raw :math:`s_t`).
* ``adafactor_update``: no relative step (``learning_rate`` is the step), factors the two
  largest axes only when both are at least ``min_dim_size_to_factor``, scales by the
  parameter RMS after clipping, optional EMA momentum and decay; :math:`\hat\beta_{2t}` in
  float32 (or float64: ``decay_rate_dtype``).
* ``lars_update``: trust ratio :math:`\eta_{tc}\lVert w\rVert/(\lVert g + \lambda w\rVert + \epsilon)`,
  the norm of the decayed gradient (the paper form in ``refopt.lars`` has
  :math:`\lVert g\rVert + \lambda\lVert w\rVert`), then momentum on the lr-scaled step.
* ``adan_update``: the gradient difference enters :math:`n` and the step with
  :math:`1-\beta_2` (0.08), where the official code has :math:`\beta_2` (0.92); all three
  moments bias-corrected, eps inside and outside the root, decay added to the step.

The state classes keep their names (test vectors record a state by its class name), and
``refopt.flavors.optax`` re-exports them, so checkpoints that name them under that module
still load.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..backend import array_namespace, zeros_like

__all__ = ["RmspropState", "rmsprop_init", "rmsprop_update", "AmsgradState", "amsgrad_update",
           "AdafactorState", "factored_axes", "adafactor_init",
           "adafactor_update", "LarsState", "lars_update", "AdanState", "adan_update"]


# --- RMSprop with bias correction ---------------------------------------------------------

class RmspropState(NamedTuple):
    t: int
    s: object     # EMA of g^2, started at initial_scale
    gbar: object  # EMA of g (centered), else ()
    b: object     # trace of the rescaled gradient (momentum), else ()


def rmsprop_init(w, *, initial_scale, centered, momentum):
    r""":math:`s_0` = ``initial_scale``; :math:`\bar g_0 = 0` if ``centered``; :math:`b_0 = 0`
    with ``momentum``."""
    xp = array_namespace(w)
    return (xp.full_like(w, initial_scale), zeros_like(w) if centered else (),
            zeros_like(w) if momentum else ())


def rmsprop_update(w, g, s, gbar, b, *, t, lr, decay, eps, eps_in_sqrt, centered, momentum, nesterov,
                   bias_correction, lr_in_trace=False):
    r"""optax's ``scale_by_rms``/``scale_by_stddev`` with optional debiasing and trace:

    .. math::

        s_t = \rho s_{t-1} + (1-\rho) g_t^2,\quad \bar g_t = \rho \bar g_{t-1} + (1-\rho) g_t,\quad
        c_t = 1 - \rho^t \text{ (1 without bias\_correction)} \\
        r_t = g_t / \sqrt{s_t/c_t - (\bar g_t/c_t)^2 + \epsilon}
        \ (\text{or } \sqrt{\cdot} + \epsilon),\quad
        b_t = \mu b_{t-1} + r_t,\quad
        w_t = w_{t-1} - \eta\,(r_t + \mu b_t \text{ if nesterov else } b_t)

    ``lr_in_trace`` (a scheduled lr): :math:`b_t = \mu b_{t-1} + \eta_t r_t`, :math:`w_t =
    w_{t-1} - b_t`, optax's order, equal to the above for a constant lr.
    """
    xp = array_namespace(w)
    c = 1 - decay**t if bias_correction else 1.0
    s = decay * s + (1 - decay) * g * g
    v = s / c
    if centered:
        gbar = decay * gbar + (1 - decay) * g
        v = v - (gbar / c) ** 2
    r = g / xp.sqrt(v + eps) if eps_in_sqrt else g / (xp.sqrt(v) + eps)
    if isinstance(b, tuple):
        return w - lr * r, s, gbar, b
    if lr_in_trace:  # optax scales by lr before its trace: with a schedule b_t sums eta_t r_t
        b = momentum * b + lr * r
        return w - (lr * r + momentum * b if nesterov else b), s, gbar, b
    b = momentum * b + r
    return w - lr * (r + momentum * b if nesterov else b), s, gbar, b


# --- AMSGrad ------------------------------------------------------------------------------

class AmsgradState(NamedTuple):
    t: int
    m: object
    s: object
    s_max: object  # running max of the (corrected) second moment


def amsgrad_update(w, g, m, s, s_max, *, t, lr, beta1, beta2, eps, eps_root, bias_correction_mu,
                   bias_correction_nu):
    r""":math:`\hat s^{\max}_t = \max(\hat s^{\max}_{t-1}, s_t/(1-\beta_2^t))`,
    :math:`w_t = w_{t-1} - \eta\,\hat m_t/(\sqrt{\hat s^{\max}_t + \epsilon_r} + \epsilon)`."""
    xp = array_namespace(w)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    m_hat = m / (1 - beta1**t) if bias_correction_mu else m
    s_eff = s / (1 - beta2**t) if bias_correction_nu else s
    s_max = xp.maximum(s_max, s_eff)
    w = w - lr * m_hat / (xp.sqrt(s_max + eps_root) + eps)
    return w, m, s, s_max


# --- Adafactor ----------------------------------------------------------------------------

class AdafactorState(NamedTuple):
    t: int
    row: object   # factored: mean of g^2 + eps over the largest axis, else ()
    col: object   # factored: mean over the second largest axis, else ()
    v: object     # unfactored second moment, else ()
    m: object     # momentum (EMA of the scaled update), else ()


def factored_axes(shape, factored, min_dim):
    """optax's choice: the two largest axes (second largest, largest), if both >= min_dim."""
    if not factored or len(shape) < 2:
        return None
    order = np.argsort(shape)
    if shape[order[-2]] < min_dim:
        return None
    return int(order[-2]), int(order[-1])


def adafactor_init(w, *, factored, min_dim, momentum):
    """Row and column statistics over ``factored_axes`` (else the full second moment); the
    momentum buffer only with ``momentum``."""
    xp = array_namespace(w)
    axes = factored_axes(tuple(w.shape), factored, min_dim)
    mom = zeros_like(w) if momentum else ()
    if axes is None:
        return (), (), zeros_like(w), mom
    a1, a0 = axes
    row_shape = tuple(n for i, n in enumerate(w.shape) if i != a0)
    col_shape = tuple(n for i, n in enumerate(w.shape) if i != a1)
    return xp.zeros(row_shape, dtype=w.dtype), xp.zeros(col_shape, dtype=w.dtype), (), mom


def _decay_rate(t, decay_rate, decay_offset, dtype):
    r""":math:`\hat\beta_{2t} = 1 - t^{-c}` as optax computes it: the step as a float32, the
    power and the difference in ``dtype`` (float32 for a Python float ``c``, float64 for a
    float64 array ``c``)."""
    step = np.float32(t - decay_offset)
    if dtype == "float32":
        return float(np.float32(1.0) - step ** np.float32(-decay_rate))
    return 1.0 - float(step) ** -decay_rate


def adafactor_update(w, g, row, col, v, m, *, t, lr, decay_rate, decay_offset, eps, clipping_threshold,
                     multiply_by_parameter_scale, momentum, weight_decay_rate, axes,
                     decay_rate_dtype="float32"):
    r"""optax's ``adafactor`` chain, one array:

    .. math::

        \hat\beta = 1 - t^{-c},\quad
        R_t = \hat\beta R_{t-1} + (1-\hat\beta)\,\mathrm{mean}_{a_0}(g^2+\epsilon),
        \quad C_t = \hat\beta C_{t-1} + (1-\hat\beta)\,\mathrm{mean}_{a_1}(g^2+\epsilon) \\
        u = g\,(R_t/\bar R_t)^{-1/2} C_t^{-1/2}\ (\text{or } g\,V_t^{-1/2}),\quad
        u \leftarrow \eta\,u/\max(1, \mathrm{RMS}(u)/d)\cdot\max(\mathrm{RMS}(w), 10^{-3}) \\
        m_t = \beta_1 m_{t-1} + (1-\beta_1) u,\quad w_t = w_{t-1} - (m_t + \lambda w_{t-1})
    """
    xp = array_namespace(w)
    beta = _decay_rate(t, decay_rate, decay_offset, decay_rate_dtype)
    g2 = g * g + eps
    if axes is not None:
        a1, a0 = axes
        row = beta * row + (1 - beta) * xp.mean(g2, axis=a0)
        col = beta * col + (1 - beta) * xp.mean(g2, axis=a1)
        row_axis = a1 - 1 if a1 > a0 else a1
        row_factor = (row / xp.mean(row, axis=row_axis, keepdims=True)) ** -0.5
        u = g * xp.expand_dims(row_factor, axis=a0) * xp.expand_dims(col ** -0.5, axis=a1)
    else:
        v = beta * v + (1 - beta) * g2
        u = g * v ** -0.5
    if clipping_threshold is not None:
        u = u / xp.maximum(xp.asarray(1.0, dtype=w.dtype), xp.sqrt(xp.mean(u * u)) / clipping_threshold)
    if lr is not None:
        u = lr * u
    if multiply_by_parameter_scale:
        u = u * xp.maximum(xp.sqrt(xp.mean(w * w)), xp.asarray(1e-3, dtype=w.dtype))
    if momentum is not None:
        m = momentum * m + (1 - momentum) * u
        u = m
    if weight_decay_rate is not None:
        u = u + weight_decay_rate * w
    return w - u, row, col, v, m


# --- LARS ---------------------------------------------------------------------------------

class LarsState(NamedTuple):
    t: int
    b: object  # optax's trace of the lr-scaled, trust-scaled step


def lars_update(w, g, b, *, t, lr, weight_decay, trust_coefficient, eps, momentum, nesterov):
    r""":math:`u = g + \lambda w`, :math:`u \leftarrow u\,\eta_{tc}\lVert w\rVert/(\lVert u\rVert + \epsilon)`
    (1 where a norm is 0), :math:`b_t = \mu b_{t-1} + \eta u`, :math:`w_t = w_{t-1} - b_t`
    (nesterov: :math:`w_{t-1} - (\eta u + \mu b_t)`)."""
    xp = array_namespace(w)
    u = g + weight_decay * w
    w_norm, u_norm = xp.linalg.vector_norm(w), xp.linalg.vector_norm(u)
    one = xp.ones_like(w_norm)
    defined = (w_norm > 0) & (u_norm > 0)
    ratio = xp.where(defined, trust_coefficient * w_norm / xp.where(defined, u_norm + eps, one), one)
    u = lr * ratio * u
    b = momentum * b + u
    return w - (u + momentum * b if nesterov else b), b


# --- Adan ---------------------------------------------------------------------------------

class AdanState(NamedTuple):
    t: int
    m: object
    v: object
    n: object
    g_prev: object


def adan_update(w, g, m, v, n, g_prev, *, t, lr, beta1, beta2, beta3, eps, eps_root, weight_decay):
    r"""optax's Adan: :math:`d_t = g_t - g_{t-1}` (0 at t = 1), EMAs with weights
    :math:`\beta_i` on the old value,

    .. math::

        n_t = \beta_3 n_{t-1} + (1-\beta_3)(g_t + (1-\beta_2) d_t)^2,\quad
        u = \frac{\hat m_t + (1-\beta_2)\hat v_t}{\sqrt{\hat n_t + \epsilon_r} + \epsilon},\quad
        w_t = w_{t-1} - \eta\,(u + \lambda w_{t-1})
    """
    xp = array_namespace(w)
    d = g - g_prev if t > 1 else xp.zeros_like(g)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * d
    n = beta3 * n + (1 - beta3) * (g + (1 - beta2) * d) ** 2
    m_hat, v_hat, n_hat = m / (1 - beta1**t), v / (1 - beta2**t), n / (1 - beta3**t)
    u = (m_hat + (1 - beta2) * v_hat) / (xp.sqrt(n_hat + eps_root) + eps)
    return w - lr * (u + weight_decay * w), m, v, n, g
