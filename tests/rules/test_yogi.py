"""Yogi: hand-derived steps, the additive second-moment laws, and agreement with
optax.yogi and pytorch_optimizer.Yogi where their bias correction is exactly 1."""
import numpy as np
import optax
import pytest
import pytorch_optimizer
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.oracle.adapters import optax_transformation, torch_optimizer

from .independent import Check, assert_agrees

LR = 0.01

# Both frameworks bias-correct m and s (Adam style) and start both at 1e-6; the paper's
# Algorithm 2 does neither correction. With beta1 = beta2 = 0 the corrections 1 - 0^t are
# exactly 1 and m_0 drops out (m_t = g_t), so the frameworks compute this rule with
# s_0 = 1e-6; the sign update, its zero case (exact zeros in the stream), the eps placement
# and the initial accumulator are all exercised. For beta > 0 they are a different update,
# which refopt.flavors implements; it cannot be matched here without a bias-correction knob.
CHECKS = [
    Check("yogi", "optax.yogi",
          lambda: refopt.yogi(lr=LR, beta1=0.0, beta2=0.0, initial_accumulator=1e-6),
          lambda: optax_transformation(optax.yogi(LR, b1=0.0, b2=0.0)), rtol=1e-12,
          why="beta1=beta2=0, s_0=1e-6"),
    Check("yogi", "pytorch_optimizer.Yogi",
          lambda: refopt.yogi(lr=LR, beta1=0.0, beta2=0.0, initial_accumulator=1e-6),
          lambda: torch_optimizer(pytorch_optimizer.Yogi, lr=LR, betas=(0.0, 0.0)), rtol=1e-12,
          why="betas=(0,0), s_0=1e-6"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_steps_by_hand():
    # beta1 = 1/2, beta2 = 3/4, lr = 0.1, eps = 0, s_0 = 0 (Algorithm 2):
    # t=1, g=2:   m = 1,    s = 0 - 1/4 sign(0 - 4) 4 = 1,           w = 1 - 0.1 * 1/1
    # t=2, g=1:   m = 1,    s = 1 - 1/4 sign(1 - 1) 1 = 1 (no move), w -= 0.1 * 1/1
    # t=3, g=1/2: m = 3/4,  s = 1 - 1/4 * 1/4 = 15/16,               w -= 0.1 * (3/4)/sqrt(15/16)
    opt = refopt.yogi(lr=0.1, beta1=0.5, beta2=0.75, eps=0.0)
    w = np.array([1.0])
    s = opt.init(w)
    hand = [(1.0, 1.0, 0.9), (1.0, 1.0, 0.8), (0.75, 15 / 16, 0.8 - 0.1 * 0.75 / np.sqrt(15 / 16))]
    for g, (m_hand, s_hand, w_hand) in zip([2.0, 1.0, 0.5], hand):
        w, s = opt.step(w, np.array([g]), s)
        assert s.m[0] == m_hand and s.s[0] == s_hand  # dyadic: exact
        np.testing.assert_allclose(w[0], w_hand, rtol=1e-15)


def test_defaults():
    opt = refopt.yogi()
    assert opt.hyperparams == {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-3}
    assert refopt.yogi().init(np.zeros(2)).s[0] == 0.0
    assert refopt.yogi(initial_accumulator=1e-6).init(np.zeros(2, np.float32)).s.dtype == np.float32
    with pytest.raises(ValueError, match="initial_accumulator"):
        refopt.yogi(initial_accumulator=-1.0)


@given(gs=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=30),
       beta2=st.floats(0.0, 0.9999), s0=st.floats(0.0, 10.0))
def test_s_moves_by_at_most_one_minus_beta2_g_squared(gs, beta2, s0):
    """|s_t - s_{t-1}| <= (1-beta2) g_t^2 (equal unless s_{t-1} = g_t^2), towards g_t^2,
    and s_t >= 0 for all inputs: the change never depends on s's own size (Adam's does)."""
    opt = refopt.yogi(beta2=beta2, initial_accumulator=s0)
    w = np.zeros(1)
    state = opt.init(w)
    for g in gs:
        prev = state.s[0]
        w, state = opt.step(w, np.array([g]), state)
        change, g2 = state.s[0] - prev, g * g
        # the difference of two stored numbers carries their rounding: a few ulps of s
        ulps = 4e-16 * max(prev, state.s[0])
        assert abs(change) <= (1 - beta2) * g2 * (1 + 1e-12) + ulps
        assert change * (g2 - prev) >= 0          # towards g^2, never away
        assert state.s[0] >= 0.0
        if prev != g2:                            # the move is exactly (1-beta2) g^2 in size
            np.testing.assert_allclose(abs(change), (1 - beta2) * g2, rtol=1e-12, atol=ulps)


def test_effective_rate_grows_far_slower_than_adams():
    """analysis_facts (Yogi): s = 1 then g^2 = 1e-4 for 1000 steps at beta2 = 0.999: the
    effective-rate multiplier sqrt(s_0/s_t) is 1.0001 for Yogi (1.65 for Adam's EMA)."""
    opt = refopt.yogi(beta2=0.999, initial_accumulator=1.0)
    w = np.zeros(1)
    state = opt.init(w)
    for _ in range(1000):
        w, state = opt.step(w, np.array([1e-2]), state)
    np.testing.assert_allclose(np.sqrt(1.0 / state.s[0]), 1 / np.sqrt(1 - 1000 * 1e-3 * 1e-4), rtol=1e-12)
    assert round(float(np.sqrt(1.0 / state.s[0])), 4) == 1.0001
