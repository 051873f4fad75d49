"""Fromage: agreement with optax and pytorch-optimizer, a hand-derived first step, and the
paper's closed forms: the step before the 1/sqrt(1+lr^2) factor has relative size exactly lr,
the gradient's part of the final step lr/sqrt(1+lr^2), and an orthogonal gradient keeps the norm."""
import math

import numpy as np
import optax
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import Fromage

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR = 0.05

# Each step is a few roundings of w and of lr*||w||/||g|| g; optax writes it as
# w + (-lr*mult*r*g + (mult-1)*w) (a different order, a cancellation in mult - 1 ~ -1e-3):
# measured 1.3e-14 (optax, min_norm=0.5), 4.5e-15 (optax, min_norm=0), 1.0e-15 (pytorch-optimizer).
# 1e-12 leaves room for other BLAS summation orders in the norms.
CHECKS = [
    Check("fromage", "optax.fromage", lambda: refopt.fromage(lr=LR, min_norm=0.5),
          lambda: optax_transformation(optax.fromage(LR, min_norm=0.5)), rtol=1e-12,
          why="min_norm=0.5 (clips the small-gradient steps' norms)"),
    Check("fromage", "optax.fromage", lambda: refopt.fromage(lr=LR),
          lambda: optax_transformation(optax.fromage(LR, min_norm=0.0)), rtol=1e-12,
          why="min_norm=0 (the paper's ratio)"),
    Check("fromage", "pytorch_optimizer.Fromage", lambda: refopt.fromage(lr=LR),
          lambda: torch_optimizer(Fromage, lr=LR), rtol=1e-12, why="lr=0.05"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_step_by_hand():
    # ||w|| = 3 (1, 2, 2), ||g|| = 5 (0, 3, -4): ratio 3/5, lr = 0.75: sqrt(1 + lr^2) = 1.25
    opt = refopt.fromage(lr=0.75)
    w0 = np.array([1.0, 2.0, 2.0])
    w1, _ = opt.step(w0, np.array([0.0, 3.0, -4.0]), opt.init(w0))
    # (w - 0.75 * 0.6 * g) / 1.25 = ((1, 2, 2) - (0, 1.35, -1.8)) / 1.25; 1e-15: three roundings
    np.testing.assert_allclose(w1, [0.8, 0.52, 3.04], rtol=1e-15)


def test_zero_norms_take_ratio_one():
    opt = refopt.fromage(lr=0.75)
    w0 = np.array([1.0, 2.0, 2.0])
    w1, _ = opt.step(w0, np.zeros(3), opt.init(w0))           # g = 0: only the shrink
    np.testing.assert_allclose(w1, w0 / 1.25, rtol=1e-15)
    z = np.zeros(2)
    w1, _ = opt.step(z, np.array([4.0, -8.0]), opt.init(z))   # w = 0: -lr*g / sqrt(1+lr^2)
    np.testing.assert_allclose(w1, [-2.4, 4.8], rtol=1e-15)


def test_min_norm_floors_both_norms():
    # ||w|| = 3 and ||g|| = 5e-3 < min_norm = 0.1: ratio 3/0.1 = 30 (the paper's would be 600)
    opt = refopt.fromage(lr=0.75, min_norm=0.1)
    w0 = np.array([1.0, 2.0, 2.0])
    g = np.array([0.0, 3e-3, -4e-3])
    w1, _ = opt.step(w0, g, opt.init(w0))
    np.testing.assert_allclose(w1, (w0 - 0.75 * 30 * g) / 1.25, rtol=1e-14)


MATRICES = hnp.arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3))


def _norm(x):
    return math.sqrt(float(np.sum(x * x)))


@given(w=MATRICES, g=MATRICES, lr=st.floats(1e-3, 1.0))
def test_relative_step_is_lr_before_the_factor(w, g, lr):
    """Algorithm 1's bracket moves W by lr*||W||/||g|| g, whose norm is lr*||W||; after the factor
    the gradient's part of the step, W_t - W/sqrt(1+lr^2), is lr/sqrt(1+lr^2) of ||W||. Tolerance
    1e-9: both differences cancel w against w_t (a few ulps of |w| over lr*|w|, lr >= 1e-3)."""
    assume(_norm(w) > 1e-3 and _norm(g) > 1e-3)
    opt = refopt.fromage(lr=lr)
    w1, _ = opt.step(w, g, opt.init(w))
    factor = math.sqrt(1 + lr * lr)
    assert math.isclose(_norm(w1 * factor - w) / _norm(w), lr, rel_tol=1e-9)
    assert math.isclose(_norm(w1 - w / factor) / _norm(w), lr / factor, rel_tol=1e-9)


@given(w=MATRICES, g=MATRICES, lr=st.floats(1e-3, 1.0))
def test_orthogonal_gradient_keeps_the_norm(w, g, lr):
    """With g orthogonal to W (Frobenius inner product 0), ||W - lr*||W||/||g|| g||^2 =
    ||W||^2 (1 + lr^2) by Pythagoras, so the factor 1/sqrt(1+lr^2) keeps ||W_t|| = ||W||.
    Tolerance 1e-12: a norm of a sum of 12 terms, a few roundings each."""
    assume(_norm(w) > 1e-3)
    g_perp = g - (np.sum(g * w) / np.sum(w * w)) * w
    assume(_norm(g_perp) > 1e-3 * _norm(g) and _norm(g_perp) > 1e-3)
    opt = refopt.fromage(lr=lr)
    w1, _ = opt.step(w, g_perp, opt.init(w))
    assert math.isclose(_norm(w1), _norm(w), rel_tol=1e-12)


def test_float32_stays_float32():
    opt = refopt.fromage(lr=0.75)
    w = np.array([1.0, 2.0, 2.0], dtype=np.float32)
    w1, _ = opt.step(w, np.array([0.0, 3.0, -4.0], dtype=np.float32), opt.init(w))
    assert w1.dtype == np.float32
    np.testing.assert_allclose(w1, [0.8, 0.52, 3.04], rtol=1e-6)   # float32: a few ulps
