r"""Shampoo: one preconditioner per tensor mode, each the inverse root of its gradient statistics.

**Matrices** :math:`W \in \mathbb R^{m\times n}` (Algorithm 1), with
:math:`L_0 = \epsilon I_m,\ R_0 = \epsilon I_n`:

.. math::

    L_t &= L_{t-1} + G_t G_t^\top \\
    R_t &= R_{t-1} + G_t^\top G_t \\
    W_t &= W_{t-1} - \eta\, L_t^{-1/4}\, G_t\, R_t^{-1/4}

**Order-k tensors** (Algorithm 2): for each mode :math:`i`, :math:`H^{(i)}_0 = \epsilon I_{n_i}`,
:math:`H^{(i)}_t = H^{(i)}_{t-1} + G_{(i)} G_{(i)}^\top` where :math:`G_{(i)}` is :math:`G_t`
unfolded along mode :math:`i` (an :math:`n_i \times \prod_{j\ne i} n_j` matrix), and

.. math::

    W_t = W_{t-1} - \eta\; G_t \times_1 (H^{(1)}_t)^{-1/(2k)} \times_2 \cdots \times_k (H^{(k)}_t)^{-1/(2k)}

(:math:`\times_i` multiplies mode :math:`i`). For :math:`k = 2` this is Algorithm 1. Gupta,
Koren & Singer (2018), "Shampoo: Preconditioned Stochastic Tensor Optimization", ICML 2018
(arXiv 1802.09568), Algorithms 1 and 2.

**Vectors** are order-1 tensors in the paper: :math:`H_t = \epsilon I + \sum_s g_s g_s^\top`
and the step :math:`H_t^{-1/2} g_t`, which is full-matrix AdaGrad on that vector
(:math:`n^2` memory). This rule follows the paper; a production Shampoo (and the scalable
Shampoo of the same group) gives vectors a diagonal preconditioner instead. Scalars (order 0)
are rejected.

Inverse roots come from ``eigh``: :math:`H^{-p} = Q \operatorname{diag}(\lambda^{-p}) Q^\top`.
The eigenvalues of :math:`\epsilon I + \text{(PSD)}` are at least :math:`\epsilon`, so computed
ones are floored at :math:`\epsilon` (rounding can push them below it, or below 0, in float32).

**Precision.** :math:`\epsilon I + gg^\top` has condition :math:`1 + |g|^2/\epsilon` (1e10 at
:math:`|g| = 10^3`, :math:`\epsilon = 10^{-4}`), so ``eigh``, the roots and the mode products
run in float64 (in the leaf's dtype where wider; in float32 on JAX with ``jax_enable_x64``
off, which has no float64) and the step is cast back once. In float32 that
took a vector's step from 1% off the closed form :math:`g/\sqrt{\epsilon + |g|^2}` to under
one float32 ulp when float32 holds :math:`gg^\top` exactly. The statistics stay in the params'
dtype (the state contract), and their rounding, :math:`u|g|^2` per entry, bounds what any root
can do: about :math:`u|g|/\sqrt\epsilon` relative (:math:`u` the dtype's unit roundoff), 1e-3
for random float32 :math:`g` at :math:`|g| = 10^3` and 2e-11 in float64. float16 and bfloat16
leaves, empty leaves and non-finite gradients or statistics are refused with a ``ValueError``
naming the leaf.

=========  ===========  =======
symbol     argument     default
=========  ===========  =======
eta        ``lr``       1e-3
epsilon    ``eps``      0.1
=========  ===========  =======

``eps`` sets :math:`H_0` once, at ``init``, so it must be a number, not a schedule.

**The default epsilon.** The paper gives :math:`\epsilon` only as a symbol
(:math:`L_0 = \epsilon I_m`, :math:`R_0 = \epsilon I_n`). Its authors' TensorFlow
implementation (``tensorflow/contrib/opt/python/training/shampoo.py``, the 2018 algorithm with
plain sums and the :math:`-1/(2k)` root) defaults to ``epsilon=0.1``; the scalable Shampoo of
the same group (google-research ``scalable_shampoo``, a later algorithm with grafting, blocking
and delayed roots) uses ``matrix_epsilon=1e-6``, and so does pytorch-optimizer's ``Shampoo``
(``matrix_eps=1e-6``). This rule is the 2018 algorithm, so it takes its authors' 0.1. It is
also the value whose roots float64 can take well: :math:`\epsilon I + \sum gg^\top` has
condition up to :math:`1 + \sum|g|^2/\epsilon`, and an inverse root is only good to about
that times :math:`10^{-16}` (tests/rules/shampoo_rounding.py derives the bound): at
:math:`|g| = 100`, 1e-11 with 0.1 and 1e-6 with 1e-6. (Until this version the default was
1e-4, a choice with no source.)

**Notes and frameworks.** The cheat sheet's matrix formula is Algorithm 1 but omits
:math:`L_0 = \epsilon I` (without it :math:`L_1^{-1/4}` does not exist) and the tensor rule.
pytorch-optimizer ``Shampoo`` (4.1.0) is this rule with ``momentum=0``, ``weight_decay=0``,
``matrix_eps=eps`` (root :math:`-1/(2k)`, computed by SVD); older releases used
:math:`-1/k`. No momentum, grafting, blocking or delayed preconditioner updates: those belong
to later Shampoo implementations, not the 2018 algorithm.

**Where the formula is undefined.** Nowhere, since :math:`H_0 = \epsilon I` with :math:`\epsilon
> 0` (0 is refused) keeps every statistic positive definite: an all-zero gradient gives a zero
step, and a zero row or column of a matrix gradient stays put. A single zero entry does move
(the preconditioners mix rows and columns). (tests/robustness/test_rules_edge.py)
"""
from __future__ import annotations

import dataclasses
from typing import NamedTuple

from array_api_compat import device

from .. import tree
from ..backend import array_namespace, check_full_precision
from ..core import NONNEGATIVE, POSITIVE, RuleInfo, rule


class ShampooState(NamedTuple):
    t: int
    H: object  # per parameter, a tuple with one n_i x n_i statistic per mode


def _unfold(x, i):
    """Mode-i unfolding: an n_i x (product of the other sizes) matrix, and how to fold back."""
    xp = array_namespace(x)
    order = (i, *[j for j in range(x.ndim) if j != i])
    moved = xp.permute_dims(x, order)
    back = tuple(order.index(j) for j in range(x.ndim))
    fold = lambda y: xp.permute_dims(xp.reshape(y, moved.shape), back)  # noqa: E731
    return xp.reshape(moved, (x.shape[i], -1)), fold


def _mode_product(x, P, i):
    unfolded, fold = _unfold(x, i)
    return fold(array_namespace(x).matmul(P, unfolded))


def _gram(x):
    xp = array_namespace(x)
    return xp.matmul(x, xp.matrix_transpose(x))


def _wide(xp, x):
    """float64 unless the leaf's dtype is wider: roots of a matrix of condition 1e6+ need it.
    Only where the namespace holds float64: JAX with ``jax_enable_x64`` off lists float32 alone
    (and would warn and truncate an ``astype`` to float64), so its roots stay in float32."""
    if x.dtype != xp.float32 or "float64" not in xp.__array_namespace_info__().dtypes(kind="real floating"):
        return x
    return xp.astype(x, xp.float64)


def _inverse_root(H, power, floor):
    xp = array_namespace(H)
    lam, Q = xp.linalg.eigh(H)
    lam = xp.clip(lam, min=floor)
    return xp.matmul(Q * lam ** (-power), xp.matrix_transpose(Q))


class _NotFinite(ValueError):
    """Raised inside ``_update``; ``step`` turns it into an error that names the leaf."""


def _update(w, g, H, *, t, lr, eps):
    xp = array_namespace(w)
    k = w.ndim
    H = tuple(Hi + _gram(_unfold(g, i)[0]) for i, Hi in enumerate(H))  # stored in w's dtype
    if not all(bool(xp.all(xp.isfinite(Hi))) for Hi in H):  # eigh would fail deep in LAPACK
        raise _NotFinite()
    preconditioned = _wide(xp, g)
    for i, Hi in enumerate(H):
        root = _inverse_root(_wide(xp, Hi), 1 / (2 * k), eps)
        preconditioned = _mode_product(preconditioned, root, i)
    w = w - lr * xp.astype(preconditioned, w.dtype)  # the one cast back
    return w, H


def _check_leaf(path, w):
    if w.ndim == 0:
        raise ValueError(f"shampoo: params leaf {path} is a scalar; Shampoo needs order >= 1")
    if 0 in tuple(w.shape):
        raise ValueError(f"shampoo: params leaf {path} is empty (shape {tuple(w.shape)}); "
                         f"Shampoo needs every dimension >= 1")
    check_full_precision("shampoo", "Shampoo", path, w, "its eigendecompositions")


def _name_the_leaf(params, grads, state):
    """After ``_NotFinite``: find the first leaf whose gradient or statistics are not finite."""
    spec = tree.structure(params)
    g_leaves, H_leaves = tree.leaves_like(spec, grads, "grads"), tree.leaves_like(spec, state.H, "state.H")
    for (path, _), g, H in zip(tree.leaves_with_paths(params), g_leaves, H_leaves):
        xp, where = array_namespace(g), tree.fmt_path(path)
        if not bool(xp.all(xp.isfinite(g))):
            return f"grads leaf {where} has a NaN or an infinity"
        for i, Hi in enumerate(H):
            if not bool(xp.all(xp.isfinite(Hi + _gram(_unfold(g, i)[0])))):
                return (f"state.H leaf {where} (mode {i}) is not finite: the gradient's squares "
                        f"overflow {g.dtype} (or the state was already NaN/inf)")
    return "a gradient or statistic is not finite"


def _finite_or_named(step):
    def checked_step(params, grads, state, **extra):
        try:
            return step(params, grads, state, **extra)
        except _NotFinite:
            raise ValueError(f"shampoo: {_name_the_leaf(params, grads, state)}; the "
                             f"eigendecomposition of its statistics is undefined") from None
    return checked_step


def shampoo(lr=1e-3, eps=0.1):
    """Shampoo (2018): ``w <- w - lr * G x_1 H1^(-1/2k) ... x_k Hk^(-1/2k)``, ``H_i`` from ``eps*I``."""
    if callable(eps):
        raise ValueError("eps must be a number in (0, inf): it sets H_0 = eps*I at init, "
                         "so it cannot be a schedule")

    def init_leaf(w):
        xp = array_namespace(w)
        return (tuple(eps * xp.eye(n, dtype=w.dtype, device=device(w)) for n in w.shape),)

    opt = rule("shampoo", ShampooState, init_leaf, _update,
               {"lr": (lr, NONNEGATIVE), "eps": (eps, POSITIVE)}, check=_check_leaf)
    return dataclasses.replace(opt, step=_finite_or_named(opt.step))


INFO = RuleInfo(
    name="shampoo", factory=shampoo, family="G. Matrix preconditioning",
    paper="Gupta, Koren & Singer (2018)", year=2018,
    hook="Washes gradients with matrix inverse powers",
    equations="L_t = L_{t-1} + G_t G_t^\\top,\\ L_0 = \\epsilon I\n"
              "R_t = R_{t-1} + G_t^\\top G_t,\\ R_0 = \\epsilon I\n"
              "W_t = W_{t-1} - \\eta\\, L_t^{-1/4} G_t R_t^{-1/4}",
    buffers="one n_i x n_i matrix per mode",
    checked_against={"pytorch_optimizer.Shampoo": 1e-12},
)
