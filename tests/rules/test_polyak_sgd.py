"""SPS_max: agreement with optax given the same loss stream, a step equal to
(f - f*)/(c ||g||^2) below the cap (hypothesis), the cap, and the loss as a required input."""
import jax
import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refopt
from refopt import tree

from .independent import Check, assert_agrees


def synthetic_loss(t, grads):
    """A deterministic loss for step t of the oracle's stream (which has none): a gap of
    0.3 (1 + 0.9 sin t) ||g||^2 above 0.1, so gap/||g||^2 sweeps [0.03, 0.57] (cap 0.4 bites)."""
    sq = sum(float(np.sum(np.asarray(g) ** 2)) for _, g in tree.leaves_with_paths(grads))
    return 0.1 + 0.3 * (1 + 0.9 * np.sin(t)) * sq


class Ours:
    def __init__(self):
        self.opt = refopt.polyak_sgd(max_lr=0.4, c=1.0, f_min=0.1, eps=1e-3)
        self.init = self.opt.init

    def step(self, params, grads, state):
        return self.opt.step(params, grads, state, loss=synthetic_loss(state.t + 1, grads))


class Theirs:
    """optax.polyak_sgd, called with value= as its users call it (x64 on: float64 throughout)."""

    def __init__(self):
        self.tx = optax.polyak_sgd(max_learning_rate=0.4, f_min=0.1, eps=1e-3)

    def init(self, params):
        return (0, self.tx.init(params))

    def step(self, params, grads, state):
        t, inner = state
        with jax.enable_x64(True):
            p, g = jax.tree.map(np.asarray, params), jax.tree.map(np.asarray, grads)
            updates, inner = self.tx.update(g, inner, p, value=synthetic_loss(t + 1, grads))
            new = jax.tree.map(lambda x: np.asarray(x).copy(), optax.apply_updates(p, updates))
        return new, (t + 1, inner)


# optax's step is one division and a minimum as ours; the squared norm is summed in a different
# order (jax per leaf, then over leaves): a few ulps, 1e-12 is slack.
CHECKS = [Check("polyak_sgd", "optax.polyak_sgd", Ours, Theirs, rtol=1e-12,
                why="max_lr=0.4,f_min=0.1,eps=1e-3")]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


@settings(max_examples=100, deadline=None)
@given(g=hnp.arrays(np.float64, (3, 2), elements=st.floats(-10, 10).filter(lambda x: abs(x) > 1e-3)),
       gap=st.floats(1e-3, 10.0), c=st.floats(0.05, 2.0))
def test_step_is_the_polyak_step_below_the_cap(g, gap, c):
    """Below max_lr the step is exactly gamma g with gamma = (f - f*)/(c ||g||^2) (paper eq. 5)."""
    sq = float(np.sum(g * g))
    gamma = gap / (c * sq)
    opt = refopt.polyak_sgd(max_lr=2 * gamma, c=c, f_min=1.0)
    w = np.ones((3, 2))
    w1, _ = opt.step(w, g, opt.init(w), loss=1.0 + gap)
    np.testing.assert_allclose(w1, w - ((1.0 + gap - 1.0) / (c * sq)) * g, rtol=1e-14)  # ulps
    capped = refopt.polyak_sgd(max_lr=gamma / 2, c=c, f_min=1.0)
    w2, _ = capped.step(w, g, capped.init(w), loss=1.0 + gap)
    np.testing.assert_allclose(w2, w - (gamma / 2) * g, rtol=1e-14)


def test_norm_is_over_the_whole_tree_and_loss_is_required():
    opt = refopt.polyak_sgd(max_lr=10.0, c=0.5)
    p = {"a": np.zeros(1), "b": np.zeros(1)}
    g = {"a": np.array([1.0]), "b": np.array([2.0])}                      # ||g||^2 = 5
    new, _ = opt.step(p, g, opt.init(p), loss=2.5)                        # gamma = 2.5/2.5 = 1
    np.testing.assert_array_equal(new["b"], [-2.0])
    with pytest.raises(TypeError, match="loss"):
        opt.step(p, g, opt.init(p))
    with pytest.raises(ValueError, match="loss"):
        opt.step(p, g, opt.init(p), loss=float("nan"))
    zero, _ = opt.step(p, {"a": np.zeros(1), "b": np.zeros(1)}, opt.init(p), loss=1.0)
    np.testing.assert_array_equal(zero["a"], [0.0])                       # g = 0: no step
