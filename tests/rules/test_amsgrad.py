"""AMSGrad: Reddi et al.'s Algorithm 2 by hand, the monotone denominator, the three
placements of the maximum (paper, torch, optax), and agreement with torch.optim.Adam
(amsgrad=True) and optax.amsgrad."""
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

from .independent import PARAMS_SHAPES, Check, assert_agrees, initial_params, relative_errors

LR, B1, B2, EPS = 0.01, 0.9, 0.999, 1e-8


def torch_form(lr=LR, beta1=B1, beta2=B2, eps=EPS):
    """torch: m_hat/(sqrt(s_max)/sqrt(1-b2^t) + eps)
    = [lr sqrt(1-b2^t)/(1-b1^t)] m/(sqrt(s_max) + eps sqrt(1-b2^t))."""
    return refopt.amsgrad(lr=lambda t: lr * math.sqrt(1 - beta2**t) / (1 - beta1**t), beta1=beta1,
                          beta2=beta2, eps=lambda t: eps * math.sqrt(1 - beta2**t))


CHECKS = [
    # torch corrects m and the max of raw s by the current factors: lr and eps schedules
    Check("amsgrad", "torch.optim.Adam", torch_form,
          lambda: torch_optimizer(torch.optim.Adam, lr=LR, amsgrad=True), rtol=1e-12,
          why="amsgrad=True via lr and eps schedules"),
    Check("amsgrad", "torch.optim.Adam", lambda: torch_form(beta1=0.5, beta2=0.9),
          lambda: torch_optimizer(torch.optim.Adam, lr=LR, betas=(0.5, 0.9), amsgrad=True), rtol=1e-12,
          why="amsgrad=True, betas=(0.5, 0.9)"),
    # optax with both corrections off is the paper, and this rule with no schedule
    Check("amsgrad", "optax.amsgrad", lambda: refopt.amsgrad(lr=LR),
          lambda: optax_transformation(optax.amsgrad(LR, bias_correction_mu=False, bias_correction_nu=False)),
          rtol=1e-12, why="bias_correction_mu=nu=False (the paper)"),
    # the cheat sheet's hybrid (corrected m, uncorrected max) is optax with nu uncorrected only
    Check("amsgrad", "optax.amsgrad", lambda: refopt.amsgrad(lr=lambda t: LR / (1 - B1**t)),
          lambda: optax_transformation(optax.amsgrad(LR, bias_correction_nu=False)), rtol=1e-12,
          why="bias_correction_nu=False via lr schedule"),
]
# Measured worst relative errors over the 50 mixed steps: 5.3e-16..1.1e-14 (rounding).
# optax's default (max of the corrected s_hat) cannot be matched: see the test below.


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_optax_default_max_of_corrected_moments_is_another_algorithm():
    """max_t s_t/(1-b2^t) is not (max_t s_t)/(1-b2^t): no schedule of this rule gives optax's
    default. With torch's schedules (the closest) the trajectories part by ~0.4 relative."""
    params = initial_params(PARAMS_SHAPES, seed=0)
    grads = mixed_gradients(params, 50, seed=1)
    theirs = trajectory(optax_transformation(optax.amsgrad(LR)), params, grads)
    ours = trajectory(torch_form(), params, grads)
    assert relative_errors(ours, theirs, params).max() > 0.1


def test_first_two_steps_by_hand():
    """b1 = 0.9, b2 = 0.99, eps = 0: m_1 = g/10, s_1 = g^2/100, so the first step is
    lr (1-b1)/sqrt(1-b2) sign(g) = lr sign(g) (no bias correction in the paper).
    Step 2 with g_2 = g_1/100: s_2 = 0.99 s_1 + 0.01 g_1^2/10^4 = 0.9901 s_1 < s_1, so s_max
    stays s_1; m_2 = 0.9 g_1/10 + 0.1 g_1/100 = 0.091 g_1, and the step is
    lr 0.091 g_1/(0.1 |g_1|) = 0.91 lr sign(g_1)."""
    lr = 0.5
    opt = refopt.amsgrad(lr=lr, beta1=0.9, beta2=0.99, eps=0.0)
    g1 = np.array([4.0, -0.02])
    w1, s = opt.step(np.zeros(2), g1, opt.init(np.zeros(2)))
    np.testing.assert_allclose(w1, -lr * np.sign(g1), rtol=1e-15)
    w2, s = opt.step(w1, g1 / 100, s)
    np.testing.assert_array_equal(s.s_max, (1 - 0.99) * g1 * g1)
    assert np.all(s.s < s.s_max)
    np.testing.assert_allclose(w2 - w1, -lr * 0.91 * np.sign(g1), rtol=1e-14)


def test_torch_denominator_can_shrink_the_paper_one_cannot():
    """formulas.md section 9's example, b2 = 0.999, g = 10, 0.1, 0.1, 0.1: torch's squared
    denominator s_max/(1-b2^t) is 100, 50.0, 33.4, 25.0 (it decreases, as 1 - b2^t grows);
    optax's max of corrected values stays 100; the paper's s_max stays 0.1."""
    opt = refopt.amsgrad()
    w = np.zeros(1)
    s = opt.init(w)
    torch_sq, paper = [], []
    for t, g in enumerate([10.0, 0.1, 0.1, 0.1], start=1):
        w, s = opt.step(w, np.array([g]), s)
        torch_sq.append(s.s_max[0] / (1 - 0.999**t))
        paper.append(s.s_max[0])
    np.testing.assert_allclose(torch_sq, [100, 50.0, 33.4, 25.0], rtol=2e-3)  # formulas.md's 3 digits
    # exactly: s_max stays s_1 = (1-b2) 100 = 0.1 (s_2 = 0.0999 + 1e-5 < 0.1, and s keeps
    # falling), so torch's value is 0.1/(1 - b2^t); 1e-13 is the rounding of s and the power
    closed = [0.1 / (1 - 0.999**t) for t in range(1, 5)]
    np.testing.assert_allclose(torch_sq, closed, rtol=1e-13)
    assert paper == [paper[0]] * 4 and abs(paper[0] - 0.1) < 1e-15
    s_hat = [(1 - 0.999) * 100 * 0.999 ** (t - 1) / (1 - 0.999**t) for t in range(1, 5)]
    assert max(s_hat) == s_hat[0] and abs(s_hat[0] - 100) < 1e-9  # optax's max: 100 each step


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 40), scale=st.sampled_from([1e-3, 1.0, 1e3]),
       beta2=st.sampled_from([0.5, 0.9, 0.999]))
def test_denominator_never_decreases_and_the_step_size_never_grows(seed, steps, scale, beta2):
    """s_max_t = max(s_max_{t-1}, s_t) >= s_t, non-decreasing, so for a non-increasing lr
    the per-coordinate rate lr_t/(sqrt(s_max_t) + eps) never grows (Gamma_t >= 0 in the
    paper), exactly, not only up to rounding: max and sqrt are monotone in floating point."""
    rng = np.random.default_rng(seed)
    lr = lambda t: 0.1 / math.sqrt(t)  # noqa: E731  the paper's alpha/sqrt(t)
    opt = refopt.amsgrad(lr=lr, beta2=beta2)
    w = np.zeros(5)
    s = opt.init(w)
    prev_max, prev_rate = s.s_max, np.full(5, np.inf)
    for t in range(1, steps + 1):
        g = scale * rng.standard_normal(5) * (rng.random(5) < 0.7)
        w, s = opt.step(w, g, s)
        rate = lr(t) / (np.sqrt(s.s_max) + 1e-8)
        assert np.all(s.s_max >= prev_max) and np.all(s.s_max >= s.s)
        assert np.all(rate <= prev_rate)
        prev_max, prev_rate = s.s_max, rate
