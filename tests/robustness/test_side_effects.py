"""The oracle adapters leave the user's process as they found it (issue 9, section 6).

Running a framework optimizer through ``refopt.interop`` must not change torch's
default dtype, JAX's ``jax_enable_x64``, keras's ``floatx`` or ``KERAS_BACKEND``, in float64 or
float32, and float64 params must still be computed in float64. Before the fix the torch
adapter set the default dtype while it stepped (and under threads restored a wrong "old"
value about 1 run in 300), and the optax and keras adapters switched x64 on for good.

The JAX flag is process state that other test files set (the conformance suite switches it
on), so everything involving JAX and keras runs in one fresh child process: this module run
as ``python -m tests.robustness.test_side_effects``, which prints its findings as JSON and
the tests below read them. torch's default dtype is checked here, in this process, and every
change to it made by a test is undone in a ``finally``.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
LR = 1e-2
STEPS = 5


def _problem(dtype, steps=STEPS, seed=0):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((3, 2)).astype(dtype), "b": rng.standard_normal(2).astype(dtype)}
    grads = [{k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()} for _ in range(steps)]
    return params, grads


def _run(adapter, params, grads):
    state, p = adapter.init(params), params
    for g in grads:
        p, state = adapter.step(p, g, state)
    return p


# --- the child process: every adapter under the user's settings, findings as JSON -----------

def _settings():
    """The process settings the adapters must leave alone (floatx once keras is imported)."""
    import jax
    out = {"jax_enable_x64 (this thread)": bool(jax.config.jax_enable_x64),
           "jax_enable_x64 (process)": bool(jax.enable_x64.get_global()),
           "KERAS_BACKEND": os.environ.get("KERAS_BACKEND")}
    if "keras" in sys.modules:
        out["keras floatx"] = sys.modules["keras"].config.floatx()
    return out


def _changes(baseline):
    now = _settings()
    return {k: [v, now.get(k)] for k, v in baseline.items() if now.get(k) != v}


def _adapters():
    """name -> (framework adapter, refopt flavor, rtol of the float64 comparison)."""
    import keras
    import optax

    from refopt.flavors import keras as kf
    from refopt.flavors import optax as of
    from refopt.interop.keras import keras_optimizer
    from refopt.interop.optax import optax_transformation
    # rtols: 1e-12 for optax's adam (measured 6e-14 in tests/flavors/test_optax.py), the flavor
    # test's 1e-10 for keras (measured <= 3e-13 for Adam there). jit: one compile per dtype
    # (eager optax compiles each op, 2 s a dtype), and jit's cache key includes x64
    return {"optax adam": (optax_transformation(optax.adam(LR), jit=True), of.adam(LR), 1e-12),
            "keras Adam": (keras_optimizer(keras.optimizers.Adam, learning_rate=LR),
                           kf.Adam(learning_rate=LR, floatx="float64"), 1e-10)}


def _each_adapter(adapters, baseline):
    """Run each adapter in float64 and float32; what changed against the user's ``baseline``
    (taken before the adapters were built), the result dtypes, the float64 agreement."""
    from refopt.oracle import compare
    out = {}
    for name, (theirs, ours, rtol) in adapters.items():
        for dtype in ("float64", "float32"):
            params, grads = _problem(dtype)
            got = _run(theirs, params, grads)
            row = {"changed": _changes(baseline), "dtypes": sorted({str(w.dtype) for w in got.values()})}
            if dtype == "float64":
                report = compare(ours, theirs, params, grads, rtol=rtol)
                row.update(rel=report.max_update_rel, ok=report.ok)
            out[f"{name} {dtype}"] = row
    return out


def _x64_seen_by_other_threads(adapter):
    """A worker runs ``adapter`` (compiled already) in float64 for 100 steps while this thread
    keeps asking for float64 arrays."""
    import jax.numpy as jnp
    params, grads = _problem("float64", steps=100)
    result, seen = {}, set()
    worker = threading.Thread(target=lambda: result.update(p=_run(adapter, params, grads)))
    worker.start()
    while worker.is_alive():
        seen.add(str(jnp.asarray(np.ones(1)).dtype))
        time.sleep(1e-5)  # let the worker run
    worker.join()
    return {"main thread saw": sorted(seen), "worker dtypes": sorted({str(w.dtype) for w in result["p"].values()})}


def child() -> dict:
    """The findings: the process's settings start at the libraries' defaults, then as a user
    who chose otherwise (x64 on, floatx float16) would have them."""
    os.environ.pop("KERAS_BACKEND", None)
    start = _settings()  # before keras is imported: x64 and KERAS_BACKEND only
    from refopt.interop.keras import keras_on_jax
    keras = keras_on_jax()
    baseline = {**start, "keras floatx": keras.config.floatx()}
    findings = {"start": start, "keras_on_jax changed": _changes(start), "backend": keras.backend.backend()}
    adapters = _adapters()
    findings["defaults"] = _each_adapter(adapters, baseline)
    findings["threads"] = _x64_seen_by_other_threads(adapters["optax adam"][0])
    import jax
    jax.config.update("jax_enable_x64", True)
    keras.config.set_floatx("float16")
    # compiled already: their jit keys have x64 on either way
    findings["user's own"] = _each_adapter(adapters, _settings())
    return findings


@pytest.fixture(scope="module")
def findings():
    """The child's findings: one process for all the tests that read them (jax and keras
    imports and compiles: 4-5 s alone, ~10 s on a loaded 2-core machine, hence ``slow``)."""
    env = {k: v for k, v in os.environ.items() if k not in ("KERAS_BACKEND", "JAX_ENABLE_X64")}
    run = subprocess.run([sys.executable, "-m", "tests.robustness.test_side_effects"], cwd=ROOT, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


NAMES = ["optax adam", "keras Adam"]
RUNS = [f"{n} {d}" for n in NAMES for d in ("float64", "float32")]


@pytest.mark.slow
def test_child_starts_from_the_libraries_defaults(findings):
    # the premise of the "defaults" runs: x64 really is off in that process
    assert findings["start"] == {"jax_enable_x64 (this thread)": False, "jax_enable_x64 (process)": False,
                                 "KERAS_BACKEND": None}
    assert findings["backend"] == "jax"
    # importing keras through the adapters switches nothing on (KERAS_BACKEND: the import only)
    assert findings["keras_on_jax changed"] == {}


@pytest.mark.slow
@pytest.mark.parametrize("settings", ["defaults", "user's own"])
@pytest.mark.parametrize("run", RUNS)
def test_adapter_leaves_global_settings_unchanged(findings, settings, run):
    assert findings[settings][run]["changed"] == {}


@pytest.mark.slow
@pytest.mark.parametrize("settings", ["defaults", "user's own"])
@pytest.mark.parametrize("run", RUNS)
def test_adapter_computes_in_the_params_dtype(findings, settings, run):
    # float64 stays float64 with x64 off in the process, float32 stays float32 with it on
    assert findings[settings][run]["dtypes"] == [run.split()[-1]]
    if run.endswith("float64"):
        row = findings[settings][run]
        assert row["ok"], row  # agrees with the refopt flavor at float64 precision (rtols above)


@pytest.mark.slow
def test_float64_optax_with_x64_off_matches_the_flavor_to_1e_12(findings):
    row = findings["defaults"]["optax adam float64"]
    assert row["dtypes"] == ["float64"] and row["ok"] and row["rel"] < 1e-12, row


@pytest.mark.slow
def test_x64_stays_off_in_other_threads(findings):
    # jax.enable_x64 is thread-local: a float64 optax run in a worker never makes this
    # thread's arrays float64, and the worker's own results are float64
    assert findings["threads"] == {"main thread saw": ["float32"], "worker dtypes": ["float64"]}


# --- torch in this process: the default dtype under threads ---------------------------------

def _torch_jobs():
    import torch

    from refopt.interop.torch import torch_optimizer
    jobs = []
    for dtype in ("float64", "float32"):
        for cls in (torch.optim.Adam, torch.optim.NAdam):
            jobs.append((dtype, cls.__name__, lambda c=cls, d=dtype: _run(torch_optimizer(c, lr=LR), *_problem(d, 3))))
    return jobs


def test_torch_adapter_never_changes_the_default_dtype_under_threads():
    """8 threads x 40 runs (Adam and NAdam, float64 and float32) while this thread watches
    torch's default dtype: it must never change (the old adapter set it to float64 for every
    float64 run, and its restore raced), and every run must give the serial run's bits."""
    import torch
    jobs = _torch_jobs()
    expected = [job() for _, _, job in jobs]
    start, seen, results, errors = torch.get_default_dtype(), set(), [], []

    def worker(k):
        try:
            for i in range(40):
                j = (k + i) % len(jobs)
                results.append((j, jobs[j][2]()))
        except Exception as e:  # pragma: no cover - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        seen.add(torch.get_default_dtype())
        time.sleep(1e-4)  # the old adapter held float64 for a whole float64 run: ~1 ms
    for t in threads:
        t.join()
    assert not errors, errors
    assert seen == {start} and torch.get_default_dtype() == start, seen
    assert len(results) == 8 * 40
    for j, got in results:
        dtype, name, _ = jobs[j]
        for k, w in got.items():
            assert w.dtype == np.dtype(dtype) and np.array_equal(w, expected[j][k]), (name, dtype, k)


@pytest.mark.parametrize("user_default", ["float32", "float64"])
def test_torch_adapter_keeps_the_users_default_dtype(user_default):
    import torch

    from refopt.interop.torch import torch_optimizer
    old = torch.get_default_dtype()
    torch.set_default_dtype(getattr(torch, user_default))
    try:
        for dtype in ("float64", "float32"):
            for cls in (torch.optim.Adam, torch.optim.NAdam):
                got = _run(torch_optimizer(cls, lr=LR), *_problem(dtype))
                assert torch.get_default_dtype() == getattr(torch, user_default), (cls, dtype)
                assert {str(w.dtype) for w in got.values()} == {dtype}
    finally:
        torch.set_default_dtype(old)


if __name__ == "__main__":
    print(json.dumps(child()))
