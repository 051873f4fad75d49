"""optax's storage dtypes and float32 scalars, as the optax flavors model them.

``mu_dtype``/``accumulator_dtype``/``dtype_momentum``: the flavor against optax built with the
same dtype (x64 on, float64 params), 1e-10 relative in the update over 25 mixed steps as in
``test_optax.py`` (measured worst 3.4e-13, adamw with nesterov; the rest 6e-14 or below), and
the laws of the stored moment. Adafactor's decay power: its float32 and float64 forms by hand,
and the knob against ``optax.inject_hyperparams``.
"""
import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from refopt import flavors
from refopt.flavors import optax as flavor
from refopt.flavors.optax_framework import as_users_run
from refopt.flavors.optax_rules import _decay_rate
from refopt.oracle import compare, mixed_gradients

STEPS, RTOL = 25, 1e-10
PARAMS = {"w": (5, 4), "b": (4,)}

STORED = [
    ("sgd", {"learning_rate": 0.05, "momentum": 0.9, "nesterov": True, "accumulator_dtype": "bfloat16"}),
    ("adam", {"learning_rate": 1e-2, "mu_dtype": "bfloat16"}),
    ("nadam", {"learning_rate": 1e-2, "mu_dtype": "float32"}),
    ("adamw", {"learning_rate": 1e-2, "nesterov": True, "mu_dtype": "bfloat16"}),
    ("amsgrad", {"learning_rate": 1e-2, "mu_dtype": "float32"}),
    ("lion", {"learning_rate": 1e-3, "mu_dtype": "bfloat16"}),
    ("adafactor", {"learning_rate": 1e-2, "momentum": 0.9, "factored": False, "dtype_momentum": "bfloat16"}),
    ("contrib.muon", {"learning_rate": 0.02, "mu_dtype": "float32"}),
]


def _params(name, dtype=np.float64):
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in flavor.SHAPES.get(name, PARAMS).items()}


IDS = [name + "-" + next(v for k, v in kwargs.items() if "dtype" in k) for name, kwargs in STORED]


@pytest.mark.parametrize("name,kwargs", STORED, ids=IDS)
def test_stored_moment_matches_optax(name, kwargs):
    params = _params(name)
    grads = mixed_gradients(params, STEPS, seed=1)
    report = compare(flavors.attr_of(flavor, name)(**kwargs), flavor.framework(name, **kwargs), params, grads,
                     rtol=RTOL)
    assert report.ok, str(report)


def test_the_storage_dtype_changes_the_numbers():
    # the test above can fail: without mu_dtype the flavor is ~1e-3 off optax's bfloat16 moment
    params = _params("adam")
    grads = mixed_gradients(params, 10, seed=1)
    report = compare(flavor.adam(1e-2), flavor.framework("adam", learning_rate=1e-2, mu_dtype="bfloat16"),
                     params, grads, rtol=RTOL)
    assert not report.ok and report.max_update_rel > 1e-4


@settings(max_examples=15)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["bfloat16", "float16", "float32"]),
       st.sampled_from([np.float32, np.float64]))
def test_stored_moment_laws(seed, mu_dtype, dtype):
    # for any gradients: the state keeps the params' dtype and holds values of mu_dtype, inputs
    # are untouched, and two runs give the same bits
    d = np.dtype(ml_dtypes.bfloat16 if mu_dtype == "bfloat16" else mu_dtype)
    if d.itemsize >= np.dtype(dtype).itemsize:
        mu_dtype, d = "float16", np.dtype(np.float16)
    params = _params("adam", dtype)
    grads = mixed_gradients(params, 3, seed=seed % 1000)
    copies = [{k: v.copy() for k, v in g.items()} for g in grads]
    runs = []
    for _ in range(2):
        opt = flavor.adam(1e-2, mu_dtype=mu_dtype)
        p, state = params, opt.init(params)
        for g in grads:
            p, state = opt.step(p, g, state)
        runs.append((p, state))
    for k in params:
        m = runs[0][1].m[k]
        assert m.dtype == dtype and runs[0][0][k].dtype == dtype
        np.testing.assert_array_equal(m, m.astype(d).astype(dtype))
        np.testing.assert_array_equal(runs[0][0][k], runs[1][0][k])
    for g, c in zip(grads, copies):
        for k in g:
            np.testing.assert_array_equal(g[k], c[k])


def test_bad_storage_dtypes_name_the_option():
    with pytest.raises(ValueError, match="mu_dtype=.*complex64.*real"):
        flavor.adam(1e-3, mu_dtype="complex64")
    with pytest.raises(ValueError, match="accumulator_dtype=.*int32"):
        flavor.sgd(1e-3, momentum=0.9, accumulator_dtype="int32")
    with pytest.raises(ValueError, match="dtype_momentum"):
        flavor.adafactor(1e-3, momentum=0.9, dtype_momentum="complex128")
    opt = flavor.adamw(1e-3, mu_dtype="float64")
    w = np.ones(3, np.float32)
    with pytest.raises(ValueError, match=r"mu_dtype=float64 is wider than params leaf"):
        opt.step(w, w, opt.init(w))
    with pytest.raises(ValueError, match="decay_rate_dtype"):
        flavor.adafactor(1e-3, decay_rate_dtype="bfloat16")


def test_decay_power_by_hand():
    # optax: t = float32(count + 1 - offset), beta2_t = 1 - t**-c; t = 2, c = 0.8:
    # 2**-0.8 = 0.574349177498517... float32 rounds it to 0.57434916496... (2**-24 spacing)
    exact = 1 - 2.0**-0.8
    assert _decay_rate(2, 0.8, 0, "float64") == exact
    in_float32 = np.float32(1) - np.float32(2.0) ** np.float32(-0.8)
    assert _decay_rate(2, 0.8, 0, "float32") == float(in_float32)
    assert 1e-9 < abs(_decay_rate(2, 0.8, 0, "float32") - exact) < 2**-24


def test_decay_rate_dtype_is_what_inject_hyperparams_does():
    # inject_hyperparams makes decay_rate a float64 array (x64 on): optax's power is then float64;
    # the default knob is 1.5e-7-ish off it, the float64 knob agrees to 1e-10
    params = _params("adafactor")
    grads = mixed_gradients(params, 10, seed=1)
    kwargs = {"learning_rate": 1e-2, "min_dim_size_to_factor": 2}
    injected = as_users_run("adafactor", x64=True, inject=True, **kwargs)
    knob = flavor.adafactor(**kwargs, decay_rate_dtype="float64")
    assert compare(knob, injected, params, grads, rtol=RTOL).ok
    default = compare(flavor.adafactor(**kwargs), injected, params, grads, rtol=RTOL)
    assert not default.ok and 1e-9 < default.max_update_rel < 1e-5
