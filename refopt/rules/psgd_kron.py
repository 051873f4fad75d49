r"""PSGD Kron: SGD preconditioned by :math:`P = Q^\top Q`, :math:`Q = Q_1\otimes\cdots\otimes Q_k`,
each factor fitted on a Lie group to whiten the (momentum) gradient.

For a leaf :math:`W` of shape :math:`n_1\times\cdots\times n_k`, :math:`\times_i` the mode-i product
and :math:`X_{(i)}` the mode-i unfolding (an :math:`n_i\times\prod_{j\ne i}n_j` matrix):

.. math::

    m_t &= \beta\, m_{t-1} + (1-\beta)\, g_t,\qquad \hat m_t = m_t / (1-\beta^t) \\
    A &= \hat m_t \times_1 Q_1 \cdots \times_k Q_k,\qquad
        B = V \times_1 Q_1^{-\top} \cdots \times_k Q_k^{-\top},\qquad V \sim N(0, I) \\
    E_i &= A_{(i)}A_{(i)}^\top - B_{(i)}B_{(i)}^\top,\qquad S_i = A_{(i)}A_{(i)}^\top + B_{(i)}B_{(i)}^\top \\
    Q_i &\leftarrow Q_i - \frac{\mu}{\lVert S_i\rVert + \text{tiny}}\, \operatorname{triu}(E_i)\, Q_i
        \qquad \text{(only at steps that update, see below)} \\
    u &= \hat m_t \times_1 Q_1^\top Q_1 \cdots \times_k Q_k^\top Q_k,\qquad
        u \leftarrow u \min\bigl(1,\ c / (\operatorname{rms}(u) + \epsilon_c)\bigr) \\
    w_t &= w_{t-1} - \eta\,(u + \lambda\, w_{t-1})\qquad (\lambda \text{ on leaves of ndim} \ge 2)

The fit is one Lie-group gradient step on the criterion :math:`c(P) = E[h^\top P h + v^\top
P^{-1} v]`, :math:`h = \hat m_t`, whose fixed point is :math:`P\,E[hh^\top]\,P = E[vv^\top] = I`,
:math:`P = E[hh^\top]^{-1/2}` within the Kronecker family (tests/rules/test_psgd_kron.py checks
it). The criterion and the Kronecker-product preconditioner: Li (2018), "Preconditioned Stochastic
Gradient Descent", IEEE TNNLS 29(5) (arXiv 1512.04202); fitting on matrix Lie groups and the
whitening (Fisher) pairs :math:`(v, g)`: Li (2019), "Preconditioner on Matrix Lie Group for SGD",
ICLR (arXiv 1809.10232); the step :math:`Q \leftarrow (I - \mu\nabla)Q` normalised by
:math:`\lVert S_i\rVert` so that :math:`\mu` is scale-free: Li (2022), "Black Box Lie Group
Preconditioners for SGD" (arXiv 2211.04422), as the author's psgd_torch ``Kron`` (2024,
``step_normalizer='2nd'``) computes it, :math:`\lVert S_i\rVert` its spectral-norm lower bound
``norm_lower_bound`` (a diagonal factor: :math:`\max|S_i|`, elementwise products). The optimizer
around the fit (momentum, update schedule, RMS clip, decay, defaults) is Evan Walters'
``kron_torch.Kron`` (and ``psgd_jax``), a port of the author's ``Kron`` class.

=======  ===============================  ==============================================
symbol   argument                         default
=======  ===============================  ==============================================
eta      ``lr``                           3e-4
beta     ``b1``                           0.9
lambda   ``weight_decay``                 0.0
mu       ``precond_lr``                   0.1
         ``precond_init_scale``           1.0 (:math:`Q_i = s^{1/k} I`)
p(t)     ``update_probability``           ``update_probability_schedule()``
         ``max_size_triangular``          8192
         ``min_ndim_triangular``          2
         ``memory_save_mode``             None (or ``one_diag``, ``smart_one_diag``, ``all_diag``)
         ``momentum_into_precond_update`` True (False: :math:`h = g_t`)
c        ``rms_clip``                     1.1 (None: no clip)
eps_c    ``rms_clip_eps``                 1e-12
         ``seed``                         0
=======  ===============================  ==============================================

**Diagonal factors.** Axis :math:`i` gets a diagonal factor when :math:`n_i = 1`, :math:`n_i >`
``max_size_triangular``, the leaf has fewer than ``min_ndim_triangular`` axes (vectors, 0-d
leaves: a 0-d leaf is one axis of size 1, its factor stored 0-d), or ``memory_save_mode`` says
so (``one_diag``: the largest axis, the last of equals; ``smart_one_diag``: the same, only when
strictly largest).

**Randomness, deterministic.** The step is a pure function of its inputs and ``seed``:

* whether :math:`Q` updates at step :math:`t`: :math:`u_t < p(t)` with :math:`u_t` uniform on
  [0, 1) from NumPy's PCG64 seeded by ``SeedSequence([seed, t])`` (:math:`p = 1` always updates,
  :math:`p = 0` never). ``update_probability`` is a number or a schedule of refopt's ``t``; the
  default anneals :math:`p = \min(1, \max(0.03, e^{-0.001(t-1-500)}))`, 1 for the first 501
  steps. kron_torch decides by a deterministic counter instead (update when the steps since the
  last update reach :math:`1/p`); the author's ``Kron`` draws ``torch.rand``.
* :math:`V` for leaf :math:`k` (tree order) at step :math:`t`: float64 PCG64 normals from
  ``SeedSequence([seed, t, k])`` rounded to the leaf's dtype, drawn only at steps that update.
* ``step(..., update=bool, probe=tree, balance=bool)`` takes the decision, :math:`V` and the
  balancing from the caller instead (how a flavor replays a library's own draws).

**Balancing.** At every update, before the fit, a leaf with several factors has them rescaled to
a common :math:`\max|Q_i|` (their geometric mean). :math:`Q` itself is unchanged in exact
arithmetic, and so is the fit (it multiplies each :math:`Q_i` on the left); it only keeps the
factors' ranges together. The sources balance at about one update in a hundred, at random.

**Departures, measured** (``refopt.conventions.measure``: 100 mixed steps, float64, lr 1e-3,
largest params difference relative to the run's displacement; tests/rules/test_psgd_kron.py):
pytorch-optimizer's ``Kron`` (flavor ``refopt.flavors.pytorch_optimizer.Kron``) clips at
:math:`1.1/(\mathrm{rms} + 10^{-6})`: 8.1e-7; its counter instead of the draw at :math:`p = 0.1`:
0.15 (with :math:`p = 1`, none); balancing never instead of at every update: 5.9e-15 (rounding).
The author's ``Kron`` (psgd_torch, 2024) fits on the raw gradient (``momentum_into_precond_update
=False``): 2.0; it has no RMS clip (``rms_clip=None``): 12; its momentum is not debiased and lr is
1e-3 (not modelled). kron_torch's latest release also adds :math:`\sqrt{\epsilon_{32}}\,
\overline{|h|}\,V` to :math:`h` and merges the axes of order >= 3 leaves into a matrix (not
modelled).

**Precision.** Everything runs in the leaf's dtype (float32 or float64; half precision and empty
leaves are refused, naming the leaf). :math:`Q^{-\top}` is applied by ``linalg.solve`` with
:math:`Q_i^\top` (the Array API has no triangular solve), :math:`O(n_i^3)` per factor and update.

**Where the formula is undefined.** Nowhere for finite inputs: :math:`S_i \ge B_{(i)}B_{(i)}^\top`,
nonzero for almost every :math:`V`, and tiny keeps the quotient finite. An all-zero gradient gives
:math:`u = 0` and no step (the fit then grows :math:`Q`, as the criterion does for :math:`h = 0`).
A zero entry, row or column moves, since :math:`Q_i^\top Q_i` mixes rows and columns.
(tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

import dataclasses
import math
from typing import NamedTuple

import numpy as np
from array_api_compat import device

from .. import tree
from ..backend import array_namespace, check_full_precision, zeros_like
from ..core import NONNEGATIVE, POSITIVE, UNIT, UNIT_CLOSED, RuleInfo, number, rule
from ..validate import check_state_type, step_count
from .noisy_sgd import standard_normal

MODES = (None, "one_diag", "smart_one_diag", "all_diag")


class PsgdKronState(NamedTuple):
    t: int
    m: object  # momentum
    Q: object  # per leaf, a tuple of factors: n_i x n_i upper triangular, or a diagonal (n_i,)


def update_probability_schedule(max_prob=1.0, min_prob=0.03, decay=0.001, flat_start=500):
    """kron_torch's anneal, as a schedule of refopt's t (the source counts steps from 0: t - 1)."""
    return lambda t: min(max_prob, max(min_prob, max_prob * math.exp(-decay * (t - 1 - flat_start))))


def diagonal_axes(shape, max_size, min_ndim, mode):
    """Which axes of a leaf of ``shape`` (a 0-d leaf is ``(1,)``) get a diagonal factor."""
    largest = max(i for i, n in enumerate(shape) if n == max(shape))
    strictly = len(shape) >= 2 and sorted(shape)[-1] > sorted(shape)[-2]
    return tuple(n == 1 or n > max_size or len(shape) < min_ndim or mode == "all_diag"
                 or (i == largest and (mode == "one_diag" or (mode == "smart_one_diag" and strictly)))
                 for i, n in enumerate(shape))


def _mode(x, i, f):
    """Apply ``f`` to the mode-i unfolding of ``x`` (an n_i x rest matrix) and fold back."""
    xp = array_namespace(x)
    order = (i, *[j for j in range(x.ndim) if j != i])
    moved = xp.permute_dims(x, order)
    out = xp.reshape(f(xp.reshape(moved, (x.shape[i], -1))), moved.shape)
    return xp.permute_dims(out, tuple(order.index(j) for j in range(x.ndim)))


def _each_mode(x, Q, matrix, vector):
    for i, q in enumerate(Q):
        x = _mode(x, i, (lambda M, q=q: matrix(q, M)) if q.ndim == 2 else (lambda M, q=q: vector(q, M)))
    return x


def _gram(X, i, diagonal):
    xp = array_namespace(X)
    M = xp.reshape(xp.permute_dims(X, (i, *[j for j in range(X.ndim) if j != i])), (X.shape[i], -1))
    return xp.sum(M * M, axis=1) if diagonal else xp.matmul(M, xp.matrix_transpose(M))


def norm_lower_bound(S):
    """The author's cheap lower bound on the spectral norm of a symmetric S: one power step
    from the column of largest norm, after scaling by max|S| (no overflow)."""
    xp = array_namespace(S)
    scale = xp.max(xp.abs(S))
    if not bool(scale > 0):
        return scale
    S = S / scale
    j = int(xp.argmax(xp.sum(S * S, axis=0)))
    x = xp.matmul(S, S[:, j])
    return scale * xp.linalg.vector_norm(xp.matmul(S, x / xp.linalg.vector_norm(x)))


def _balance(Q):
    norms = [float(array_namespace(q).max(array_namespace(q).abs(q))) for q in Q]
    if len(Q) < 2 or not all(math.isfinite(n) and n > 0 for n in norms):
        return Q
    mean = math.prod(norms) ** (1 / len(Q))
    return tuple(q * (mean / n) for q, n in zip(Q, norms))


def fit(Q, V, h, mu):
    """One Lie-group step of every factor on the whitening criterion with the pair (V, h)."""
    xp = array_namespace(h)
    tiny = xp.finfo(h.dtype).smallest_normal
    A = _each_mode(h, Q, lambda q, M: xp.matmul(q, M), lambda q, M: q[:, None] * M)
    B = _each_mode(V, Q, lambda q, M: xp.linalg.solve(xp.matrix_transpose(q), M), lambda q, M: M / q[:, None])
    new = []
    for i, q in enumerate(Q):
        AA, BB = _gram(A, i, q.ndim == 1), _gram(B, i, q.ndim == 1)
        E, S = AA - BB, AA + BB
        if q.ndim == 1:
            new.append(q - mu / (xp.max(xp.abs(S)) + tiny) * E * q)
        else:
            new.append(q - mu / (norm_lower_bound(S) + tiny) * xp.matmul(xp.triu(E), q))
    return tuple(new)


def precondition(Q, x):
    """P x with P = Q^T Q: each mode multiplied by Q_i^T Q_i."""
    xp = array_namespace(x)
    return _each_mode(x, Q, lambda q, M: xp.matmul(xp.matrix_transpose(q), xp.matmul(q, M)),
                      lambda q, M: (q * q)[:, None] * M)


def _update(w, g, m, Q, *, t, lr, b1, weight_decay, precond_lr, momentum_into_precond_update,
            rms_clip, rms_clip_eps, update, balance, probe):
    xp = array_namespace(w)
    shape = tuple(w.shape) or (1,)
    m = b1 * m + (1 - b1) * g
    m_hat = xp.reshape(m / (1 - b1**t), shape)
    Q = tuple(xp.reshape(q, (1,)) if q.ndim == 0 else q for q in Q)
    if update:
        h = m_hat if momentum_into_precond_update else xp.reshape(g, shape)
        Q = fit(_balance(Q) if balance else Q, xp.reshape(probe, shape), h, precond_lr)
    u = xp.reshape(precondition(Q, m_hat), w.shape)
    if rms_clip is not None:
        u = u * min(1.0, rms_clip / (float(xp.sqrt(xp.mean(u * u))) + rms_clip_eps))
    if weight_decay != 0 and w.ndim >= 2:
        u = u + weight_decay * w
    return w - lr * u, m, tuple(xp.reshape(q, ()) for q in Q) if w.ndim == 0 else Q


def _check_leaf(path, w):
    if 0 in tuple(w.shape):
        raise ValueError(f"psgd_kron: params leaf {path} is empty (shape {tuple(w.shape)}); "
                         f"its Kronecker factors need every dimension >= 1")
    check_full_precision("psgd_kron", "PSGD Kron", path, w, "its triangular solves")


def psgd_kron(lr=3e-4, b1=0.9, weight_decay=0.0, update_probability=None, max_size_triangular=8192,
              min_ndim_triangular=2, memory_save_mode=None, momentum_into_precond_update=True,
              precond_lr=0.1, precond_init_scale=1.0, rms_clip=1.1, rms_clip_eps=1e-12, seed=0):
    """PSGD Kron (kron_torch's optimizer, the author's Lie-group fit); randomness from ``seed``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    if memory_save_mode not in MODES:
        raise ValueError(f"memory_save_mode must be one of {MODES}, got {memory_save_mode!r}")
    for name, n in (("max_size_triangular", max_size_triangular),
                    ("min_ndim_triangular", min_ndim_triangular)):
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"{name} must be an integer >= 0, got {n!r}")
    if not isinstance(momentum_into_precond_update, bool):
        raise ValueError(f"momentum_into_precond_update must be True or False, "
                         f"got {momentum_into_precond_update!r}")
    scale = number("precond_init_scale", precond_init_scale, POSITIVE)
    p_of = update_probability_schedule() if update_probability is None else update_probability
    if not callable(p_of):
        number("update_probability", p_of, UNIT_CLOSED)
    seed = int(seed)

    def init_leaf(w):
        xp, shape, where = array_namespace(w), tuple(w.shape) or (1,), device(w)
        if w.ndim == 0:  # one scalar factor, stored 0-d as the leaf is
            return zeros_like(w), (scale * xp.ones((), dtype=w.dtype, device=where),)
        s = scale ** (1 / len(shape))
        diag = diagonal_axes(shape, max_size_triangular, min_ndim_triangular, memory_save_mode)
        return zeros_like(w), tuple(s * (xp.ones(n, dtype=w.dtype, device=where) if d
                                         else xp.eye(n, dtype=w.dtype, device=where))
                                    for n, d in zip(shape, diag))

    hyper = {"lr": (lr, NONNEGATIVE), "b1": (b1, UNIT), "weight_decay": (weight_decay, NONNEGATIVE),
             "precond_lr": (precond_lr, NONNEGATIVE), "rms_clip_eps": (rms_clip_eps, NONNEGATIVE),
             "rms_clip": (rms_clip, None if rms_clip is None else POSITIVE),
             "momentum_into_precond_update": (momentum_into_precond_update, None)}
    inner = {(u, b): rule("psgd_kron", PsgdKronState, init_leaf, _update,
                          {**hyper, "update": (u, None), "balance": (b, None)}, aux=("probe",),
                          check=_check_leaf)
             for u, b in ((False, False), (True, False), (True, True))}

    def step(params, grads, state, *, update=None, probe=None, balance=None):
        check_state_type("psgd_kron", state, PsgdKronState)
        t = step_count("psgd_kron", state.t) + 1
        if update is None:
            p = number("update_probability", p_of(t) if callable(p_of) else p_of, UNIT_CLOSED,
                       f" (schedule at step {t})")
            u_t = np.random.Generator(np.random.PCG64(np.random.SeedSequence([seed, t]))).random()
            update = bool(u_t < p)
        if update and probe is None:
            leaves = [w for _, w in tree.leaves_with_paths(params)]
            probe = tree.unflatten(tree.structure(params), [standard_normal(seed, t, k, w)
                                                            for k, w in enumerate(leaves)])
        balance = bool(update) if balance is None else bool(balance) and bool(update)
        return inner[bool(update), balance].step(params, grads, state, probe=probe if update else None)

    opt = inner[False, False]  # its hyperparams: the factory's arguments, so psgd_kron(**them) rebuilds it
    arguments = dict({k: opt.hyperparams[k] for k in hyper}, update_probability=update_probability,
                     max_size_triangular=max_size_triangular, min_ndim_triangular=min_ndim_triangular,
                     memory_save_mode=memory_save_mode, precond_init_scale=precond_init_scale, seed=seed)
    return dataclasses.replace(opt, step=step, hyperparams=arguments)


INFO = RuleInfo(
    name="psgd_kron", factory=psgd_kron, family="G. Matrix preconditioning",
    paper="Li (2018); Li (2019); Li (2022)", year=2018,
    hook="Kronecker-factored preconditioner fitted on a Lie group to whiten the gradient",
    equations="m_t = \\beta m_{t-1} + (1-\\beta) g_t,\\ \\hat m_t = m_t/(1-\\beta^t)\n"
              "Q_i \\leftarrow Q_i - \\frac{\\mu}{\\lVert S_i\\rVert}\\,\\mathrm{triu}(A_{(i)}A_{(i)}^\\top"
              " - B_{(i)}B_{(i)}^\\top)\\, Q_i\n"
              "w_t = w_{t-1} - \\eta\\,\\mathrm{clip}_{rms}(Q^\\top Q\\, \\hat m_t)",
    buffers="momentum, and one n_i x n_i triangular (or n_i diagonal) factor per axis",
    checked_against={"pytorch_optimizer.Kron": 1e-5},  # 1e-10 with diagonal factors (tests)
)
