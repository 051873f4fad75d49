"""signSGD: agreement with optax and pytorch-optimizer, a hand-derived first step, and the
paper's property that every entry of the step is exactly +-lr (or 0), whatever the gradient's scale."""
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

LR = 0.01

# Both compute w - lr*sign(g): the step is exactly +-lr, so the only rounding is w - lr (the
# same operation on both sides): measured 0.0; 1e-12 is slack for a last bit.
CHECKS = [
    Check("sign_sgd", "optax.sign_sgd", lambda: refopt.sign_sgd(lr=LR),
          lambda: optax_transformation(optax.sign_sgd(LR)), rtol=1e-12, why="lr=0.01"),
    Check("sign_sgd", "pytorch_optimizer.SignSGD", lambda: refopt.sign_sgd(lr=LR),
          lambda: torch_optimizer(SignSGD, lr=LR, momentum=0.0), rtol=1e-12, why="momentum=0"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    # lr = 0.25 and w on a grid of 1/4: every value below is exact in binary
    opt = refopt.sign_sgd(lr=0.25)
    w0 = np.array([1.0, -2.0, 0.5])
    w1, s = opt.step(w0, np.array([3.0, -1e-9, 0.0]), opt.init(w0))
    np.testing.assert_array_equal(w1, [0.75, -1.75, 0.5])       # sign(0) = 0: no step there
    w2, s = opt.step(w1, np.array([-1e6, 2.0, -0.5]), s)
    np.testing.assert_array_equal(w2, [1.0, -2.0, 0.75])
    assert s.t == 2


# magnitudes 1e-100..1e100 and scales 2**k with |k| <= 300: g * 2**k is exact (no overflow or
# underflow), so the scaled gradient has exactly the same signs
ENTRIES = st.one_of(st.just(0.0), st.floats(1e-100, 1e100), st.floats(-1e100, -1e-100))


@given(g=hnp.arrays(np.float64, (3, 4), elements=ENTRIES), lr=st.floats(1e-8, 10.0),
       k=st.integers(-300, 300))
def test_every_entry_of_the_step_is_plus_or_minus_lr(g, lr, k):
    """From w = 0 the new params are the step itself: every entry exactly -lr, 0 or +lr, 0 exactly
    where g is, and the same bits for the gradient multiplied by a positive scale."""
    opt = refopt.sign_sgd(lr=lr)
    w = np.zeros_like(g)
    step, _ = opt.step(w, g, opt.init(w))
    assert set(np.unique(np.abs(step))) <= {0.0, lr}
    np.testing.assert_array_equal(step == 0.0, g == 0.0)
    np.testing.assert_array_equal(np.sign(step), -np.sign(g))
    scaled, _ = opt.step(w, g * 2.0**k, opt.init(w))
    np.testing.assert_array_equal(scaled, step)


def test_float32_stays_float32():
    opt = refopt.sign_sgd(lr=0.5)
    w = np.ones(3, dtype=np.float32)
    w1, _ = opt.step(w, np.array([2.0, -3.0, 0.0], dtype=np.float32), opt.init(w))
    assert w1.dtype == np.float32
    np.testing.assert_array_equal(w1, np.array([0.5, 1.5, 1.0], dtype=np.float32))
