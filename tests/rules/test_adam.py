"""Adam: Algorithm 1 by hand, invariance to the gradient's scale, a float32 run whose
bias correction float32 arithmetic would freeze, the keras epsilon-hat form as an eps
schedule, and agreement with torch.optim.Adam and optax.adam."""
import math

import numpy as np
import optax
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.oracle import mixed_gradients, trajectory
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer
from refopt.rules.adam import AdamState

from .independent import Check, assert_agrees, initial_params, relative_errors

LR = 0.01

CHECKS = [
    Check("adam", "torch.optim.Adam", lambda: refopt.adam(lr=LR),
          lambda: torch_optimizer(torch.optim.Adam, lr=LR), rtol=1e-12),
    Check("adam", "torch.optim.Adam", lambda: refopt.adam(lr=LR, beta1=0.5, beta2=0.9, eps=1e-3),
          lambda: torch_optimizer(torch.optim.Adam, lr=LR, betas=(0.5, 0.9), eps=1e-3), rtol=1e-12,
          why="betas=(0.5, 0.9), eps=1e-3"),
    Check("adam", "optax.adam", lambda: refopt.adam(lr=LR),
          lambda: optax_transformation(optax.adam(LR)), rtol=1e-12),
    Check("adam", "optax.adam", lambda: refopt.adam(lr=LR, eps=1e-6, eps_root=1e-4),
          lambda: optax_transformation(optax.adam(LR, eps=1e-6, eps_root=1e-4)), rtol=1e-12,
          why="eps_root=1e-4"),
]
# Measured worst relative errors over the 50 mixed steps: 1.2e-15..5.6e-15 (torch divides sqrt(s) by
# sqrt(1-beta2^t) instead of dividing s first; rounding only). 1e-12 fails at any convention
# difference (keras's epsilon-hat form with 1e-7 differs by 1.1e-4 relative at step 1).


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_step_is_lr_times_g_over_abs_g_plus_eps():
    # m_1 = (1-b1) g, s_1 = (1-b2) g^2, so m_hat = g, s_hat = g^2: w_1 = w_0 - lr g/(|g| + eps)
    opt = refopt.adam(lr=0.1, eps=1e-8)
    g = np.array([2.0, -0.5, 0.0, 1e-9])
    w1, _ = opt.step(np.zeros(4), g, opt.init(np.zeros(4)))
    np.testing.assert_allclose(w1, -0.1 * g / (np.abs(g) + 1e-8), rtol=1e-15, atol=0)


def test_second_step_by_hand():
    """b1 = 1/2, b2 = 3/4, eps = 0, g = 1 then -3:
    m_2 = 1/2*1/2 + 1/2*(-3) = -5/4,   m_hat = (-5/4)/(3/4) = -5/3
    s_2 = 3/4*1/4 + 1/4*9 = 39/16,     s_hat = (39/16)/(7/16) = 39/7
    w_2 = w_1 + lr*(5/3)/sqrt(39/7)"""
    lr = 0.5
    opt = refopt.adam(lr=lr, beta1=0.5, beta2=0.75, eps=0.0)
    w1, s = opt.step(np.zeros(1), np.array([1.0]), opt.init(np.zeros(1)))
    assert w1[0] == -lr
    w2, s = opt.step(w1, np.array([-3.0]), s)
    assert s.m[0] == -1.25 and s.s[0] == 39 / 16
    np.testing.assert_allclose(w2, [-lr + lr * (5 / 3) / math.sqrt(39 / 7)], rtol=1e-15)


def _run(opt, grads):
    w = np.zeros(grads.shape[1])
    s = opt.init(w)
    ws, states = [], []
    for g in grads:
        w, s = opt.step(w, g, s)
        ws.append(w)
        states.append(s)
    return np.array(ws), states


def _stream(seed, steps, n):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((steps, n)) * (rng.random((steps, n)) < 0.8)


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 30), k=st.integers(-30, 30))
def test_update_unchanged_when_gradients_are_scaled_exact_for_powers_of_two(seed, steps, k):
    # eps = 0: c m_hat / sqrt(c^2 s_hat) = m_hat / sqrt(s_hat); c = 2^k makes every rounding equal
    grads = _stream(seed, steps, 4) + 0.1  # no all-zero history: 0/0 without eps
    opt = refopt.adam(lr=0.01, eps=0.0)
    np.testing.assert_array_equal(_run(opt, 2.0**k * grads)[0], _run(opt, grads)[0])


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 30), c=st.floats(1e-3, 1e3))
def test_update_unchanged_when_gradients_are_scaled_up_to_rounding(seed, steps, c):
    # any c > 0, eps = 0: each step's value differs only by rounding (a few ulps of lr per step)
    grads = _stream(seed, steps, 4) + 0.1
    lr = 0.01
    opt = refopt.adam(lr=lr, eps=0.0)
    np.testing.assert_allclose(_run(opt, c * grads)[0], _run(opt, grads)[0], rtol=0, atol=1e-14 * lr * steps)


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 30), c=st.floats(1e-3, 1e3),
       eps=st.sampled_from([1e-8, 1e-4, 1e-1]))
def test_with_eps_scale_changes_each_step_by_at_most_the_eps_bound(seed, steps, c, eps):
    """With eps > 0, scaling g by c acts like eps -> eps/c: the step becomes
    lr m_hat/(sqrt(s_hat) + eps/c), so it moves by at most
    lr |m_hat| |eps/c - eps| / ((sqrt(s_hat) + eps/c)(sqrt(s_hat) + eps)),
    i.e. relatively by at most |1/c - 1| eps / sqrt(s_hat)."""
    grads = _stream(seed, steps, 4)
    lr = 0.01
    opt = refopt.adam(lr=lr, eps=eps)
    w, states = _run(opt, grads)
    wc, _ = _run(opt, c * grads)
    dw = np.diff(np.vstack([np.zeros(4), w]), axis=0)
    dwc = np.diff(np.vstack([np.zeros(4), wc]), axis=0)
    for t, (a, b, st_) in enumerate(zip(dw, dwc, states), start=1):
        m_hat = st_.m / (1 - 0.9**t)
        root = np.sqrt(st_.s / (1 - 0.999**t))
        bound = lr * np.abs(m_hat) * abs(eps / c - eps) / ((root + eps / c) * (root + eps))
        assert np.all(np.abs(b - a) <= bound + 1e-13 * lr)


def test_float32_bias_correction_keeps_moving_where_float32_powers_freeze():
    """beta2 = 1 - 1e-8 is 1.0 in float32, so a float32 power 1 - beta2^t is 0 at every step
    (v_hat = v/0). Here beta2^t is a Python float of the integer t: over 10k float32 steps the
    correction grows every step and, with a constant gradient, every step moves w by lr
    (m_hat = g, s_hat = g^2) to within float32's accumulation error."""
    beta2, lr, steps = 1 - 1e-8, 1e-3, 10_000
    assert np.float32(1) - np.float32(beta2) ** np.float32(steps) == 0  # frozen in float32
    corrections = [1 - beta2**t for t in range(1, steps + 1)]
    assert all(b > a for a, b in zip(corrections, corrections[1:]))
    opt = refopt.adam(lr=lr, beta2=beta2)
    w = np.zeros(3, dtype=np.float32)
    g = np.array([0.5, -2.0, 1e-3], dtype=np.float32)
    s = opt.init(w)
    for _ in range(steps):
        w_new, s = opt.step(w, g, s)
        # float32 cannot add 1e-8 g^2 to s exactly (s ~ t 1e-8 g^2): ~1e-3 relative, so 1%
        np.testing.assert_allclose(w - w_new, lr * np.sign(g), rtol=1e-2)
        w = w_new
    assert w.dtype == np.float32 and s.s.dtype == np.float32 and s.t == steps
    np.testing.assert_allclose(w, -lr * steps * np.sign(g), rtol=1e-3)


def test_the_step_count_is_an_int_that_never_freezes():
    # a float32 counter stops at 2^24 (2^24 + 1 rounds back); the int t does not
    assert np.float32(2**24) + np.float32(1) == np.float32(2**24)
    opt = refopt.adam()
    w = np.ones(2, dtype=np.float32)
    state = AdamState(2**24, np.zeros(2, np.float32), np.zeros(2, np.float32))
    _, state = opt.step(w, w, state)
    assert state.t == 2**24 + 1


def test_keras_epsilon_hat_form_is_an_eps_schedule():
    """keras (and the paper's end of section 2) computes
    alpha_t = lr sqrt(1-b2^t)/(1-b1^t),  w -= alpha_t m/(sqrt(s) + eps_hat),
    written out below; it is this rule with eps_t = eps_hat/sqrt(1-b2^t), not a knob."""
    b1, b2, eps_hat, lr = 0.9, 0.999, 1e-7, 0.01
    params = initial_params({"w": (5, 4)}, seed=0)
    grads = mixed_gradients(params, 50, seed=1)
    w, m, s = params["w"], np.zeros((5, 4)), np.zeros((5, 4))
    theirs = []
    for t, g in enumerate(grads, start=1):
        m = b1 * m + (1 - b1) * g["w"]
        s = b2 * s + (1 - b2) * g["w"] ** 2
        alpha = lr * math.sqrt(1 - b2**t) / (1 - b1**t)
        w = w - alpha * m / (np.sqrt(s) + eps_hat)
        theirs.append({"w": w})
    ours = trajectory(refopt.adam(lr=lr, eps=lambda t: eps_hat / math.sqrt(1 - b2**t)), params, grads)
    assert relative_errors(ours, theirs, params).max() < 1e-12
    plain = trajectory(refopt.adam(lr=lr, eps=eps_hat), params, grads)
    assert relative_errors(plain, theirs, params).max() > 1e-5  # 1.1e-4: a different rule
