"""NorMuon: pytorch-optimizer's NorMuon in float64 (both of its update scales), a worked
example from the paper's Algorithm 1, and the equal-row-RMS law.

No other installed framework has NorMuon (torch, optax: no). pytorch-optimizer's is run with
NS in float64 and NS eps = 0 (tests/rules/test_muon.py says how and why).
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refopt

from .independent import Check, assert_agrees
from .test_muon import SHAPES, kozistr, ns_closed_form


def _kz_normuon(**kw):
    from pytorch_optimizer import NorMuon
    return kozistr(NorMuon, foreach=False, **kw)


LR, WD = 0.01, 0.1

CHECKS = [
    Check("normuon", "pytorch_optimizer.NorMuon",
          lambda: refopt.normuon(lr=LR, weight_decay=WD, ns_eps=0.0),
          lambda: _kz_normuon(lr=LR, weight_decay=WD, nesterov=False, update_scale="match_rms", eps=1e-10),
          rtol=1e-12, shapes=SHAPES, why="paper: match_rms, no Nesterov, NS in float64"),
    Check("normuon", "pytorch_optimizer.NorMuon",
          lambda: refopt.normuon(lr=LR, weight_decay=WD, ns_eps=0.0, nesterov=True,
                                 update_scale="preserve_norm"),
          lambda: _kz_normuon(lr=LR, weight_decay=WD, nesterov=True, update_scale="preserve_norm", eps=1e-10),
          rtol=1e-12, shapes=SHAPES, why="official code: preserve_norm, Nesterov, NS in float64"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_worked_example_from_algorithm_1():
    """Three steps on a 2x3 weight, each line of Algorithm 1 written out with NumPy, NS by
    its closed form on the singular values (test_muon.ns_closed_form), eps as in the rule."""
    w = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    grads = [np.array([[1.0, 2.0, -1.0], [0.0, -3.0, 1.0]]),
             np.array([[-0.5, 0.25, 2.0], [1.0, 1.0, -1.0]]),
             np.array([[0.0, 0.0, 4.0], [-2.0, 0.5, 0.0]])]
    lr, b1, b2, lam, eps = 0.1, 0.9, 0.8, 0.01, 1e-10
    opt = refopt.normuon(lr=lr, beta1=b1, beta2=b2, weight_decay=lam, eps=eps, ns_eps=0.0)
    state = opt.init(w)
    W, M, r = w.copy(), np.zeros((2, 3)), np.zeros((2, 1))
    m, n = 2, 3
    for G in grads:
        M = b1 * M + (1 - b1) * G                                # line: M_t
        O = ns_closed_form(M)[0]                                 # line: O_t = NS5(M_t)
        r = b2 * r + (1 - b2) * (O * O).mean(axis=1, keepdims=True)  # line: v_t, per row
        O_bar = O / (np.sqrt(r) + eps)                           # line: O_hat, rows
        eta_hat = 0.2 * lr * np.sqrt(m * n) / (np.linalg.norm(O_bar) + eps)
        W = W - lr * lam * W - eta_hat * O_bar                   # line: theta_t
        w, state = opt.step(w, G, state)
        np.testing.assert_allclose(w, W, rtol=0, atol=1e-13)     # a few ulps of the O(1) entries
        np.testing.assert_allclose(state.r, r, rtol=0, atol=1e-15)
    assert state.r.shape == (2, 1)


@given(seed=st.integers(0, 2**31), rows=st.integers(1, 8), cols=st.integers(1, 8),
       beta2=st.sampled_from([0.0, 0.95]), steps=st.integers(1, 4))
def test_rows_of_the_update_have_equal_rms(seed, rows, cols, beta2, steps):
    """Condition: r_t is this step's mean_cols(O_t^2) up to a constant, i.e. beta2 = 0 (any
    step) or t = 1 (any beta2: r_1 = (1 - beta2) mean_cols(O_1^2)); eps = 0; no zero row in O
    (Gaussian gradients). Then every row of O_bar has RMS 1/sqrt(1 - beta2) and, after the
    0.2 sqrt(mn)/||O_bar||_F scaling, every row of the update has RMS 0.2 * lr."""
    if beta2 > 0:
        steps = 1
    rng = np.random.default_rng(seed)
    opt = refopt.normuon(lr=1.0, beta2=beta2, eps=0.0, ns_eps=0.0)
    w = rng.standard_normal((rows, cols))
    state = opt.init(w)
    for _ in range(steps):
        w_next, state = opt.step(w, rng.standard_normal((rows, cols)), state)
        row_rms = np.sqrt(np.mean((w - w_next) ** 2, axis=1))
        np.testing.assert_allclose(row_rms, 0.2, rtol=1e-12)
        w = w_next


def test_rows_are_not_equalised_when_the_second_moment_remembers():
    """The condition matters: with beta2 = 0.95 after several steps the rows differ."""
    rng = np.random.default_rng(0)
    opt = refopt.normuon(lr=1.0, beta2=0.95, eps=0.0, ns_eps=0.0)
    w = rng.standard_normal((4, 6))
    state = opt.init(w)
    for k in range(5):
        scale = np.array([[1.0], [1.0], [1.0], [10.0 ** k]])  # one row's gradient keeps growing
        w_next, state = opt.step(w, scale * rng.standard_normal((4, 6)), state)
        row_rms = np.sqrt(np.mean((w - w_next) ** 2, axis=1))
        w = w_next
    assert row_rms.max() / row_rms.min() > 1.01


def test_zero_gradient_gives_a_zero_step_not_nan():
    w = np.ones((2, 3))
    opt = refopt.normuon(weight_decay=0.0)
    w1, s = opt.step(w, np.zeros((2, 3)), opt.init(w))
    np.testing.assert_array_equal(w1, w)
