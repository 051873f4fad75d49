r"""SOAP: Adam run in the eigenbasis of Shampoo's Kronecker factors, the basis refreshed every f steps.

For a matrix :math:`W \in \mathbb R^{m\times n}` (Algorithm 3), with :math:`k` Adam's step count:

.. math::

    G' &= Q_L^\top G\, Q_R \\
    M &\leftarrow \beta_1 M + (1-\beta_1)\, G, \qquad M' = Q_L^\top M\, Q_R \\
    V &\leftarrow \beta_2 V + (1-\beta_2)\, G' \odot G' \\
    N &= Q_L \Bigl[\frac{M' / (1-\beta_1^k)}{\sqrt{V / (1-\beta_2^k)} + \epsilon}\Bigr] Q_R^\top \\
    W &\leftarrow W - \eta N - \eta\lambda W \\
    L &\leftarrow \beta_s L + (1-\beta_s)\, G G^\top, \qquad
        R \leftarrow \beta_s R + (1-\beta_s)\, G^\top G \\
    Q_L &\leftarrow \mathrm{Eigenvectors}(L, Q_L),\ Q_R \leftarrow \mathrm{Eigenvectors}(R, Q_R)
        \quad \text{when } k \bmod f = 0

Vyas et al. (2024), "SOAP: Improving and Stabilizing Shampoo using Adam", arXiv 2409.11321
(ICLR 2025), Algorithm 3; ``Eigenvectors`` is their Algorithm 4, one round of power iteration and a QR
decomposition (the authors' ``get_orthogonal_matrix_QR``): :math:`S = PQ`,
:math:`Q \leftarrow \mathrm{QR}(S)`. An order-k tensor gets one factor per mode (the factor of
mode i is the Gram matrix of the mode-i unfolding, as in ``refopt.shampoo``) and one rotation per mode.

**Which moment lives where.** :math:`M` is kept in the params' own coordinates and rotated into the
current basis at every step, so it is always the average of past gradients *seen in today's basis*.
:math:`V` is kept in the rotated coordinates, slot (i, j) belonging to column i of :math:`Q_L` and
column j of :math:`Q_R`; a new basis does not rotate it (a rotated square is not a square of the
rotation): each column keeps its slot. This is the paper's choice and its authors' code's.

**The refresh, exactly.** The first call (refopt's ``t = 1``) only builds :math:`L, R` from its
gradient and takes their eigenvectors by ``eigh``, sorted by eigenvalue, largest first; the params do
not move (the authors' code: "we never use the current gradients in the projection"). After Adam's
step :math:`k` with :math:`k \bmod f = 0`, each basis is refined by Algorithm 4 with the authors'
ordering: the columns of :math:`Q` are sorted by their estimated eigenvalues
:math:`\mathrm{diag}(Q^\top P Q)`, largest first, :math:`V`'s axis is permuted with them, and
:math:`Q \leftarrow \mathrm{QR}(PQ)` (Householder; each column of :math:`Q` is fixed up to its sign).
``refresh="eigh"`` takes the exact eigenvectors instead (the idealised SOAP of the identity in
``analysis/soap.py``), :math:`V` kept slot for slot.

**Signs.** ``eigh`` and QR return each column up to its sign, and backends choose differently. The
step does not depend on it: flipping column i of :math:`Q_L` flips row i of :math:`G'` and of
:math:`M'`, leaves :math:`V` (squares) unchanged, flips row i of the quotient, and :math:`Q_L` flips it
back (negation is exact in floating point, so it is the same bits). :math:`M` is never stored rotated.
So that the stored bases agree across backends too, each column is signed so that its entry of largest
magnitude is positive (the first of equal ones).

=================  =========================  =======
symbol             argument                   default
=================  =========================  =======
eta                ``lr``                     3e-3
beta_1, beta_2     ``beta1``, ``beta2``       0.95, 0.95
beta_s             ``shampoo_beta``           None (= ``beta2``, as the authors' code)
epsilon            ``eps``                    1e-8
lambda             ``weight_decay``           0.01
f                  ``precondition_frequency`` 10
                   ``max_precond_dim``        10000
                   ``precondition_1d``        False
                   ``refresh``                "qr" (Algorithm 4); "eigh"
=================  =========================  =======

Defaults: the authors' code (nikhilvyas/SOAP ``soap.py``, its README's recommended settings, which are
the paper's; the code is not on PyPI: the README says to copy the file). A dimension larger than
``max_precond_dim`` is not rotated (identity on that side), and a vector is not rotated unless
``precondition_1d``, as in the authors' code (the paper's experiments have matrices only). A leaf with
no rotated mode is then AdamW, from its first call: it has no factors for that call to build, and SOAP
in the identity basis is AdamW (the authors' code and pytorch-optimizer skip its first gradient with
the rest of the group's; measured below). Bias correction is Adam's (Algorithm 3 shows none); decay
is AdamW's, on :math:`W_{t-1}`.

**The authors' code and pytorch-optimizer** (``refopt.flavors.pytorch_optimizer.SOAP``, which models
the latter) differ from this rule in: :math:`\epsilon` outside the uncorrected root, the correction
folded into the step size (4.8e-6 of the params' displacement over 100 steps of the mixed stream,
refopt.conventions); the decay of the already-updated :math:`W` (3.2e-5); the refreshes' QR in
float32 (2.8e-8; the authors' code runs eigh in float32 too); ``eigh(GG + 1e-30 I)`` with no exact
unit vectors for zero rows, and no sign convention (no difference on that stream); a vector's first
gradient dropped (1.7 on a vector alone, where the first gradient is the stream's largest). The
authors' code stores :math:`M` rotated and rotates it back and forth around each factor update, which is this
rule's :math:`M` up to rounding. pytorch-optimizer's SOAP set as this rule (``eps`` as a schedule,
no decay, no refresh) agrees with it to 1.2e-14 (tests/rules/test_soap.py).

**Where the formula is undefined.** An eigenbasis is unique (up to signs) only where the eigenvalues
are distinct. A coordinate whose row of a factor is exactly zero (no gradient has touched that row or
column yet: an all-zero gradient, a zero row or column) is an exact eigenvector of eigenvalue 0, and
the rule keeps it so: its unit vector, after the others, in index order, in ``eigh`` and in every
refresh, so an all-zero gradient gives no Adam step (the decay only), and a zero row or column of the
gradient stays put (at zero decay), on every backend. A single zero entry moves (the rotations mix
entries). Elsewhere a repeated eigenvalue (a factor of rank below its size, as L of a tall matrix in
its first steps) leaves the basis inside that eigenspace to ``eigh``/QR, and Adam's coordinatewise
step depends on it; the rule takes what the backend returns, as the authors' code does (on a (3, 6)
leaf, whose R has rank 3 after the first call, pytorch-optimizer's SOAP and its flavor on NumPy
arrays run 0.29-0.68 apart from the second call: two ``eigh`` kernels, two bases of one null space).
``eps = 0`` is refused: the step would divide rotated coordinates that are 0 in exact arithmetic,
computed as rounding noise of size :math:`u|G|`, by their own root, a step of size :math:`\eta` in no
defined direction (0/0 where they are exactly 0). A non-finite factor has no eigenbasis: its basis is
filled with not-a-number and the step propagates it, as the math does.
(tests/robustness/test_rules_edge.py)

**Precision.** ``eigh`` and QR run in float64 for float32 leaves (as ``refopt.shampoo``); the
bases are stored in the leaf's dtype, and every rotation and moment is computed in it.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from array_api_compat import device

from ..backend import array_namespace, check_full_precision, to_numpy, zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, RuleInfo, rule
from .muon import choice, flag
from .shampoo import _gram, _mode_product, _unfold, _wide


class SoapState(NamedTuple):
    t: int
    m: object  # M: running mean of gradients, in the params' coordinates
    v: object  # V: running mean of squared rotated gradients, one slot per pair of basis columns
    L: object  # per leaf, one Kronecker factor per mode (0 x 0 where that mode is not rotated)
    Q: object  # per leaf, one eigenbasis per mode (0 x 0 likewise)


def preconditioned(shape, max_precond_dim, precondition_1d):
    """Which modes get a factor: every mode of a matrix or tensor up to ``max_precond_dim``,
    a vector's only if ``precondition_1d``, none of a scalar's."""
    if len(shape) == 1 and not precondition_1d:
        return (False,)
    return tuple(n <= max_precond_dim for n in shape)


def rotate(x, Q, back=False):
    """``x`` times ``Q_i^T`` along each mode i (``back``: times ``Q_i``); 0 x 0 bases are skipped."""
    xp = array_namespace(x)
    for i, Qi in enumerate(Q):
        if Qi.shape[0]:
            x = _mode_product(x, Qi if back else xp.matrix_transpose(Qi), i)
    return x


def accumulate(L, g, beta):
    """Each factor's running mean of the Gram matrix of ``g``'s unfolding along its mode."""
    return tuple(Li if not Li.shape[0] else beta * Li + (1 - beta) * _gram(_unfold(g, i)[0])
                 for i, Li in enumerate(L))


def _indices(xp, like, idx):
    return xp.asarray(np.asarray(idx, dtype=np.int64), device=device(like))


def _active(P):
    """The coordinates whose row of the factor is not exactly zero, as Python ints."""
    return [int(i) for i in np.flatnonzero(np.any(to_numpy(P) != 0, axis=1))]


def _block(P, rows, cols):
    xp = array_namespace(P)
    return xp.take(xp.take(P, _indices(xp, P, rows), axis=0), _indices(xp, P, cols), axis=1)


def signed(U):
    """``U`` with each column's entry of largest magnitude made positive (the first such entry where
    two tie): one sign per column for every backend, so the stored bases agree too."""
    xp, host = array_namespace(U), to_numpy(U)
    if not host.size or not np.all(np.isfinite(host)):
        return U
    sign = np.sign(host[np.argmax(np.abs(host), axis=0), np.arange(host.shape[1])])
    return U * xp.asarray(sign.astype(host.dtype), device=device(U))


def _embed(U, active, n, like):
    """The n x n basis whose first columns are ``U`` on the ``active`` rows, then the unit vectors
    of the other coordinates, in index order."""
    xp, k = array_namespace(like), len(active)
    U = xp.astype(U, like.dtype)
    if k == n:
        return xp.take(U, _indices(xp, like, np.argsort(active)), axis=0)
    z = dict(dtype=like.dtype, device=device(like))
    stacked = xp.concat([xp.concat([U, xp.zeros((k, n - k), **z)], axis=1),
                         xp.concat([xp.zeros((n - k, k), **z), xp.eye(n - k, **z)], axis=1)], axis=0)
    order = active + [i for i in range(n) if i not in set(active)]
    return xp.take(stacked, _indices(xp, like, np.argsort(order)), axis=0)


def _not_finite(P):
    xp = array_namespace(P)
    return not bool(xp.all(xp.isfinite(P)))


def _nan_basis(P):
    xp = array_namespace(P)
    return xp.full(P.shape, float("nan"), dtype=P.dtype, device=device(P))


def eigenbasis(P):
    """Eigenvectors of the factor ``P``, largest eigenvalue first; exact unit vectors for zero rows."""
    xp, n = array_namespace(P), P.shape[0]
    if _not_finite(P):
        return _nan_basis(P)
    active = _active(P)
    if not active:
        return xp.eye(n, dtype=P.dtype, device=device(P))
    _, U = xp.linalg.eigh(_wide(xp, _block(P, active, active)))
    return _embed(signed(xp.flip(U, axis=1)), active, n, P)


def power_qr(P, Q, v, axis):
    """Algorithm 4 with the authors' ordering: sort Q's columns by diag(Q^T P Q), largest first,
    permute V's ``axis`` alike, then Q <- QR(P Q). Returns the new basis and V."""
    xp, n = array_namespace(P), P.shape[0]
    if _not_finite(P):
        return _nan_basis(P), v
    active, Q_host = _active(P), to_numpy(Q)
    zero = [i for i in range(n) if i not in set(active)]
    cols = np.flatnonzero(np.all(Q_host[zero] == 0, axis=0)).tolist()  # supported on active rows
    if len(cols) != len(active):  # Q no longer respects the zero rows (possible at shampoo_beta = 0)
        active, zero, cols = list(range(n)), [], list(range(n))
    units = sorted(set(range(n)) - set(cols), key=lambda c: int(np.argmax(np.abs(Q_host[:, c]))))
    if not active:
        return _embed(Q[:0, :0], [], n, P), xp.take(v, _indices(xp, v, units), axis=axis)
    P_A, Q_A = _wide(xp, _block(P, active, active)), _wide(xp, _block(Q, active, cols))
    estimate = xp.sum(Q_A * xp.matmul(P_A, Q_A), axis=0)
    order = to_numpy(xp.argsort(estimate, descending=True, stable=True)).tolist()
    U = signed(xp.linalg.qr(xp.matmul(P_A, xp.take(Q_A, _indices(xp, Q_A, order), axis=1)))[0])
    slots = [cols[j] for j in order] + units  # V's slots follow their columns; zero rows last
    return _embed(U, active, n, P), xp.take(v, _indices(xp, v, slots), axis=axis)


def _update(w, g, m, v, L, Q, *, t, lr, beta1, beta2, shampoo_beta, eps, weight_decay,
            precondition_frequency, refresh):
    rotated = any(Li.shape[0] for Li in L)
    if t == 1 and rotated:  # the authors' first call: the factors and their eigenbases, no step yet
        L = accumulate(L, g, shampoo_beta)
        return w, m, v, L, tuple(eigenbasis(Li) if Li.shape[0] else Qi for Li, Qi in zip(L, Q))
    xp = array_namespace(w)
    k = t - 1 if rotated else t  # Adam's step count; nothing rotated: AdamW from the first call
    g_rot = rotate(g, Q)
    m = beta1 * m + (1 - beta1) * g
    m_rot = rotate(m, Q)
    v = beta2 * v + (1 - beta2) * g_rot * g_rot
    m_hat = m_rot / (1 - beta1**k)
    v_hat = v / (1 - beta2**k)
    n = rotate(m_hat / (xp.sqrt(v_hat) + eps), Q, back=True)
    w = w - lr * n - lr * weight_decay * w
    L = accumulate(L, g, shampoo_beta)
    if k % precondition_frequency == 0:
        Q = list(Q)
        for i, Li in enumerate(L):
            if Li.shape[0]:
                Q[i], v = (eigenbasis(Li), v) if refresh == "eigh" else power_qr(Li, Q[i], v, i)
        Q = tuple(Q)
    return w, m, v, L, Q


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def _check_leaf(path, w):
    check_full_precision("soap", "SOAP", path, w, "its eigendecompositions")


def soap(lr=3e-3, beta1=0.95, beta2=0.95, shampoo_beta=None, eps=1e-8, weight_decay=0.01,
         precondition_frequency=10, max_precond_dim=10000, precondition_1d=False, refresh="qr"):
    """SOAP (Vyas et al. 2024, Algorithm 3): Adam on ``Q_L^T G Q_R``, ``M`` kept unrotated, the bases
    refreshed by one power iteration and QR every ``precondition_frequency`` steps."""
    max_dim, one_d = _count("max_precond_dim", max_precond_dim), flag("precondition_1d", precondition_1d)

    def init_leaf(w):
        xp, z = array_namespace(w), dict(dtype=w.dtype, device=device(w))
        sizes = [n if on else 0 for n, on in zip(w.shape, preconditioned(w.shape, max_dim, one_d))]
        factors = tuple(xp.zeros((n, n), **z) for n in sizes)
        return zeros_like(w), zeros_like(w), factors, tuple(xp.zeros((n, n), **z) for n in sizes)

    hyper = {"lr": (lr, NONNEGATIVE), "beta1": (beta1, UNIT), "beta2": (beta2, UNIT),
             "shampoo_beta": (beta2 if shampoo_beta is None else shampoo_beta, UNIT),
             "eps": (eps, POSITIVE), "weight_decay": (weight_decay, NONNEGATIVE),
             "precondition_frequency": (_count("precondition_frequency", precondition_frequency), None),
             "refresh": (choice("refresh", refresh, ("qr", "eigh")), None)}
    return rule("soap", SoapState, init_leaf, _update, hyper, check=_check_leaf)


INFO = RuleInfo(
    name="soap", factory=soap, family="G. Matrix preconditioning",
    paper="Vyas et al. (2024)", year=2024, hook="Adam in the eigenbasis of Shampoo's factors",
    equations="G' = Q_L^\\top G Q_R,\\quad M = \\beta_1 M + (1-\\beta_1) G,\\quad M' = Q_L^\\top M Q_R\n"
              "V = \\beta_2 V + (1-\\beta_2)\\, G' \\odot G'\n"
              "W = W - \\eta\\, Q_L \\frac{\\hat M'}{\\sqrt{\\hat V} + \\epsilon} Q_R^\\top"
              " - \\eta\\lambda W\n"
              "L = \\beta_s L + (1-\\beta_s) G G^\\top,\\quad R = \\beta_s R + (1-\\beta_s) G^\\top G\n"
              "Q \\leftarrow \\mathrm{QR}(P Q) \\text{ every } f \\text{ steps}",
    buffers="M, V, and per mode a factor and its basis (n_i x n_i each)",
    checked_against={"pytorch_optimizer.SOAP": 1e-10},
)
