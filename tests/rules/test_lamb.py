"""LAMB: agreement with optax.lamb, a hand-derived first step, the no-bias-correction
variant, and the trust-ratio law: every step has norm lr * ||w||."""
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refopt
from refopt.interop.optax import optax_transformation

from .independent import Check, assert_agrees

LR, B1, B2, EPS, WD = 0.01, 0.9, 0.999, 1e-6, 0.01

# optax chains scale_by_adam(eps_root=0) -> add_decayed_weights -> scale_by_trust_ratio ->
# -lr: the same operations in the same order up to the association of lr*ratio*r (ulps).
CHECKS = [
    Check("lamb", "optax.lamb", lambda: refopt.lamb(lr=LR, beta1=B1, beta2=B2, eps=EPS, weight_decay=WD),
          lambda: optax_transformation(optax.lamb(LR, b1=B1, b2=B2, eps=EPS, weight_decay=WD)),
          rtol=1e-12, why="weight_decay=0.01"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_step_by_hand():
    # t = 1: m_hat = g, s_hat = g^2, r = g/(|g| + eps) + wd*w; w_0 = (3, 4), g = (2, -1), eps = 0,
    # wd = 0.5: r = (1, -1) + (1.5, 2) = (2.5, 1); ||w|| = 5, ||r|| = sqrt(7.25)
    opt = refopt.lamb(lr=0.1, eps=0.0, weight_decay=0.5)
    w0 = np.array([3.0, 4.0])
    w1, s = opt.step(w0, np.array([2.0, -1.0]), opt.init(w0))
    np.testing.assert_allclose(w1, w0 - 0.1 * 5 / np.sqrt(7.25) * np.array([2.5, 1.0]), rtol=1e-15)
    np.testing.assert_allclose(s.m, [0.2, -0.1], rtol=1e-15)
    np.testing.assert_allclose(s.s, [0.004, 0.001], rtol=1e-13)


def test_without_bias_correction_by_hand():
    # t = 1: m = 0.1 g, s = 0.001 g^2: r = 0.1 g / (sqrt(0.001)|g|) = (0.1/sqrt(0.001)) sign(g)
    opt = refopt.lamb(lr=0.1, eps=0.0, bias_correction=False)
    w0, g = np.array([3.0, 4.0]), np.array([2.0, -1.0])
    w1, _ = opt.step(w0, g, opt.init(w0))
    r = 0.1 / np.sqrt(0.001) * np.array([1.0, -1.0])
    np.testing.assert_allclose(w1, w0 - 0.1 * 5 / np.linalg.norm(r) * r, rtol=1e-15)
    with pytest.raises(ValueError, match="bias_correction"):
        refopt.lamb(bias_correction=1)


def test_zero_weights_take_the_plain_adamw_step():
    # ||w|| = 0: ratio 1 (phi(0)/||r|| would be 0 and a zero layer could never move)
    opt = refopt.lamb(lr=0.1, eps=0.0)
    w1, _ = opt.step(np.zeros(2), np.array([2.0, -3.0]), opt.init(np.zeros(2)))
    np.testing.assert_allclose(w1, [-0.1, 0.1], rtol=1e-15)


@given(w=hnp.arrays(np.float64, (3, 4), elements=st.floats(-10, 10)),
       g=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e3, 1e3)),
       wd=st.floats(0.0, 1.0), lr=st.floats(1e-4, 1.0), steps=st.integers(1, 4))
def test_every_step_has_norm_lr_times_weight_norm(w, g, wd, lr, steps):
    """Step norm = ratio * direction norm = (||w||/||r||) * ||r|| = lr * ||w||, at every step
    where both norms are positive, whatever the gradient's scale."""
    opt = refopt.lamb(lr=lr, weight_decay=wd)
    state = opt.init(w)
    for k in range(steps):
        w1, state = opt.step(w, g * (k + 1), state)
        wn = np.linalg.norm(w)
        if wn > 0 and np.linalg.norm(w1 - w) > 0:
            # two norms of rounded arrays: a few ulps of lr * ||w||
            assert abs(np.linalg.norm(w1 - w) - lr * wn) <= 1e-12 * lr * wn
        w = w1
