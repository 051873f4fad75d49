"""AdaGrad: steps by hand, the accumulator as a running sum, and agreement with
torch.optim.Adagrad and optax.adagrad (the latter through the eps_root and
initial_accumulator knobs)."""
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

LR = 0.05

CHECKS = [
    Check("adagrad", "torch.optim.Adagrad", lambda: refopt.adagrad(lr=LR),
          lambda: torch_optimizer(torch.optim.Adagrad, lr=LR), rtol=1e-12,
          why="eps=1e-10 outside the root, s_0=0 (both defaults)"),
    Check("adagrad", "torch.optim.Adagrad", lambda: refopt.adagrad(lr=LR, eps=1e-3, initial_accumulator=0.5),
          lambda: torch_optimizer(torch.optim.Adagrad, lr=LR, eps=1e-3, initial_accumulator_value=0.5),
          rtol=1e-12, why="initial_accumulator_value=0.5"),
    # torch's lr_decay is not a knob here: it is the schedule eta/(1 + (t-1) decay)
    Check("adagrad", "torch.optim.Adagrad",
          lambda: refopt.adagrad(lr=lambda t: LR / (1 + (t - 1) * 0.1)),
          lambda: torch_optimizer(torch.optim.Adagrad, lr=LR, lr_decay=0.1), rtol=1e-12,
          why="lr_decay=0.1 as an lr schedule"),
    # optax: eps=1e-7 inside the root and none outside, s_0 = 0.1
    Check("adagrad", "optax.adagrad",
          lambda: refopt.adagrad(lr=LR, eps=0.0, eps_root=1e-7, initial_accumulator=0.1),
          lambda: optax_transformation(optax.adagrad(LR)), rtol=1e-12,
          why="eps_root=1e-7, eps=0, initial_accumulator=0.1"),
]
# Measured worst relative errors over the 50 mixed steps: 2.5e-16..9.2e-16 (torch) and
# 5.7e-16 (optax), i.e. rounding; 1e-12 leaves room for other BLAS/CPU orderings and still fails
# at any convention difference (eps=1e-10 inside the root instead of outside already
# differs by 6e-8; torch's and optax's defaults differ by 0.9 at step 1).


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    # eps = 0, s_0 = 0: s_1 = 9, w_1 = w_0 - lr*3/3; s_2 = 9 + 16 = 25, w_2 = w_1 - lr*4/5
    opt = refopt.adagrad(lr=0.5, eps=0.0)
    w0 = np.array([1.0, -1.0])
    g1, g2 = np.array([3.0, -3.0]), np.array([4.0, 4.0])
    s = opt.init(w0)
    w1, s = opt.step(w0, g1, s)
    np.testing.assert_array_equal(s.s, [9.0, 9.0])
    np.testing.assert_array_equal(w1, [0.5, -0.5])
    w2, s = opt.step(w1, g2, s)
    np.testing.assert_array_equal(s.s, [25.0, 25.0])
    np.testing.assert_allclose(w2, [0.5 - 0.4, -0.5 - 0.4], rtol=1e-15)  # one rounding of 4/5


def test_optax_configuration_by_hand():
    # s_0 = 0.1, eps_root = 1e-7: w_1 = w_0 - lr*g/sqrt(0.1 + g^2 + 1e-7)
    opt = refopt.adagrad(lr=0.1, eps=0.0, eps_root=1e-7, initial_accumulator=0.1)
    w0, g = np.array([0.0, 2.0]), np.array([0.5, 0.0])
    w1, s = opt.step(w0, g, opt.init(w0))
    expect = w0 - 0.1 * g / np.sqrt(0.1 + g**2 + 1e-7)
    np.testing.assert_allclose(w1, expect, rtol=1e-15, atol=0)
    np.testing.assert_array_equal(s.s, [0.1 + 0.25, 0.1])


def test_zero_gradient_history_gives_zero_step_not_nan():
    # optax returns 0 where s_t = 0; with eps_root > 0 and eps = 0 this rule does too
    opt = refopt.adagrad(lr=1.0, eps=0.0, eps_root=1e-7)
    w, s = opt.step(np.ones(3), np.zeros(3), opt.init(np.ones(3)))
    np.testing.assert_array_equal(w, np.ones(3))


def test_initial_accumulator_is_validated_and_recorded():
    with pytest.raises(ValueError, match=r"initial_accumulator must be a number in \[0, inf\)"):
        refopt.adagrad(initial_accumulator=-0.1)
    with pytest.raises(ValueError, match="initial_accumulator"):
        refopt.adagrad(initial_accumulator=lambda t: 0.1)  # s_0 is a value, not a schedule
    assert refopt.adagrad(initial_accumulator=0.1).hyperparams["initial_accumulator"] == 0.1


def _stream(seed, steps, n, scale):
    rng = np.random.default_rng(seed)
    g = scale * rng.standard_normal((steps, n))
    return g * (rng.random((steps, n)) < 0.7)  # exact zeros too


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 30), s0=st.sampled_from([0.0, 0.1, 3.0]),
       scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_accumulator_is_the_running_sum_of_squares(seed, steps, s0, scale):
    grads = _stream(seed, steps, 4, scale)
    opt = refopt.adagrad(lr=0.1, initial_accumulator=s0)
    w = np.zeros(4)
    s = opt.init(w)
    total = np.full(4, s0)
    for g in grads:
        w, s = opt.step(w, g, s)
        total = total + g * g  # the same additions in the same order: equal bits
        np.testing.assert_array_equal(s.s, total)


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 30), scale=st.sampled_from([1e-3, 1.0, 1e3]))
def test_no_step_longer_than_lr_and_the_per_coordinate_lr_never_grows(seed, steps, scale):
    """|g_t| <= sqrt(s_t) with s_0 = 0, so |w_t - w_{t-1}| <= lr (eps = 0); and
    lr/(sqrt(s_t) + eps) is non-increasing because s_t is."""
    lr = 0.25  # a power of two: w - lr*x has one rounding, relative to |w| <= lr*steps
    grads = _stream(seed, steps, 4, scale)
    opt = refopt.adagrad(lr=lr, eps=0.0, eps_root=1e-300)  # eps_root: 0/0 -> 0 on all-zero history
    w = np.zeros(4)
    s = opt.init(w)
    prev_rate = np.full(4, np.inf)
    for g in grads:
        w_new, s = opt.step(w, g, s)
        assert np.all(np.abs(w_new - w) <= lr * (1 + 1e-15) + 1e-16 * np.abs(w))
        rate = lr / (np.sqrt(s.s) + 1e-10)
        assert np.all(rate <= prev_rate)
        w, prev_rate = w_new, rate
