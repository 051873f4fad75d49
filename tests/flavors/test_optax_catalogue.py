"""The optax catalogue flavors (``sign_sgd``, ``signum``, ``fromage``, ``novograd``) against the
installed optax functions they are named after, and ``nadamw`` / ``adamaxw`` (in
``refopt.flavors.optax``) shown to be compositions of ``refopt.nadam`` / ``refopt.adamax`` with
decoupled decay and checked against optax at a non-default ``weight_decay``.

As in ``test_optax.py``: mixed float64 gradients (optax's adapter switches x64 on), every update
within 1e-10 relative. Measured worst: 0 for the sign rules (each entry of the step is +-lr),
3.9e-12 for fromage at lr = 0.01 (optax adds (mult - 1) w with mult - 1 = -5e-5, a cancellation;
5e-14 at lr = 0.1), 3.8e-14 for novograd, 3.2e-13 for nadamw/adamaxw (optax adds lr*wd*w to the
step, the flavor multiplies w by 1 - lr*wd first).
Schedules: a float64 one (a Python function of the count, traced in x64) and optax's own
(float32 at optax's int32 count; optax then computes Fromage's 1/sqrt(1+lr^2) in float32 too,
which the flavor models) are matched to the same bound.
"""
import jax
import numpy as np
import optax
import pytest

import refopt
from refopt.flavors import optax as optax_flavor
from refopt.flavors import optax_catalogue as flavor
from refopt.flavors.optax_framework import framework
from refopt.flavors.torch_wrappers import decoupled
from refopt.oracle import compare, mixed_gradients

STEPS, RTOL = 50, 1e-10


def lr_schedule(count):
    """A float64 schedule (x64 is on where optax and the flavor evaluate it)."""
    return 0.05 / (1.0 + 0.1 * count)


CASES = [
    ("sign_sgd", {"learning_rate": 0.01}),
    ("sign_sgd", {"learning_rate": lr_schedule}),
    ("signum", {"learning_rate": 0.01}),
    ("signum", {"learning_rate": 0.01, "beta": 0.5}),
    ("signum", {"learning_rate": 0.01, "beta": 0.95, "accumulator_dtype": "float64"}),
    ("signum", {"learning_rate": optax.piecewise_constant_schedule(0.01, {10: 0.5, 30: 0.25})}),
    ("fromage", {"learning_rate": 0.01}),
    ("fromage", {"learning_rate": 0.1, "min_norm": 0.5}),
    ("fromage", {"learning_rate": 0.1, "min_norm": 0.0}),
    ("fromage", {"learning_rate": lr_schedule, "min_norm": 0.2}),
    ("novograd", {"learning_rate": 0.01}),
    ("novograd", {"learning_rate": 0.01, "b1": 0.8, "b2": 0.6, "eps": 1e-8, "eps_root": 1e-10,
                  "weight_decay": 0.05}),
    ("novograd", {"learning_rate": lr_schedule, "weight_decay": 0.01}),
]

PARAMS = {"w": (5, 4), "b": (4,)}


def _problem(steps=STEPS):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in PARAMS.items()}
    return params, mixed_gradients(params, steps, seed=1)


def _ids(cases):
    return [f"{n}-{sorted((k, getattr(v, '__name__', v)) for k, v in kw.items())}" for n, kw in cases]


@pytest.mark.parametrize("name,kwargs", CASES, ids=_ids(CASES))
def test_flavor_matches_optax(name, kwargs):
    params, grads = _problem()
    with jax.enable_x64(True):
        report = compare(getattr(flavor, name)(**kwargs), framework(name, **kwargs), params, grads,
                         rtol=RTOL)
    assert report.ok, str(report)


def test_defaults_are_optax_s():
    assert flavor.novograd(0.1).hyperparams == {"lr": 0.1, "beta1": 0.9, "beta2": 0.25, "eps": 1e-6,
                                                 "eps_root": 0.0, "weight_decay": 0.0}
    assert flavor.fromage(0.1).hyperparams == {"lr": 0.1, "min_norm": 1e-6}
    assert flavor.signum(0.1).hyperparams == {"lr": 0.1, "beta": 0.9}


def test_bad_settings_name_themselves():
    with pytest.raises(ValueError, match="weight_decay"):
        flavor.novograd(0.1, weight_decay=lambda count: 0.1)   # optax 0.2.8 fails on it too
    with pytest.raises(ValueError, match="min_norm"):
        flavor.fromage(0.1, min_norm=-1.0)
    with pytest.raises(ValueError, match="accumulator_dtype"):
        flavor.signum(0.1, accumulator_dtype="int8")
    with pytest.raises(ValueError, match="beta"):
        flavor.signum(0.1, beta=1.5)


# --- nadamw and adamaxw: compositions, checked against optax -------------------------------

WD = 0.05   # optax's default is 1e-4; 0.05 makes the decay 500x larger, well above the tolerance

COMPOSED = [
    ("nadamw", {"learning_rate": 1e-2, "weight_decay": WD}),
    ("nadamw", {"learning_rate": 1e-2, "b1": 0.8, "b2": 0.99, "eps_root": 1e-8, "weight_decay": WD}),
    ("adamaxw", {"learning_rate": 1e-2, "weight_decay": WD}),
    ("adamaxw", {"learning_rate": 1e-2, "b1": 0.8, "b2": 0.99, "eps": 1e-4, "weight_decay": WD}),
]


@pytest.mark.parametrize("name,kwargs", COMPOSED, ids=_ids(COMPOSED))
def test_decoupled_flavor_matches_optax(name, kwargs):
    params, grads = _problem()
    with jax.enable_x64(True):
        report = compare(getattr(optax_flavor, name)(**kwargs), framework(name, **kwargs), params,
                         grads, rtol=RTOL)
    assert report.ok, str(report)


@pytest.mark.parametrize("name,inner", [
    ("nadamw", lambda: refopt.nadam(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-8)),
    ("adamaxw", lambda: refopt.adamax(lr=1e-2, beta1=0.8, beta2=0.99, eps=1e-8)),
])
def test_decoupled_flavor_is_the_rule_after_decay(name, inner):
    """The flavor is ``w * (1 - lr*wd)`` followed by the canonical rule's own step, to the bit:
    a composition of ``refopt.nadam`` / ``refopt.adamax``, not a copy of their update."""
    params, grads = _problem(10)
    ours = getattr(optax_flavor, name)(1e-2, b1=0.8, b2=0.99, eps=1e-8, weight_decay=WD)
    rule = inner()
    by_hand = decoupled(rule, 1e-2, WD)
    a, sa, b, sb = params, ours.init(params), params, by_hand.init(params)
    for g in grads:
        a, sa = ours.step(a, g, sa)
        b, sb = by_hand.step(b, g, sb)
        # and the decay is applied to w before the rule reads it (not added to the rule's step)
        for k in params:
            np.testing.assert_array_equal(a[k], b[k])
    assert type(sa) is type(rule.init(params))


@pytest.mark.parametrize("schedule", [
    optax.linear_schedule(0.1, 0.01, 20),
    optax.exponential_decay(0.1, transition_steps=5, decay_rate=0.5),
    optax.warmup_cosine_decay_schedule(0.01, 0.1, warmup_steps=10, decay_steps=40, end_value=1e-3),
], ids=["linear", "exponential", "warmup-cosine"])
def test_fromage_with_optax_float32_schedules(schedule):
    """optax's own schedules are float32 at its int32 count, and optax then computes Fromage's
    lr_t/sqrt(1+lr_t^2) and 1/sqrt(1+lr_t^2) - 1 in float32: modelled, these agree to 1e-10 (the
    canonical rule, with the float64 factor, is 1e-7 off: checked, so the case tests something)."""
    params, grads = _problem()
    for min_norm in (0.0, 0.3):
        kwargs = {"learning_rate": schedule, "min_norm": min_norm}
        with jax.enable_x64(True):
            theirs = framework("fromage", **kwargs)
            report = compare(flavor.fromage(**kwargs), theirs, params, grads, rtol=RTOL)
            assert report.ok, str(report)
            lr = flavor.fromage(**kwargs).hyperparams["lr"]   # the same schedule, float64 factor
            canonical = compare(refopt.fromage(lr=lr, min_norm=min_norm), theirs, params, grads,
                                rtol=RTOL)
        assert not canonical.ok
