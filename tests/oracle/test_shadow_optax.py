"""refopt.oracle.shadow_optax on a real JAX training run: a small flax-free MLP with optax.adamw and
a cosine schedule, the gradients jitted, as users write it."""
import jax
import numpy as np
import optax
import pytest

import refopt
from refopt.flavors.optax_schedules import CountSchedule
from refopt.oracle.shadow_optax import shadow_optax
from tests.interop.test_optax_transformation import X, Y, loss, mlp_params

STEPS = 100
grad = jax.jit(jax.grad(loss))


def run(steps=STEPS, **options):
    schedule = optax.cosine_decay_schedule(1e-2, steps)
    sh = shadow_optax(optax.adamw, schedule, weight_decay=1e-2, **options)
    params = mlp_params()
    state = sh.init(params)
    for _ in range(steps):
        updates, state = sh.update(grad(params, X, Y), state, params)
        params = optax.apply_updates(params, updates)
    return sh, state, params


@pytest.fixture(scope="module")
def adamw_run():
    return run()


def test_optax_is_its_flavor_to_float32_rounding(adamw_run):
    sh, state, params = adamw_run
    report = sh.report(state)
    assert report.dtype == "float32" and len(report.rows) == STEPS * 4
    assert {r.param for r in report.rows} == {"['b1']", "['b2']", "['w1']", "['w2']"}
    # float32 in two orders of operations over 100 steps: measured 1.2e-5 of the distance moved
    assert report.worst("framework_vs_flavor") < 1e-4
    assert 1e-9 < report.worst("flavor_vs_float64") < 1e-3


def test_the_papers_adamw_parts_at_step_one_naming_the_convention(adamw_run):
    sh, state, _ = adamw_run
    text = str(sh.report(state))
    assert "parts at step 1" in text and "multiplies weight_decay by the learning rate" in text


def test_the_right_belief_agrees_in_float64():
    # the paper's lambda is optax's learning_rate * weight_decay, the schedule read at count = t - 1
    # as optax reads it (an int32 count, jitted: CountSchedule; eagerly with a Python int the float32
    # cosine is 1 ulp off at some counts, and the belief parts by 2e-7)
    def belief(learning_rate, weight_decay):
        lr = CountSchedule("learning_rate", learning_rate)
        return refopt.adamw(lr=lr, weight_decay=lambda t: lr(t) * weight_decay)
    sh, state, _ = run(steps=30, belief=belief)
    report = sh.report(state)
    assert report.worst("belief_vs_float64") < 1e-10, str(report)


def test_update_is_pure_and_needs_params():
    sh = shadow_optax(optax.adam, 1e-3)
    params = mlp_params()
    state = sh.init(params)
    g = grad(params, X, Y)
    _, a = sh.update(g, state, params)
    _, b = sh.update(g, state, params)
    assert len(state.shadow.rows) == 0 and len(a.shadow.rows) == len(b.shadow.rows) == 4
    for x, y in zip(jax.tree.leaves(a.shadow.same[0]), jax.tree.leaves(b.shadow.same[0])):
        assert np.array_equal(x, y)
    with pytest.raises(ValueError, match="update needs params"):
        sh.update(g, state)
    with pytest.raises(ValueError, match="no refopt flavor to shadow optax.'lbfgs'"):
        shadow_optax("lbfgs", 1e-3)
