"""Fused in-place kernels for the Adam family: Adam, AdamW, AMSGrad, AdaMax, NAdam, RAdam.

Each kernel line is the canonical rule's line (refopt/rules/<name>.py) for one element, in
the same order of operations. Every scalar the canonical rule forms from Python floats
(``1 - beta1``, ``1 - beta1**t``, RAdam's ``lr * r_t``, AdaMax's ``lr / (1 - beta1**t)``) is
formed here the same way in float64 and rounded once to the arrays' dtype (``scalars``).
Names: ``c1 = 1 - beta1``, ``c2 = 1 - beta2``, ``d1 = 1 - beta1**t``, ``d2 = 1 - beta2**t``.
"""
import numpy as np

from ..rules.adam import AdamState, adam as _adam
from ..rules.adamax import AdamaxState, adamax as _adamax
from ..rules.adamw import AdamWState, adamw as _adamw
from ..rules.amsgrad import AMSGradState, amsgrad as _amsgrad
from ..rules.nadam import NadamState, nadam as _nadam
from ..rules.radam import RadamState, radam as _radam, rectification, sma_length
from ._fused import fast, scalars
from ._numba import kernel, maximum, prange


@kernel
def _adam_kernel(w, g, m, s, beta1, c1, beta2, c2, d1, d2, lr, eps_root, eps):
    for i in prange(w.shape[0]):
        m_i = beta1 * m[i] + c1 * g[i]
        s_i = beta2 * s[i] + c2 * g[i] * g[i]
        m_hat = m_i / d1
        s_hat = s_i / d2
        m[i] = m_i
        s[i] = s_i
        w[i] = w[i] - lr * m_hat / (np.sqrt(s_hat + eps_root) + eps)


def _adam_update(w, g, m, s, *, t, lr, beta1, beta2, eps, eps_root):
    _adam_kernel(w, g, m, s, *scalars(w.dtype, beta1, 1 - beta1, beta2, 1 - beta2,
                                      1 - beta1**t, 1 - beta2**t, lr, eps_root, eps))


@kernel
def _adamw_kernel(w, g, m, s, beta1, c1, beta2, c2, d1, d2, lr, eps_root, eps, decay, multiplier):
    for i in prange(w.shape[0]):
        m_i = beta1 * m[i] + c1 * g[i]
        s_i = beta2 * s[i] + c2 * g[i] * g[i]
        m_hat = m_i / d1
        s_hat = s_i / d2
        m[i] = m_i
        s[i] = s_i
        w[i] = w[i] - multiplier * (lr * m_hat / (np.sqrt(s_hat + eps_root) + eps) + decay * w[i])


def _adamw_update(w, g, m, s, *, t, lr, beta1, beta2, eps, weight_decay, schedule_multiplier,
                  eps_root):
    _adamw_kernel(w, g, m, s, *scalars(w.dtype, beta1, 1 - beta1, beta2, 1 - beta2, 1 - beta1**t,
                                       1 - beta2**t, lr, eps_root, eps, weight_decay,
                                       schedule_multiplier))


@kernel
def _amsgrad_kernel(w, g, m, s, s_max, beta1, c1, beta2, c2, lr, eps_root, eps):
    for i in prange(w.shape[0]):
        m_i = beta1 * m[i] + c1 * g[i]
        s_i = beta2 * s[i] + c2 * g[i] * g[i]
        s_max_i = maximum(s_max[i], s_i)
        m[i] = m_i
        s[i] = s_i
        s_max[i] = s_max_i
        w[i] = w[i] - lr * m_i / (np.sqrt(s_max_i + eps_root) + eps)


def _amsgrad_update(w, g, m, s, s_max, *, t, lr, beta1, beta2, eps, eps_root):
    _amsgrad_kernel(w, g, m, s, s_max,
                    *scalars(w.dtype, beta1, 1 - beta1, beta2, 1 - beta2, lr, eps_root, eps))


@kernel
def _adamax_kernel(w, g, m, u, beta1, c1, beta2, eps, step_size):
    for i in prange(w.shape[0]):
        m_i = beta1 * m[i] + c1 * g[i]
        u_i = maximum(beta2 * u[i], np.abs(g[i]) + eps)
        m[i] = m_i
        u[i] = u_i
        w[i] = w[i] - step_size * (m_i / u_i)


def _adamax_update(w, g, m, u, *, t, lr, beta1, beta2, eps):
    _adamax_kernel(w, g, m, u, *scalars(w.dtype, beta1, 1 - beta1, beta2, eps, lr / (1 - beta1**t)))


@kernel
def _nadam_kernel(w, g, m, s, beta1, c1, beta2, c2, d1, d1_next, d2, lr, eps_root, eps):
    for i in prange(w.shape[0]):
        m_i = beta1 * m[i] + c1 * g[i]
        s_i = beta2 * s[i] + c2 * g[i] * g[i]
        m_bar = beta1 * m_i / d1_next + c1 * g[i] / d1
        s_hat = s_i / d2
        m[i] = m_i
        s[i] = s_i
        w[i] = w[i] - lr * m_bar / (np.sqrt(s_hat + eps_root) + eps)


def _nadam_update(w, g, m, s, *, t, lr, beta1, beta2, eps, eps_root):
    _nadam_kernel(w, g, m, s, *scalars(w.dtype, beta1, 1 - beta1, beta2, 1 - beta2, 1 - beta1**t,
                                       1 - beta1 ** (t + 1), 1 - beta2**t, lr, eps_root, eps))


@kernel
def _radam_kernel(w, g, m, s, rectified, beta1, c1, beta2, c2, d1, d2, lr, eps_root, eps):
    for i in prange(w.shape[0]):
        m_i = beta1 * m[i] + c1 * g[i]
        s_i = beta2 * s[i] + c2 * g[i] * g[i]
        m_hat = m_i / d1
        m[i] = m_i
        s[i] = s_i
        if rectified:  # lr arrives as lr * r_t, the product the canonical rule forms first
            w[i] = w[i] - lr * m_hat / (np.sqrt(s_i / d2 + eps_root) + eps)
        else:
            w[i] = w[i] - lr * m_hat


def _radam_update(w, g, m, s, *, t, lr, beta1, beta2, eps, eps_root, threshold):
    rho_t = sma_length(t, beta2)
    rectified = rho_t > threshold
    step_lr = lr * rectification(rho_t, beta2) if rectified else lr
    _radam_kernel(w, g, m, s, rectified, *scalars(w.dtype, beta1, 1 - beta1, beta2, 1 - beta2,
                                                  1 - beta1**t, 1 - beta2**t, step_lr, eps_root, eps))


adam = fast(_adam, AdamState, _adam_update)
adamw = fast(_adamw, AdamWState, _adamw_update)
amsgrad = fast(_amsgrad, AMSGradState, _amsgrad_update)
adamax = fast(_adamax, AdamaxState, _adamax_update)
nadam = fast(_nadam, NadamState, _nadam_update)
radam = fast(_radam, RadamState, _radam_update)
