"""``refopt.flavors.keras_schedules`` against keras 3.15.1's own schedule objects.

Each case builds the keras schedule and ours with the same arguments and evaluates keras's at
``step`` = 0..999 (an int32, as keras's ``iterations``) and ours at t = step + 1. In float64
(floatx float64 under ``jax.enable_x64``, restored after) they must agree to 1e-12 relative
(measured 2.1e-15), except keras's cosine schedules, whose ``ops.cos`` runs in float32 (see
COSINE). In keras's default float32 the gap is keras's own rounding of the lr: measured worst
3.0e-7 of the peak lr, bounded at 1e-6 and required above 1e-9 so that the float32 run really
ran in float32. An off-by-one in step <-> t is caught (checked). End to end: Adam with
CosineDecay measured 1.7e-7 (keras's float32 cosine); the flavors with ExponentialDecay 1e-10.
"""
import contextlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from refopt.flavors import keras as flavor
from refopt.flavors import keras_schedules as S
from refopt.oracle import compare, mixed_gradients
from refopt.interop.keras import keras_on_jax, keras_optimizer

keras = keras_on_jax()
STEPS, RTOL, F32_GAP = 1000, 1e-12, 1e-6

CASES = {
    "exponential": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=70, decay_rate=0.5)),
    "exponential-staircase": ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=70,
                                                       decay_rate=0.5, staircase=True)),
    "piecewise": ("PiecewiseConstantDecay", dict(boundaries=[10, 300, 301, 800], values=[0.1, 0.05, 0.2,
                                                                                         0.01, 0.001])),
    "polynomial": ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=1200, power=2.5)),
    "polynomial-cycle": ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=170,
                                                 end_learning_rate=0.01, power=0.5, cycle=True)),
    "inverse-time": ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=50, decay_rate=0.3)),
    "inverse-time-staircase": ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=50,
                                                        decay_rate=0.3, staircase=True)),
    "cosine": ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=700, alpha=0.05)),
    "cosine-warmup": ("CosineDecay", dict(initial_learning_rate=0.001, decay_steps=600, alpha=0.1,
                                          warmup_target=0.1, warmup_steps=150)),
    "restarts": ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=60)),
    "restarts-t1": ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=45, t_mul=1.0,
                                                m_mul=0.8, alpha=0.01)),
    "restarts-geometric": ("CosineDecayRestarts", dict(initial_learning_rate=0.1, first_decay_steps=25,
                                                       t_mul=1.5, m_mul=0.9, alpha=0.02)),
}


@contextlib.contextmanager
def keras_floatx(dtype):
    old = keras.config.floatx()
    keras.config.set_floatx(dtype)
    try:
        with jax.enable_x64(dtype == "float64"):
            yield
    finally:
        keras.config.set_floatx(old)


def as_float64(kwargs):
    """keras's ``ops.cos`` turns a weakly typed float64 (a Python float made a tensor) into
    float32 even with floatx float64, so CosineDecay(Restarts) given Python floats computes in
    float32 (measured 4.3e-7 off): a float64 run hands keras NumPy float64 scalars."""
    return {k: np.float64(v) if k in ("initial_learning_rate", "warmup_target") else v
            for k, v in kwargs.items()}


def keras_lrs(name, kwargs, dtype):
    if dtype == "float64":
        kwargs = as_float64(kwargs)
    with keras_floatx(dtype):
        schedule = getattr(keras.optimizers.schedules, name)(**kwargs)
        # all steps at once, jitted as keras's train step runs it (eager: 20 s a case)
        run = jax.jit(schedule)
        return np.array([float(run(jnp.asarray(s, jnp.int32))) for s in range(STEPS)])


def our_lrs(name, kwargs):
    schedule = getattr(S, name)(**kwargs)
    return np.array([schedule(t) for t in range(1, STEPS + 1)])


# keras 3.15.1's cosine schedules take ops.cos in float32 whatever floatx is (the step fraction
# is weakly typed): even in float64 they are keras's float32 cosine, measured <= 8.2e-8 of the
# peak lr off the float64 formula; the others agree to 1e-12 relative (measured 2.1e-15)
COSINE = ("cosine", "cosine-warmup", "restarts", "restarts-t1", "restarts-geometric")


def peak(kwargs):
    return max(kwargs.get("initial_learning_rate", 0.0), kwargs.get("warmup_target") or 0.0,
               max(kwargs.get("values", [0.0])))


@pytest.mark.parametrize("case", CASES)
def test_schedule_matches_keras_float64(case):
    name, kwargs = CASES[case]
    theirs, ours = keras_lrs(name, kwargs, "float64"), our_lrs(name, kwargs)
    if case in COSINE:
        gap = np.max(np.abs(ours - theirs)) / peak(kwargs)
        assert 1e-9 < gap < 2e-7, gap
    else:
        np.testing.assert_allclose(ours, theirs, rtol=RTOL, atol=0)
    assert len(np.unique(theirs)) > 2  # the schedule moved over the run
    # one step ahead (t in place of keras's step) is far off for every case
    assert np.max(np.abs(ours[:-1] - theirs[1:])) / peak(kwargs) > 1e-6


@pytest.mark.parametrize("case", CASES)
def test_float32_gap_is_keras_rounding(case):
    # floatx float32 (keras's default): measured worst 3.0e-7 of the peak lr (PolynomialDecay cycle)
    name, kwargs = CASES[case]
    gap = np.max(np.abs(keras_lrs(name, kwargs, "float32") - our_lrs(name, kwargs))) / peak(kwargs)
    assert 1e-9 < gap < F32_GAP, gap  # > 1e-9: keras really ran in float32


def test_off_by_one_piecewise():
    ours = S.PiecewiseConstantDecay([10], [1.0, 2.0])
    assert [ours(t) for t in (10, 11, 12)] == [1.0, 1.0, 2.0]  # keras's steps 9, 10 (<= 10), 11


def test_bad_arguments_name_themselves():
    for call, match in ((lambda: S.ExponentialDecay(0.1, 0, 0.5), "decay_steps"),
                        (lambda: S.CosineDecay(-0.1, 10), "initial_learning_rate"),
                        (lambda: S.PiecewiseConstantDecay([5, 3], [1.0, 2.0, 3.0]), "boundaries"),
                        (lambda: S.PiecewiseConstantDecay([5], [1.0]), "boundaries"),
                        (lambda: S.CosineDecayRestarts(0.1, 10, t_mul=0.0), "t_mul"),
                        (lambda: S.CosineDecay(0.1, 10)(0), "t must be")):
        with pytest.raises(ValueError, match=match):
            call()


def test_adam_with_cosine_decay_matches_keras_end_to_end():
    """The Adam flavor with our CosineDecay against keras's Adam with keras's CosineDecay, 50 mixed
    float64 steps. keras's float32 cosine (above) puts ~1e-7 in the lr, so the bound is 1e-6
    (measured in the report); with ExponentialDecay (no cosine) it is the suite's 1e-10."""
    kwargs = dict(initial_learning_rate=1e-3, decay_steps=30, alpha=0.1, warmup_target=1e-2, warmup_steps=10)
    ours = flavor.Adam(learning_rate=S.CosineDecay(**kwargs), weight_decay=0.01)
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    grads = mixed_gradients(params, 50, seed=1)
    with keras_floatx("float64"):
        theirs = keras_optimizer(keras.optimizers.Adam, weight_decay=0.01,
                                 learning_rate=keras.optimizers.schedules.CosineDecay(**as_float64(kwargs)))
        assert compare(ours, theirs, params, grads, rtol=1e-6).ok
        # the schedule matters: the constant warmup target is far off
        constant = flavor.Adam(learning_rate=1e-2, weight_decay=0.01)
        assert not compare(constant, theirs, params, grads, rtol=1e-3).ok


@pytest.mark.parametrize("name,kwargs", [
    ("Adam", {"weight_decay": 0.01}), ("Adam", {"amsgrad": True}), ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.9, "nesterov": True}), ("RMSprop", {"momentum": 0.9}), ("Nadam", {}),
    ("Lion", {})])
def test_flavors_with_exponential_decay_match_keras(name, kwargs):
    # 50 mixed float64 steps to 1e-10; SGD/RMSprop momentum keep keras's lr-inside velocity
    sched = dict(initial_learning_rate=1e-2, decay_steps=7, decay_rate=0.5, staircase=True)
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    grads = mixed_gradients(params, 50, seed=1)
    with keras_floatx("float64"):
        keras_schedule = keras.optimizers.schedules.ExponentialDecay(**as_float64(sched))
        theirs = keras_optimizer(getattr(keras.optimizers, name), **kwargs, learning_rate=keras_schedule)
        for lr in (S.ExponentialDecay(**sched), keras_schedule):  # ours, and keras's object given directly
            ours = getattr(flavor, name)(learning_rate=lr, **kwargs)
            report = compare(ours, theirs, params, grads, rtol=1e-10)
            assert report.ok, str(report)
