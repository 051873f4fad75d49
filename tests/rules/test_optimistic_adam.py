"""Optimistic Adam: agreement with optax's two interfaces (v2 and the deprecated one, which
puts the learning rate inside the optimistic combination), and a hand-derived first two steps."""
import warnings

import numpy as np
import optax
import pytest

import refopt
from refopt.interop.optax import optax_transformation

from .independent import Check, assert_agrees


def _old(*args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return optax.optimistic_adam(*args, **kwargs)


# Same operations as optax's scale_by_adam + scale_by_optimistic_gradient; the bias corrections
# are float64 in both (x64): a few ulps over 50 steps, 1e-12 is slack.
CHECKS = [
    Check("optimistic_adam", "optax.optimistic_adam_v2",
          lambda: refopt.optimistic_adam(lr=0.02, alpha=0.5, optimism=1.5, beta1=0.8, beta2=0.99, eps=1e-6,
                                         eps_root=1e-10, nesterov=True),
          lambda: optax_transformation(optax.optimistic_adam_v2(
              0.02, alpha=0.5, beta=1.5, b1=0.8, b2=0.99, eps=1e-6, eps_root=1e-10)),
          rtol=1e-12, why="nesterov,alpha=0.5,beta=1.5"),
    Check("optimistic_adam", "optax.optimistic_adam",
          lambda: refopt.optimistic_adam(lr=1.0, alpha=0.01, optimism=0.03, beta1=0.7, nesterov=False),
          lambda: optax_transformation(_old(0.01, 0.03, b1=0.7, nesterov=False)),
          rtol=1e-12, why="optimism=0.03,no-nesterov"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    # beta1 = 0.5, beta2 = 0.75, eps = 0: r_1 = g_1/|g_1| = sign(g_1); the first step is -lr*alpha*r_1.
    opt = refopt.optimistic_adam(lr=0.5, alpha=1.0, optimism=1.0, beta1=0.5, beta2=0.75, eps=0.0)
    w0, g1, g2 = np.array([1.0, 1.0]), np.array([2.0, -4.0]), np.array([2.0, 4.0])
    w1, s = opt.step(w0, g1, opt.init(w0))
    np.testing.assert_allclose(w1, w0 - 0.5 * np.sign(g1), rtol=1e-15)
    # t=2: m = (1.5, 1), s = (1.75, 7): m_hat = m/0.75 = (2, 4/3), s_hat = s/0.4375 = (4, 16),
    # r_2 = (1, 1/3); w_2 = w_1 - 0.5 (2 r_2 - r_1) = (0.5, 1.5) - 0.5 (1, 5/3) = (0, 2/3)
    w2, _ = opt.step(w1, g2, s)
    np.testing.assert_allclose(w2, [0.0, 2.0 / 3.0], rtol=1e-15, atol=1e-15)
