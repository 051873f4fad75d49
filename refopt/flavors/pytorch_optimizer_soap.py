r"""pytorch-optimizer's ``SOAP`` (4.1.0, ``pytorch_optimizer/optimizer/soap.py``) as a refopt optimizer.

The algorithm is ``refopt.soap``'s (Algorithm 3 of Vyas et al. 2024, the same first call, the same
sort and QR refresh, :math:`M` unrotated, :math:`V` slot by slot), computed as the library computes it:

* bias correction in the step size, :math:`\epsilon` outside the uncorrected root:
  :math:`W \leftarrow W - \eta\frac{\sqrt{1-\beta_2^k}}{1-\beta_1^k} Q_L\frac{M'}{\sqrt V + \epsilon}Q_R^\top`
  (the paper rule's :math:`\epsilon` scaled by :math:`1/\sqrt{1-\beta_2^k}`);
* the decay after the step, on the updated params: :math:`W \leftarrow W(1 - \eta\lambda)`;
* the first eigenbasis from ``eigh(GG + 1e-30 I)``, with no special case for zero rows (the backend's
  ``eigh`` decides their eigenvectors, as it does any degenerate eigenspace's); no sign convention;
* the QR of the power iteration in float32 (``qr_dtype="float32"``, the library casts to it whatever
  the params' dtype, "the correctness / numerical stability of the Q orthogonality is important");
  ``qr_dtype="float64"`` gives it in the params' dtype;
* ``normalize_gradient`` divides the rotated-back step by its RMS plus ``eps``; ``maximize`` negates
  the gradient. ``merge_dims=True`` is refused (not modelled); ``data_format`` only matters with it.

Precision: QR in float32 means the bases after a refresh are only float32-orthogonal, and two
float32 QR kernels (LAPACK's ``sgeqrf`` in OpenBLAS for NumPy, MKL's for torch) give bases 1e-7 apart.
The flavor agrees with the library to 1e-10 where it runs on the same kernels (torch arrays:
tests/flavors/test_pytorch_optimizer_soap.py); on NumPy arrays the refreshes differ by that kernel gap.
"""
from __future__ import annotations

import math
from typing import NamedTuple

from array_api_compat import device

from ..backend import array_namespace, zeros_like
from ..core import NONNEGATIVE, UNIT, number, rule
from ..rules.muon import choice, flag
from ..rules.soap import accumulate, preconditioned, rotate
from .pytorch_optimizer_rules import no_extras, refuse
from .torch import _betas, negated

__all__ = ["SOAP"]


class SOAPState(NamedTuple):
    t: int
    exp_avg: object
    exp_avg_sq: object
    GG: object
    Q: object


def _eigh_basis(P):
    xp = array_namespace(P)
    eye = xp.eye(P.shape[0], dtype=P.dtype, device=device(P))
    return xp.flip(xp.linalg.eigh(P + 1e-30 * eye)[1], axis=1)


def _qr_refresh(P, Q, v, axis, qr_dtype):
    xp = array_namespace(P)
    product = xp.matmul(P, Q)
    estimate = xp.sum(Q * product, axis=0)
    order = xp.argsort(estimate, descending=True)
    v = xp.take(v, order, axis=axis)
    power = xp.take(product, order, axis=1)
    low = xp.astype(power, getattr(xp, qr_dtype)) if qr_dtype == "float32" else power
    return xp.astype(xp.linalg.qr(low)[0], P.dtype), v


def _update(w, g, m, v, GG, Q, *, t, lr, beta1, beta2, shampoo_beta, eps, weight_decay,
            precondition_frequency, normalize_gradient, qr_dtype):
    if t == 1:  # init_group: the factors and eigh; step 1 is then skipped
        GG = accumulate(GG, g, shampoo_beta)
        return w, m, v, GG, tuple(_eigh_basis(P) if P.shape[0] else q for P, q in zip(GG, Q))
    xp = array_namespace(w)
    k = t - 1
    step_size = lr * math.sqrt(1.0 - math.pow(beta2, k)) / (1.0 - math.pow(beta1, k))
    g_rot = rotate(g, Q)
    m = m + (1 - beta1) * (g - m)
    v = v + (1 - beta2) * (g_rot * g_rot - v)
    n = rotate(rotate(m, Q) / (xp.sqrt(v) + eps), Q, back=True)
    if normalize_gradient:
        n = n / (xp.sqrt(xp.mean(n * n)) + eps)
    w = w - step_size * n
    w = w * (1.0 - weight_decay * lr)
    GG = accumulate(GG, g, shampoo_beta)
    if k % precondition_frequency == 0:
        Q = list(Q)
        for i, P in enumerate(GG):
            if P.shape[0]:
                Q[i], v = _qr_refresh(P, Q[i], v, i, qr_dtype)
        Q = tuple(Q)
    return w, m, v, GG, Q


def SOAP(lr=3e-3, betas=(0.95, 0.95), shampoo_beta=None, weight_decay=1e-2, precondition_frequency=10,
         max_precondition_dim=10000, merge_dims=False, precondition_1d=False, correct_bias=True,
         normalize_gradient=False, data_format="channels_first", eps=1e-8, maximize=False,
         qr_dtype="float32", **kwargs):
    """``pytorch_optimizer.SOAP``: refopt.soap's algorithm in the library's order of operations, its
    QR in float32 (``qr_dtype``)."""
    no_extras("SOAP", kwargs)
    if flag("merge_dims", merge_dims):
        refuse("SOAP", "merge_dims=True", "the dimension merging before the factors")
    choice("data_format", data_format, ("channels_first", "channels_last"))
    if not flag("correct_bias", correct_bias):
        refuse("SOAP", "correct_bias=False", "the step without bias correction")
    beta1, beta2 = _betas(betas, False)
    frequency, max_dim = (int(number(name, x, NONNEGATIVE)) for name, x in
                          (("precondition_frequency", precondition_frequency),
                           ("max_precondition_dim", max_precondition_dim)))
    if frequency < 1 or max_dim < 1:
        raise ValueError("precondition_frequency and max_precondition_dim must be integers >= 1")
    one_d = flag("precondition_1d", precondition_1d)

    def init_leaf(w):
        xp, z = array_namespace(w), dict(dtype=w.dtype, device=device(w))
        sizes = [n if on else 0 for n, on in zip(w.shape, preconditioned(w.shape, max_dim, one_d))]
        return (zeros_like(w), zeros_like(w), tuple(xp.zeros((n, n), **z) for n in sizes),
                tuple(xp.zeros((n, n), **z) for n in sizes))

    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
             "shampoo_beta": (beta2 if shampoo_beta is None else shampoo_beta, NONNEGATIVE),
             "eps": (eps, NONNEGATIVE), "weight_decay": (weight_decay, NONNEGATIVE),
             "precondition_frequency": (frequency, None),
             "normalize_gradient": (flag("normalize_gradient", normalize_gradient), None),
             "qr_dtype": (choice("qr_dtype", qr_dtype, ("float32", "float64")), None)}
    opt = rule("pytorch_optimizer.SOAP", SOAPState, init_leaf, _update, hyper)
    return negated(opt) if flag("maximize", maximize) else opt
