"""Schedule-Free SGD: agreement with the authors' ``SGDScheduleFreeReference`` (which keeps z, x
and y as the paper does), two steps by hand, and the paper's identities: beta = 0 is SGD on z,
c_t = 1/t makes x the uniform average of the z's, y interpolates x and z."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import pytest
import schedulefree

import refopt
from refopt.interop.torch import torch_optimizer
from refopt.rules.schedule_free_sgd import eval_params, schedule_free_sgd

from .independent import Check, assert_agrees


def in_train_mode(cls):
    """``cls`` that calls ``train()`` once built: the authors' classes refuse to step otherwise."""
    class Trained(cls):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.train()
    Trained.__name__, Trained.__module__ = cls.__name__, "schedulefree"
    return Trained


SET = dict(lr=0.3, weight_decay=0.05, warmup_steps=7, r=0.5, weight_lr_power=1.5)

# The reference keeps z, x, y explicitly in float64 and its weights as Python floats, as we do;
# the only difference is the order of the two subtractions from z (1 ulp per step), so 1e-10
# over 50 steps is ample slack (measured ~1e-15).
CHECKS = [
    Check("schedule_free_sgd", "schedulefree.SGDScheduleFreeReference",
          lambda: schedule_free_sgd(beta=0.8, **SET),
          lambda: torch_optimizer(in_train_mode(schedulefree.SGDScheduleFreeReference),
                                  momentum=0.8, **SET),
          rtol=1e-10, why="momentum=0.8,wd=0.05,warmup=7,r=0.5,p=1.5"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    # lr 0.5, beta 0.5, warmup 2: gamma_1 = 0.25, gamma_2 = 0.5; weights 0.0625, 0.25 -> c_2 = 1, c_3 = 0.8
    opt = schedule_free_sgd(lr=0.5, beta=0.5, warmup_steps=2)
    w0 = np.array([1.0, -2.0])
    y1, s = opt.step(w0, np.array([4.0, 8.0]), opt.init(w0))
    np.testing.assert_array_equal(s.z, [0.0, -4.0])       # z_2 = z_1 - 0.25 g_1
    np.testing.assert_array_equal(eval_params(s), s.z)    # c = 1: x_2 = z_2
    np.testing.assert_array_equal(y1, s.z)
    y2, s = opt.step(y1, np.array([2.0, -2.0]), s)
    np.testing.assert_array_equal(s.z, [-1.0, -3.0])      # z_3 = z_2 - 0.5 g_2
    np.testing.assert_allclose(eval_params(s), [-0.8, -3.2], rtol=1e-15)  # 0.2 x_2 + 0.8 z_3
    np.testing.assert_allclose(y2, [-0.9, -3.1], rtol=1e-15)              # 0.5 z_3 + 0.5 x_3


def _run(opt, w, gs):
    state, ys, states = opt.init(w), [], []
    for g in gs:
        w, state = opt.step(w, g, state)
        ys.append(w)
        states.append(state)
    return ys, states


grads = hnp.arrays(np.float64, (6, 3), elements=st.floats(-100, 100))
start = hnp.arrays(np.float64, (3,), elements=st.floats(-100, 100))


@settings(max_examples=40, deadline=None)
@given(w=start, gs=grads, lr=st.floats(1e-3, 2.0))
def test_beta_zero_is_sgd_on_z(w, gs, lr):
    """beta = 0: y = z, so the params take plain SGD steps y_{t+1} = y_t - lr g_t (y is formed as
    x + (z - x), one rounding from z: 1e-14 of the scale)."""
    ys, _ = _run(schedule_free_sgd(lr=lr, beta=0.0), w, gs)
    for y_prev, y, g in zip([w] + ys, ys, gs):
        np.testing.assert_allclose(y, y_prev - lr * g, rtol=0, atol=1e-14 * (1 + np.abs(y).max()))


@settings(max_examples=40, deadline=None)
@given(w=start, gs=grads, lr=st.floats(1e-3, 2.0), beta=st.floats(0.0, 0.999), p=st.sampled_from([0.0, 2.0]))
def test_constant_lr_makes_x_the_uniform_average_of_z(w, gs, lr, beta, p):
    """Constant lr, r = 0: every weight is lr^p, c_{t+1} = 1/t, so after t steps x is the plain
    mean of the z's produced by those t steps (x_1 = z_1 gets weight 0: Algorithm 1's sum starts
    at i = 1 over gamma_i). Exact in real arithmetic; 1e-12 of the scale covers the rounding of
    the recursive mean (t <= 6 steps of ~1 ulp)."""
    _, states = _run(schedule_free_sgd(lr=lr, beta=beta, weight_lr_power=p), w, gs)
    zs = np.array([s.z for s in states])
    scale = max(np.abs(zs).max(), 1.0)
    for t, s in enumerate(states, start=1):
        np.testing.assert_allclose(eval_params(s), zs[:t].mean(axis=0), rtol=0, atol=1e-12 * scale)


@settings(max_examples=40, deadline=None)
@given(w=start, gs=grads, beta=st.floats(0.0, 0.999), warm=st.integers(0, 5), r=st.floats(0, 3))
def test_y_interpolates_x_and_z(w, gs, beta, warm, r):
    """y_{t+1} = (1-beta) z_{t+1} + beta x_{t+1}: between x and z in every coordinate, and the
    average x between the extremes of the z's (a convex combination: weights >= 0, sum 1)."""
    ys, states = _run(schedule_free_sgd(lr=0.7, beta=beta, warmup_steps=warm, r=r), w, gs)
    zs = np.array([w] + [s.z for s in states])
    for y, s in zip(ys, states):
        lo, hi = np.minimum(s.x, s.z), np.maximum(s.x, s.z)
        tol = 1e-12 * (1 + np.abs(hi))
        assert np.all(y >= lo - tol) and np.all(y <= hi + tol)
        np.testing.assert_allclose(y, (1 - beta) * s.z + beta * s.x, rtol=0,
                                   atol=1e-13 * (1 + np.abs(zs).max()))
    assert np.all(states[-1].x >= zs.min(axis=0) - 1e-9) and np.all(states[-1].x <= zs.max(axis=0) + 1e-9)


def test_zero_lr_keeps_x_and_bad_warmup_is_refused():
    opt = schedule_free_sgd(lr=0.0)
    w = np.array([1.0, 2.0])
    y, s = opt.step(w, np.array([3.0, 4.0]), opt.init(w))
    np.testing.assert_array_equal(eval_params(s), w)
    for bad in (-1, 2.5, True):
        with pytest.raises(ValueError, match="warmup_steps"):
            schedule_free_sgd(warmup_steps=bad)
    assert refopt.registry.RULES["schedule_free_sgd"].factory is schedule_free_sgd
