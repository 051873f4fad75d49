"""The properties every rule must have, as functions of a ``RuleInfo``.

Each ``check_*`` raises ``AssertionError`` when the rule breaks the contract. They are
run for every registered rule (test_conformance.py) and shown to catch deliberately
broken rules (test_broken_rules.py), so a check that could not fail would be noticed.
"""
from __future__ import annotations

import copy
import inspect

import array_api_strict
import numpy as np
import pytest

import refopt
from refopt import tree
from refopt.backend import to_numpy

# Leaf shapes: a dict, a list and a tuple, vectors, matrices (wide and tall) and a 3-D array.
SHAPES = {"layer": {"w": (4, 3), "b": (3,)}, "out": [(3, 2), (2,)], "conv": ((2, 3, 2),)}
MATRIX_SHAPES = {"layer": {"w": (4, 3)}, "out": [(3, 5)], "conv": ((2, 6),)}
MISMATCH_PATH = "['layer']['w']"  # a (4, 3) leaf in both


def shapes_for(info):
    return MATRIX_SHAPES if info.matrix_only else SHAPES


def problem(info, seed=0, dtype=np.float64, scale=1.0, steps=3):
    """params and a list of gradient trees for ``info``'s rule."""
    rng = np.random.default_rng(seed)
    shapes = shapes_for(info)
    params = build(shapes, rng, dtype, scale)
    grads = [build(shapes, rng, dtype, scale) for _ in range(steps)]
    return params, grads


def build(shapes, rng, dtype, scale=1.0):
    if isinstance(shapes, dict):
        return {k: build(v, rng, dtype, scale) for k, v in shapes.items()}
    if isinstance(shapes, list):
        return [build(v, rng, dtype, scale) for v in shapes]
    if all(isinstance(s, int) for s in shapes):
        return (scale * rng.standard_normal(shapes)).astype(dtype)
    return tuple(build(v, rng, dtype, scale) for v in shapes)


def run(opt, params, grads, state=None):
    state = opt.init(params) if state is None else state
    for g in grads:
        params, state = opt.step(params, g, state)
    return params, state


def arrays(x):
    return [a for _, a in tree.leaves_with_paths(x) if hasattr(a, "shape")]


def assert_same_bits(a, b, what):
    la, lb = arrays(a), arrays(b)
    assert len(la) == len(lb), f"{what}: {len(la)} arrays vs {len(lb)}"
    for x, y in zip(la, lb):
        x, y = to_numpy(x), to_numpy(y)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        assert np.array_equal(x.view(np.uint8), y.view(np.uint8)), f"{what}: bits differ"


# --------------------------------------------------------------------------- the checks

def check_pure(info, seed=0, dtype=np.float64, scale=1.0):
    """No input array (params, grads, state) is modified by init or step."""
    opt = info.make_example()
    params, grads = problem(info, seed, dtype, scale)
    state = opt.init(params)
    kept = copy.deepcopy((params, grads, state))
    p, s = params, state
    for g in grads:
        p, s = opt.step(p, g, s)
    assert_same_bits((params, grads, state), kept, f"{info.name}: inputs were modified")


def check_dtype_shape_tree(info, dtype, seed=0):
    """params keep their tree, shapes and dtype; state arrays share the params' dtype;
    the step count is a Python int that counts the steps."""
    opt = info.make_example()
    params, grads = problem(info, seed, dtype)
    new, state = run(opt, params, grads)
    assert tree.structure(new) == tree.structure(params), f"{info.name}: tree changed"
    for (path, w), (_, w2) in zip(tree.leaves_with_paths(params), tree.leaves_with_paths(new)):
        assert w2.dtype == w.dtype, f"{info.name}: {path} dtype {w.dtype} -> {w2.dtype}"
        assert w2.shape == w.shape, f"{info.name}: {path} shape {w.shape} -> {w2.shape}"
    for a in arrays(state):
        assert a.dtype == dtype, f"{info.name}: a state array has dtype {a.dtype}, params {dtype}"
    assert type(state.t) is int and state.t == len(grads), f"{info.name}: t = {state.t!r}"


def check_deterministic(info, seed=0, dtype=np.float64):
    opt = info.make_example()
    params, grads = problem(info, seed, dtype)
    assert_same_bits(run(opt, params, grads), run(opt, params, grads), f"{info.name}: two runs")


def to_backend(x, xp):
    return tree.tree_map(lambda a: xp.asarray(a), x)


def check_backend_agrees(info, xp, seed=0, rtol=1e-12):
    """The rule run on another Array API library gives NumPy's numbers (float64), and
    its outputs stay in that library."""
    opt = info.make_example()
    params, grads = problem(info, seed)
    ref, ref_state = run(opt, params, grads)
    got, state = run(opt, to_backend(params, xp), [to_backend(g, xp) for g in grads])
    for a in arrays(got) + arrays(state):
        assert not isinstance(a, np.ndarray), f"{info.name}: output fell back to NumPy"
    for (path, r), (_, g) in zip(tree.leaves_with_paths(ref), tree.leaves_with_paths(got)):
        np.testing.assert_allclose(to_numpy(g), r, rtol=rtol, atol=rtol,
                                   err_msg=f"{info.name}: {path} differs on {xp.__name__}")
    # the state too: a bug that shows in a buffer before it reaches the params must show here
    assert len(arrays(state)) == len(arrays(ref_state)), f"{info.name}: state layout differs"
    for i, (r, g) in enumerate(zip(arrays(ref_state), arrays(state))):
        np.testing.assert_allclose(to_numpy(g), r, rtol=rtol, atol=rtol,
                                   err_msg=f"{info.name}: state array {i} differs on {xp.__name__}")


def check_save_load(info, path, seed=0, dtype=np.float64):
    """A saved and loaded state is the same bits and continues identically."""
    opt = info.make_example()
    params, grads = problem(info, seed, dtype, steps=4)
    p, s = run(opt, params, grads[:2])
    refopt.save_state(path, s)
    loaded = refopt.load_state(path)
    assert type(loaded) is type(s)
    assert_same_bits(loaded, s, f"{info.name}: loaded state")
    assert_same_bits(run(opt, p, grads[2:], loaded), run(opt, p, grads[2:], s),
                     f"{info.name}: continuing from a loaded state")


def _bad_values(bound):
    """Values just outside an interval (and NaN)."""
    bad = [float("nan")]
    bad.append(bound.lo if bound.lo_open else bound.lo - 1.0)
    if bound.hi != float("inf"):
        bad.append(bound.hi if bound.hi_open else bound.hi + 1.0)
    return bad


def check_bad_hyperparameters(info):
    """Each hyperparameter outside its range raises ValueError naming it and the range;
    negative lr/eps/weight_decay and betas outside [0, 1) in particular."""
    signature = inspect.signature(info.factory).parameters
    bounds = info.make_example().bounds
    for name in signature:
        if name in ("lr", "eps", "weight_decay"):
            assert name in bounds and -1.0 not in bounds[name], f"{info.name}: {name} accepts -1"
        if name.startswith("beta"):
            assert name in bounds and 1.0 not in bounds[name] and -0.1 not in bounds[name], \
                f"{info.name}: {name} accepts a value outside [0, 1)"
    for name, bound in bounds.items():
        if name not in signature:
            continue
        for bad in _bad_values(bound):
            with pytest.raises(ValueError) as err:
                info.factory(**{name: bad})
            assert name in str(err.value) and str(bound) in str(err.value), \
                f"{info.name}: message for {name}={bad} was {err.value!r}"


def _expect(exc, match, fn, what):
    try:
        fn()
    except exc as err:
        assert match in str(err), f"{what}: the error does not name {match!r}: {err}"
    else:
        names = exc.__name__ if isinstance(exc, type) else "/".join(e.__name__ for e in exc)
        raise AssertionError(f"{what}: no {names} raised")


def check_rejects_bad_input(info):
    """Mismatched trees, shapes, dtypes, backends, integer params and foreign states are
    rejected with an error naming the leaf."""
    opt = info.make_example()
    params, (g, *_) = problem(info)
    state = opt.init(params)
    step = lambda grads, st=state, p=params: opt.step(p, grads, st)  # noqa: E731

    broadcastable = copy.deepcopy(g)
    broadcastable["layer"]["w"] = broadcastable["layer"]["w"][:, :1]  # (4, 1): NumPy would broadcast
    _expect(ValueError, MISMATCH_PATH, lambda: step(broadcastable), f"{info.name}: (4,1) grads")

    missing = copy.deepcopy(g)
    del missing["layer"]["w"]
    _expect(ValueError, MISMATCH_PATH, lambda: step(missing), f"{info.name}: missing leaf")

    extra = copy.deepcopy(g)
    extra["layer"]["zz"] = g["layer"]["w"]
    _expect(ValueError, "['layer']['zz']", lambda: step(extra), f"{info.name}: extra leaf")

    wrong_dtype = copy.deepcopy(g)
    wrong_dtype["layer"]["w"] = wrong_dtype["layer"]["w"].astype(np.float32)
    _expect(TypeError, MISMATCH_PATH, lambda: step(wrong_dtype), f"{info.name}: float32 grads")

    foreign = copy.deepcopy(g)
    foreign["layer"]["w"] = array_api_strict.asarray(foreign["layer"]["w"])
    _expect(TypeError, MISMATCH_PATH, lambda: step(foreign), f"{info.name}: grads from another library")

    ints = copy.deepcopy(params)
    ints["layer"]["w"] = np.ones(ints["layer"]["w"].shape, dtype=np.int64)
    _expect(TypeError, MISMATCH_PATH, lambda: opt.init(ints), f"{info.name}: integer params")

    other = refopt.RULES["momentum" if info.name == "sgd" else "sgd"].make_example()
    _expect(TypeError, "state", lambda: step(g, other.init(params)), f"{info.name}: another rule's state")

    single = params["layer"]["w"]
    _expect(ValueError, "<root>", lambda: opt.step(single, single[:, :1], opt.init(single)),
            f"{info.name}: a lone array with broadcastable grads")


def check_rejects_bad_state(info):
    """A state made for other params (one leaf of another shape) names that leaf and the
    buffer; a tampered step count names ``state.t``; a NumPy integer count is read as an int."""
    opt = info.make_example()
    params, (g, *_) = problem(info)
    state = opt.init(params)
    if any(True for _ in tree.leaves_with_paths(state[1:])):  # a rule with buffers
        other = copy.deepcopy(params)
        w = other["layer"]["w"]
        other["layer"]["w"] = np.ones((w.shape[0] + 1, w.shape[1]), w.dtype)  # (5, 3): still a matrix
        try:
            opt.step(params, g, opt.init(other))
        except ValueError as err:
            assert MISMATCH_PATH in str(err) and "state" in str(err), f"{info.name}: {err}"
        else:
            raise AssertionError(f"{info.name}: a state for a (5, 3) leaf stepped (4, 3) params")
    for bad in (True, -1, 0.5, "3"):
        _expect((TypeError, ValueError), "state.t", lambda: opt.step(params, g, state._replace(t=bad)),
                f"{info.name}: state.t = {bad!r}")
    _, s = opt.step(params, g, state._replace(t=np.int64(2)))
    assert type(s.t) is int and s.t == 3, f"{info.name}: t = {s.t!r} after np.int64(2)"
