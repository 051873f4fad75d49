"""Fused in-place kernels for Lion and Adan.

Each kernel line is the canonical rule's line (refopt/rules/lion.py, adan.py) for one
element, in the same order of operations; scalars formed from Python floats are formed the
same way in float64 and rounded once to the arrays' dtype (``scalars``). Adan's EMA weights
``a1, a2, a3`` (0 at the first sample unless ``debias``) and its bias corrections
``c1, c2, c3`` come from the canonical rule's own ``_weights``; ``e_k = 1 - a_k``.
"""
import numpy as np

from ..rules.adan import AdanState, _weights, adan as _adan
from ..rules.lion import LionState, lion as _lion
from ._fused import fast, scalars
from ._numba import kernel, prange, sign


@kernel
def _lion_kernel(w, g, m, lr, beta1, c1, beta2, c2, weight_decay, one, zero):
    for i in prange(w.shape[0]):
        c = beta1 * m[i] + c1 * g[i]
        w[i] = w[i] - lr * (sign(c, one, zero) + weight_decay * w[i])
        m[i] = beta2 * m[i] + c2 * g[i]


def _lion_update(w, g, m, *, t, lr, beta1, beta2, weight_decay):
    _lion_kernel(w, g, m, *scalars(w.dtype, lr, beta1, 1 - beta1, beta2, 1 - beta2, weight_decay,
                                   1.0, 0.0))


@kernel
def _adan_kernel(w, g, m, v, n, g_prev, first, eps_inside, proximal,
                 a1, e1, a2, e2, a3, e3, beta2, c1, c2, c3, lr, eps, shrink, zero):
    for i in prange(w.shape[0]):
        d = zero if first else g[i] - g_prev[i]  # the paper's d_1 = 0
        m_i = a1 * m[i] + e1 * g[i]
        v_i = a2 * v[i] + e2 * d
        x = g[i] + beta2 * d
        n_i = a3 * n[i] + e3 * (x * x)
        denom = np.sqrt(n_i / c3 + eps) if eps_inside else np.sqrt(n_i / c3) + eps
        step = lr * (m_i / c1 + beta2 * (v_i / c2)) / denom
        # shrink is 1 + lr*wd (proximal: divide) or 1 - lr*wd (decoupled: multiply)
        m[i] = m_i
        v[i] = v_i
        n[i] = n_i
        w[i] = (w[i] - step) / shrink if proximal else w[i] * shrink - step
        g_prev[i] = g[i]


def _adan_update(w, g, m, v, n, g_prev, *, t, lr, beta1, beta2, beta3, eps, weight_decay,
                 debias, eps_inside, proximal):
    a1, a2, a3 = _weights(t, beta1, beta2, beta3, debias)
    c1, c2, c3 = ((1 - beta1**t), (1 - beta2**t), (1 - beta3**t)) if debias else (1.0, 1.0, 1.0)
    shrink = 1 + lr * weight_decay if proximal else 1 - lr * weight_decay
    _adan_kernel(w, g, m, v, n, g_prev, t == 1, eps_inside, proximal,
                 *scalars(w.dtype, a1, 1 - a1, a2, 1 - a2, a3, 1 - a3, beta2, c1, c2, c3, lr, eps,
                          shrink, 0.0))


lion = fast(_lion, LionState, _lion_update)
adan = fast(_adan, AdanState, _adan_update)
