"""AdaMax: hand-derived steps, the infinity-norm laws of Section 7.1, and agreement with
torch.optim.Adamax and optax.adamax."""
import numpy as np
import optax
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR, EPS = 0.01, 1e-8

# torch and optax put eps inside the max, as refopt does; the paper has none (eps=0 here
# by default), so eps=1e-8 is passed to both sides. Exact zeros in the stream make eps bind.
CHECKS = [
    Check("adamax", "torch.optim.Adamax", lambda: refopt.adamax(lr=LR, eps=EPS),
          lambda: torch_optimizer(torch.optim.Adamax, lr=LR, eps=EPS), rtol=1e-12, why="eps=1e-8"),
    Check("adamax", "optax.adamax", lambda: refopt.adamax(lr=LR, eps=EPS),
          lambda: optax_transformation(optax.adamax(LR, eps=EPS)), rtol=1e-12, why="eps=1e-8"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_steps_by_hand():
    # beta1 = beta2 = 1/2, lr = 0.1, eps = 0 (the paper's Algorithm 2)
    # t=1, g=2:    m = 1,                 u = max(0, 2) = 2, w -= 0.1/(1-1/2) * 1/2    = 0.1
    # t=2, g=-1/2: m = 1/2 - 1/4 = 1/4,   u = max(1, 1/2) = 1, w -= 0.1/(1-1/4) * 1/4  = 1/30
    # t=3, g=3:    m = 1/8 + 3/2 = 13/8,  u = max(1/2, 3) = 3, w -= 0.1/(1-1/8) * 13/24
    opt = refopt.adamax(lr=0.1, beta1=0.5, beta2=0.5)
    w = np.array([1.0])
    s = opt.init(w)
    expected_w = [1.0 - 0.1, 1.0 - 0.1 - 1 / 30, 1.0 - 0.1 - 1 / 30 - 0.1 / 0.875 * 13 / 24]
    expected_mu = [(1.0, 2.0), (0.25, 1.0), (13 / 8, 3.0)]
    for g, w_hand, (m_hand, u_hand) in zip([2.0, -0.5, 3.0], expected_w, expected_mu):
        w, s = opt.step(w, np.array([g]), s)
        assert s.m[0] == m_hand and s.u[0] == u_hand  # dyadic numbers: exact
        np.testing.assert_allclose(w[0], w_hand, rtol=1e-15)  # a few roundings apart


def test_paper_default_learning_rate_and_no_epsilon():
    opt = refopt.adamax()
    assert opt.hyperparams == {"lr": 2e-3, "beta1": 0.9, "beta2": 0.999, "eps": 0.0}


grads_1d = st.lists(st.floats(-1e3, 1e3, allow_subnormal=False), min_size=1, max_size=30)


@given(gs=grads_1d, beta2=st.floats(0.0, 0.999))
def test_u_is_the_decayed_max_of_past_gradients(gs, beta2):
    """u_t = max_i beta2^(t-i) |g_i| (Section 7.1): so u_t >= |g_t| from the first step,
    and u needs no bias correction."""
    opt = refopt.adamax(beta2=beta2, eps=0.0)  # the paper's u; w may be 0/0 = NaN: unused
    w = np.zeros(1)
    s = opt.init(w)
    for t, g in enumerate(gs, start=1):
        with np.errstate(invalid="ignore"):
            w, s = opt.step(w, np.array([g]), s)
        closed = max(beta2 ** (t - i) * abs(gi) for i, gi in enumerate(gs[:t], start=1))
        assert s.u[0] >= abs(g)
        np.testing.assert_allclose(s.u[0], closed, rtol=1e-12)  # beta2 powers vs products


@given(gs=grads_1d, beta1=st.floats(0.0, 0.95), beta2=st.floats(0.96, 0.9999), lr=st.floats(1e-4, 1.0))
def test_step_bound(gs, beta1, beta2, lr):
    """|g_i| <= u_t / beta2^(t-i) gives |m_t| <= (1-beta1) u_t sum_k (beta1/beta2)^k, so
    |w_t - w_{t-1}| <= lr (1-beta1)(1-q^t) / ((1-q)(1-beta1^t)) with q = beta1/beta2."""
    opt = refopt.adamax(lr=lr, beta1=beta1, beta2=beta2, eps=1e-300)
    q = beta1 / beta2
    w = np.zeros(1)
    s = opt.init(w)
    for t, g in enumerate(gs, start=1):
        w_new, s = opt.step(w, np.array([g]), s)
        bound = lr * (1 - beta1) * (1 - q**t) / ((1 - q) * (1 - beta1**t))
        assert abs(w_new[0] - w[0]) <= bound * (1 + 1e-12)  # a few roundings
        w = w_new


def test_the_papers_step_bound_alpha_is_approximate():
    """Gradients shrinking by beta2 each step keep every past |g_i| beta2^(t-i) equal to
    u_t, and the step exceeds lr (the paper's |Delta_t| <= alpha) by the factor
    (1-beta1)/(1-beta1/beta2) = 1.00909... in the limit (defaults)."""
    beta1, beta2 = 0.9, 0.999
    opt = refopt.adamax(lr=1.0)
    w = np.zeros(1)
    s = opt.init(w)
    for t in range(1, 301):
        w_new, s = opt.step(w, np.array([beta2**t]), s)
        step, w = abs(w_new[0] - w[0]), w_new
    limit = (1 - beta1) / (1 - beta1 / beta2)
    assert step > 1.009
    # the step at t = 300 is exactly (1-b1)(1-q^t)/((1-q)(1-b1^t)), q = b1/b2, 3e-14 from the
    # limit; 1e-12 allows that and the rounding of w_t - w_{t-1} at |w| ~ 300 (6e-14)
    q = beta1 / beta2
    exact = (1 - beta1) * (1 - q**300) / ((1 - q) * (1 - beta1**300))
    np.testing.assert_allclose(step, exact, rtol=1e-12)
    np.testing.assert_allclose(step, limit, rtol=1e-12)
