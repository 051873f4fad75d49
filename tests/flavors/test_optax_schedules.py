"""optax schedules as the optax flavors' ``learning_rate``, against optax itself.

optax's ``scale_by_schedule`` calls the schedule with its ``count`` (updates already applied)
and then increments it, so refopt's step t runs at count t - 1. Each case steps the flavor and
the optax alias built with the same schedule object over 200 mixed float64 steps, the whole
run inside ``jax.enable_x64(True)`` (otherwise optax's schedules compute in float32 on both
sides and a float64 comparison would measure that, not the count mapping), and requires every
update to agree to 1e-10 relative (the flavor suite's bound; both sides evaluate the same jax
schedule, so the lr itself is identical and the rest is the rules' rounding, measured below
1e-12). A count off by one is caught: the same run with ``schedule(t)`` is far off (checked).
"""
import jax
import numpy as np
import optax
import pytest

from refopt.flavors import optax as flavor
from refopt.flavors.optax_schedules import CountSchedule
from refopt.oracle import compare, mixed_gradients

STEPS, RTOL = 200, 1e-10

SCHEDULES = {
    "constant": lambda lr: optax.constant_schedule(lr),
    "exponential-staircase": lambda lr: optax.exponential_decay(lr, transition_steps=17, decay_rate=0.6,
                                                                transition_begin=5, staircase=True),
    "exponential-smooth": lambda lr: optax.exponential_decay(lr, transition_steps=40, decay_rate=0.3,
                                                             end_value=lr / 20),
    "warmup-cosine": lambda lr: optax.warmup_cosine_decay_schedule(lr / 10, lr, warmup_steps=30,
                                                                   decay_steps=150, end_value=lr / 100),
    "piecewise-constant": lambda lr: optax.piecewise_constant_schedule(lr, {20: 0.5, 60: 0.1, 150: 3.0}),
    "join": lambda lr: optax.join_schedules([optax.linear_schedule(0.0, lr, 25),
                                             optax.cosine_decay_schedule(lr, 120, alpha=0.05)], [25]),
}

ALIASES = {
    "sgd": {"learning_rate": 0.05, "momentum": 0.9},
    "adam": {"learning_rate": 1e-2},
    "adamw": {"learning_rate": 1e-2, "weight_decay": 0.1},
    "lion": {"learning_rate": 1e-3, "weight_decay": 0.1},
}


def _run(alias, kwargs, schedule, shift=0):
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    grads = mixed_gradients(params, STEPS, seed=1)
    with jax.enable_x64(True):
        ours_lr = schedule if not shift else (lambda count: schedule(count + shift))
        ours = getattr(flavor, alias)(**{**kwargs, "learning_rate": ours_lr})
        theirs = flavor.framework(alias, **{**kwargs, "learning_rate": schedule})
        return compare(ours, theirs, params, grads, rtol=RTOL)


@pytest.mark.parametrize("alias", ALIASES)
@pytest.mark.parametrize("kind", SCHEDULES)
def test_flavor_with_optax_schedule_matches_optax(alias, kind):
    kwargs = ALIASES[alias]
    report = _run(alias, kwargs, SCHEDULES[kind](kwargs["learning_rate"]))
    assert report.ok, str(report)


@pytest.mark.parametrize("alias", ["adam", "adamw", "sgd"])
def test_count_off_by_one_is_caught(alias):
    # the count one ahead (refopt's t in place of optax's count) fails at 1e-6 already
    kwargs = ALIASES[alias]
    report = _run(alias, kwargs, SCHEDULES["warmup-cosine"](kwargs["learning_rate"]), shift=1)
    assert not report.ok


def test_count_mapping_by_hand():
    seen = []  # int(count) cannot be traced: this also takes the eager fallback
    schedule = CountSchedule("learning_rate", lambda count: seen.append(int(count)) or 0.5 * int(count))
    assert [schedule(t) for t in (1, 2, 3)] == [0.0, 0.5, 1.0]
    assert seen == [0, 1, 2]  # optax's count at refopt's t = 1, 2, 3


def test_jax_array_value_becomes_float_and_bad_values_name_the_argument():
    value = CountSchedule("learning_rate", optax.linear_schedule(1.0, 0.0, 10))(6)
    assert type(value) is float and value == 0.5  # count 5 of 10: exact in binary
    opt = flavor.adam(learning_rate=lambda count: np.ones(2))
    params = np.zeros(2)
    with pytest.raises(ValueError, match="learning_rate"):
        opt.step(params, np.ones(2), opt.init(params))
    opt = flavor.adafactor(learning_rate=lambda count: -1.0, min_dim_size_to_factor=2)
    with pytest.raises(ValueError, match="lr"):
        opt.step(params, np.ones(2), opt.init(params))


@pytest.mark.parametrize("name,kwargs", [("adagrad", {}), ("rmsprop", {"momentum": 0.9}), ("lamb", {}),
                                         ("adafactor", {"min_dim_size_to_factor": 2}), ("lars", {}),
                                         ("adan", {}), ("yogi", {}), ("nadam", {})])
def test_other_aliases_take_a_schedule_as_optax_does(name, kwargs):
    # a shorter run (40 steps) that every other alias accepts an optax schedule with optax's count
    rng = np.random.default_rng(2)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    grads = mixed_gradients(params, 40, seed=3)
    schedule = optax.exponential_decay(1e-2, transition_steps=3, decay_rate=0.8, staircase=True)
    with jax.enable_x64(True):
        ours = getattr(flavor, name)(learning_rate=schedule, **kwargs)
        theirs = flavor.framework(name, learning_rate=schedule, **kwargs)
        report = compare(ours, theirs, params, grads, rtol=RTOL)
    assert report.ok, str(report)
