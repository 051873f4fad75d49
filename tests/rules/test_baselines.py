"""SGD, heavy-ball momentum and Nesterov: hand-derived steps, the two Nesterov forms,
and agreement with torch.optim.SGD and optax.sgd."""
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

LR, MU = 0.05, 0.9

CHECKS = [
    Check("sgd", "torch.optim.SGD", lambda: refopt.sgd(lr=LR),
          lambda: torch_optimizer(torch.optim.SGD, lr=LR), rtol=1e-12),
    Check("sgd", "optax.sgd", lambda: refopt.sgd(lr=LR),
          lambda: optax_transformation(optax.sgd(LR)), rtol=1e-12),
    Check("momentum", "torch.optim.SGD", lambda: refopt.momentum(lr=LR, beta1=MU),
          lambda: torch_optimizer(torch.optim.SGD, lr=LR, momentum=MU), rtol=1e-12,
          why="momentum=beta1, dampening=0"),
    Check("momentum", "optax.sgd", lambda: refopt.momentum(lr=LR, beta1=MU),
          lambda: optax_transformation(optax.sgd(LR, momentum=MU)), rtol=1e-12, why="momentum=beta1"),
    Check("nesterov_reformulated", "torch.optim.SGD", lambda: refopt.nesterov_reformulated(lr=LR, beta1=MU),
          lambda: torch_optimizer(torch.optim.SGD, lr=LR, momentum=MU, nesterov=True), rtol=1e-12,
          why="nesterov=True"),
    Check("nesterov_reformulated", "optax.sgd", lambda: refopt.nesterov_reformulated(lr=LR, beta1=MU),
          lambda: optax_transformation(optax.sgd(LR, momentum=MU, nesterov=True)), rtol=1e-12,
          why="nesterov=True"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_sgd_with_a_schedule_reads_lr_at_t():
    # lr_t = 1/t: w_2 = w_0 - 1*g_1 - (1/2)*g_2, by hand
    opt = refopt.sgd(lr=lambda t: 1.0 / t)
    w, g1, g2 = np.array([1.0, -2.0]), np.array([0.5, 0.25]), np.array([4.0, -8.0])
    s = opt.init(w)
    w1, s = opt.step(w, g1, s)
    w2, s = opt.step(w1, g2, s)
    np.testing.assert_array_equal(w2, np.array([1.0 - 0.5 - 2.0, -2.0 - 0.25 + 4.0]))


def test_a_schedule_value_outside_the_range_names_itself():
    opt = refopt.sgd(lr=lambda t: 0.1 if t < 3 else -0.1)
    w = np.zeros(2)
    s = opt.init(w)
    for _ in range(2):
        w, s = opt.step(w, w, s)
    with pytest.raises(ValueError, match=r"lr must be a number in \[0, inf\) \(schedule at step 3\)"):
        opt.step(w, w, s)


def test_momentum_first_steps_by_hand():
    # m_1 = g_1, w_1 = w_0 - lr g_1; m_2 = mu g_1 + g_2, w_2 = w_1 - lr (mu g_1 + g_2)
    lr, mu = 0.5, 0.25
    opt = refopt.momentum(lr=lr, beta1=mu)
    w0, g1, g2 = np.array([2.0]), np.array([1.0]), np.array([-4.0])
    s = opt.init(w0)
    w1, s = opt.step(w0, g1, s)
    w2, s = opt.step(w1, g2, s)
    assert w1[0] == 2.0 - 0.5 * 1.0
    assert s.m[0] == 0.25 * 1.0 - 4.0
    assert w2[0] == 1.5 - 0.5 * (0.25 - 4.0)


@given(lr=st.floats(1e-4, 0.5), mu=st.floats(0.0, 0.99), seed=st.integers(0, 2**31),
       n=st.integers(1, 6))
def test_nesterov_forms_give_the_same_iterates_on_quadratics(lr, mu, seed, n):
    """On f(w) = 1/2 w'Aw - b'w the reformulated iterates are the look-ahead points
    w_t + mu v_t of the textbook form (change of variables in refopt.rules.nesterov)."""
    rng = np.random.default_rng(seed)
    Q = rng.standard_normal((n, n))
    A = Q @ Q.T / n + 0.1 * np.eye(n)
    b = rng.standard_normal(n)
    grad = lambda w: A @ w - b  # noqa: E731
    look, reform = refopt.nesterov(lr=lr, beta1=mu), refopt.nesterov_reformulated(lr=lr, beta1=mu)
    w = phi = rng.standard_normal(n)
    s_look, s_ref = look.init(w), reform.init(phi)
    scale = 1.0 + np.abs(phi).max()
    for _ in range(30):
        w, s_look = look.step(w, grad(look.look_ahead(w, s_look)), s_look)
        phi, s_ref = reform.step(phi, grad(phi), s_ref)
        scale = max(scale, np.abs(phi).max())
        np.testing.assert_allclose(look.look_ahead(w, s_look), phi, rtol=0, atol=1e-12 * scale)


def test_nesterov_look_ahead_point_by_hand():
    opt = refopt.nesterov(lr=0.1, beta1=0.5)
    w0 = np.array([1.0])
    s = opt.init(w0)
    assert opt.look_ahead(w0, s)[0] == 1.0           # v_0 = 0
    w1, s = opt.step(w0, np.array([2.0]), s)          # v_1 = -0.2, w_1 = 0.8
    assert s.v[0] == -0.1 * 2.0 and w1[0] == 0.8
    assert opt.look_ahead(w1, s)[0] == 0.8 + 0.5 * -0.2


def test_check_finite_names_leaf_and_step():
    opt = refopt.check_finite(refopt.sgd(lr=0.1))
    params = {"a": np.zeros(2), "b": [np.zeros(3)]}
    s = opt.init(params)
    params, s = opt.step(params, {"a": np.ones(2), "b": [np.ones(3)]}, s)
    bad = {"a": np.ones(2), "b": [np.array([1.0, np.nan, 0.0])]}
    with pytest.raises(refopt.NonFiniteGradient, match=r"\['b'\]\[0\] at step 2"):
        opt.step(params, bad, s)


def test_without_check_finite_nan_propagates_as_the_math_does():
    opt = refopt.momentum(lr=0.1)
    w = np.zeros(2)
    w, s = opt.step(w, np.array([np.nan, 1.0]), opt.init(w))
    assert np.isnan(w[0]) and w[1] == -0.1
