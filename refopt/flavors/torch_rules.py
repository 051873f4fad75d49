r"""The update rules of ``torch.optim`` optimizers that are not the paper's: each a rule of its
own (State NamedTuple, per-leaf update, init), used by the constructors of
``refopt.flavors.torch`` (and ``nadam_update`` by ``refopt.flavors.keras``):

* ``dampened_update`` (``SGD(dampening>0)``): torch stores :math:`b_1 = g_1` undamped, then
  :math:`b_t = \mu b_{t-1} + (1-\tau) g_t`: not the heavy-ball rule with a scaled gradient.
* ``nadam_update`` (``NAdam``): the momentum schedule
  :math:`\mu_t = \beta_1(1 - \tfrac12\,0.96^{t\psi})` with products of the :math:`\mu_i` as
  bias corrections (Dozat's form has a constant :math:`\beta_1`); torch stores their product
  in its scalar dtype (float32 unless its default dtype is float64), modelled here.
* ``adafactor_update`` (``Adafactor``): :math:`\epsilon_1` clamps the denominators instead of
  being added to :math:`G^2`, the parameter RMS is read before the decoupled decay, and the
  decay is applied to the parameters the step then moves.
(torch's Muon is in ``refopt.flavors.torch_muon``.)

The state classes keep their names (``TorchNAdamState``, ...): test vectors record a state by
its class name, and ``refopt.flavors.torch`` re-exports them, so checkpoints that name them
under that module still load.
"""
from __future__ import annotations

import math
import sys
from typing import NamedTuple

import numpy as np

from ..backend import array_namespace, zeros_like

__all__ = ["DampenedMomentumState", "dampened_update", "TorchNAdamState", "nadam_update",
           "resolve_scalar_dtype", "TorchAdafactorState", "adafactor_init", "adafactor_update"]


# --- SGD with dampening -------------------------------------------------------------------

class DampenedMomentumState(NamedTuple):
    t: int
    b: object  # torch's momentum_buffer


def dampened_update(w, g, b, *, t, lr, momentum, dampening):
    # b_1 = g_1 (torch's documented choice); the EMA-like damping only from step 2
    b = g if t == 1 else momentum * b + (1 - dampening) * g
    w = w - lr * b
    return w, b


# --- NAdam --------------------------------------------------------------------------------

class TorchNAdamState(NamedTuple):
    t: int
    m: object
    s: object


def resolve_scalar_dtype(value=None):
    """``"float32"`` or ``"float64"``: the dtype of torch's 0-d scalar state
    (``torch.optim.optimizer._get_scalar_dtype``: float64 if torch's default dtype is float64,
    else float32). ``None``: torch's default dtype now if torch is imported, else float32 (a
    torch not yet imported cannot have had its default changed)."""
    if value is None:
        torch = sys.modules.get("torch")
        default = getattr(torch, "get_default_dtype", None)
        return "float64" if default is not None and default() == torch.float64 else "float32"
    if value not in ("float32", "float64"):
        raise ValueError(f"scalar_dtype must be 'float32', 'float64' or None (torch's default dtype), "
                         f"got {value!r}")
    return value


def _mu(t, beta1, psi):
    return beta1 * (1 - 0.5 * 0.96 ** (t * psi))


def _mu_product(t, beta1, psi, dtype):
    r""":math:`\prod_{i \le t} \mu_i` as torch keeps it: a 0-d tensor of ``dtype``, multiplied in
    place by the Python float :math:`\mu_i` each step. In float32 torch's CPU kernel rounds
    :math:`\mu_i` to float32 and the product again (checked bit for bit over 2000 steps), the
    rest of the step reads it back as a double."""
    if dtype == "float64":
        product = 1.0
        for i in range(1, t + 1):
            product *= _mu(i, beta1, psi)
        return product
    product = np.float32(1.0)
    for i in range(1, t + 1):
        product = product * np.float32(_mu(i, beta1, psi))
    return float(product)


def nadam_update(w, g, m, s, *, t, lr, beta1, beta2, eps, momentum_decay, scalar_dtype="float64",
                 differentiable=False):
    r"""Dozat's NAdam with torch's momentum schedule :math:`\mu_t`:

    .. math::

        \hat m_t = \frac{\mu_{t+1} m_t}{1 - \prod_{i \le t+1} \mu_i}
                 + \frac{(1-\mu_t) g_t}{1 - \prod_{i \le t} \mu_i}

    ``scalar_dtype``: the precision of the stored product (``_mu_product``); everything else is
    computed in double, as torch does with the Python floats it reads from that state, except
    with ``differentiable`` (torch's ``differentiable=True`` path), where the two coefficients
    are 0-d tensors of that dtype (``_differentiable_coefficients``).
    """
    xp = array_namespace(w)
    # torch keeps the product in its state; it is a function of t
    mu_product = _mu_product(t, beta1, momentum_decay, scalar_dtype)
    mu_t, mu_next = _mu(t, beta1, momentum_decay), _mu(t + 1, beta1, momentum_decay)
    m = beta1 * m + (1 - beta1) * g
    s = beta2 * s + (1 - beta2) * g * g
    denom = xp.sqrt(s / (1 - beta2**t)) + eps
    if differentiable:
        c_g, c_m = _differentiable_coefficients(lr, mu_t, mu_next, mu_product, scalar_dtype)
        return w + (c_g * g + c_m * m) / denom, m, s
    m_bar = (1 - mu_t) / (1 - mu_product) * g + mu_next / (1 - mu_product * mu_next) * m
    w = w - lr * m_bar / denom
    return w, m, s


def _differentiable_coefficients(lr, mu_t, mu_next, mu_product, dtype):
    r"""torch's ``-lr (1-\mu_t)/(1-\prod_{i \le t})`` and ``-lr \mu_{t+1}/(1-\prod_{i \le t+1})``
    with the products as 0-d tensors of ``dtype``: ``x / tensor`` is ``tensor.reciprocal() * x``
    (``Tensor.__rdiv__``), the Python float rounded to ``dtype`` (bit for bit over 3,000 steps)."""
    f = np.float32 if dtype == "float32" else np.float64
    product, one = f(mu_product), f(1)
    product_next = product * f(mu_next)
    c_g = (one / (one - product)) * f(-lr * (1 - mu_t))
    c_m = (one / (one - product_next)) * f(-lr * mu_next)
    return float(c_g), float(c_m)


# --- Adafactor ----------------------------------------------------------------------------

class TorchAdafactorState(NamedTuple):
    t: int
    row: object       # mean of g^2 over the last axis (rank >= 2), else ()
    col: object       # mean over the second-to-last axis (rank >= 2), else ()
    variance: object  # the whole second moment (rank < 2), else ()


def adafactor_init(w):
    if len(w.shape) < 2:
        return (), (), zeros_like(w)
    xp = array_namespace(w)
    row = xp.zeros((*w.shape[:-1], 1), dtype=w.dtype)
    col = xp.zeros((*w.shape[:-2], 1, w.shape[-1]), dtype=w.dtype)
    return row, col, ()


def adafactor_update(w, g, row, col, variance, *, t, lr, beta2_decay, eps1, eps2, d, weight_decay):
    r"""torch's Adafactor: the paper's relative step and clipping, :math:`\epsilon_1` as clamps.

    .. math::

        \hat\beta_{2t} = 1 - t^{c},\quad
        \alpha_t = \max(\epsilon_2, \mathrm{RMS}(w_{t-1}))\min(\eta, 1/\sqrt t),\quad
        w \leftarrow w(1 - \eta\lambda) \\
        R_t = \hat\beta_{2t} R_{t-1} + (1-\hat\beta_{2t})\,\mathrm{mean}_{\text{cols}}(G^2),\quad
        C_t = \hat\beta_{2t} C_{t-1} + (1-\hat\beta_{2t})\,\mathrm{mean}_{\text{rows}}(G^2) \\
        \hat V_t = R_t C_t / \max(\mathrm{mean}(R_t), \epsilon_1),\quad
        U_t = G / \sqrt{\max(\hat V_t, \epsilon_1^2)},\quad
        w_t = w - \alpha_t U_t / \max(1, \mathrm{RMS}(U_t)/d)
    """
    xp = array_namespace(w)
    eps1 = float(xp.finfo(w.dtype).eps) if eps1 is None else eps1
    new = t ** beta2_decay                        # 1 - beta2_t: the weight of the new statistic
    alpha = xp.maximum(_rms(xp, w), xp.asarray(eps2, dtype=w.dtype)) * min(lr, 1 / math.sqrt(t))
    w = w * (1 - lr * weight_decay)
    g2 = g * g
    if len(w.shape) >= 2:
        row = row + new * (xp.mean(g2, axis=-1, keepdims=True) - row)
        col = col + new * (xp.mean(g2, axis=-2, keepdims=True) - col)
        row_mean = xp.mean(row, axis=-2, keepdims=True)
        v_hat = (row @ col) / xp.maximum(row_mean, xp.asarray(eps1, dtype=w.dtype))
    else:
        variance = variance + new * (g2 - variance)
        v_hat = variance
    u = g / xp.sqrt(xp.maximum(v_hat, xp.asarray(eps1 * eps1, dtype=w.dtype)))
    clip = xp.maximum(_rms(xp, u) / d, xp.asarray(1.0, dtype=w.dtype))
    w = w - alpha / clip * u
    return w, row, col, variance


def _rms(xp, x):
    return xp.sqrt(xp.mean(x * x))
