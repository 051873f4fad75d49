"""keras's Ftrl and Muon flavors (refopt.flavors.keras_catalogue) against keras 3.15.1 on JAX.

As tests/flavors/test_keras.py: keras built at floatx float32 (keras's default: a float32 lr
variable, which the flavor models) and float64, 25 steps of refopt.oracle.mixed_gradients in
float64 from the same params, every step's update to 1e-10 relative. Muon: keras's JAX
``ops.norm`` returns the Newton-Schulz normalisation in float32 even for float64 input (asserted
below); the flavor takes it in float32 too (``norm_dtype``) but NumPy sums in another order than
XLA, so they agree to float32 rounding of the norm: measured worst 3.0e-7 over these cases, bound
``flavor.RTOL["Muon"]`` = 1e-6, while an unmodelled setting (the lr adjustment, the momentum
form, the decay of the AdamW leaves) parts by 1e-3 or more.
"""
import numpy as np
import pytest

import refopt
from refopt.flavors import keras_catalogue as flavor
from refopt.flavors.keras import framework
from refopt.interop.keras import keras_on_jax
from refopt.oracle import compare, mixed_gradients

STEPS = 25
RTOL = 1e-10
PARAMS = {"w": (5, 4), "b": (4,), "k": (3, 6), "t": (2, 3, 3)}  # wide, tall, 1-D, 3-D leaves

CASES = [
    ("Ftrl", {}),
    ("Ftrl", {"learning_rate": 0.05, "learning_rate_power": -0.2, "initial_accumulator_value": 0.4,
              "l1_regularization_strength": 0.05, "l2_regularization_strength": 0.15,
              "l2_shrinkage_regularization_strength": 0.01, "beta": 0.3}),   # keras's test_config
    ("Ftrl", {"learning_rate": 0.1, "learning_rate_power": 0.0, "l1_regularization_strength": 0.2,
              "weight_decay": 0.01, "clipnorm": 1.0}),
    ("Muon", {}),
    ("Muon", {"learning_rate": 0.5, "epsilon": 1e-5}),                        # keras's test_config
    ("Muon", {"learning_rate": 0.02, "rms_rate": None, "nesterov": False, "momentum": 0.9,
              "adam_lr_ratio": 0.1, "adam_weight_decay": 0.1, "weight_decay": 0.01, "ns_steps": 3}),
    ("Muon", {"learning_rate": 0.01, "adam_beta_1": 0.8, "adam_beta_2": 0.99, "muon_a": 2.0,
              "muon_b": -1.5, "muon_c": 0.5, "global_clipnorm": 1.0}),
]


def _problem(steps=STEPS, shapes=PARAMS):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    return params, mixed_gradients(params, steps, seed=1)


@pytest.mark.parametrize("floatx", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{sorted(k)}" for n, k in CASES])
def test_flavor_matches_keras(name, kwargs, floatx):
    params, grads = _problem()
    ours = getattr(flavor, name)(**kwargs, floatx=floatx)
    report = compare(ours, framework(name, floatx=floatx, **kwargs), params, grads,
                     rtol=flavor.RTOL.get(name, RTOL))
    assert report.ok, str(report)
    if name == "Muon":  # keras's float32 norm is really there: a float64 norm parts above 1e-9
        exact = flavor.Muon(**kwargs, floatx=floatx, norm_dtype=None)
        off = compare(exact, framework(name, floatx=floatx, **kwargs), params, grads, rtol=RTOL)
        assert off.max_update_rel > 1e-9, str(off)


def test_keras_norm_of_float64_is_float32_accurate():
    # the fact norm_dtype models; if keras fixes it this fails, and the default should follow
    import jax
    keras = keras_on_jax()
    x = np.random.default_rng(3).standard_normal((40, 30))
    with jax.enable_x64(True):
        got = keras.ops.norm(keras.ops.convert_to_tensor(x), axis=(-2, -1))
    assert str(got.dtype) == "float32"  # float64 in, a float32 norm out (then x / norm is float64)
    assert 1e-12 < abs(float(got) - np.linalg.norm(x)) / np.linalg.norm(x) < 1e-6


def test_keras_muon_is_refopt_muon_with_scaled_eps():
    # keras's sum momentum m = B/(1-mu) of refopt.muon's EMA B, and NS(cU) with eps is NS(U) with
    # eps/c: so on matrices (no decay, float64 norm) it is refopt.muon(eps=1e-7*(1-mu), rms=0.2),
    # to rounding (measured 1e-15); 1e-12
    params, grads = _problem(shapes={"w": (5, 4), "k": (3, 6)})
    ours = flavor.Muon(learning_rate=0.02, weight_decay=0.0, floatx="float64", norm_dtype=None)
    canonical = refopt.muon(lr=0.02, beta1=0.95, eps=1e-7 * 0.05, rms=0.2)
    assert compare(ours, canonical, params, grads, rtol=1e-12).ok


def test_routing_is_keras_should_use_adamw():
    """Our label of each leaf (from its keras path, keys joined by '/') against keras's own
    ``_should_use_adamw`` on variables with those paths."""
    keras = keras_on_jax()
    shapes = {"dense": {"kernel": (4, 3), "bias": (3,)}, "token_embedding": {"embeddings": (6, 4)},
              "output_dense": {"kernel": (3, 2)}, "conv": {"kernel": (2, 2, 3)}}
    for exclude_layers, exclude_embeddings in [(None, True), (["output_dense"], True), (["de.se"], False)]:
        opt = keras.optimizers.Muon(exclude_layers=exclude_layers, exclude_embeddings=exclude_embeddings)
        label = flavor._router(list(exclude_layers or []), exclude_embeddings)
        for layer, leaves in shapes.items():
            for leaf, shape in leaves.items():
                with keras.name_scope(layer):
                    var = keras.Variable(np.zeros(shape), name=leaf)
                assert var.path == f"{layer}/{leaf}"
                ours = label(f"[{layer!r}][{leaf!r}]", np.zeros(shape))
                assert (ours == "adamw") == opt._should_use_adamw(var), (var.path, exclude_layers)


def test_keras_path():
    assert flavor.keras_path("['dense']['kernel']") == "dense/kernel"
    assert flavor.keras_path("['layers'][0]['w']") == "layers/0/w"
    assert flavor.keras_path("<root>") == "<root>"


def test_bad_settings_name_themselves():
    for kwargs, name in [({"learning_rate_power": 0.5}, "lr_power"), ({"initial_accumulator_value": -1},
                         "initial_accumulator"), ({"l2_regularization_strength": -1}, "l2_regularization")]:
        with pytest.raises(ValueError, match=name):
            flavor.Ftrl(**kwargs)
    for kwargs, name in [({"momentum": 1.5}, "momentum"), ({"adam_beta_1": 1.0}, "adam_beta_1"),
                         ({"norm_dtype": "float16"}, "norm_dtype"), ({"ns_steps": 0}, "ns_steps"),
                         ({"exclude_layers": [3]}, "exclude_layers"), ({"rms_rate": -1.0}, "rms_rate")]:
        with pytest.raises(ValueError, match=name):
            flavor.Muon(**kwargs)
