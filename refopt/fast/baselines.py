"""Fused in-place kernels for SGD, heavy-ball momentum and reformulated Nesterov momentum.

Each kernel line is the canonical rule's line (refopt/rules/sgd.py, momentum.py,
nesterov.py) for one element; scalars arrive in the arrays' dtype (``scalars``).
"""
from ..rules.momentum import MomentumState, momentum as _momentum
from ..rules.nesterov import NesterovReformulatedState, nesterov_reformulated as _nesterov
from ..rules.sgd import SGDState, sgd as _sgd
from ._fused import fast, scalars
from ._numba import kernel, prange


@kernel
def _sgd_kernel(w, g, lr):
    for i in prange(w.shape[0]):
        w[i] = w[i] - lr * g[i]


def _sgd_update(w, g, *, t, lr):
    _sgd_kernel(w, g, *scalars(w.dtype, lr))


@kernel
def _momentum_kernel(w, g, m, lr, beta1):
    for i in prange(w.shape[0]):
        m_i = beta1 * m[i] + g[i]
        m[i] = m_i
        w[i] = w[i] - lr * m_i


def _momentum_update(w, g, m, *, t, lr, beta1):
    _momentum_kernel(w, g, m, *scalars(w.dtype, lr, beta1))


@kernel
def _nesterov_kernel(w, g, b, lr, beta1):
    for i in prange(w.shape[0]):
        b_i = beta1 * b[i] + g[i]
        b[i] = b_i
        w[i] = w[i] - lr * (g[i] + beta1 * b_i)


def _nesterov_update(w, g, b, *, t, lr, beta1):
    _nesterov_kernel(w, g, b, *scalars(w.dtype, lr, beta1))


sgd = fast(_sgd, SGDState, _sgd_update)
momentum = fast(_momentum, MomentumState, _momentum_update)
nesterov_reformulated = fast(_nesterov, NesterovReformulatedState, _nesterov_update)
