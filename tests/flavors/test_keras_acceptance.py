"""keras's own optimizer test configurations as the acceptance set of the keras flavors (issue 10).

For every configuration of ``keras_acceptance_cases.CASES`` (keras 3.15.1's ``*_test.py`` of
``keras/src/optimizers``), keras on the JAX backend is built from the arguments under a floatx
set as a user sets it (``keras.config.set_floatx``), and the flavor from the same arguments with
its floatx read from keras, as a user's would be. Each runs STEPS steps of
``refopt.oracle.mixed_gradients`` on one params tree (a matrix and a vector: per-leaf and global
clipping differ), three ways:

* floatx float32 (keras's default), float64 params: the lr is a float32 keras variable, which the
  flavor models (``floatx``), so the update of every step agrees to ``RTOL64`` = 1e-10 relative
  (an unmodelled float32 lr parts at 1.5e-8 or more): the default run;
* floatx float64, float64 params: 1e-10 again;
* floatx float32, float32 params, as keras's users run it by default: ``RTOL32``, derived below.

keras compiles each optimizer (~0.2 s with XLA on CPU), so each way of all rows costs ~25 s: the
last two ways run a ``SAMPLE`` both (every optimizer, every base option) and the rest one of
them each, alternating.

Adafactor: keras takes its means in float32 whatever the dtype (``flavor.RTOL``). A configuration
either matches, or the flavor refuses it with a ValueError naming the option (reason class in
``REASONS``), or keras refuses it too (``INVALID``: both raise), or keras's class has no flavor.
Each runnable row's test asserts its match; ``test_counts`` holds the tally, so a row that starts
or stops being refused fails it.
"""
from __future__ import annotations

from collections import Counter
from contextlib import contextmanager

import numpy as np
import pytest

from refopt import flavors
from refopt.flavors import keras as flavor
from refopt.oracle import compare, mixed_gradients
from refopt.interop.keras import keras_on_jax

from .acceptance import effective
from .keras_acceptance_cases import CASES, INVALID, REASONS, Sched, arguments

STEPS = 20
RTOL64 = 1e-10
# float32 params: keras computes its scalars in float32 (beta_2 = 0.999 cast to float32 is 1.3e-8
# off, so 1 - beta_2**t at t = 1 is 1.3e-5 off relative, 6.4e-6 through Adam's square root), the
# flavor in float64 before they meet a float32 array; then a few float32 ulps (6e-8 each) per
# step in the moments and the update: 6.4e-6 + STEPS * 4 * 6e-8 ~ 1.1e-5, times a margin of ~10:
# 1e-4. The update is a difference of float32 params, so it also carries an ulp of
# |w| from each side: ATOL32_ULPS = 4 ulps of the largest |w_0|.
RTOL32, ATOL32_ULPS = 1e-4, 4
SHAPES = {"w": (5, 4), "b": (4,)}
MODES = [("float64", np.float64), ("float32", np.float64), ("float32", np.float32)]


@contextmanager
def keras_floatx(floatx):
    """keras's floatx as a user sets it, restored exactly after."""
    keras = keras_on_jax()
    old = keras.config.floatx()
    keras.config.set_floatx(floatx)
    try:
        yield keras
    finally:
        keras.config.set_floatx(old)


def build(attr, kwargs):
    """("no flavor", None) | ("refused", the ValueError) | ("run", the flavor factory)."""
    try:
        make = flavors.attr_of(flavor, attr)
    except ValueError:
        return "no flavor", None
    try:
        make(**{k: (lambda t: 0.1) if isinstance(v, Sched) else v for k, v in kwargs.items()})
    except ValueError as error:
        return "refused", error
    return "run", make


def classify(case):
    """The row's outcome class: no flavor, invalid (keras refuses too), unsupported (reason), run."""
    source, attr, kwargs = case
    kind, what = build(attr, kwargs)
    if kind != "refused":
        return kind
    if case in INVALID:
        return "invalid"
    named = [k for k in kwargs if k in str(what) and k in REASONS]
    assert named, f"{source}: {attr}{kwargs} refused without naming a known option: {what}"
    return f"unsupported ({REASONS[named[0]][0]})"


def _params(dtype):
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in SHAPES.items()}


_RUNS = {}
for _case in CASES:
    if classify(_case) == "run":
        _RUNS.setdefault(effective(flavor, _case[1], _case[2]), _case)
RUNNABLE = list(_RUNS.values())


def run(case, floatx, dtype):
    """The flavor against keras for the row, under keras's ``floatx``, params of ``dtype``."""
    _, attr, kwargs = case
    params = _params(dtype)
    grads = mixed_gradients(params, STEPS, seed=1)
    with keras_floatx(floatx) as keras:
        args = arguments(kwargs, keras.optimizers.schedules)
        ours = flavors.attr_of(flavor, attr)(**args)  # floatx None: keras's, as a user's flavor reads it
        if dtype == np.float32:
            rtol = max(RTOL32, flavor.RTOL.get(attr, 0.0))
            atol = ATOL32_ULPS * float(np.spacing(max(np.max(np.abs(w)) for w in params.values())))
        else:
            rtol, atol = flavor.RTOL.get(attr, RTOL64), 0.0
        return compare(ours, flavor.framework(attr, **args), params, grads, rtol=rtol, atol=atol)


def _ids(case):
    source, attr, kwargs = case
    args = ",".join(f"{k}={getattr(v, '__name__', v)}" for k, v in kwargs.items())
    return f"{source.split()[1]}-{attr}-{args}"


# the tally (issue 10's closing note): configurations tried, and what became of them (ScheduleFreeAdamW,
# the one row without a flavor until issue 16, runs now)
# ("matched": the rows that run, each asserted by the tests below; 5 repeat another row's arguments)
EXPECTED = {"tried": 149, "matched": 127, "distinct runs": 122, "no flavor": 0, "invalid": 8,
            "unsupported": {"option not modelled": 14}}


def test_counts():
    kinds = Counter(classify(case) for case in CASES)
    unsupported = {k[len("unsupported ("):-1]: n for k, n in kinds.items() if k.startswith("unsupported")}
    tally = {"tried": len(CASES), "matched": kinds["run"], "distinct runs": len(RUNNABLE),
             "no flavor": kinds["no flavor"], "invalid": kinds["invalid"], "unsupported": unsupported}
    assert tally == EXPECTED
    assert kinds["invalid"] == len(INVALID)  # every row keras refuses, the flavor refuses too


def test_the_rows_are_keras_optimizers_and_arguments():
    """Each row's class is keras's, and keras takes its arguments (or refuses the INVALID ones):
    a typo in the table, or an argument keras does not know, fails here."""
    not_arguments = {k for k in REASONS}  # keras's methods and variable attributes, written as rows
    with keras_floatx("float32") as keras:
        for case in CASES:
            source, attr, kwargs = case
            args = {k: v for k, v in arguments(kwargs, keras.optimizers.schedules).items()
                    if k not in not_arguments}
            if case in INVALID:
                with pytest.raises(ValueError):
                    getattr(keras.optimizers, attr)(**args)
            else:
                getattr(keras.optimizers, attr)(**args)


UNSUPPORTED = [case for case in CASES if classify(case).startswith("unsupported")]


@pytest.mark.parametrize("case", UNSUPPORTED, ids=[_ids(c) for c in UNSUPPORTED])
def test_a_refusal_is_the_options_alone(case):
    """Without the option it names, the refused row builds: the refusal is that option's."""
    _, attr, kwargs = case
    kind, error = build(attr, kwargs)
    named = [k for k in kwargs if k in str(error) and k in REASONS]
    assert build(attr, {k: v for k, v in kwargs.items() if k not in named})[0] == "run"


@pytest.mark.parametrize("case", INVALID, ids=[_ids(c) for c in INVALID])
def test_what_keras_refuses_the_flavor_refuses(case):
    _, attr, kwargs = case
    refused = [k for k in kwargs if k != "learning_rate"]  # the argument(s) keras's test refuses
    with pytest.raises(ValueError, match="|".join(refused)):
        flavors.attr_of(flavor, attr)(**kwargs)


@pytest.mark.parametrize("case", RUNNABLE, ids=[_ids(c) for c in RUNNABLE])
def test_matches_keras_at_its_default_floatx(case):
    """floatx float32 (a float32 lr variable, modelled), float64 params: 1e-10."""
    report = run(case, "float32", np.float64)
    assert report.ok, str(report)


def _sample():
    """The rows that run both other ways: each optimizer's test_config, and the
    optimizer_test.py rows of the base options (clipping, EMA, accumulation, loss scaling, a
    callable lr) and of a schedule; the other rows run one of the two ways each."""
    rows = [c for c in RUNNABLE if c[0].endswith(" test_config") or
            (c[0].startswith("optimizer_test.py") and "weigth_decay" not in c[0] and "pickle" not in c[0])]
    return rows + [c for c in RUNNABLE if "test_fit_lr_correctness" in c[0]]


SAMPLE = _sample()
REST = [c for c in RUNNABLE if c not in SAMPLE]
OTHER_WAYS = {"argnames": "floatx,dtype", "argvalues": MODES[::2], "ids": ["floatx64", "floatx32-params32"]}


@pytest.mark.parametrize(**OTHER_WAYS)
@pytest.mark.parametrize("case", SAMPLE, ids=[_ids(c) for c in SAMPLE])
def test_matches_keras_at_floatx64_and_in_float32(case, floatx, dtype):
    report = run(case, floatx, dtype)
    assert report.ok, str(report)


# Each of the other rows runs one of the two other ways, alternating down the table, so every
# row meets keras at its default floatx and once more at floatx64 or in float32 (both ways for
# all rows doubled the file's cost, ~50 s on one core, for rows that share their code paths with
# the SAMPLE's)
ALTERNATE = [(case, *OTHER_WAYS["argvalues"][k % 2]) for k, case in enumerate(REST)]
ALTERNATE_IDS = [f"{_ids(c)}-{OTHER_WAYS['ids'][k % 2]}" for k, c in enumerate(REST)]


@pytest.mark.slow
@pytest.mark.parametrize("case,floatx,dtype", ALTERNATE, ids=ALTERNATE_IDS)
def test_the_rest_matches_keras_at_floatx64_or_in_float32(case, floatx, dtype):
    report = run(case, floatx, dtype)
    assert report.ok, str(report)
