r"""Estimators of the Hessian diagonal for Sophia (``refopt.rules.sophia``).

Both return a tree shaped like ``params`` whose expectation is a Hessian diagonal; pass it to
``sophia(...).step(params, grads, state, hess=estimate)``. Random draws come from a NumPy
``Generator`` and are moved to the params' library and dtype, so the estimators run wherever
the caller's Hessian-vector product or gradient runs.

**Hutchinson** (Sophia-H; Hutchinson (1989); Liu et al. (2023), Sophia, section 2.3):

.. math::

    \hat h = u \odot (H u), \qquad \mathbb E[u u^\top] = I
    \ \Rightarrow\ \mathbb E[\hat h]_i = \sum_j H_{ij}\,\mathbb E[u_i u_j] = H_{ii}.

The paper draws :math:`u \sim N(0, I)`; optax draws Rademacher signs (lower variance:
:math:`\operatorname{Var}\hat h_i = \sum_{j\ne i} H_{ij}^2`, against
:math:`2H_{ii}^2 + \sum_{j\ne i} H_{ij}^2` for normal :math:`u`).

**Gauss-Newton-Bartlett** (Sophia-G; Liu et al. (2023), Algorithm 2): for a minibatch of
:math:`B` inputs with logits :math:`f(\theta, x_b)`, draw :math:`\hat y_b \sim
\operatorname{softmax}(f(\theta, x_b))`, let :math:`\hat g` be the gradient of
:math:`\frac1B\sum_b \ell_{CE}(f(\theta, x_b), \hat y_b)`, and return :math:`B\,\hat g\odot\hat g`.
With labels drawn from the model itself each per-example gradient
:math:`J_b^\top(p_b - e_{\hat y_b})` has mean 0 and covariance :math:`J_b^\top(\operatorname{diag}
p_b - p_b p_b^\top)J_b` (Bartlett's identity), and the draws are independent, so
:math:`\mathbb E[B\,\hat g\odot\hat g]` is the diagonal of the Gauss-Newton matrix
:math:`\frac1B\sum_b J_b^\top(\operatorname{diag}p_b - p_bp_b^\top)J_b` of the mean loss. It is
never negative.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from array_api_compat import device

from . import tree
from .backend import array_namespace, to_numpy

__all__ = ["hutchinson", "gauss_newton_bartlett"]

DISTRIBUTIONS = ("normal", "rademacher")


def _like(w: Any, values: np.ndarray) -> Any:
    xp = array_namespace(w)
    return xp.asarray(values, dtype=w.dtype, device=device(w))


def _probe(w: Any, rng: np.random.Generator, distribution: str) -> Any:
    shape = tuple(w.shape)
    if distribution == "normal":
        return _like(w, rng.standard_normal(shape))
    return _like(w, rng.choice(np.array([-1.0, 1.0]), size=shape))


def _generator(rng: Any) -> np.random.Generator:
    """A ``Generator`` as given, or one seeded by an int (``np.random.default_rng(seed)``)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, (bool, np.bool_)):
        if rng < 0:
            raise ValueError(f"rng: a seed must be a non-negative int, got {rng}")
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a numpy.random.Generator or an int seed, got "
                    f"{type(rng).__name__} {rng!r} (the legacy np.random.RandomState is not accepted)")


def hutchinson(hvp: Callable[[Any], Any], params: Any, rng: np.random.Generator | int,
               distribution: str = "normal") -> Any:
    """``u * hvp(u)`` for one random probe ``u`` shaped like ``params``.

    ``hvp(v)`` returns the Hessian-vector product :math:`H v` (a tree like ``params``) at the
    current params. ``distribution`` is ``"normal"`` (the paper) or ``"rademacher"`` (optax).
    ``rng`` is a NumPy ``Generator`` or an int seed for ``np.random.default_rng``.
    """
    if distribution not in DISTRIBUTIONS:
        raise ValueError(f"distribution must be one of {DISTRIBUTIONS}, got {distribution!r}")
    rng = _generator(rng)
    u = tree.tree_map(lambda w: _probe(w, rng, distribution), params)
    return tree.tree_map(lambda a, b: a * b, u, hvp(u))


def sample_labels(logits: Any, rng: np.random.Generator | int) -> np.ndarray:
    """One label per row of ``logits`` (B x C), drawn from the row's softmax.

    A row with a NaN or an infinity has no softmax (``inf - inf``): it is refused by its
    index rather than drawn as class 0."""
    rng = _generator(rng)
    z = np.asarray(to_numpy(logits), dtype=np.float64)
    bad = np.flatnonzero(~np.isfinite(z).all(axis=1)) if z.ndim == 2 else []
    if len(bad):
        raise ValueError(f"logits row {int(bad[0])} has a non-finite entry "
                         f"({z[bad[0]][~np.isfinite(z[bad[0]])][0]}); sampling needs finite logits")
    p = np.exp(z - z.max(axis=1, keepdims=True))
    cdf = np.cumsum(p / p.sum(axis=1, keepdims=True), axis=1)
    u = rng.random((z.shape[0], 1))
    return np.minimum((u > cdf).sum(axis=1), z.shape[1] - 1)


def gauss_newton_bartlett(sampled_grad: Callable[[np.ndarray], Any], logits: Any,
                          rng: np.random.Generator | int) -> Any:
    """``B * g_hat * g_hat`` with ``g_hat = sampled_grad(labels)``, labels drawn from the model.

    ``logits`` are the model's outputs on the minibatch (B x C, at the current params);
    ``sampled_grad(labels)`` returns the gradient (a tree like params) of the *mean*
    cross-entropy of those logits against ``labels`` (a NumPy int array of length B).
    """
    if len(logits.shape) != 2:
        raise ValueError(f"logits must be a B x C array, got shape {tuple(logits.shape)}")
    batch = logits.shape[0]
    rng = _generator(rng)
    g_hat = sampled_grad(sample_labels(logits, rng))
    return tree.tree_map(lambda g: batch * g * g, g_hat)
