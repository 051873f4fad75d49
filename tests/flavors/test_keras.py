"""Every keras flavor against the installed ``keras.optimizers`` class it is named after.

keras 3.15.1 on the JAX backend with x64 (in this thread only), built at keras's floatx as a
user has it (float32 unless set) and at float64 (``flavor.framework(..., floatx=...)``), stepped
by its jitted ``stateless_apply``; the flavor is built with the same ``floatx``, which rounds a
constant lr as keras's lr variable holds it. As in ``test_torch.py``: 25 steps of
``refopt.oracle.mixed_gradients`` (dense, mostly-zero and spiking steps) in float64 from the same
params, and the update of every step must agree to 1e-10 relative. Measured worst 2.5e-12 (AdamW
at its defaults: the update is Adam's step plus the small decay lr*wd*w, which keras rounds as
w - w*wd*lr), the rest at 5e-13 or below, so 1e-10 leaves room for platform rounding and XLA
fusion while a convention slip (the paper's eps for eps-hat, eps inside AdaMax's max, a float64
lr where keras holds a float32 one) parts far above it. Adafactor: keras's means are float32
(see ``test_keras_mean_of_float64_is_float32_accurate``), agreed to float32 rounding
(``flavor.RTOL``). Every non-default flag (nesterov, centered, amsgrad, weight_decay, momentum,
initial_accumulator_value, relative_step) and every base-optimizer option appears in a case.
"""
import numpy as np
import pytest

import refopt
from refopt import flavors
from refopt.flavors import keras as flavor
from refopt.oracle import compare, mixed_gradients
from refopt.interop.keras import keras_on_jax

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


def _problem(steps=STEPS):
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in PARAMS.items()}
    return params, mixed_gradients(params, steps, seed=1)


def _run(name, kwargs, rtol=RTOL, steps=STEPS):
    params, grads = _problem(steps)
    ours = flavors.attr_of(flavor, name)(**kwargs)
    return compare(ours, flavor.framework(name, **kwargs), params, grads, rtol=rtol)


FLOATX = ["float32", "float64"]


@pytest.mark.parametrize("floatx", FLOATX)
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{sorted(k)}" for n, k in CASES])
def test_flavor_matches_keras(name, kwargs, floatx):
    report = _run(name, {**kwargs, "floatx": floatx}, rtol=flavor.RTOL.get(name, RTOL))
    assert report.ok, str(report)
    if name == "Adafactor":  # keras's float32 means are really there
        assert report.max_update_rel > 1e-9


def test_keras_mean_of_float64_is_float32_accurate():
    # the fact the Adafactor flavor's mean_dtype models; if keras fixes it, this fails and the
    # flavor's default (and flavor.RTOL) should follow
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


# keras's base-optimizer options: clipping, EMA, accumulation, loss scaling, each alone and
# combined in keras's order (accumulate, then clip the mean, then decay and step, then the EMA)
BASE = [
    ("SGD", {"learning_rate": 0.05, "momentum": 0.9, "clipnorm": 1.0}),
    ("Adam", {"learning_rate": 1e-2, "global_clipnorm": 2.0}),
    ("RMSprop", {"learning_rate": 1e-2, "clipvalue": 0.3, "weight_decay": 0.01}),
    ("Adam", {"learning_rate": 1e-2, "use_ema": True}),
    ("SGD", {"learning_rate": 0.05, "use_ema": True, "ema_momentum": 0.5, "ema_overwrite_frequency": 3}),
    ("Adam", {"learning_rate": 1e-2, "gradient_accumulation_steps": 3}),
    ("AdamW", {"learning_rate": 1e-2, "gradient_accumulation_steps": 2, "clipnorm": 0.5}),
    ("Nadam", {"learning_rate": 1e-2, "gradient_accumulation_steps": 2, "use_ema": True,
               "ema_momentum": 0.9}),
    ("Adamax", {"learning_rate": 1e-2, "loss_scale_factor": 128.0, "global_clipnorm": 1.0}),
    ("Lamb", {"learning_rate": 1e-2, "clipnorm": 0.0}),  # <= 0: no clipping, as keras
]


@pytest.mark.parametrize("name,kwargs", BASE, ids=[f"{n}-{sorted(k)}" for n, k in BASE])
def test_base_optimizer_options_match_keras(name, kwargs):
    report = _run(name, kwargs, steps=24)
    assert report.ok, str(report)


def test_accumulation_with_a_schedule_calls_it_at_the_micro_step():
    # keras's LearningRateSchedule sees _iterations (micro-steps), its bias correction
    # iterations // k (real steps): both as keras, to 1e-10
    # (floatx float64: keras's float32 schedule arithmetic is test_keras_schedules.py's subject)
    keras = keras_on_jax()
    old = keras.config.floatx()
    keras.config.set_floatx("float64")
    try:
        sched = keras.optimizers.schedules.ExponentialDecay(1e-2, decay_steps=2, decay_rate=0.5)
        report = _run("Adam", {"learning_rate": sched, "gradient_accumulation_steps": 3}, steps=24)
    finally:
        keras.config.set_floatx(old)
    assert report.ok, str(report)
    # the micro-step count matters: the same schedule at the real-step count is far off
    real_step_lr = flavor.Adam(learning_rate=lambda j: 1e-2 * 0.5 ** ((j - 1) / 2), floatx="float64")
    wrong = refopt.accumulate(real_step_lr, 3)
    right = flavor.Adam(learning_rate=sched, gradient_accumulation_steps=3, floatx="float64")
    assert not compare(wrong, right, *_problem(24), rtol=1e-3).ok


def test_float32_floatx_rounds_the_learning_rate():
    assert flavor.SGD(learning_rate=1e-3, floatx="float32").hyperparams["lr"] == float(np.float32(1e-3))
    assert flavor.SGD(learning_rate=1e-3, floatx="float64").hyperparams["lr"] == 1e-3
    # and a float64 lr against keras's float32 variable parts beyond 1e-10 (2e-8 for 1e-3)
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in PARAMS.items()}
    report = compare(flavor.Adam(floatx="float64"), flavor.framework("Adam", floatx="float32"), params,
                     mixed_gradients(params, 5, seed=1), rtol=RTOL)
    assert 1e-9 < report.max_update_rel < 1e-7, str(report)


def test_unsupported_keras_settings_name_themselves():
    with pytest.raises(ValueError, match="ema_overwrite_frequency"):
        flavor.Adam(use_ema=True, ema_overwrite_frequency=2, gradient_accumulation_steps=2)
    with pytest.raises(ValueError, match="only one of clipnorm"):
        flavor.Adam(clipnorm=1.0, clipvalue=1.0)
    with pytest.raises(ValueError, match="gradient_accumulation_steps"):
        flavor.Adam(gradient_accumulation_steps=1)
    with pytest.raises(ValueError, match="ema_momentum"):
        flavor.Adam(use_ema=True, ema_momentum=1.5)
    with pytest.raises(ValueError, match="floatx"):
        flavor.Adam(floatx="int8")
    with pytest.raises(ValueError, match="mean_dtype"):
        flavor.Adafactor(mean_dtype="float16")
    with pytest.raises(ValueError, match="unexpected argument 'clip_norm'"):
        flavor.Adam(clip_norm=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        flavor.AdamW(weight_decay=None)
    with pytest.raises(ValueError, match="beta_1"):
        flavor.Lion(beta_1=0.0)
