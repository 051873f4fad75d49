"""AdaDelta: Zeiler's Algorithm 1 by hand, its units, its step bound, and agreement with
torch.optim.Adadelta and optax.adadelta."""
import math

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

CHECKS = [
    Check("adadelta", "torch.optim.Adadelta", lambda: refopt.adadelta(beta2=0.9),
          lambda: torch_optimizer(torch.optim.Adadelta), rtol=1e-12, why="torch defaults: rho=0.9, lr=1"),
    Check("adadelta", "torch.optim.Adadelta", lambda: refopt.adadelta(lr=0.5, beta2=0.95, eps=1e-4),
          lambda: torch_optimizer(torch.optim.Adadelta, lr=0.5, rho=0.95, eps=1e-4), rtol=1e-12,
          why="lr=0.5 applied to the step, not to u"),
    Check("adadelta", "optax.adadelta", lambda: refopt.adadelta(),
          lambda: optax_transformation(optax.adadelta(1.0, rho=0.95)), rtol=1e-12,
          why="learning_rate=1 (the paper), rho=0.95"),
    Check("adadelta", "optax.adadelta", lambda: refopt.adadelta(lr=10.0, beta2=0.9),
          lambda: optax_transformation(optax.adadelta(10.0)), rtol=1e-12, why="learning_rate=10, rho=0.9"),
]
# Measured worst relative errors over the 50 mixed steps: 1.8e-15..5.2e-15 (rounding of the two roots);
# 1e-12 fails at a convention difference (rho 0.9 vs 0.95 differs by 0.29 at step 1).


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_algorithm_1_two_steps_by_hand():
    """rho = 3/4, eps = 1/4, g = 1 then 2, lr = 1 (the paper):
    s_1 = 1/4,  Delta_1 = -sqrt(0 + 1/4)/sqrt(1/4 + 1/4) * 1 = -1/sqrt(2),  u_1 = 1/4 * 1/2 = 1/8
    s_2 = 3/4 * 1/4 + 1/4 * 4 = 19/16,  Delta_2 = -sqrt(1/8 + 1/4)/sqrt(19/16 + 1/4) * 2
    u_2 = 3/4 * 1/8 + 1/4 * Delta_2^2"""
    opt = refopt.adadelta(beta2=0.75, eps=0.25)
    w0 = np.array([3.0])
    s = opt.init(w0)
    w1, s = opt.step(w0, np.array([1.0]), s)
    d1 = -1 / math.sqrt(2)
    np.testing.assert_allclose([w1[0], s.s[0], s.u[0]], [3 + d1, 0.25, 0.125], rtol=1e-15)
    w2, s = opt.step(w1, np.array([2.0]), s)
    d2 = -math.sqrt(0.125 + 0.25) / math.sqrt(19 / 16 + 0.25) * 2
    np.testing.assert_allclose([w2[0], s.s[0], s.u[0]], [3 + d1 + d2, 19 / 16, 0.75 / 8 + 0.25 * d2**2],
                               rtol=1e-15)


def test_lr_scales_the_applied_step_but_u_keeps_the_unscaled_step():
    g = np.array([0.5, -2.0])
    one, half = refopt.adadelta(), refopt.adadelta(lr=0.5)
    w1, s1 = one.step(np.zeros(2), g, one.init(np.zeros(2)))
    wh, sh = half.step(np.zeros(2), g, half.init(np.zeros(2)))
    np.testing.assert_array_equal(wh, 0.5 * w1)
    np.testing.assert_array_equal(sh.u, s1.u)


def _stream(seed, steps, n, scale):
    rng = np.random.default_rng(seed)
    return scale * rng.standard_normal((steps, n)) * (rng.random((steps, n)) < 0.8)


def _steps(opt, grads):
    w = np.zeros(grads.shape[1])
    s = opt.init(w)
    out, us = [], [s.u]
    for g in grads:
        w_new, s = opt.step(w, g, s)
        out.append(w_new - w)
        us.append(s.u)
        w = w_new
    return np.array(out), us


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 30), k=st.integers(-20, 20),
       beta2=st.sampled_from([0.5, 0.9, 0.95]))
def test_units_gradients_times_c_and_eps_times_c2_give_steps_times_c(seed, steps, k, beta2):
    """The units argument made exact: with g -> c g and eps -> c^2 eps, s -> c^2 s and
    u -> c^2 u, so every step is multiplied by c. c = 2^k keeps every rounding identical, so
    the equality is exact (bit for bit, up to the final w_t - w_{t-1} subtraction, done on
    both sides alike)."""
    c, eps = 2.0**k, 1e-6
    grads = _stream(seed, steps, 3, 1.0)
    base, _ = _steps(refopt.adadelta(beta2=beta2, eps=eps), grads)
    scaled, _ = _steps(refopt.adadelta(beta2=beta2, eps=eps * c * c), c * grads)
    np.testing.assert_array_equal(scaled, c * base)


def test_with_one_shared_eps_the_first_step_ignores_the_problem_scale():
    """Zeiler's claim that Delta has the units of w holds only where eps is negligible: u_0 = 0,
    so Delta_1 = -sqrt(eps) g/sqrt((1-rho) g^2 + eps) ~ -sqrt(eps/(1-rho)) sign(g), the same
    absolute size whether w is measured in metres or kilometres. Rescaling the problem
    (w = c y, so dL/dy = c dL/dw) should divide the step in y by c; it does not."""
    eps, rho = 1e-6, 0.95
    g_w = np.array([3.0])
    for c in (1e-3, 1.0, 1e3):
        opt = refopt.adadelta(beta2=rho, eps=eps)
        y1, _ = opt.step(np.zeros(1), c * g_w, opt.init(np.zeros(1)))
        expect = -math.sqrt(eps) * c * 3.0 / math.sqrt((1 - rho) * (c * 3.0) ** 2 + eps)
        np.testing.assert_allclose(y1, [expect], rtol=1e-15)
    # at c = 1 and c = 1e3 the step in y is ~sqrt(eps/(1-rho)) = 4.5e-3 both times, not 1000x apart
    big = -math.sqrt(eps) * 3e3 / math.sqrt((1 - rho) * 9e6 + eps)
    one = -math.sqrt(eps) * 3.0 / math.sqrt((1 - rho) * 9.0 + eps)
    assert abs(big / one - 1) < 1e-4


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 30), scale=st.sampled_from([1e-4, 1.0, 1e4]),
       beta2=st.sampled_from([0.5, 0.9, 0.95]))
def test_step_bounded_by_past_step_rms(seed, steps, scale, beta2):
    """s_t >= (1-rho) g_t^2, so |Delta_t| <= sqrt(u_{t-1} + eps)/sqrt(1-rho), for every input."""
    eps = 1e-6
    grads = _stream(seed, steps, 4, scale)
    deltas, us = _steps(refopt.adadelta(beta2=beta2, eps=eps), grads)
    for d, u_prev in zip(deltas, us):
        bound = np.sqrt(u_prev + eps) / math.sqrt(1 - beta2)
        assert np.all(np.abs(d) <= bound * (1 + 1e-12))
