"""Sophia: agreement with optax.contrib.sophia (fed the same Hessian estimates), the
hand-derived first steps, h kept on steps without an estimate, and the clipping law: no
coordinate moves by more than lr (before decay) for any inputs."""
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refopt
from refopt import tree
from refopt.oracle import mixed_gradients, trajectory
from refopt.interop.optax import optax_transformation
from refopt.rules.sophia import SophiaState

from .independent import PARAMS_SHAPES, Check, assert_agrees, initial_params, relative_errors

LR, B1, B2, GAMMA, EPS, WD, K = 0.01, 0.965, 0.9, 0.05, 1e-8, 0.1, 10


def estimates(count, seed=7):
    """Hessian-diagonal estimates as Hutchinson gives them: mostly positive, some negative
    entries (an estimate of a positive number can be negative), sizes spread over a decade."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        out.append({k: 50.0 * np.abs(rng.standard_normal(s)) * np.where(rng.random(s) < 0.2, -1.0, 1.0)
                    for k, s in PARAMS_SHAPES.items()})
    return out


class FedEstimates:
    """A refopt Sophia given estimate j at step j*K + 2. optax computes its estimate on the
    steps with count % K == 0 (t = 1, K+1, ...) and folds it in after that step, so the
    estimate takes effect one step later than the paper's (before the step) order."""

    def __init__(self, opt, stream, first=2):
        self.opt, self.stream, self.first = opt, stream, first

    def init(self, params):
        return self.opt.init(params)

    def step(self, params, grads, state):
        j, r = divmod(state.t + 1 - self.first, K)
        hess = self.stream[j] if j >= 0 and r == 0 and j < len(self.stream) else None
        return self.opt.step(params, grads, state, hess=hess)


def optax_stream_estimator(stream):
    """A hessian_diagonal_fn for optax that returns the stream's estimates in turn."""
    import jax
    import jax.numpy as jnp
    with jax.enable_x64(True):  # float64 estimates, as the params (the adapter steps in x64 too)
        stacked = {k: jnp.asarray(np.stack([h[k] for h in stream])) for k in stream[0]}

    def init_fn(params):
        return jnp.zeros([], jnp.int32)

    def update_fn(updates, state, params=None, **extra):
        return jax.tree.map(lambda s: s[state], stacked), state + 1

    return optax.GradientTransformation(init_fn, update_fn)


def ours():
    return FedEstimates(refopt.sophia(lr=LR, beta1=B1, beta2=B2, gamma=GAMMA, eps=EPS, weight_decay=WD,
                                      bias_correction=True), estimates(5))


def theirs():
    """optax_transformation with a jitted update: Sophia's lax.cond retraces every eager call."""
    import jax
    tx = optax.contrib.sophia(LR, b1=B1, b2=B2, eps=EPS, weight_decay=WD, gamma=GAMMA,
                              clip_threshold=1.0, update_interval=K,
                              hessian_diagonal_fn=optax_stream_estimator(estimates(5)))
    jitted = optax.GradientTransformation(tx.init, jax.jit(tx.update))
    return optax_transformation(jitted, name="optax.contrib.sophia")


# optax's division and clip are ours; the only rounding differences are in m_hat and
# w*(1 - lr*wd) vs w - lr*(u + wd*w): ulps per step.
CHECKS = [
    Check("sophia", "optax.contrib.sophia", ours, theirs, rtol=1e-12,
          why="bias_correction=True, estimates fed one step later"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_the_optax_comparison_exercises_both_sides_of_the_clip():
    """Between 10% and 90% of coordinates unclipped after the first estimate: a wrong
    gamma, eps or clip placement would show in the comparison above."""
    params = initial_params(PARAMS_SHAPES, 0)
    grads = mixed_gradients(params, 50, seed=1)
    opt, state, fractions = ours(), None, []
    state = opt.init(params)
    for t, g in enumerate(grads, start=1):
        params, state = opt.step(params, g, state)
        if t >= 2:
            z = [np.abs(m / (1 - B1**t) / np.maximum(GAMMA * h, EPS))
                 for (_, m), (_, h) in zip(tree.leaves_with_paths(state.m), tree.leaves_with_paths(state.h))]
            fractions.append(np.mean(np.concatenate([x.ravel() for x in z]) < 1))
    assert 0.1 < np.mean(fractions) < 0.9


def test_optax_applies_an_estimate_one_step_later_than_the_paper():
    """Fed at the paper's steps (t mod K = 1, before the step) the same estimates give other
    numbers than optax: the delay in the check above is a real ordering difference."""
    paper_order = FedEstimates(refopt.sophia(lr=LR, beta1=B1, beta2=B2, gamma=GAMMA, eps=EPS,
                                             weight_decay=WD, bias_correction=True), estimates(5), first=1)
    params = initial_params(PARAMS_SHAPES, 0)
    grads = mixed_gradients(params, 12, seed=1)
    errors = relative_errors(trajectory(paper_order, params, grads), trajectory(theirs(), params, grads), params)
    assert errors.max() > 1e-2


def test_first_steps_by_hand():
    # paper order: the estimate of step 1 is folded in before step 1's update
    lr, b1, b2, gamma, eps, wd = 0.1, 0.5, 0.75, 0.5, 1e-3, 0.2
    opt = refopt.sophia(lr=lr, beta1=b1, beta2=b2, gamma=gamma, eps=eps, weight_decay=wd)
    w0 = np.array([1.0, 1.0, 1.0, 1.0])
    g1 = np.array([2.0, 2.0, -8.0, 1.0])
    h1 = np.array([8.0, 1.0, 8.0, -4.0])
    w1, s = opt.step(w0, g1, opt.init(w0), hess=h1)
    # m = (1, 1, -4, 0.5); h = (2, 0.25, 2, -1); gamma*h = (1, 0.125, 1, -0.5) -> max with 1e-3
    # m/max = (1, 8, -4, 500) -> clip (1, 1, -1, 1)
    np.testing.assert_array_equal(s.h, [2.0, 0.25, 2.0, -1.0])
    np.testing.assert_allclose(w1, w0 * (1 - lr * wd) - lr * np.array([1.0, 1.0, -1.0, 1.0]), rtol=1e-15)
    # step 2 without an estimate: h is kept; m = (0.5 + 0.5*g2); g2 = (-1.5, 0, 0, 0)
    g2 = np.array([-1.5, 0.0, 0.0, 0.0])
    w2, s = opt.step(w1, g2, s)
    np.testing.assert_array_equal(s.h, [2.0, 0.25, 2.0, -1.0])
    m2 = np.array([-0.25, 0.5, -2.0, 0.25])
    step = np.clip(m2 / np.maximum(gamma * s.h, eps), -1, 1)  # (-0.25, 1, -1, 1)
    np.testing.assert_allclose(step, [-0.25, 1.0, -1.0, 1.0], rtol=1e-15)
    np.testing.assert_allclose(w2, w1 * (1 - lr * wd) - lr * step, rtol=1e-15)


def test_bias_corrected_first_step_by_hand():
    opt = refopt.sophia(lr=0.1, beta1=0.5, beta2=0.5, gamma=1.0, weight_decay=0.0, bias_correction=True)
    w1, _ = opt.step(np.zeros(1), np.array([0.25]), opt.init(np.zeros(1)), hess=np.array([1.0]))
    # m_hat = g = 0.25, h = 0.5: step 0.5
    np.testing.assert_allclose(w1, [-0.05], rtol=1e-15)


def test_hess_is_a_tree_like_params():
    opt = refopt.sophia()
    params = {"a": np.ones(2), "b": [np.ones(3)]}
    s = opt.init(params)
    with pytest.raises(ValueError, match=r"\['b'\]\[0\]"):
        opt.step(params, params, s, hess={"a": np.ones(2), "b": [np.ones(2)]})
    with pytest.raises(TypeError, match="hessian"):
        opt.step(params, params, s, hessian=params)


@given(w=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e3, 1e3)),
       g=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e6, 1e6)),
       m=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e6, 1e6)),
       h=hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e6, 1e6)),
       hess=st.none() | hnp.arrays(np.float64, (3, 4), elements=st.floats(-1e6, 1e6)),
       lr=st.floats(1e-6, 1.0), gamma=st.floats(0.0, 10.0), eps=st.floats(1e-15, 1.0),
       bias_correction=st.booleans())
def test_no_coordinate_moves_more_than_lr(w, g, m, h, hess, lr, gamma, eps, bias_correction):
    opt = refopt.sophia(lr=lr, gamma=gamma, eps=eps, weight_decay=0.0, bias_correction=bias_correction)
    w1, _ = opt.step(w, g, SophiaState(3, m, h), hess=hess)
    # w - lr*u rounds to the nearest double: allow half an ulp of w on top of lr
    assert np.all(np.abs(w1 - w) <= lr * (1 + 1e-15) + np.spacing(np.abs(w)))
