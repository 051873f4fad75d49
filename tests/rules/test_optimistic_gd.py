"""Optimistic GD: agreement with optax, a hand-derived first two steps, and the paper's point
that on min_x max_y xy optimism converges where plain gradient descent-ascent spirals out."""
import numpy as np
import optax
import pytest

import refopt
from refopt.interop.optax import optax_transformation

from .independent import Check, assert_agrees

# The same two multiply-adds per entry as optax: 1e-12 is a few ulps of slack over 50 steps.
CHECKS = [
    Check("optimistic_gd", "optax.optimistic_gradient_descent",
          lambda: refopt.optimistic_gd(lr=0.03, alpha=0.7, optimism=1.6),
          lambda: optax_transformation(optax.optimistic_gradient_descent(0.03, alpha=0.7, beta=1.6)),
          rtol=1e-12, why="alpha=0.7,beta=1.6"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    opt = refopt.optimistic_gd(lr=0.5, alpha=1.0, optimism=2.0)
    w0, g1, g2 = np.array([1.0, -2.0]), np.array([2.0, 4.0]), np.array([-1.0, 1.0])
    w1, s = opt.step(w0, g1, opt.init(w0))
    np.testing.assert_array_equal(w1, w0 - 0.5 * 1.0 * g1)          # g_0 = g_1: alpha g_1
    w2, _ = opt.step(w1, g2, s)
    np.testing.assert_array_equal(w2, w1 - 0.5 * (3.0 * g2 - 2.0 * g1))


def _bilinear(opt, steps=2000):
    """min_x max_y x*y from (1, 1): the x player descends on y, the y player ascends on x, so
    the 'gradient' of the pair is (y, -x); returns the distance to the saddle (0, 0)."""
    z = np.array([1.0, 1.0])
    state = opt.init(z)
    for _ in range(steps):
        z, state = opt.step(z, np.array([z[1], -z[0]]), state)
    return float(np.hypot(*z))


def test_optimism_converges_on_bilinear_game_where_gda_spirals_out():
    # Plain GDA multiplies |z| by sqrt(1 + lr^2) each step (closed form): at lr = 0.1 over 2000
    # steps that is 1.01^(1000) * sqrt(2) ~ 2.9e4. OGD contracts (Daskalakis et al. 2018, Thm 1).
    lr, steps = 0.1, 2000
    gda = _bilinear(refopt.sgd(lr=lr), steps)
    np.testing.assert_allclose(gda, np.sqrt(2) * (1 + lr**2) ** (steps / 2), rtol=1e-9)
    ogd = _bilinear(refopt.optimistic_gd(lr=lr), steps)
    assert gda > 1e4 and ogd < 1e-3, (gda, ogd)
