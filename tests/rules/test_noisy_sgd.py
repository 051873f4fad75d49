"""Noisy SGD: agreement with optax given optax's own noise (drawn here from optax's key as
optax draws it: an independent model of its key use), the seed mode's determinism, and the
variance schedule eta/t^gamma measured on the noise the rule adds."""
import jax
import numpy as np
import optax
import pytest

import refopt
from refopt.interop.optax import optax_transformation

from .independent import Check, assert_agrees

LR, ETA, GAMMA, KEY = 0.03, 0.3, 0.7, 11


class WithOptaxNoise:
    """refopt.noisy_sgd fed, at step t, the normals optax.add_noise draws at its count t:
    key_t, sample_t = split(key_{t-1}); one key per leaf = split(sample_t, n) in jax's flatten
    order; normal(key, shape, float64)."""

    def __init__(self):
        self.opt = refopt.noisy_sgd(lr=LR, eta=ETA, gamma=GAMMA)

    def init(self, params):
        return (self.opt.init(params), jax.random.key(KEY))

    def step(self, params, grads, state):
        inner, key = state
        with jax.enable_x64(True):
            key, sample = jax.random.split(key)
            leaves, treedef = jax.tree.flatten(params)
            keys = jax.random.split(sample, len(leaves))
            xi = jax.tree.unflatten(treedef, [np.asarray(jax.random.normal(k, w.shape, np.float64))
                                              for k, w in zip(keys, leaves)])
        params, inner = self.opt.step(params, grads, inner, noise=xi)
        return params, (inner, key)


# Same noise, so the only difference is rounding of w - lr*(g + sigma*xi): 1e-12 is slack.
CHECKS = [
    Check("noisy_sgd", "optax.noisy_sgd", WithOptaxNoise,
          lambda: optax_transformation(optax.noisy_sgd(LR, eta=ETA, gamma=GAMMA, key=KEY)),
          rtol=1e-12, why="eta=0.3,gamma=0.7,key=11"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_step_by_hand_with_given_noise():
    opt = refopt.noisy_sgd(lr=0.5, eta=4.0, gamma=1.0)
    w0, g, xi = np.array([1.0, 2.0]), np.array([0.5, -1.0]), np.array([1.0, -0.25])
    w1, s = opt.step(w0, g, opt.init(w0), noise=xi)
    np.testing.assert_array_equal(w1, w0 - 0.5 * (g + 2.0 * xi))        # sigma_1 = sqrt(4/1)
    w2, _ = opt.step(w1, g, s, noise=xi)
    np.testing.assert_allclose(w2, w1 - 0.5 * (g + np.sqrt(2.0) * xi), rtol=1e-15)  # sqrt(4/2)


def test_seed_mode_is_deterministic_and_seeded():
    w = {"a": np.zeros(3), "b": np.zeros((2, 2))}
    run = lambda seed: refopt.oracle.trajectory(refopt.noisy_sgd(seed=seed), w, [w] * 3)
    a, b, c = run(4), run(4), run(5)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x["b"], y["b"])
    assert not np.array_equal(a[0]["a"], c[0]["a"])
    assert not np.array_equal(a[0]["a"], a[1]["a"] - a[0]["a"])  # fresh noise each step


def test_noise_variance_follows_the_schedule():
    """With g = 0 and lr = 1 the step is sigma_t * xi: its sample variance over 20000 entries
    estimates eta/t^gamma (paper eq. 1) within 4 standard errors (sqrt(2/n) relative)."""
    eta, gamma, n = 0.3, 0.55, 20000
    opt = refopt.noisy_sgd(lr=1.0, eta=eta, gamma=gamma, seed=1)
    w, state = np.zeros(n), opt.init(np.zeros(n))
    for t in range(1, 6):
        new, state = opt.step(w, np.zeros(n), state)
        var = np.var(new - w)
        assert abs(var / (eta / t**gamma) - 1) < 4 * np.sqrt(2 / n), (t, var)
        w = new
