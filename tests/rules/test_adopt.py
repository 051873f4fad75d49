"""ADOPT: agreement with optax.contrib and pytorch-optimizer, a hand-derived first two calls (the
paper's v_0 = g_0^2, then the clipped normalised gradient), and the clip's bound on every step."""
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import ADOPT

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR, B1, B2, EPS = 1e-2, 0.8, 0.99, 1e-4


def _torch_clip(t):
    return (t + 1) ** 0.25  # pytorch-optimizer clips at clip_lambda(call count) = (paper t + 1)^(1/4)


# The same four lines on both sides, float64; the clip threshold t^0.25 is one pow either way.
# Measured worst over seeds 0-2: 3.7e-15 (pytorch-optimizer), 4e-17 (optax); 1e-10 is the flavor budget.
CHECKS = [
    Check("adopt", "optax.contrib.adopt", lambda: refopt.adopt(lr=LR, beta1=B1, beta2=B2, eps=EPS),
          lambda: optax_transformation(optax.contrib.adopt(LR, b1=B1, b2=B2, eps=EPS)),
          rtol=1e-10, why="clipped"),
    Check("adopt", "optax.contrib.adopt", lambda: refopt.adopt(lr=LR, beta1=B1, beta2=B2, eps=EPS, clip=None),
          lambda: optax_transformation(optax.contrib.adopt(LR, b1=B1, b2=B2, eps=EPS, use_clipping=False)),
          rtol=1e-10, why="unclipped"),
    Check("adopt", "pytorch_optimizer.ADOPT",
          lambda: refopt.adopt(lr=LR, beta1=B1, beta2=B2, eps=EPS, clip=_torch_clip),
          lambda: torch_optimizer(ADOPT, lr=LR, betas=(B1, B2), eps=EPS), rtol=1e-10, why="clip (t+1)^0.25"),
    Check("adopt", "pytorch_optimizer.ADOPT",
          lambda: refopt.adopt(lr=LR, beta1=B1, beta2=B2, eps=EPS, clip=None),
          lambda: torch_optimizer(ADOPT, lr=LR, betas=(B1, B2), eps=EPS, clip_lambda=None),
          rtol=1e-10, why="unclipped"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_call_sets_v0_to_g0_squared_and_the_second_uses_it():
    # Algorithm: v_0 = g_0^2 before any update; then u_1 = clip(g_1 / max(sqrt(v_0), eps), 1^(1/4) = 1),
    # m_1 = (1-b1) u_1, w_1 = w_0 - lr m_1, v_1 = b2 v_0 + (1-b2) g_1^2. All values exact in binary:
    # u_1 = (1/2, 2/4, 3/0.5 = 6 -> clipped to 1).
    lr, b1, b2 = 0.5, 0.5, 0.75
    w0, g0, g1 = np.array([1.0, -2.0, 3.0]), np.array([2.0, -4.0, 0.5]), np.array([1.0, 2.0, 3.0])
    for clip, u1 in [(refopt.rules.adopt._quarter_root, [0.5, 0.5, 1.0]), (None, [0.5, 0.5, 6.0])]:
        opt = refopt.adopt(lr=lr, beta1=b1, beta2=b2, eps=1e-3, clip=clip)
        w, s = opt.step(w0, g0, opt.init(w0))
        np.testing.assert_array_equal(w, w0)                  # no update at the first call
        np.testing.assert_array_equal(s.v, [4.0, 16.0, 0.25])  # v_0 = g_0^2
        np.testing.assert_array_equal(s.m, [0.0, 0.0, 0.0])
        w, s = opt.step(w, g1, s)
        m1 = 0.5 * np.array(u1)
        np.testing.assert_array_equal(s.m, m1)
        np.testing.assert_array_equal(w, w0 - lr * m1)
        np.testing.assert_array_equal(s.v, [3.25, 13.0, 2.4375])


def test_eps_is_a_floor_of_the_root_not_added_to_it():
    opt = refopt.adopt(lr=1.0, beta1=0.0, eps=0.5, clip=None)
    w0 = np.zeros(2)
    _, s = opt.step(w0, np.array([0.25, 4.0]), opt.init(w0))
    w, _ = opt.step(w0, np.array([1.0, 1.0]), s)
    np.testing.assert_array_equal(w, [-1.0 / 0.5, -1.0 / 4.0])   # max(0.25, 0.5) = 0.5; max(4, 0.5) = 4


@settings(max_examples=40, deadline=None)
@given(gs=hnp.arrays(np.float64, (12, 5), elements=st.floats(-1e3, 1e3)), lr=st.floats(1e-4, 1.0),
       b1=st.floats(0.0, 0.99), b2=st.floats(0.0, 0.9999))
def test_clipped_steps_never_exceed_lr_times_the_threshold(gs, lr, b1, b2):
    """m_t is a convex combination of 0 and clipped u_s with |u_s| <= s^(1/4) <= t^(1/4), so every
    step is at most lr * t^(1/4) per coordinate (paper step t), whatever the gradients."""
    opt = refopt.adopt(lr=lr, beta1=b1, beta2=b2)
    w = np.zeros(5)
    state = opt.init(w)
    for call, g in enumerate(gs, start=1):
        w_new, state = opt.step(w, g, state)
        bound = lr * (call - 1) ** 0.25
        assert np.all(np.abs(w_new - w) <= bound * (1 + 1e-12))  # 1e-12: the rounding of w - lr*m
        w = w_new


def test_clip_must_be_a_function():
    with pytest.raises(ValueError, match="clip"):
        refopt.adopt(clip=1.0)
