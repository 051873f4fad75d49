"""Every keras flavor against the installed ``keras.optimizers`` class it is named after.

keras 3.15.1 on the JAX backend with x64 and floatx float64 (the adapter sets these for its
own calls only: ``refopt.oracle.adapters``), stepped by its jitted ``stateless_apply``. As in
``test_torch.py``: 25 steps of ``refopt.oracle.mixed_gradients`` (dense, mostly-zero and
spiking steps) in float64 from the same params, and the update of every step must agree to
1e-10 relative. Measured worst 2.5e-12 (AdamW at its defaults: the update is Adam's step
plus the small decay lr*wd*w, which keras rounds as w - w*wd*lr), the rest at 3e-13 or below
(Adafactor 1e-14 with keras's float64 means, see ``float64_mean``), so 1e-10 leaves room for
platform rounding and XLA fusion while a convention slip (the paper's eps for eps-hat, eps
inside AdaMax's max) parts far above it (``test_perturbations_are_caught``). Every non-default flag (nesterov,
centered, amsgrad, weight_decay, momentum, initial_accumulator_value, relative_step) appears
in at least one case.
"""
import os

import numpy as np
import pytest

from refopt import flavors
from refopt.flavors import keras as flavor
from refopt.oracle import compare, mixed_gradients
from refopt.oracle.adapters import keras_on_jax

STEPS = 25
RTOL = 1e-10

CASES = [
    ("SGD", {}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9}),
    ("SGD", {"learning_rate": 0.05, "momentum": 0.8, "nesterov": True, "weight_decay": 0.1}),
    ("RMSprop", {}),
    ("RMSprop", {"learning_rate": 0.01, "rho": 0.95, "centered": True, "epsilon": 1e-6}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.9, "weight_decay": 0.01}),
    ("RMSprop", {"learning_rate": 0.01, "momentum": 0.5, "centered": True, "epsilon": 1e-3}),
    ("Adagrad", {}),
    ("Adagrad", {"learning_rate": 0.05, "initial_accumulator_value": 0.0, "epsilon": 1e-4,
                 "weight_decay": 0.01}),
    ("Adadelta", {}),
    ("Adadelta", {"learning_rate": 1.0, "rho": 0.9, "epsilon": 1e-6, "weight_decay": 0.01}),
    ("Adam", {}),
    ("Adam", {"learning_rate": 1e-2, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-4, "amsgrad": True}),
    ("Adam", {"learning_rate": 1e-2, "weight_decay": 0.1}),
    ("AdamW", {}),
    ("AdamW", {"learning_rate": 1e-2, "weight_decay": 0.1, "amsgrad": True, "epsilon": 1e-5}),
    ("Adamax", {}),
    ("Adamax", {"learning_rate": 1e-2, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-3, "weight_decay": 0.01}),
    ("Nadam", {}),
    ("Nadam", {"learning_rate": 1e-2, "beta_1": 0.95, "beta_2": 0.99, "epsilon": 1e-5, "weight_decay": 0.01}),
    ("Lion", {}),
    ("Lion", {"learning_rate": 1e-3, "beta_1": 0.95, "beta_2": 0.98, "weight_decay": 0.1}),
    ("Lamb", {}),
    ("Lamb", {"learning_rate": 1e-2, "beta_1": 0.8, "beta_2": 0.99, "epsilon": 1e-6, "weight_decay": 0.1}),
    ("Adafactor", {}),
    ("Adafactor", {"learning_rate": 0.5, "beta_2_decay": -0.5, "epsilon_1": 1e-20, "epsilon_2": 1e-2,
                   "clip_threshold": 0.5, "relative_step": False, "weight_decay": 0.01}),
]

# a matrix, a vector and a rank-3 leaf (Adafactor factors the last two axes per matrix)
PARAMS = {"w": (5, 4), "b": (4,), "k": (2, 3, 3)}


def _run(name, kwargs, rtol=RTOL):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in PARAMS.items()}
    grads = mixed_gradients(params, STEPS, seed=1)
    ours = flavors.attr_of(flavor, name)(**kwargs)
    return compare(ours, flavor.framework(name, **kwargs), params, grads, rtol=rtol)


@pytest.fixture
def float64_mean(monkeypatch):
    """keras 3.15.1's JAX ``ops.mean`` accumulates in ``result_type(x.dtype, "float32")``,
    which Keras's promotion makes float32 even for float64 input (see
    ``test_keras_mean_of_float64_is_float32_accurate``; keras-team/keras#23223 reports the
    same 32-bit demotion by keras's ``result_type`` for other ops): Adafactor's row/column
    means and RMS then carry float32 rounding. Patched to the input's dtype, Keras's Adafactor
    is compared in float64 like the rest; unpatched it is compared at float32's level below."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax.numpy as jnp
    import keras.src.backend.jax.numpy as knp
    original = knp.mean

    def mean(x, axis=None, keepdims=False):
        x = knp.convert_to_tensor(x)
        if x.dtype == jnp.float64:
            return jnp.mean(x, axis=axis, keepdims=keepdims)
        return original(x, axis=axis, keepdims=keepdims)

    monkeypatch.setattr(knp, "mean", mean)


@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{sorted(k)}" for n, k in CASES])
def test_flavor_matches_keras(name, kwargs, float64_mean):
    # only Adafactor calls ops.mean; the patch is a no-op for the others
    report = _run(name, kwargs)
    assert report.ok, str(report)


def test_adafactor_matches_unpatched_keras_to_float32_rounding():
    # measured worst 1.35e-7 (float32's unit roundoff is 6e-8, and the means enter V-hat
    # through a product and a quotient, and the RMS of w and of U); 1e-6 bounds that
    for kwargs in (CASES[-2][1], CASES[-1][1]):
        report = _run("Adafactor", kwargs, rtol=1e-6)
        assert report.ok, str(report)
        assert report.max_update_rel > 1e-9  # the float32 accumulation is really there


def test_keras_mean_of_float64_is_float32_accurate():
    # the fact the patch above works around; if keras fixes it, this fails and the
    # unpatched Adafactor comparison can move to 1e-10
    import jax
    keras = keras_on_jax()
    x = np.random.default_rng(3).standard_normal(1000)
    with jax.enable_x64(True):  # as the adapters run keras: x64 in this thread only
        mean = keras.ops.mean(keras.ops.convert_to_tensor(x))
    got = float(mean)
    assert str(mean.dtype) == "float64"
    assert 1e-12 < abs(got - np.mean(x)) / np.mean(np.abs(x)) < 1e-6


@pytest.mark.parametrize("name", ["Adam", "Adamax"])
def test_perturbations_are_caught(name):
    # the paper's eps placement instead of Keras's: must part beyond 1e-8 in 25 steps
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in PARAMS.items()}
    grads = mixed_gradients(params, STEPS, seed=1)
    wrong = flavor.PERTURBATIONS["paper-eps"][name](epsilon=1e-3)
    report = compare(wrong, flavor.framework(name, epsilon=1e-3), params, grads, rtol=RTOL)
    assert report.max_update_rel > 1e-8, str(report)


def test_unsupported_keras_settings_name_themselves():
    with pytest.raises(ValueError, match="clipnorm"):
        flavor.Adam(clipnorm=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        flavor.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="beta_1"):
        flavor.Lion(beta_1=0.0)
