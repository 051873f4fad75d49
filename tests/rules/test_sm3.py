"""SM3: agreement with optax, a hand-derived first two steps on a matrix, and the paper's claim
that the accumulators upper-bound AdaGrad's per-coordinate sums of squares."""
from functools import reduce

import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refopt
from refopt.interop.optax import optax_transformation

from .independent import Check, assert_agrees

# optax computes g * rsqrt(nu + eps) (XLA's rsqrt) where we compute g / sqrt(nu + eps): 1 ulp
# per step apart, 1e-12 leaves room over 50 steps.
CHECKS = [
    Check("sm3", "optax.sm3", lambda: refopt.sm3(lr=0.05, beta1=0.6, eps=1e-8),
          lambda: optax_transformation(optax.sm3(0.05, momentum=0.6)),
          rtol=1e-12, why="momentum=0.6"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    opt = refopt.sm3(lr=1.0, beta1=0.0)
    w0 = np.zeros((2, 2))
    g1 = np.array([[3.0, 0.0], [0.0, 4.0]])
    w1, s = opt.step(w0, g1, opt.init(w0))
    # nu_1 = g1^2 (mu_0 = 0); step g/|g| = sign(g); rows' max (9, 16), columns' max (9, 16)
    np.testing.assert_array_equal(w1, -np.sign(g1))
    np.testing.assert_array_equal(s.mu[0], [9.0, 16.0])
    np.testing.assert_array_equal(s.mu[1], [9.0, 16.0])
    g2 = np.ones((2, 2))
    # nu_2(i,j) = min(row_i, col_j) + 1 = [[10, 10], [10, 17]]
    w2, _ = opt.step(w1, g2, s)
    np.testing.assert_allclose(w2, w1 - 1 / np.sqrt([[10.0, 10.0], [10.0, 17.0]]), rtol=1e-15)


@settings(max_examples=50, deadline=None)
@given(shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), steps=st.integers(1, 6),
       data=st.data())
def test_accumulators_upper_bound_adagrads_sums(shape, steps, data):
    """Anil et al. (2019), Prop. 3: nu_t(i) >= sum_s g_s(i)^2 for every entry and step, so the
    covers (min over the rows/columns through i) never undercount AdaGrad's sum."""
    elements = st.floats(-1e3, 1e3, allow_subnormal=False)
    opt = refopt.sm3(lr=0.0)
    w = np.zeros(shape)
    state, total = opt.init(w), np.zeros(shape)
    for _ in range(steps):
        g = data.draw(hnp.arrays(np.float64, shape, elements=elements))
        total = total + g * g
        _, state = opt.step(w, g, state)
        mu = state.mu
        if len(shape) == 1:
            nu = mu[0]
        else:  # the per-entry value is the min over the covers through it, >= nu_t(i)
            nu = reduce(np.minimum, [v.reshape([n if a == b else 1 for b, n in enumerate(shape)])
                                     for a, v in enumerate(mu)])
        assert np.all(nu >= total * (1 - 1e-12)), (nu, total)  # rounding of sums of 6 terms
