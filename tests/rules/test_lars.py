"""LARS: agreement with optax (no decay: optax's ratio has the norm of the sum) and with
pytorch-optimizer (the paper's sum of norms, on arrays of 2 or more dimensions), the
hand-derived first steps, the zero-norm rule, and step norm = trust ratio x direction norm."""
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import LARS

import refopt
from refopt.oracle import mixed_gradients, trajectory
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees, initial_params, relative_errors

LR, MU, TC, WD = 0.5, 0.9, 0.01, 0.01
MATRICES = {"w": (5, 4), "conv": (3, 2, 2)}  # pytorch-optimizer skips LARS for ndim <= 1

# The ratio is a quotient of norms and the rest is momentum SGD: a few ulps per step.
# pytorch-optimizer keeps lr outside its buffer (equal for a constant lr, up to rounding).
CHECKS = [
    Check("lars", "optax.lars", lambda: refopt.lars(lr=LR, beta1=MU, trust_coefficient=TC),
          lambda: optax_transformation(optax.lars(LR, trust_coefficient=TC, momentum=MU)),
          rtol=1e-12, why="weight_decay=0"),
    Check("lars", "pytorch_optimizer.LARS",
          lambda: refopt.lars(lr=LR, beta1=MU, trust_coefficient=TC, weight_decay=WD),
          lambda: torch_optimizer(LARS, lr=LR, momentum=MU, trust_coefficient=TC, weight_decay=WD),
          rtol=1e-12, shapes=MATRICES, why="weight_decay=0.01, arrays of ndim >= 2"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_optax_differs_with_decay_because_its_denominator_is_the_norm_of_the_sum():
    """Not a tolerance question: ||g + wd*w|| < ||g|| + wd*||w|| changes the ratio."""
    params = initial_params(MATRICES, 0)
    grads = mixed_gradients(params, 5, seed=1)
    ours = trajectory(refopt.lars(lr=LR, beta1=MU, trust_coefficient=TC, weight_decay=0.5), params, grads)
    theirs = trajectory(optax_transformation(optax.lars(LR, weight_decay=0.5, trust_coefficient=TC,
                                                        momentum=MU)), params, grads)
    assert relative_errors(ours, theirs, params).max() > 1e-3


def test_first_two_steps_by_hand():
    # w_0 = (3, 4): ||w|| = 5; g_1 = (0, 2): ||g|| = 2; wd = 0.5: ratio = tc*5/(2 + 2.5) = tc*10/9
    lr, mu, tc, wd = 0.1, 0.5, 0.9, 0.5
    opt = refopt.lars(lr=lr, beta1=mu, trust_coefficient=tc, weight_decay=wd)
    w0, g1 = np.array([3.0, 4.0]), np.array([0.0, 2.0])
    w1, s = opt.step(w0, g1, opt.init(w0))
    v1 = lr * (0.9 * 5 / 4.5) * np.array([1.5, 4.0])  # d = g + wd*w = (1.5, 4)
    np.testing.assert_allclose(s.v, v1, rtol=1e-15)
    np.testing.assert_allclose(w1, w0 - v1, rtol=1e-15)
    g2 = np.array([1.0, 0.0])
    ratio2 = tc * np.linalg.norm(w1) / (1.0 + wd * np.linalg.norm(w1))
    w2, s = opt.step(w1, g2, s)
    np.testing.assert_allclose(w2, w1 - (mu * v1 + lr * ratio2 * (g2 + wd * w1)), rtol=1e-15)


def test_zero_norms():
    lr, tc = 0.1, 0.01
    # w = 0: ratio 1 (not 0, which would freeze a zero-initialised layer): step lr*g
    opt = refopt.lars(lr=lr, beta1=0.0, trust_coefficient=tc, weight_decay=0.5)
    w, _ = opt.step(np.zeros(2), np.array([1.0, -2.0]), opt.init(np.zeros(2)))
    np.testing.assert_array_equal(w, [-0.1, 0.2])
    # g = 0, wd = 0: 0/0 -> ratio 1, and the step is 0 anyway; no NaN
    opt0 = refopt.lars(lr=lr, beta1=0.0, trust_coefficient=tc)
    w, _ = opt0.step(np.array([1.0, 2.0]), np.zeros(2), opt0.init(np.zeros(2)))
    np.testing.assert_array_equal(w, [1.0, 2.0])
    # g = 0, wd > 0: the formula is defined, tc*||w||/(wd*||w||) = tc/wd: step lr*tc*w
    w, _ = opt.step(np.array([1.0, 2.0]), np.zeros(2), opt.init(np.zeros(2)))
    np.testing.assert_allclose(w, np.array([1.0, 2.0]) * (1 - lr * tc), rtol=1e-15)


def scaled_norm(x):
    """||x|| computed as s ||x/s||, s = max|x|: entries below ~1e-154 would square to 0."""
    s = np.abs(x).max()
    return s * np.linalg.norm(x / s) if s > 0 else 0.0


@given(w=hnp.arrays(np.float64, (4, 3), elements=st.floats(-10, 10)),
       g=hnp.arrays(np.float64, (4, 3), elements=st.floats(-10, 10)),
       wd=st.floats(0.0, 1.0), tc=st.floats(1e-3, 1.0), lr=st.floats(1e-3, 1.0))
def test_step_norm_is_trust_ratio_times_direction_norm(w, g, wd, tc, lr):
    """Without momentum, ||w_1 - w_0|| = lr * ratio * ||g + wd*w|| with the paper's ratio."""
    opt = refopt.lars(lr=lr, beta1=0.0, trust_coefficient=tc, weight_decay=wd)
    w1, _ = opt.step(w, g, opt.init(w))
    wn, gn = np.linalg.norm(w), np.linalg.norm(g)
    denom = gn + wd * wn
    ratio = tc * wn / denom if wn > 0 and denom > 0 else 1.0
    expected = lr * ratio * scaled_norm(g + wd * w)
    # w1 - w carries w's own rounding (an ulp of the largest |w| per entry, sqrt(12) of them
    # in the norm; at least the subnormal spacing 5e-324 for tiny steps), the step's
    # arithmetic a few ulps of itself; twice that sum (measured worst 0.5 of it over 500
    # draws). The weights' scale alone (1e-12 ||w||, as before) would let a ratio off by
    # 1e-6 pass when the step is 1e-6 of ||w||.
    ulp = max(np.spacing(np.abs(w).max()), 4 * np.finfo(float).smallest_subnormal)
    tol = 2 * (np.sqrt(w.size) * ulp + 1e-13 * expected)
    assert abs(scaled_norm(w1 - w) - expected) <= tol


def test_trust_ratio_bounds_the_step_relative_to_the_weights():
    """The paper's point: ||lr * ratio * (g + wd w)|| <= lr * tc * ||w|| for any gradient
    scale (triangle inequality), so a huge gradient cannot blow a layer up."""
    opt = refopt.lars(lr=1.0, beta1=0.0, trust_coefficient=0.01, weight_decay=0.1)
    w = np.arange(1.0, 7.0).reshape(2, 3)
    for scale in (1e-6, 1.0, 1e6):
        w1, _ = opt.step(w, scale * np.ones((2, 3)), opt.init(w))
        assert np.linalg.norm(w1 - w) <= 0.01 * np.linalg.norm(w) * (1 + 1e-12)


def test_a_gradient_whose_square_overflows_still_steps():
    """The LARS step lr * ||w|| / ||g|| * g does not change when g is scaled (weight decay 0,
    no momentum yet). At g * 2^600 every g_i^2 overflows float64: ||g|| was inf, the trust
    ratio 0 and the step silently 0. Now the norm is s ||g / s|| there, a few ulps from the
    plain norm, so the two steps agree to rounding (4 ulps of the step)."""
    opt = refopt.lars(weight_decay=0.0)
    w, g = np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    small, _ = opt.step(w, g, opt.init(w))
    with np.errstate(over="ignore"):
        huge, _ = opt.step(w, g * 2.0**600, opt.init(w))
    np.testing.assert_allclose(huge - w, small - w, rtol=4 * np.finfo(float).eps, atol=0)
    assert np.all(small != w)
