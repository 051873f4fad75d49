"""step_ overwrites params and state in place (same arrays, canonical numbers); what it
refuses and why; special values; no allocation per step; refopt without numba."""
import platform
import re
import subprocess
import sys
import tracemalloc

import array_api_strict
import numpy as np
import pytest
import torch

import refopt
import refopt.fast
from refopt import tree
from refopt.fast._numba import PARALLEL, SERIAL, SERIAL_BELOW
from refopt.oracle import mixed_gradients

from .cases import ulps

NAMES = list(refopt.fast.FAST)
# the conformance examples' non-default settings, so every kernel branch runs here too
VARIANTS = {"rmsprop": dict(momentum=0.9, centered=True), "adamw": dict(weight_decay=0.1),
            "lion": dict(weight_decay=0.1), "adan": dict(weight_decay=0.1)}


def numba_threads():
    import numba
    return numba.config.NUMBA_NUM_THREADS


def make(name, **kw):
    kw = {**VARIANTS.get(name, {}), **kw}
    return refopt.fast.FAST[name](**kw), getattr(refopt, name)(**kw)


def buffers(state):
    return [a for f in type(state)._fields[1:] for _, a in tree.leaves_with_paths(getattr(state, f))
            if isinstance(a, np.ndarray)]


def problem(dtype=np.float32, steps=3, seed=0):
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((4, 3)).astype(dtype), "b": [rng.standard_normal(3).astype(dtype)],
              "s": np.asarray(dtype(0.5))}
    return params, mixed_gradients(params, steps, seed)


def assert_close(got, want, what):
    d = ulps(got, want)
    assert d.max(initial=0) <= 4, f"{what}: {d.max()} ulps"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_step_writes_into_the_same_arrays_with_the_canonical_numbers(name, dtype):
    fast, canonical = make(name)
    params, grads = problem(dtype)
    state = fast.init(params)
    want_p, want_s = params, state
    for g in grads:
        want_p, want_s = canonical.step(want_p, g, want_s)
        leaves = [w for _, w in tree.leaves_with_paths(params)]
        bufs = buffers(state)
        new = fast.step_(params, g, state)
        assert [w for _, w in tree.leaves_with_paths(params)] == leaves  # still the same objects
        assert all(a is b for a, b in zip(buffers(new), bufs, strict=True)), f"{name}: a new buffer"
        assert new.t == state.t + 1 and type(new) is type(state)
        state = new
    for (path, w), (_, r) in zip(tree.leaves_with_paths(params), tree.leaves_with_paths(want_p)):
        assert_close(w, r, f"{name} params{path}")
    for a, b in zip(buffers(state), buffers(want_s), strict=True):
        assert_close(a, b, f"{name} state")


@pytest.mark.skipif(numba_threads() < 2, reason="one CPU: numba has one thread, so the parallel "
                    "compilation never runs")
@pytest.mark.parametrize("name", NAMES)
def test_leaves_large_enough_for_every_thread_give_the_serial_bits(name):
    """Leaves of SERIAL_BELOW elements or more run the parallel compilation when numba has
    more than one thread, the serial one when it has one: the same bits, the canonical numbers."""
    import numba

    fast, canonical = make(name)
    params = {"w": np.linspace(-1, 1, SERIAL_BELOW + 5, dtype=np.float32)}
    grads = mixed_gradients(params, 3, seed=1)
    runs = {}
    before = numba.get_num_threads()
    try:
        for threads in (1, numba_threads()):
            numba.set_num_threads(threads)
            p, s = params, fast.init(params)
            for g in grads:
                p, s = fast.step(p, g, s)
            runs[threads] = p["w"]
    finally:
        numba.set_num_threads(before)
    q, r = params, canonical.init(params)
    for g in grads:
        q, r = canonical.step(q, g, r)
    serial, parallel = runs.values()
    assert np.array_equal(serial, parallel), f"{name}: the two compilations differ"
    assert_close(parallel, q["w"], name)


SPECIAL = [0.0, -0.0, np.nan, np.inf, -np.inf, 1e-39, -1e-39, 3e38, -1.0, 2.0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", NAMES)
def test_special_values_follow_the_canonical_rule(name, dtype):
    """NaN, infinities, signed zeros and subnormals in the gradient: NaN where the canonical
    rule has NaN (np.maximum and np.sign semantics), the same bits elsewhere."""
    fast, canonical = make(name, lr=0.1)
    g = np.array(SPECIAL, dtype)
    w = np.array(SPECIAL[::-1], dtype)
    p, s, q, r = w, fast.init(w), w, canonical.init(w)
    with np.errstate(all="ignore"):
        steps = (g, -g[::-1], g * 0)
    for grads in steps:
        with np.errstate(all="ignore"):
            p, s = fast.step(p, grads, s)
            q, r = canonical.step(q, grads, r)
        assert_close(p, q, f"{name} params")
        for a, b in zip(buffers(s), buffers(r), strict=True):
            assert_close(a, b, f"{name} state")


@pytest.mark.parametrize("name", NAMES)
def test_other_libraries_and_dtypes_are_refused_with_the_canonical_rule_named(name):
    fast, _ = make(name)
    for params in ({"a": torch.ones(3)}, {"a": array_api_strict.ones(3)}):
        for call in (lambda: fast.init(params), lambda: fast.step(params, params, None)):
            with pytest.raises(TypeError, match=rf"\['a'\].*refopt\.{name}\b"):
                call()
    half = {"a": np.ones(3, np.float16)}
    with pytest.raises(TypeError, match=rf"\['a'\] is float16: use refopt\.{name}\b"):
        fast.step_(half, half, None)


def test_step_refuses_before_writing_anything():
    """A non-contiguous or read-only array anywhere: ValueError naming it, and no leaf changed."""
    fast = refopt.fast.adam()
    params = {"a": np.ones(4), "b": np.ones((4, 4))[:, 0]}  # b is a strided view
    grads = {"a": np.ones(4), "b": np.ones(4)}
    state = fast.init(params)
    with pytest.raises(ValueError, match=r"params leaf \['b'\] .* not C-contiguous"):
        fast.step_(params, grads, state)
    assert np.all(params["a"] == 1) and not np.any(state.m["a"]), "leaf a was written"
    p, s = fast.step(params, grads, state)  # the pure step copies, so it takes any layout
    q, r = refopt.adam().step(params, grads, state)
    assert np.array_equal(p["b"], q["b"]) and np.array_equal(s.s["b"], r.s["b"])
    params["b"] = np.ascontiguousarray(params["b"])
    state.m["a"].flags.writeable = False
    with pytest.raises(ValueError, match=r"state.m leaf \['a'\] .* read-only"):
        fast.step_(params, grads, state)


def test_buffers_sharing_memory_are_refused():
    """refopt.adan's init hands one zero array to its four buffers (fine for a pure rule);
    fast.adan.init gives each its own, and step_ refuses a state whose buffers overlap, or
    grads that overlap a buffer, rather than write one over the other."""
    fast = refopt.fast.adan()
    w = np.ones(3)
    shared = refopt.adan().init(w)
    assert shared.m is shared.v  # the premise: else this test checks nothing
    with pytest.raises(ValueError, match=r"state.m and state.v of leaf <root> share memory"):
        fast.step_(w, np.ones(3), shared)
    own = fast.init(w)
    assert not any(np.may_share_memory(a, b) for i, a in enumerate(own[1:]) for b in own[i + 2:])
    with pytest.raises(ValueError, match=r"grads and state.g_prev of leaf <root> share memory"):
        fast.step_(w, own.g_prev, own)
    p, s = fast.step(w, np.ones(3), shared)  # the pure step copies each buffer: no overlap
    q, r = refopt.adan().step(w, np.ones(3), shared)
    assert np.array_equal(p, q) and np.array_equal(s.n, r.n)


def test_strided_grads_are_read_as_they_are():
    fast, canonical = make("momentum")
    w = np.linspace(-1, 1, 6)
    g = np.arange(12.0)[::2]
    s = fast.step_(w_fast := w.copy(), g, fast.init(w))
    q, r = canonical.step(w, g, canonical.init(w))
    assert np.array_equal(w_fast, q) and np.array_equal(s.m, r.m)


@pytest.mark.parametrize("name", ["sgd", "momentum", "adam", "adamw", "adan", "rmsprop"])
def test_step_allocates_nothing_per_step(name):
    """Peak traced memory of one step_ on 2**17 float32 parameters: the core's bookkeeping
    (a few hundred bytes), against 2**19 bytes for one temporary of the leaf's size."""
    fast, canonical = make(name)
    w = np.ones(1 << 17, np.float32)
    g = np.full_like(w, 0.5)
    state = fast.step_(w, g, fast.init(w))  # compiled and warm
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        state = fast.step_(w, g, state)
        fast_peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.reset_peak()
        canonical.step(w, g, state)
        canonical_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert fast_peak < 16 * 1024, f"{name}: step_ peaked at {fast_peak} bytes"
    assert canonical_peak >= w.nbytes, "the measurement would not see an array allocation"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="the instruction names checked are x86-64's")
@pytest.mark.parametrize("options", [SERIAL, PARALLEL], ids=["serial", "parallel"])
@pytest.mark.parametrize("dtype,suffix", [(np.float32, "ps"), (np.float64, "pd")])
def test_adam_kernel_is_vectorized(dtype, suffix, options):
    """Both compilations of the loop body use packed sqrt and division (xmm, ymm or zmm by
    the CPU), not only the scalar sqrtss/divss of a loop numba could not vectorize. numba
    shows no assembly of cached code: the kernel's function is compiled afresh with the same
    options."""
    asm = _adam_asm(dtype, {k: v for k, v in options.items() if k != "cache"})
    for op in ("sqrt", "div"):
        assert re.search(rf"\bv?{op}{suffix}\s+%[xyz]mm", asm), f"no packed {op}{suffix}"


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"),
                    reason="the instruction names checked are x86-64's")
def test_a_serial_loop_under_the_python_error_model_is_not_vectorized():
    """Why SERIAL names error_model="numpy": under numba's default (Python) error model
    each division checks its divisor for zero, and the loop stays scalar."""
    asm = _adam_asm(np.float32, {"fastmath": False})
    assert not re.search(r"\bv?divps\s+%[xyz]mm", asm)
    assert re.search(r"\bv?divss\s", asm)


def _adam_asm(dtype, options):
    import numba

    from refopt.fast.adam_family import _adam_kernel
    fresh = numba.njit(**options)(_adam_kernel.py_func)
    w = np.ones(64, dtype)
    fresh(w, w, w.copy(), w.copy(), *(dtype(0.5),) * 9)
    return fresh.inspect_asm(fresh.signatures[0])


def test_refopt_imports_without_numba_and_fast_names_the_extra():
    code = ("import sys; sys.modules['numba'] = None\n"  # what an environment without numba sees
            "import refopt; refopt.adam()\n"
            "try:\n    import refopt.fast\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert 'pip install "refopt[fast]"' in out.stdout, out.stdout + out.stderr
