"""The optax catalogue flavors (b): noisy_sgd, optimistic_gradient_descent, optimistic_adam(_v2),
polyak_sgd and sm3 against the installed optax functions of the same names, 50 mixed float64
steps (x64 on), every update within 1e-10 relative (the brief's bound; the rule checks in
tests/rules/ reach 1e-12)."""
import warnings

import jax
import numpy as np
import optax
import pytest

from refopt.flavors import optax_catalogue_b as flavor
from refopt.flavors.optax_framework import framework
from refopt.oracle import compare

from ..rules.test_polyak_sgd import synthetic_loss
from .test_optax_catalogue import _ids, _problem  # the same 50-step problem (STEPS is 50 in both)

STEPS, RTOL = 50, 1e-10


def lr_schedule(count):
    return 0.05 / (1.0 + 0.1 * count)


CASES = [
    ("noisy_sgd", {"learning_rate": 0.01, "key": 3}),
    ("noisy_sgd", {"learning_rate": lr_schedule, "eta": 0.2, "gamma": 0.3, "key": 5}),
    ("optimistic_gradient_descent", {"learning_rate": 0.02}),
    ("optimistic_gradient_descent", {"learning_rate": lr_schedule, "alpha": 0.5, "beta": 2.0}),
    ("optimistic_adam", {"learning_rate": 0.01}),
    ("optimistic_adam", {"learning_rate": 0.01, "optimism": 0.05, "b1": 0.5, "nesterov": False}),
    ("optimistic_adam_v2", {"learning_rate": 0.01}),
    ("optimistic_adam_v2", {"learning_rate": lr_schedule, "alpha": 0.3, "beta": 0.7, "b2": 0.9,
                            "eps_root": 1e-12}),
    ("sm3", {"learning_rate": 0.05}),
    ("sm3", {"learning_rate": 0.05, "momentum": 0.0}),
]

@pytest.mark.parametrize("name,kwargs", CASES, ids=_ids(CASES))
def test_flavor_matches_optax(name, kwargs):
    params, grads = _problem()
    with warnings.catch_warnings(), jax.enable_x64(True):
        warnings.simplefilter("ignore", DeprecationWarning)  # optax.optimistic_adam is deprecated
        report = compare(getattr(flavor, name)(**kwargs), framework(name, **kwargs), params, grads,
                         rtol=RTOL)
    assert report.ok, str(report)


@pytest.mark.parametrize("kwargs", [{"max_learning_rate": 0.4, "f_min": 0.1, "eps": 1e-3},
                                    {"scaling": lr_schedule, "f_min": 0.3, "variant": "sps+"}])
def test_polyak_sgd_matches_optax_given_the_same_losses(kwargs):
    params, grads = _problem()
    ours = flavor.polyak_sgd(**kwargs)
    with jax.enable_x64(True):
        tx = optax.polyak_sgd(**kwargs)
        p, q, s_ours, s_theirs = params, params, ours.init(params), tx.init(params)
        for t, g in enumerate(grads, start=1):
            loss = synthetic_loss(t, g)
            p, s_ours = ours.step(p, g, s_ours, loss=loss)
            u, s_theirs = tx.update(g, s_theirs, q, value=loss)
            q = jax.tree.map(np.asarray, optax.apply_updates(q, u))
            for k in p:
                moved = max(np.max(np.abs(q[k] - params[k])), 1e-300)
                assert np.max(np.abs(p[k] - q[k])) / moved <= RTOL, (t, k)


def test_defaults_are_optax_s():
    assert flavor.sm3(0.1).hyperparams == {"lr": 0.1, "beta1": 0.9, "eps": 1e-8}
    assert flavor.optimistic_adam(0.1).hyperparams["alpha"] == 0.1
    assert flavor.optimistic_adam(0.1).hyperparams["optimism"] == 0.1
    assert flavor.optimistic_adam_v2(0.1).hyperparams["nesterov"] is True
    with pytest.raises(ValueError, match="learning_rate"):
        flavor.optimistic_adam(lr_schedule)
