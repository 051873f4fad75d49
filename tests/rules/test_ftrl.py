"""FTRL-Proximal: agreement with keras's Ftrl and pytorch-optimizer's FTRL, a hand-derived first
step, and the paper's sparsity: a coordinate with |z| <= lambda_1 is exactly 0."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import FTRL

import refopt
from refopt.interop.keras import keras_on_jax, keras_optimizer
from refopt.interop.torch import torch_optimizer
from refopt.rules.ftrl import FtrlState

from .independent import Check, assert_agrees

# keras's knobs all away from their defaults; keras's l2 is half the paper's lambda_2
KERAS = dict(learning_rate=0.05, learning_rate_power=-0.2, initial_accumulator_value=0.4,
             l1_regularization_strength=0.05, l2_regularization_strength=0.15,
             l2_shrinkage_regularization_strength=0.01, beta=0.3)


def _keras_ftrl():
    # keras_optimizer builds keras under floatx = the params' dtype (float64 here), so its lr
    # variable is float64 too: the formula alone is compared (the float32 lr is the flavor's)
    return keras_optimizer(keras_on_jax().optimizers.Ftrl, **KERAS)


# Both compute the same closed form per coordinate; the only differences are rounding order
# (keras: pow(n, 0.2) and l2 + beta/(2 lr) folded; XLA fusion), a few ulps per step that the
# closed form does not accumulate (w is recomputed from z, n): measured ~1e-12, so 1e-10 for keras
# (XLA) and 1e-12 for pytorch-optimizer (the same op order as ours, eager torch).
CHECKS = [
    Check("ftrl", "keras.optimizers.Ftrl",
          lambda: refopt.ftrl(lr=0.05, offset=0.3, l1=0.05, l2=0.3, lr_power=-0.2, initial_accumulator=0.4,
                              l2_shrinkage=0.01),
          _keras_ftrl, rtol=1e-10, why="all keras knobs"),
    Check("ftrl", "pytorch_optimizer.FTRL", lambda: refopt.ftrl(lr=0.05, offset=0.5, l1=0.01, l2=0.1),
          lambda: torch_optimizer(FTRL, lr=0.05, beta=0.5, lambda_1=0.01, lambda_2=0.1),
          rtol=1e-12, why="l1,l2,beta"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_step_by_hand():
    # n_0 = z_0 = 0: n_1 = g^2, sigma_1 = |g|/alpha, z_1 = g - sigma_1 w_0,
    # w_1 = -(z_1 - sign(z_1) l1) / ((beta + |g|)/alpha + l2) where |z_1| > l1, else 0.
    # alpha = 0.5, beta = 1, l1 = 0.25, l2 = 0.5, w_0 = (1, 0, 2), g = (2, 1, 0):
    #   coordinate 0: sigma = 4, z = 2 - 4 = -2, w = 1.75 / (3/0.5 + 0.5) = 7/26
    #   coordinate 1: sigma = 2, z = 1, w = -0.75 / (2/0.5 + 0.5) = -1/6
    #   coordinate 2: g = 0: z = 0 <= l1, w = 0 (whatever w_0 was)
    opt = refopt.ftrl(lr=0.5, offset=1.0, l1=0.25, l2=0.5)
    w0 = np.array([1.0, 0.0, 2.0])
    w1, s = opt.step(w0, np.array([2.0, 1.0, 0.0]), opt.init(w0))
    np.testing.assert_allclose(w1, [7 / 26, -1 / 6, 0.0], rtol=1e-15, atol=0)  # a few ulps
    np.testing.assert_array_equal(s.z, [-2.0, 1.0, 0.0])
    np.testing.assert_array_equal(s.n, [4.0, 1.0, 0.0])


@given(z=hnp.arrays(np.float64, (3, 4), elements=st.floats(-10, 10)),
       n=hnp.arrays(np.float64, (3, 4), elements=st.floats(0, 100)),
       g=hnp.arrays(np.float64, (3, 4), elements=st.floats(-10, 10)),
       w=hnp.arrays(np.float64, (3, 4), elements=st.floats(-10, 10)),
       l1=st.floats(0.0, 5.0), offset=st.floats(0.0, 2.0))
def test_l1_makes_coordinates_exactly_zero(z, n, g, w, l1, offset):
    """The paper's sparsity: w_t = 0 exactly where |z_t| <= l1, and nonzero with z's opposite
    sign elsewhere (the minimiser of z.w + l1|w| + q/2 w^2)."""
    opt = refopt.ftrl(lr=0.1, offset=offset, l1=l1, l2=0.1)
    w1, s = opt.step(w, g, FtrlState(0, z, n))
    zeroed = np.abs(s.z) <= l1
    assert np.all(w1[zeroed] == 0.0)
    assert np.all(np.sign(w1[~zeroed]) == -np.sign(s.z[~zeroed]))


def test_a_large_l1_keeps_every_weight_at_zero():
    # |z_t| <= t * max|g| + ...: with l1 above every |z| the whole run stays exactly at 0
    opt = refopt.ftrl(lr=0.1, l1=1e6)
    w, s = np.zeros((4, 3)), None
    s = opt.init(w)
    rng = np.random.default_rng(0)
    for _ in range(20):
        w, s = opt.step(w, rng.standard_normal((4, 3)), s)
    assert np.all(w == 0.0) and np.any(s.z != 0.0)


def test_no_gradient_no_division_where_keras_divides_zero_by_zero():
    # n = beta = l2 = 0 where g was always 0: the paper's first branch gives 0, no 0/0
    opt = refopt.ftrl(lr=0.1, offset=0.0, l1=0.0, l2=0.0)
    w = np.array([1.0, 2.0])
    with np.errstate(all="raise"):
        w1, _ = opt.step(w, np.array([0.5, 0.0]), opt.init(w))
    assert np.all(np.isfinite(w1)) and w1[1] == 0.0


def test_float32_stays_float32():
    opt = refopt.ftrl(lr=0.1)
    w = np.ones(3, dtype=np.float32)
    w1, s = opt.step(w, np.array([1.0, -1.0, 0.0], dtype=np.float32), opt.init(w))
    assert w1.dtype == np.float32 and s.z.dtype == np.float32 and s.n.dtype == np.float32


def test_bad_settings_name_themselves():
    for kwargs, name in [({"lr": 0.0}, "lr"), ({"lr_power": 0.5}, "lr_power"), ({"l1": -1.0}, "l1"),
                         ({"initial_accumulator": -0.1}, "initial_accumulator"),
                         ({"offset": -1.0}, "offset"), ({"l2_shrinkage": -1.0}, "l2_shrinkage")]:
        with pytest.raises(ValueError, match=name):
            refopt.ftrl(**kwargs)
