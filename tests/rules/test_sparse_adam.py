"""Sparse (lazy) Adam: agreement with torch.optim.SparseAdam fed real sparse COO gradients (with
repeated indices, which torch coalesces), a hand-derived first step, and the rule's defining
property: present coordinates take Adam's step, absent ones keep params and moments exactly,
and absent values are never read."""
import math

import numpy as np
import pytest
import torch

import refopt
from refopt.interop import Adapter

from .independent import Check, assert_agrees

LR, B1, B2, EPS = 0.02, 0.8, 0.95, 1e-6


def present_rows(g):
    """Which rows (entries of a 1-D leaf) a step's sparse gradient holds: about two thirds, chosen
    from the gradient's own digits so that both sides see the same pattern."""
    first = g[:, 0] if g.ndim == 2 else g
    return np.floor(np.abs(first) * 1e3) % 3 != 0


def row_mask(g):
    rows = present_rows(g)
    return np.broadcast_to(rows[:, None], g.shape).copy() if g.ndim == 2 else rows


def torch_sparse_adam(**kwargs):
    """torch.optim.SparseAdam over float64 parameters; each step's gradient is a sparse COO tensor
    holding the present rows of the dense one, the even rows split into two halves at the same
    index (exact in binary: torch's coalesce sums them back to the row)."""
    def init(params):
        leaves = {k: torch.nn.Parameter(torch.tensor(np.array(w))) for k, w in params.items()}
        return leaves, torch.optim.SparseAdam(list(leaves.values()), **kwargs)

    def step(params, grads, state):
        leaves, opt = state
        for k, p in leaves.items():
            g = grads[k]
            rows = np.flatnonzero(present_rows(g))
            twice = rows[rows % 2 == 0]
            index = np.concatenate([rows, twice])
            values = np.concatenate([np.where(np.isin(rows, twice)[(...,) + (None,) * (g.ndim - 1)],
                                              g[rows] / 2, g[rows]), g[twice] / 2])
            p.grad = torch.sparse_coo_tensor(torch.tensor(index[None, :]), torch.tensor(values),
                                             size=g.shape, check_invariants=True)
            assert len(twice) == 0 or not p.grad.is_coalesced()  # repeated indices reach torch
        opt.step()
        return {k: p.detach().numpy().copy() for k, p in leaves.items()}, state

    return Adapter("torch.optim.SparseAdam", init, step)


def masked(opt):
    """refopt's rule given each step's row mask beside the dense gradient (absent rows keep their
    dense values: the rule must not read them)."""
    return Adapter(opt.name, opt.init,
                   lambda p, g, s: opt.step(p, g, s, mask={k: row_mask(v) for k, v in g.items()}))


def _ours(lr, b1, b2, eps):
    # torch adds eps to the uncorrected root: the rule's eps at eps / sqrt(1 - b2**t)
    return lambda: masked(refopt.sparse_adam(lr=lr, beta1=b1, beta2=b2,
                                             eps=lambda t: eps / math.sqrt(1 - b2**t)))


# torch writes m += (1-b1)(g - m) and re-adds the old values before dividing, a few ulps from
# b1 m + (1-b1) g: measured <= 3e-15 over 50 steps; 1e-12 leaves slack for that rounding only.
CHECKS = [
    Check("sparse_adam", "torch.optim.SparseAdam", _ours(LR, B1, B2, EPS),
          lambda: torch_sparse_adam(lr=LR, betas=(B1, B2), eps=EPS), rtol=1e-12, why="betas-0.8-0.95"),
    Check("sparse_adam", "torch.optim.SparseAdam", _ours(1e-3, 0.9, 0.999, 1e-8),
          lambda: torch_sparse_adam(), rtol=1e-12, why="torch-defaults"),
    Check("sparse_adam", "torch.optim.SparseAdam", _ours(0.1, 0.0, 0.5, 0.1),
          lambda: torch_sparse_adam(lr=0.1, betas=(0.0, 0.5), eps=0.1), rtol=1e-12, why="beta1-0-eps-0.1"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_torch_on_sparse_gradients(check):
    assert_agrees(check)


def test_first_step_by_hand():
    # step 1: m_hat = g, s_hat = g^2, so a present coordinate moves by lr g / (|g| + eps)
    opt = refopt.sparse_adam(lr=0.5, eps=0.0 + 1e-300)
    w0 = np.array([1.0, 2.0, 3.0, 4.0])
    g = np.array([2.0, np.nan, -4.0, 0.0])   # the NaN is absent: never read
    mask = np.array([True, False, True, True])
    w1, s = opt.step(w0, g, opt.init(w0), mask=mask)
    np.testing.assert_array_equal(w1, [0.5, 2.0, 3.5, 4.0])
    np.testing.assert_allclose(s.m, [0.2, 0.0, -0.4, 0.0], rtol=1e-15)  # (1-b1) g, 0.1 inexact
    np.testing.assert_allclose(s.s, [0.004, 0.0, 0.016, 0.0], rtol=1e-15)  # (1-b2) g^2


def test_present_coordinates_take_adams_step_absent_ones_keep_everything():
    rng = np.random.default_rng(3)
    lazy, adam = refopt.sparse_adam(lr=0.1), refopt.adam(lr=0.1)
    w = rng.standard_normal((4, 3))
    s_lazy, s_adam = lazy.init(w), adam.init(w)
    s_lazy = s_lazy._replace(m=rng.standard_normal((4, 3)), s=rng.random((4, 3)))
    s_adam = s_adam._replace(m=s_lazy.m, s=s_lazy.s)
    g = rng.standard_normal((4, 3))
    mask = rng.random((4, 3)) < 0.5
    w_lazy, n_lazy = lazy.step(w, g, s_lazy, mask=mask)
    w_adam, n_adam = adam.step(w, g, s_adam)
    for a, b, before in ((w_lazy, w_adam, w), (n_lazy.m, n_adam.m, s_lazy.m), (n_lazy.s, n_adam.s, s_lazy.s)):
        np.testing.assert_array_equal(a[mask], b[mask])
        np.testing.assert_array_equal(a[~mask], before[~mask])
    # not Adam on a zero-filled gradient: there the absent moments decay and params still move
    w_zero, _ = adam.step(w, np.where(mask, g, 0.0), s_adam)
    assert np.all(w_zero[~mask] != w[~mask])
    # without a mask every coordinate is present: it is Adam
    w_all, _ = lazy.step(w, g, s_lazy)
    np.testing.assert_array_equal(w_all, w_adam)


def test_bias_correction_counts_every_step():
    """t counts the steps of the array, not a row's visits: a row first present at step 3 is
    corrected with 1 - beta**3 (torch's SparseAdam counts the same)."""
    opt = refopt.sparse_adam(lr=1.0, beta1=0.5, beta2=0.5, eps=1e-300)
    w = np.zeros(2)
    s = opt.init(w)
    for _ in range(2):
        w, s = opt.step(w, np.array([1.0, 5.0]), s, mask=np.array([True, False]))
    w, s = opt.step(w, np.array([1.0, 2.0]), s, mask=np.array([True, True]))
    # second coordinate: m_3 = 0.5*2 = 1, s_3 = 0.5*4 = 2; m_hat = 1/(1-1/8), s_hat = 2/(1-1/8)
    np.testing.assert_allclose(w[1], -(8 / 7) / math.sqrt(16 / 7), rtol=1e-15)


def test_mask_errors_name_the_leaf():
    opt = refopt.sparse_adam()
    w = {"a": np.ones(3)}
    s = opt.init(w)
    with pytest.raises(TypeError, match=r"mask leaf \['a'\]"):
        opt.step(w, {"a": np.ones(3)}, s, mask={"a": np.ones(3)})
    with pytest.raises(ValueError, match=r"mask leaf \['a'\]"):
        opt.step(w, {"a": np.ones(3)}, s, mask={"a": np.ones(2, dtype=bool)})
    with pytest.raises(TypeError, match=r"mask leaf \['a'\]"):
        opt.step(w, {"a": np.ones(3)}, s, mask={"a": torch.ones(3, dtype=torch.bool)})
    with pytest.raises(ValueError, match="eps"):
        refopt.sparse_adam(eps=0.0)
