"""Lion: agreement with optax and pytorch-optimizer, a hand-derived first step, and the
paper's property that every entry of the step is +-lr before decay."""
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import Lion

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR, B1, B2, WD = 0.01, 0.9, 0.99, 0.1

# Both implement Algorithm 2 with decoupled decay multiplied by lr; entries of the step are
# exactly +-lr, so the only rounding is in m (1 ulp) and in w * (1 - lr*wd): 1e-12 is slack.
CHECKS = [
    Check("lion", "optax.lion", lambda: refopt.lion(lr=LR, beta1=B1, beta2=B2, weight_decay=WD),
          lambda: optax_transformation(optax.lion(LR, b1=B1, b2=B2, weight_decay=WD)),
          rtol=1e-12, why="weight_decay=0.1"),
    Check("lion", "pytorch_optimizer.Lion",
          lambda: refopt.lion(lr=LR, beta1=B1, beta2=B2, weight_decay=WD),
          lambda: torch_optimizer(Lion, lr=LR, betas=(B1, B2), weight_decay=WD),
          rtol=1e-12, why="weight_decay=0.1"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    # m_0 = 0: c_1 = (1-b1) g_1, so the first step is -lr*(sign(g_1) + wd*w_0).
    lr, b1, b2, wd = 0.5, 0.5, 0.75, 0.25
    opt = refopt.lion(lr=lr, beta1=b1, beta2=b2, weight_decay=wd)
    w0 = np.array([2.0, -4.0, 1.0])
    g1 = np.array([3.0, 0.0, -1.0])
    w1, s = opt.step(w0, g1, opt.init(w0))
    np.testing.assert_array_equal(w1, [2.0 - 0.5 * (1 + 0.5), -4.0 - 0.5 * (0 - 1.0), 1.0 - 0.5 * (-1 + 0.25)])
    np.testing.assert_array_equal(s.m, [0.75, 0.0, -0.25])          # m_1 = (1-b2) g_1
    # c_2 = b1*m_1 + (1-b1) g_2 with g_2 = (-2, 1, 0.5): (-0.625, 0.5, 0.125)
    w2, s = opt.step(w1, np.array([-2.0, 1.0, 0.5]), s)
    np.testing.assert_array_equal(w2, w1 - 0.5 * (np.array([-1.0, 1.0, 1.0]) + 0.25 * w1))


@given(w=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e6, 1e6)),
       g=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e6, 1e6)),
       m=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e6, 1e6)),
       lr=st.floats(1e-6, 1.0), b1=st.floats(0.0, 0.999))
def test_every_entry_of_the_step_is_plus_or_minus_lr(w, g, m, lr, b1):
    """Without decay the step is -lr*sign(c): every entry is exactly -lr, 0 or +lr, whatever
    the gradient's scale; 0 exactly where c = b1*m + (1-b1)*g is 0."""
    opt = refopt.lion(lr=lr, beta1=b1, weight_decay=0.0)
    state = refopt.rules.lion.LionState(0, m)
    w1, _ = opt.step(w, g, state)
    c = b1 * m + (1 - b1) * g
    np.testing.assert_array_equal(w1, w - lr * np.sign(c))


def test_float32_stays_float32():
    opt = refopt.lion(lr=0.1)
    w = np.ones(3, dtype=np.float32)
    w1, s = opt.step(w, np.array([1.0, -1.0, 0.0], dtype=np.float32), opt.init(w))
    assert w1.dtype == np.float32 and s.m.dtype == np.float32
    np.testing.assert_array_equal(w1, np.array([0.9, 1.1, 1.0], dtype=np.float32))
