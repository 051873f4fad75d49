"""Yogi: hand-derived steps of its three forms, the additive second-moment laws, and agreement
with optax.yogi and pytorch_optimizer.Yogi through the library form's knobs
(``bias_correction="moments"``, both moments started at 1e-6), at their defaults and other betas."""
import math

import numpy as np
import optax
import pytest
import pytorch_optimizer
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR = 0.01


def library(**kw):
    """The form optax and pytorch-optimizer implement, as refopt.yogi's settings."""
    return refopt.yogi(initial_accumulator=1e-6, initial_momentum=1e-6, bias_correction="moments", **kw)


# 50 mixed float64 steps; measured worst relative error 5.1e-15 (operation order: sqrt(s)/sqrt(c)
# vs sqrt(s/c), lerp vs b*m + (1-b)*g). 1e-10 leaves room for rounding and fails on any
# convention: the other two forms differ from this one by >= 1e-3 of the step at these betas.
BETAS = [(0.9, 0.999), (0.5, 0.9), (0.0, 0.0)]
CHECKS = [
    *[Check("yogi", "optax.yogi", lambda b=b: library(lr=LR, beta1=b[0], beta2=b[1]),
            lambda b=b: optax_transformation(optax.yogi(LR, b1=b[0], b2=b[1])), rtol=1e-10,
            why=f"moments form, betas={b}") for b in BETAS],
    Check("yogi", "optax.yogi", lambda: library(lr=LR, eps=1e-6),
          lambda: optax_transformation(optax.yogi(LR, eps=1e-6)), rtol=1e-10, why="moments form, eps=1e-6"),
    *[Check("yogi", "pytorch_optimizer.Yogi", lambda b=b: library(lr=LR, beta1=b[0], beta2=b[1]),
            lambda b=b: torch_optimizer(pytorch_optimizer.Yogi, lr=LR, betas=b), rtol=1e-10,
            why=f"moments form, betas={b}") for b in BETAS],
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_the_other_forms_are_not_the_library_form():
    """The checks above can fail: at the default betas the authors' form (corrections in the
    step size, m_0 = 0) and the uncorrected form are far from pytorch-optimizer's."""
    for kw in (dict(), dict(bias_correction="none")):
        bad = Check("yogi", "pytorch_optimizer.Yogi", lambda kw=kw: refopt.yogi(lr=LR, **kw),
                    lambda: torch_optimizer(pytorch_optimizer.Yogi, lr=LR), rtol=1e-3)
        with pytest.raises(AssertionError, match="relative error"):
            assert_agrees(bad)


def test_first_steps_by_hand():
    # beta1 = 1/2, beta2 = 3/4, lr = 0.1, eps = 0, s_0 = m_0 = 0, no correction:
    # t=1, g=2:   m = 1,    s = 0 - 1/4 sign(0 - 4) 4 = 1,           w = 1 - 0.1 * 1/1
    # t=2, g=1:   m = 1,    s = 1 - 1/4 sign(1 - 1) 1 = 1 (no move), w -= 0.1 * 1/1
    # t=3, g=1/2: m = 3/4,  s = 1 - 1/4 * 1/4 = 15/16,               w -= 0.1 * (3/4)/sqrt(15/16)
    opt = refopt.yogi(lr=0.1, beta1=0.5, beta2=0.75, eps=0.0, initial_accumulator=0.0, bias_correction="none")
    w = np.array([1.0])
    s = opt.init(w)
    hand = [(1.0, 1.0, 0.9), (1.0, 1.0, 0.8), (0.75, 15 / 16, 0.8 - 0.1 * 0.75 / np.sqrt(15 / 16))]
    for g, (m_hand, s_hand, w_hand) in zip([2.0, 1.0, 0.5], hand):
        w, s = opt.step(w, np.array([g]), s)
        assert s.m[0] == m_hand and s.s[0] == s_hand  # dyadic: exact
        np.testing.assert_allclose(w[0], w_hand, rtol=1e-15)


def test_authors_form_by_hand():
    """The same stream in the default form, lr_t = lr sqrt(1-b2^t)/(1-b1^t):
    lr_1 = 0.1 (1/2)/(1/2) = 0.1, lr_2 = 0.1 (sqrt7/4)/(3/4) = 0.1 sqrt7/3,
    lr_3 = 0.1 (sqrt37/8)/(7/8) = 0.1 sqrt37/7; the steps are lr_t m_t/sqrt(s_t) (eps = 0)."""
    opt = refopt.yogi(lr=0.1, beta1=0.5, beta2=0.75, eps=0.0, initial_accumulator=0.0)
    w = np.array([1.0])
    s = opt.init(w)
    w1 = 1.0 - 0.1
    w2 = w1 - 0.1 * math.sqrt(7) / 3
    w3 = w2 - 0.1 * math.sqrt(37) / 7 * 0.75 / math.sqrt(15 / 16)
    for g, w_hand in zip([2.0, 1.0, 0.5], [w1, w2, w3]):
        w, s = opt.step(w, np.array([g]), s)
        np.testing.assert_allclose(w[0], w_hand, rtol=1e-15)


def test_eps_sits_differently_in_the_two_corrected_forms():
    """t = 1, g = 2, beta1 = 1/2, beta2 = 3/4, s_0 = m_0 = 0 (m = 1, s = 1), eps = 1/2, lr = 0.1.
    Authors' form: lr_1 = 0.1, step 0.1 * 1/(1 + 1/2) = 1/15. Library form: m-hat = 2, s-hat = 4,
    step 0.1 * 2/(2 + 1/2) = 0.08. With m_0 = c the first m is b1 c + (1-b1) g."""
    w0 = np.array([0.0])
    for form, step in (("step_size", 1 / 15), ("moments", 0.08)):
        opt = refopt.yogi(lr=0.1, beta1=0.5, beta2=0.75, eps=0.5, initial_accumulator=0.0,
                          bias_correction=form)
        w1, _ = opt.step(w0, np.array([2.0]), opt.init(w0))
        np.testing.assert_allclose(-w1[0], step, rtol=1e-15)
    opt = refopt.yogi(beta1=0.5, initial_momentum=0.25)
    assert opt.init(w0).m[0] == 0.25
    assert opt.step(w0, np.array([2.0]), opt.init(w0))[1].m[0] == 0.5 * 0.25 + 0.5 * 2.0


@given(gs=st.lists(st.floats(-1e3, 1e3), min_size=1, max_size=10), s0=st.floats(0.0, 1.0),
       eps=st.floats(1e-3, 1.0))
def test_the_three_forms_coincide_without_momentum(gs, s0, eps):
    """beta1 = beta2 = 0: every correction 1 - 0^t is exactly 1, so the forms are one update."""
    runs = []
    for form in ("step_size", "moments", "none"):
        opt = refopt.yogi(beta1=0.0, beta2=0.0, eps=eps, initial_accumulator=s0, initial_momentum=0.5,
                          bias_correction=form)
        w = np.ones(1)
        state = opt.init(w)
        for g in gs:
            w, state = opt.step(w, np.array([g]), state)
        runs.append(w[0])
    assert runs[0] == runs[1] == runs[2]


def test_defaults():
    opt = refopt.yogi()
    assert opt.hyperparams == {"lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-3,
                               "bias_correction": "step_size"}
    state = refopt.yogi().init(np.zeros(2))
    assert state.s[0] == 1e-6 and state.m[0] == 0.0
    assert refopt.yogi(initial_accumulator=1e-6).init(np.zeros(2, np.float32)).s.dtype == np.float32
    with pytest.raises(ValueError, match="initial_accumulator"):
        refopt.yogi(initial_accumulator=-1.0)
    with pytest.raises(ValueError, match="initial_momentum"):
        refopt.yogi(initial_momentum=-1.0)
    with pytest.raises(ValueError, match="bias_correction must be one of"):
        refopt.yogi(bias_correction="adam")


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
