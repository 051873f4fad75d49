r"""How far two correct float64 Shampoo implementations may differ: a bound from the conditioning.

Shampoo's step for a leaf of order :math:`k` is :math:`G \times_1 A_1 \cdots \times_k A_k` with
:math:`A_i = H_i^{-p}`, :math:`p = 1/(2k)`. Any backward-stable eigensolver (``eigh``, ours) or
SVD (pytorch-optimizer's) returns the exact decomposition of :math:`H_i + E_i`; we take
:math:`\lVert E_i\rVert_2 \le n_i u \lVert H_i\rVert_2` (:math:`u = 2^{-53}`; normwise backward
stability with the constant :math:`n`, the usual working bound for LAPACK's symmetric solvers).
By the Daleckii-Krein formula the first-order change of :math:`f(H) = H^{-p}` is
:math:`Q (F \circ Q^\top E Q) Q^\top` with :math:`|F_{jl}| = |f[\lambda_j, \lambda_l]| \le
\max |f'| = p \lambda_{\min}^{-p-1}`, so

.. math::

    \lVert \delta A_i \rVert_2 / \lVert A_i \rVert_2 \le p \sqrt{n_i}\, n_i u\, \kappa_i + 2 n_i u
    =: \rho_i, \qquad \kappa_i = \lambda_{\max}(H_i) / \lambda_{\min}(H_i)

(the second term: reassembling :math:`Q \Lambda^{-p} Q^\top` with a :math:`Q` orthogonal to
:math:`n_i u`). Each mode product adds :math:`n_i u` of its operands' norms, so the step, whose
size is at most :math:`S = \lVert G\rVert_F \prod_i \lVert A_i\rVert_2`, is off by at most
:math:`S \sum_i (\rho_i + n_i u)`. Two implementations differ by twice that, plus the rounding
of :math:`w - \eta\,\mathrm{step}` on each side (:math:`u |w|`). ``update_bound`` returns that
difference relative to the size of the update, as ``refopt.oracle.compare`` measures it.
"""
from __future__ import annotations

import math

import numpy as np

import refopt

U = 2.0**-53


def step_error(g: np.ndarray, H: tuple) -> float:
    """Bound on the absolute (Frobenius) rounding error of one float64 Shampoo step of leaf ``g``
    whose statistics (already including ``g``) are ``H``."""
    p = 1 / (2 * g.ndim)
    size, rel = float(np.linalg.norm(g)), 0.0
    for Hi in H:
        lam = np.linalg.eigvalsh(Hi)
        n, lo, hi = Hi.shape[0], float(lam[0]), float(lam[-1])
        size *= lo ** -p
        rel += p * math.sqrt(n) * n * U * hi / lo + 3 * n * U
    return size * rel


def update_bounds(lr: float, eps: float, params: dict, grads: list) -> list[float]:
    """Per step, the largest over leaves of the bound on ``max|du_ours - du_theirs| / max|du|``
    for two float64 implementations of ``refopt.shampoo(lr, eps)`` (no decay), where ``du`` is
    the change of the params in that step. Statistics depend only on the gradients, so both
    sides see the same ``H`` at every step."""
    opt = refopt.shampoo(lr=lr, eps=eps)
    state, w = opt.init(params), params
    out = []
    for g in grads:
        new, state = opt.step(w, g, state)
        worst = 0.0
        for k in params:
            du = float(np.max(np.abs(new[k] - w[k])))
            if du == 0.0:
                continue  # a zero gradient: both sides step by exactly 0
            absolute = 2 * lr * step_error(g[k], state.H[k]) + 2 * U * float(np.max(np.abs(new[k])))
            worst = max(worst, absolute / du)
        out.append(worst)
        w = new
    return out
