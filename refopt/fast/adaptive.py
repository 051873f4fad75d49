"""Fused in-place kernels for AdaGrad, RMSProp (plain, centered, with momentum) and AdaDelta.

Each kernel line is the canonical rule's line (refopt/rules/adagrad.py, rmsprop.py,
adadelta.py) for one element, in the same order of operations; ``c2 = 1 - beta2`` is formed
in float64 and rounded once to the arrays' dtype, as NumPy does with the canonical Python float.
"""
import numpy as np

from ..rules.adadelta import AdadeltaState, adadelta as _adadelta
from ..rules.adagrad import AdagradState, adagrad as _adagrad
from ..rules.rmsprop import RMSPropState, rmsprop as _rmsprop
from ._fused import fast, scalars
from ._numba import kernel, prange

# RMSProp without centering or momentum keeps () for those buffers; its kernel then gets
# this empty array in their place and never indexes it (one per dtype, made once: no
# allocation per step)
_ABSENT = {np.dtype(d): np.empty(0, d) for d in (np.float32, np.float64)}


@kernel
def _adagrad_kernel(w, g, s, lr, eps_root, eps):
    for i in prange(w.shape[0]):
        s_i = s[i] + g[i] * g[i]
        s[i] = s_i
        w[i] = w[i] - lr * g[i] / (np.sqrt(s_i + eps_root) + eps)


def _adagrad_update(w, g, s, *, t, lr, eps, eps_root, initial_accumulator):
    _adagrad_kernel(w, g, s, *scalars(w.dtype, lr, eps_root, eps))  # s_0 was init's


@kernel
def _rmsprop_kernel(w, g, s, gbar, b, centered, heavy_ball, lr, beta2, c2, eps_root, eps, momentum):
    for i in prange(w.shape[0]):
        s_i = beta2 * s[i] + c2 * g[i] * g[i]
        s[i] = s_i
        if centered:
            gbar_i = beta2 * gbar[i] + c2 * g[i]
            r = g[i] / (np.sqrt(s_i - gbar_i * gbar_i + eps_root) + eps)
            gbar[i] = gbar_i
        else:
            r = g[i] / (np.sqrt(s_i + eps_root) + eps)
        if heavy_ball:
            b_i = momentum * b[i] + r
            w[i] = w[i] - lr * b_i
            b[i] = b_i
        else:
            w[i] = w[i] - lr * r


def _rmsprop_update(w, g, s, gbar, b, *, t, lr, beta2, eps, eps_root, momentum, centered,
                    initial_accumulator):
    heavy_ball = isinstance(b, np.ndarray)  # the canonical init keeps b only then
    _rmsprop_kernel(w, g, s, gbar if centered else _ABSENT[w.dtype],
                    b if heavy_ball else _ABSENT[w.dtype], centered, heavy_ball,
                    *scalars(w.dtype, lr, beta2, 1 - beta2, eps_root, eps, momentum))


@kernel
def _adadelta_kernel(w, g, s, u, lr, beta2, c2, eps):
    for i in prange(w.shape[0]):
        s_i = beta2 * s[i] + c2 * g[i] * g[i]
        delta = -np.sqrt(u[i] + eps) / np.sqrt(s_i + eps) * g[i]
        u[i] = beta2 * u[i] + c2 * delta * delta
        s[i] = s_i
        w[i] = w[i] + lr * delta


def _adadelta_update(w, g, s, u, *, t, lr, beta2, eps):
    _adadelta_kernel(w, g, s, u, *scalars(w.dtype, lr, beta2, 1 - beta2, eps))


adagrad = fast(_adagrad, AdagradState, _adagrad_update)
rmsprop = fast(_rmsprop, RMSPropState, _rmsprop_update)
adadelta = fast(_adadelta, AdadeltaState, _adadelta_update)
