"""Signum: agreement with optax and pytorch-optimizer, two hand-derived steps, and the paper's
properties: every entry of the step is +-lr, the step ignores a positive scale of the gradients,
and beta = 0 is signSGD."""
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import SignSGD

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR, BETA = 0.01, 0.8

# The step is exactly +-lr; m differs by one rounding (pytorch-optimizer's lerp), which could
# flip a sign only where m is within rounding of 0 (not in this stream): measured 0.0.
CHECKS = [
    Check("signum", "optax.signum", lambda: refopt.signum(lr=LR, beta=BETA),
          lambda: optax_transformation(optax.signum(LR, beta=BETA)), rtol=1e-12, why="beta=0.8"),
    Check("signum", "pytorch_optimizer.SignSGD", lambda: refopt.signum(lr=LR, beta=BETA),
          lambda: torch_optimizer(SignSGD, lr=LR, momentum=BETA), rtol=1e-12, why="momentum=0.8"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    # beta = 0.5, lr = 0.25: m_1 = g_1/2; m_2 = m_1/2 + g_2/2 (all exact in binary)
    opt = refopt.signum(lr=0.25, beta=0.5)
    w0 = np.array([1.0, -2.0, 0.5])
    w1, s = opt.step(w0, np.array([4.0, -2.0, 0.0]), opt.init(w0))
    np.testing.assert_array_equal(s.m, [2.0, -1.0, 0.0])
    np.testing.assert_array_equal(w1, [0.75, -1.75, 0.5])
    # g_2 = (-6, 2, 1): m_2 = (1 - 3, -0.5 + 1, 0 + 0.5) = (-2, 0.5, 0.5): every sign flips or starts
    w2, s = opt.step(w1, np.array([-6.0, 2.0, 1.0]), s)
    np.testing.assert_array_equal(s.m, [-2.0, 0.5, 0.5])
    np.testing.assert_array_equal(w2, [1.0, -2.0, 0.25])


@given(gs=hnp.arrays(np.float64, (4, 3, 2), elements=st.floats(-1e6, 1e6)),
       beta=st.floats(0.0, 0.999), k=st.integers(-60, 60))
def test_step_ignores_a_positive_scale_of_the_gradients(gs, beta, k):
    """Multiplying every gradient by 2**k (exact in binary) scales m by 2**k and leaves every
    sign, hence every step, bit for bit the same; each entry of each step is +-lr or 0."""
    opt = refopt.signum(lr=0.125, beta=beta)
    w = np.zeros(gs.shape[1:])
    a, sa = w, opt.init(w)
    b, sb = w, opt.init(w)
    for g in gs:
        new_a, sa = opt.step(a, g, sa)
        b, sb = opt.step(b, g * 2.0**k, sb)
        assert set(np.unique(np.abs(new_a - a))) <= {0.0, 0.125}
        a = new_a
    np.testing.assert_array_equal(a, b)


def test_beta_zero_is_sign_sgd():
    rng = np.random.default_rng(0)
    w = rng.standard_normal(6)
    a, b = refopt.signum(lr=0.1, beta=0.0), refopt.sign_sgd(lr=0.1)
    wa, sa, wb, sb = w, a.init(w), w, b.init(w)
    for _ in range(5):
        g = rng.standard_normal(6)
        wa, sa = a.step(wa, g, sa)
        wb, sb = b.step(wb, g, sb)
    np.testing.assert_array_equal(wa, wb)
