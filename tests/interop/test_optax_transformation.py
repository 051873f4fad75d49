"""refopt.interop.optax.transformation: a refopt rule as an optax transformation, on a small JAX MLP
(no flax), under jax.jit, against the same rule on NumPy and against optax's own Adam."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import refopt
from refopt.interop.optax import transformation


def mlp_params(seed=0):
    k1, k2 = jax.random.split(jax.random.PRNGKey(seed))
    return {"w1": jax.random.normal(k1, (8, 16)) * 0.3, "b1": jnp.zeros(16),
            "w2": jax.random.normal(k2, (16, 3)) * 0.3, "b2": jnp.zeros(3)}


def loss(params, x, y):
    h = jnp.tanh(x @ params["w1"] + params["b1"])
    return jnp.mean((h @ params["w2"] + params["b2"] - y) ** 2)


X = jax.random.normal(jax.random.PRNGKey(1), (64, 8))
Y = jnp.sin(X[:, :3] * 2 - X[:, 3:6])


def train(tx, steps, params=None):
    params = mlp_params() if params is None else params
    state = tx.init(params)

    @jax.jit
    def step(params, state):
        grads = jax.grad(loss)(params, X, Y)
        updates, state = tx.update(grads, state, params)
        return optax.apply_updates(params, updates), state, grads

    history = []
    for _ in range(steps):
        params, state, grads = step(params, state)
        history.append(jax.tree.map(np.asarray, grads))
    return params, state, history


def test_under_jit_it_is_the_rule_on_numpy():
    params, state, grads = train(transformation(refopt.adam(lr=1e-2)), 50)
    # the same gradients through the rule on NumPy float32 arrays
    rule = refopt.adam(lr=1e-2)
    w = jax.tree.map(np.asarray, mlp_params())
    s = rule.init(w)
    for g in grads:
        w, s = rule.step(w, g, s)
    assert int(state.count) == 50 == s.t
    for k in w:
        # apply_updates adds back new - old: exact where a step is at most the parameter (Sterbenz);
        # biases start at 0, so their first steps can round once in float32 (measured: 2 spacings
        # of the leaf's largest entry at worst, b1)
        np.testing.assert_allclose(np.asarray(params[k]), w[k], rtol=0, atol=4 * np.spacing(np.abs(w[k]).max()))
        assert np.asarray(params[k]).dtype == np.float32


def test_and_it_trains_as_optax_adam_to_float32_rounding():
    ours, _, _ = train(transformation(refopt.adam(lr=1e-2)), 100)
    theirs, _, _ = train(optax.adam(1e-2), 100)
    for k in ours:
        scale = float(jnp.abs(theirs[k] - mlp_params()[k]).max())
        # float32 in two orders of operations, fed back through 100 gradients: measured 9.7e-6 of
        # the distance moved; a convention difference (eps in the root, no bias correction) is 1e-2+
        assert float(jnp.abs(ours[k] - theirs[k]).max()) / scale < 1e-4


def test_the_step_count_is_an_int32_that_does_not_freeze_at_2_to_the_24():
    """Past 2^24 under jit, t still advances. A schedule of t shows it: lr = 1e-3 (t - 2^24) gives
    steps of -0.5e-3 k at t = 2^24 + k (closed form). Adam's bias corrections take the same exact t:
    its updates equal the rule's on NumPy at that t, bit for bit. (At t ~ 2^24, 1 - beta^t moves by at
    most ~1/t = 6e-8 of itself a step, under float32 resolution: the schedule is the visible witness.)"""
    base = 2**24
    g = {"w": jnp.full(3, 0.5)}
    for rule in (refopt.sgd(lr=lambda t: 1e-3 * (t - base)), refopt.adam(lr=1e-3, beta2=1 - 2.0**-26)):
        tx = transformation(rule)
        params = {"w": jnp.ones(3)}
        state = tx.init(params)._replace(count=jnp.asarray(base, dtype=jnp.int32))
        update = jax.jit(tx.update)
        w = {"w": np.ones(3, np.float32)}
        s = rule.init(w)._replace(t=base)
        for k in (1, 2, 3):
            updates, state = update(g, state, params)
            new, s = rule.step(w, jax.tree.map(np.asarray, g), s)
            np.testing.assert_array_equal(np.asarray(updates["w"]), new["w"] - w["w"])
            if rule.name == "sgd":
                # w - lr g rounds to float32 near 1: within one spacing of 1 (1.2e-7); a frozen t
                # would repeat -0.5e-3, 5e-4 away from the second step's
                np.testing.assert_allclose(np.asarray(updates["w"]), -0.5e-3 * k, rtol=0, atol=np.spacing(np.float32(1)))
            w, params = new, jax.tree.map(jnp.asarray, new)
        assert state.count.dtype == jnp.int32 and int(state.count) == base + 3 == s.t
    assert float(np.float32(base) + np.float32(1)) == base   # what a float32 count would have done


def test_in_a_chain_and_its_errors():
    tx = optax.chain(optax.clip_by_global_norm(1.0), transformation(refopt.sgd(lr=0.1)))
    params = {"w": jnp.ones(2)}
    updates, _ = tx.update({"w": jnp.full(2, 10.0)}, tx.init(params), params)
    np.testing.assert_allclose(np.asarray(updates["w"]), -0.1 * 10 / np.sqrt(200) * np.ones(2), rtol=1e-6)
    t = transformation(refopt.sgd(lr=0.1))
    with pytest.raises(ValueError, match="update needs params"):
        t.update({"w": jnp.ones(2)}, t.init(params))
    with pytest.raises(TypeError, match="rule must be a refopt optimizer"):
        transformation(optax.sgd(0.1))
