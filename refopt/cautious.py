r"""Cautious: any rule's step, kept only where it points the same way as the gradient.

``cautious(opt)`` lets ``opt`` propose its step, then masks it per leaf:

.. math::

    u_t &= w_{t-1} - \mathrm{step}_{opt}(w_{t-1}, g_t) \qquad\text{(the proposed descent step)} \\
    \phi_t &= \mathbb{I}(u_t \odot g_t > 0) \\
    w_t &= w_{t-1} - \frac{d}{\operatorname{nnz}(\phi_t) + \xi}\; \phi_t \odot u_t

with :math:`d` the number of entries of the leaf and :math:`\xi = 1`. Liang, Chen, Liu & Liu
(2024), "Cautious Optimizers: Improving Training with One Line of Code", arXiv 2411.16085,
Algorithm 1 (C-AdamW) and the one-line PyTorch form of §1; the same mask and factor
:math:`d/(\operatorname{nnz}+1)` are in the authors' code (kyleliang919/C-Optim) and in
pytorch-optimizer's ``apply_cautious``. The later arXiv versions write the factor as
``1 / (mean(phi) + eps)``, i.e. :math:`\xi = d\,\epsilon`: the knob ``xi``.

Why: a momentum rule may step against the current gradient (its memory points elsewhere); the
mask keeps only coordinates where :math:`u_t \cdot g_t > 0`, so the masked step is a descent
direction, :math:`\langle \phi_t \odot u_t, g_t\rangle \ge 0`, and the paper shows it keeps the
base rule's Hamiltonian (Lyapunov) function decreasing. The factor restores the step's average size.

**What is masked.** The whole change the inner rule makes to a leaf, its own weight decay included
(``refopt.adamw(weight_decay=...)`` has :math:`\lambda w` inside :math:`u`). The paper's C-AdamW and
pytorch-optimizer decay outside the mask: give the inner rule ``weight_decay=0`` and decay apart.
The inner state advances as without the mask (the paper masks the step, not the moments).

**Where it is undefined.** Nowhere: the mask of a 0 or NaN product is 0, and a NaN or infinite
:math:`u` still propagates (``NaN * 0 = NaN``), as DESIGN asks. The state is
``CautiousState(t, inner)``, ``inner`` being ``opt``'s own.
"""
from __future__ import annotations

import math
from typing import Any, NamedTuple

from . import tree
from .backend import array_namespace, as_array_like, check_leaf, no_grad
from .core import NONNEGATIVE, Optimizer, number
from .validate import check_state_type, inner_optimizer, step_count

__all__ = ["cautious", "CautiousState", "masked_step"]


class CautiousState(NamedTuple):
    t: int
    inner: Any  # the wrapped optimizer's own state


def masked_step(w: Any, w_new: Any, g: Any, xi: float = 1.0) -> Any:
    """One leaf: ``w - d/(nnz(phi) + xi) * phi * u`` with ``u = w - w_new``, ``phi = (u*g > 0)``."""
    xp = array_namespace(w)
    u = w - w_new
    agrees = u * g > 0
    phi = xp.astype(agrees, w.dtype)
    d = math.prod(w.shape)
    nnz = int(xp.sum(xp.astype(agrees, xp.int64)))
    return as_array_like(w, w - (phi * u) * (d / (nnz + xi)))


def cautious(opt: Optimizer, xi: float = 1.0) -> Optimizer:
    """``opt``'s step masked where it disagrees in sign with the gradient, rescaled by
    ``d / (nnz + xi)`` per leaf (Liang et al. 2024; module docstring)."""
    inner_optimizer("cautious", opt)
    xi = number("xi", xi, NONNEGATIVE)
    name = f"cautious({opt.name})"

    def init(params: Any) -> CautiousState:
        return CautiousState(0, opt.init(params))

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, CautiousState]:
        check_state_type(name, state, CautiousState)
        t = step_count(name, state.t) + 1
        spec = tree.structure(params)
        leaves = list(tree.leaves_with_paths(params))
        g_leaves = tree.leaves_like(spec, grads, "grads")
        for (path, w), g in zip(leaves, g_leaves):
            check_leaf(tree.fmt_path(path), w, g)
        proposed, inner = opt.step(params, grads, state.inner, **extra)
        new_leaves = tree.leaves_like(spec, proposed, "the inner rule's params")
        with no_grad([w for _, w in leaves]):
            out = [masked_step(w, w_new, g, xi) for (_, w), w_new, g in zip(leaves, new_leaves, g_leaves)]
        return tree.unflatten(spec, out), CautiousState(t, inner)

    return Optimizer(name, init, step, {**opt.hyperparams, "cautious_xi": xi},
                     {**opt.bounds, "cautious_xi": NONNEGATIVE})
