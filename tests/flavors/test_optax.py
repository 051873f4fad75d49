"""Every optax flavor against the installed optax function it is named after.

As in ``test_torch.py``: 25 steps of ``refopt.oracle.mixed_gradients`` in float64 (optax's
adapter switches on jax x64), and the update of every step must agree to 1e-10 relative.
Measured worst 2.4e-13 (adamw: optax adds lr*wd*w to the step, the rule w*(lr*wd)); the
rest are at 6e-14 or below. Eager (un-jitted) optax gave up to 1.2e-11 for radam, whose
rho_t = rho_inf - 2t b2^t/(1-b2^t) subtracts numbers near 2000 to get ~5 and so magnifies
rounding: 1e-10 covers both. Every non-default flag named in the flavor module appears in
at least one case.
"""
import numpy as np
import pytest

from refopt import flavors
from refopt.flavors import optax as flavor
from refopt.flavors.optax_rules import factored_axes
from refopt.oracle import compare, mixed_gradients

STEPS = 25
RTOL = 1e-10

CASES = [
    ("sgd", {"learning_rate": 0.05}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9}),
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True}),
    ("adagrad", {"learning_rate": 0.05}),
    ("adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.5, "eps": 1e-4}),
    ("rmsprop", {"learning_rate": 0.01}),
    ("rmsprop", {"learning_rate": 0.01, "decay": 0.99, "eps_in_sqrt": False, "initial_scale": 0.1}),
    ("rmsprop", {"learning_rate": 0.01, "centered": True, "momentum": 0.9}),
    ("rmsprop", {"learning_rate": 0.01, "bias_correction": True}),
    ("rmsprop", {"learning_rate": 0.01, "bias_correction": True, "momentum": 0.9, "nesterov": True,
                 "eps_in_sqrt": False, "initial_scale": 0.1}),
    # centered + bias_correction: at t = 1 the debiased variance s/c - (gbar/c)^2 is g^2 - g^2,
    # i.e. rounding noise, so optax itself divides by ~sqrt(eps); eps = 0.1 keeps both sides
    # well-conditioned there (with eps = 1e-8 the step is 1e4 g and NaN without eps_in_sqrt)
    ("rmsprop", {"learning_rate": 0.01, "bias_correction": True, "centered": True, "eps": 0.1}),
    ("adadelta", {}),
    ("adadelta", {"learning_rate": 1.0, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.01}),
    ("adam", {"learning_rate": 1e-2}),
    ("adam", {"learning_rate": 1e-2, "b1": 0.8, "b2": 0.99, "eps_root": 1e-8}),
    ("adam", {"learning_rate": 1e-2, "eps": 1e-6, "eps_root": 1e-10, "nesterov": True}),
    ("adamw", {"learning_rate": 1e-2}),
    ("adamw", {"learning_rate": 1e-2, "weight_decay": 0.1, "eps_root": 1e-8}),
    ("adamw", {"learning_rate": 1e-2, "weight_decay": 0.1, "nesterov": True}),
    ("nadam", {"learning_rate": 1e-2}),
    ("nadam", {"learning_rate": 1e-2, "eps_root": 1e-8, "nesterov": False}),
    ("amsgrad", {"learning_rate": 1e-2}),
    ("amsgrad", {"learning_rate": 1e-2, "eps_root": 1e-8, "bias_correction_mu": False}),
    ("amsgrad", {"learning_rate": 1e-2, "bias_correction_mu": False, "bias_correction_nu": False}),
    ("adamax", {"learning_rate": 2e-3}),
    ("adamax", {"learning_rate": 1e-2, "b1": 0.8, "b2": 0.99, "eps": 1e-4}),
    ("radam", {"learning_rate": 1e-2}),
    ("radam", {"learning_rate": 1e-2, "threshold": 4.5, "eps_root": 1e-8}),
    ("radam", {"learning_rate": 1e-2, "b2": 0.99, "threshold": 6.0}),
    ("yogi", {"learning_rate": 1e-2}),
    ("yogi", {"learning_rate": 1e-2, "b1": 0.8, "b2": 0.99, "eps": 1e-6}),
    ("adabelief", {"learning_rate": 1e-2}),
    ("adabelief", {"learning_rate": 1e-2, "eps": 1e-8, "eps_root": 1e-12}),
    ("adafactor", {"learning_rate": 1e-2}),
    ("adafactor", {"learning_rate": 1e-2, "min_dim_size_to_factor": 2, "weight_decay_rate": 0.01,
                   "decay_offset": 0, "clipping_threshold": 0.5}),
    ("adafactor", {"min_dim_size_to_factor": 2, "multiply_by_parameter_scale": False,
                   "clipping_threshold": None, "decay_rate": 0.5, "eps": 1e-20}),
    ("adafactor", {"learning_rate": 1e-2, "factored": False, "momentum": 0.9}),
    ("lars", {"learning_rate": 0.1}),
    ("lars", {"learning_rate": 0.1, "weight_decay": 0.01, "trust_coefficient": 0.01, "eps": 1e-6,
              "momentum": 0.5, "nesterov": True}),
    ("lamb", {"learning_rate": 1e-2}),
    ("lamb", {"learning_rate": 1e-2, "b1": 0.8, "b2": 0.99, "eps": 1e-8, "weight_decay": 0.01}),
    ("lion", {"learning_rate": 1e-3}),
    ("lion", {"learning_rate": 1e-3, "b1": 0.95, "b2": 0.98, "weight_decay": 0.1}),
    ("adan", {"learning_rate": 1e-2}),
    ("adan", {"learning_rate": 1e-2, "b1": 0.9, "b2": 0.8, "b3": 0.95, "eps_root": 0.0,
              "weight_decay": 0.01}),
    ("contrib.muon", {"learning_rate": 0.02}),
    ("contrib.muon", {"learning_rate": 0.02, "beta": 0.9, "nesterov": False, "weight_decay": 0.01,
                      "ns_steps": 3, "ns_coeffs": (2.0, -1.5, 0.5), "eps": 1e-6}),
    ("contrib.muon", {"learning_rate": 0.02, "adam_b1": 0.8, "adam_b2": 0.99, "adam_eps_root": 1e-8,
                      "adam_weight_decay": 0.1, "adam_learning_rate": 1e-3}),
]

PARAMS = {"w": (5, 4), "b": (4,)}


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{sorted(k)}" for n, k in CASES])
def test_flavor_matches_optax(name, kwargs):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in flavor.SHAPES.get(name, PARAMS).items()}
    grads = mixed_gradients(params, STEPS, seed=1)
    ours = flavors.attr_of(flavor, name)(**kwargs)
    theirs = flavor.framework(name, **kwargs)
    report = compare(ours, theirs, params, grads, rtol=RTOL)
    assert report.ok, str(report)


def test_adafactor_factors_only_large_axes():
    # optax's rule: the two largest axes, only if the second largest is >= min_dim_size_to_factor
    assert factored_axes((5, 4), True, 128) is None
    assert factored_axes((5, 4), True, 4) == (1, 0)
    assert factored_axes((3, 7, 5), True, 2) == (2, 1)
    assert factored_axes((300, 200), False, 128) is None


def test_adadelta_without_learning_rate_ascends_as_optax_does():
    # optax.adadelta(learning_rate=None) applies scale_by_adadelta's positive multiple of g
    opt = flavor.adadelta()
    w, _ = opt.step(np.zeros(1), np.ones(1), opt.init(np.zeros(1)))
    assert w[0] > 0
    # by hand, rho = 0.9, eps = 1e-6, u_0 = 0, g = 1: +sqrt(0 + eps)/sqrt((1-rho) g^2 + eps) g;
    # 1e-15: two square roots and a quotient
    np.testing.assert_allclose(w[0], np.sqrt(1e-6) / np.sqrt(0.1 + 1e-6), rtol=1e-15)


def test_unsupported_optax_settings_name_themselves():
    with pytest.raises(ValueError, match="eps_root"):
        flavor.lamb(1e-3, eps_root=1e-8)
    with pytest.raises(ValueError, match="ns_coeffs"):
        flavor.contrib.muon(0.02, ns_coeffs="polar_express")  # optax 0.2.8 ships standard and dion
    with pytest.raises(ValueError, match="mask"):
        flavor.adamw(1e-3, mask={"w": True})
