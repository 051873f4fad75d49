"""Robustness fuzz: every rule in refopt.RULES, fed every class of bad input (issue 9).

Each test requires EITHER a correct result (checked: bit-identical to the same run on clean
inputs, or within a stated rounding bound of a float64 run) OR a ``ValueError``/``TypeError``
whose message names the leaf (``['w']``, ``<root>``, ...) or the parameter (``state``, ``t``,
``hess``, a hyperparameter). Any other exception (IndexError, ZeroDivisionError, LinAlgError,
NumPy's own TypeError, ...) and any unchecked number fails.

Running it:

    python -m pytest -q -p no:randomly --tb=line tests/robustness/test_fuzz.py   # CI size
    HYPOTHESIS_PROFILE=fuzz-long python -m pytest -q tests/robustness/test_fuzz.py  # 500 per test

Under the CI profile each hypothesis test runs the small ``max_examples`` given with it (the
suite's share of CI is about a minute on one core); under any profile with more examples
(``fuzz-long``, ``explore``) every test runs the profile's count. The number of cases run, per
input class and outcome (result / clear error), is printed at the end of the module.
"""
from __future__ import annotations

import collections
import re

import numpy as np
import pytest
from hypothesis import Phase, given, settings
from hypothesis import strategies as st

import refopt
from tests.robustness import strategies as S

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow/NaN warnings are expected

COUNTS: collections.Counter = collections.Counter()
# check_finite's error for a non-finite param or buffer that step produced (refopt.finite)
CHECK_FINITE_ERRORS = tuple(e for e in (refopt.NonFiniteGradient, getattr(refopt.core, "NonFiniteState", None))
                            if e is not None)
LONG = settings.default.max_examples > 25  # the ci profile's count


def budget(k: int):
    """k examples under CI, and no shrinking there: while a class still fails, shrinking its
    examples cost minutes; the unshrunk example is printed all the same, and the long profiles
    (which shrink) give the minimal one."""
    if LONG:
        return settings(max_examples=settings.default.max_examples)
    return settings(max_examples=k, phases=[Phase.explicit, Phase.reuse, Phase.generate])


@pytest.fixture(scope="module", autouse=True)
def _report_counts(request):
    yield
    rep = request.config.pluginmanager.get_plugin("terminalreporter")
    cap = request.config.pluginmanager.get_plugin("capturemanager")
    total = sum(COUNTS.values())
    lines = [f"robustness fuzz: {total} cases run"]
    for cls in sorted({c for c, _ in COUNTS}):
        lines.append(f"  {cls:22s} result {COUNTS[cls, 'result']:5d}  clear error {COUNTS[cls, 'error']:5d}")
    if rep is not None and cap is not None:
        with cap.global_and_fixture_disabled():  # teardown output is captured otherwise
            rep.write_line("")
            for line in lines:
                rep.write_line(line)


# ----------------------------------------------------------------------------- outcomes

def attempt(cls, fn, names, *, result_ok=True, extra_ok=()):
    """Run ``fn``: a result (returned) or a ValueError/TypeError naming one of ``names``.

    ``extra_ok`` lists further exception types accepted under the same naming rule."""
    try:
        out = fn()
    except (ValueError, TypeError, *extra_ok) as err:
        msg = str(err)
        if not any(n(msg) if callable(n) else n in msg for n in names):
            pytest.fail(f"[{cls}] {type(err).__name__} names none of {names}: {msg[:300]}", pytrace=False)
        COUNTS[cls, "error"] += 1
        return None
    except Exception as err:  # the obscure crash this suite exists to find
        pytest.fail(f"[{cls}] obscure {type(err).__name__}: {str(err)[:300]}", pytrace=False)
    if not result_ok:
        pytest.fail(f"[{cls}] returned a result; a ValueError/TypeError naming {names} is required",
                    pytrace=False)
    COUNTS[cls, "result"] += 1
    return out


def host(a):
    return refopt.backend.to_numpy(a) if hasattr(a, "shape") else np.asarray(a)


def assert_same(a, b, what):
    """Same tree of arrays, same types, dtypes, shapes and bits (NaN equal to the same NaN)."""
    la, lb = S.leaves(a), S.leaves(b)
    assert len(la) == len(lb), f"{what}: {len(la)} leaves vs {len(lb)}"
    for x, y in zip(la, lb):
        assert type(x) is type(y), f"{what}: {type(x).__name__} vs {type(y).__name__}"
        x, y = host(x), host(y)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{what}: {x.dtype}{x.shape} vs {y.dtype}{y.shape}"
        assert np.array_equal(np.ascontiguousarray(x).view(np.uint8),
                              np.ascontiguousarray(y).view(np.uint8)), f"{what}: bits differ"


def assert_kept(out, like, what):
    """``out`` has ``like``'s containers and each leaf ``like``'s type, dtype and shape."""
    lo, ll = S.leaves(out), S.leaves(like)
    assert len(lo) == len(ll), f"{what}: {len(lo)} leaves vs {len(ll)}"
    for x, y in zip(lo, ll):
        assert type(x) is type(y), f"{what}: a {type(x).__name__} came back for a {type(y).__name__}"
        assert x.dtype == y.dtype and tuple(x.shape) == tuple(y.shape), \
            f"{what}: {x.dtype}{tuple(x.shape)} came back for {y.dtype}{tuple(y.shape)}"


def all_finite(tree) -> bool:
    return all(np.all(np.isfinite(host(a).astype(np.float64))) for a in S.leaves(tree)
               if hasattr(a, "shape") or isinstance(a, float))


def state_arrays(state) -> list:
    return [a for a in S.leaves(state) if hasattr(a, "shape")]


rules = pytest.mark.parametrize("name", S.RULE_NAMES)


# ----------------------------------------------------------------------------- shapes

@rules
@budget(6)
@given(data=st.data())
def test_empty(name, data):
    """(0,), (3, 0), ...: an empty result of the same shape, or an error naming the leaf."""
    ok = [s for s in S.EMPTY_SHAPES if len(s) == 2] if S.is_matrix(name) else S.EMPTY_SHAPES
    shape = data.draw(st.sampled_from(ok))
    dtype = data.draw(st.sampled_from([np.float32, np.float64]))
    prob = data.draw(S.problems(name, shape=shape, dtype=dtype))
    out = attempt("empty", lambda: S.run(S.make(name), prob), [prob.path])
    if out is not None:
        assert_kept(out[0], prob.params, f"{name} on {shape}")


def _reshaped(prob, shape):
    return prob.map(lambda a: np.reshape(a, shape))


@rules
@budget(8)
@given(data=st.data())
def test_zero_d(name, data):
    """0-d leaves: matrix rules refuse them by name; the others equal the (1,)-shaped run."""
    prob = data.draw(S.problems(name, shape=(1, 1) if S.is_matrix(name) else (1,)))
    zero_d = _reshaped(prob, ())
    out = attempt("0-d", lambda: S.run(S.make(name), zero_d), [zero_d.path],
                  result_ok=not S.is_matrix(name))
    if out is not None:
        assert_kept(out[0], zero_d.params, f"{name} 0-d params")
        ref_p, ref_s = S.run(S.make(name), prob)
        assert_same(out[0], S.tmap(lambda a: np.reshape(a, ()), ref_p), f"{name}: 0-d vs (1,) params")
        assert all_finite(out), f"{name}: non-finite from finite 0-d inputs"


@rules
@budget(8)
@given(data=st.data())
def test_one_element(name, data):
    """1-element leaves: kept, finite; an elementwise rule equals entry 0 of a 3-entry run."""
    shapes = [(1, 1)] if S.is_matrix(name) else S.ONE_ELEMENT_SHAPES
    shape = data.draw(st.sampled_from(shapes))
    big = data.draw(S.problems(name, shape=(3,), wraps=st.just("dict")))
    prob = big.map(lambda a: np.reshape(a[:1], shape))
    out = attempt("1-element", lambda: S.run(S.make(name), prob), [prob.path])
    if out is None:
        return
    assert_kept(out[0], prob.params, f"{name} 1-element params")
    assert all_finite(out), f"{name}: non-finite from finite 1-element inputs"
    if name in S.ELEMENTWISE:
        ref = S.run(S.make(name), big)[0]
        assert_same(out[0], S.tmap(lambda a: np.reshape(a[:1], shape), ref), f"{name}: entry 0")


# ----------------------------------------------------------------------------- low precision

def _ulp(x, dtype):
    """The spacing of ``dtype`` at |x| (float64 in): its last-bit value there."""
    if dtype == np.float16:
        return np.spacing(np.abs(x).astype(np.float16)).astype(np.float64)
    return np.spacing(np.abs(x).astype(np.float32)).astype(np.float64) * 2.0**16  # bfloat16: 8-bit mantissa


def _low_precision(cls, name, prob, dtype_name, unit, to_low, to_f64):
    """The run in a 16-bit float: a refusal naming the dtype (or a hyperparameter that rounds
    to 0 there), or params within rounding of the float64 run on the same (rounded) inputs.

    Bound: STEPS ulps of the result (each step rounds w once) plus 64 unit roundoffs of the
    leaf's largest float64 step (a step is ~30 roundings of its own scale; measured worst on
    the current rules ~10 units for Muon-family NS, ~1 for elementwise rules)."""
    opt = S.make(name)
    hyper_names = [k for k in opt.hyperparams]

    def names_hyper(msg):
        return "round" in msg and any(re.search(rf"\b{re.escape(h)}\b", msg) for h in hyper_names)

    low = prob.map(to_low)
    out = attempt(cls, lambda: S.run(opt, low), [dtype_name, names_hyper])
    if out is None:
        return
    assert_kept(out[0], low.params, f"{name} {dtype_name} params")
    ref = S.run(S.make(name), low.map(to_f64))[0]
    for w0, got, want in zip(S.leaves(low.params), S.leaves(out[0]), S.leaves(ref)):
        w0, got, want = to_f64(w0), to_f64(got), want
        finite = np.isfinite(want)  # where the float64 run is NaN/inf too, that is the math's
        assert np.array_equal(np.isfinite(got), finite), \
            f"{name}: non-finite {dtype_name} result {got} where float64 gives {want}"
        got, want = got[finite], want[finite]
        scale = np.max(np.abs(want - w0[finite]), initial=0.0)
        tol = S.STEPS * _ulp(want, np.float16 if dtype_name == "float16" else "bf16") + 64 * unit * scale
        err = np.abs(got - want)
        assert np.all(err <= tol), (f"{name}: {dtype_name} off the float64 run by {np.max(err / (scale or 1)):.3g}"
                                    f" of the step (bound {64 * unit:.3g}); got {got}, float64 {want}")


LOW = dict(elements=S.moderate(np.float16, lo=1e-3, hi=300.0, zeros=True))  # 1e-3 and 0: the issue's


@rules
@budget(10)
@given(data=st.data())
def test_float16(name, data):
    prob = data.draw(S.problems(name, **LOW))
    _low_precision("float16", name, prob, "float16", 2.0**-11,
                   lambda a: np.asarray(a, np.float16), lambda a: np.asarray(a, np.float64))


@rules
@budget(10)
@given(data=st.data())
def test_bfloat16_ml_dtypes(name, data):
    import ml_dtypes
    prob = data.draw(S.problems(name, **LOW))
    _low_precision("bfloat16 (ml_dtypes)", name, prob, "bfloat16", 2.0**-8,
                   lambda a: np.asarray(a).astype(ml_dtypes.bfloat16), lambda a: np.asarray(a, np.float64))


@rules
@budget(6)
@given(data=st.data())
def test_bfloat16_torch(name, data):
    torch = pytest.importorskip("torch")
    prob = data.draw(S.problems(name, **LOW))

    def to_f64(a):
        return a.double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, np.float64)

    def to_low(a):
        return torch.from_numpy(np.asarray(a, np.float64)).to(torch.bfloat16)

    def low_then_numpy(a):  # the float64 reference runs on NumPy from the bf16-rounded values
        return to_f64(a)
    _low_precision("bfloat16 (torch)", name, prob, "bfloat16", 2.0**-8, to_low, low_then_numpy)


# ----------------------------------------------------------------------------- dtypes and leaf types

def _fixed(name, dtype=np.float64):
    """A fixed small problem: {'w': (2, 3)} for every rule (matrix rules take it too)."""
    w = np.arange(1.0, 7.0).reshape(2, 3).astype(dtype) / 4
    return {"w": w}, {"w": (w[::-1] - 0.5).astype(dtype)}


def _extra(name, grads):
    """The step keyword a rule with an extra tree gets in the fixed problems."""
    return {S.AUX[name]: S.tmap(np.abs, grads)} if name in S.AUX else {}


@rules
@pytest.mark.parametrize("where", ["params", "grads"])
@pytest.mark.parametrize("dtype", S.NON_FLOAT_DTYPES, ids=lambda d: np.dtype(d).name)
def test_non_float_dtype(name, dtype, where):
    """complex, int, uint8, bool, object leaves: refused, naming the leaf."""
    params, grads = _fixed(name)
    bad = S.tmap(lambda a: a.astype(dtype), grads)
    if where == "params":
        params = S.tmap(lambda a: a.astype(dtype), params)
        opt = S.make(name)
        attempt(f"dtype {np.dtype(dtype).name}", lambda: opt.step(params, bad, opt.init(params)),
                ["['w']"], result_ok=False)
    else:
        opt = S.make(name)
        attempt(f"dtype {np.dtype(dtype).name}", lambda: opt.step(params, bad, opt.init(params)),
                ["['w']"], result_ok=False)


PY_LEAVES = {  # variant -> (params, grads, the path the error must name)
    "float leaf": (lambda: ({"w": 1.5}, {"w": 0.5}), "['w']"),
    "float root": (lambda: (1.5, 0.5), "<root>"),
    "list of floats": (lambda: ([1.0, 2.0], [0.5, 0.5]), "[0]"),
    "nested lists": (lambda: ({"w": [[1.0, 2.0], [3.0, 4.0]]}, {"w": [[0.5, 0.5], [0.5, 0.5]]}), "['w']"),
    "list grads": (lambda: ({"w": np.ones((2, 2))}, {"w": [[0.5, 0.5], [0.5, 0.5]]}), "['w']"),
    "float grads": (lambda: ({"w": np.ones((2, 2))}, {"w": 0.5}), "['w']"),
}


@rules
@pytest.mark.parametrize("variant", PY_LEAVES)
def test_python_leaves(name, variant):
    """Python floats and lists where arrays belong: refused, naming the leaf."""
    make_trees, path = PY_LEAVES[variant]
    params, grads = make_trees()
    opt = S.make(name)

    def go():
        return opt.step(params, grads, opt.init(params))
    attempt("python leaves", go, [path], result_ok=False)


# ----------------------------------------------------------------------------- memory layout

@rules
@budget(8)
@given(data=st.data())
def test_non_contiguous(name, data):
    """a[::2] and Fortran-ordered (.T) views: bit-identical to the run on C-contiguous copies."""
    prob = data.draw(S.problems(name))
    ndim = S.leaves(prob.params)[0].ndim
    kind = data.draw(st.sampled_from(["slice", "T"] if ndim >= 2 else ["slice"]))
    views = prob.map(S.non_contiguous(kind))
    assert all(a.base is not None for a in S.leaves(views.params))  # views, not copies
    opt = S.make(name)
    out = attempt(f"non-contiguous {kind}", lambda: S.run(opt, views), [prob.path])
    if out is not None:
        ref = S.run(S.make(name), prob.map(S.contiguous_copy))
        assert_same(out, ref, f"{name}: {kind} view vs contiguous copy")


@rules
@budget(8)
@given(data=st.data())
def test_read_only(name, data):
    """Read-only params, grads, extras and state: bit-identical to the run on writable copies."""
    prob = data.draw(S.problems(name))
    opt = S.make(name)
    frozen = prob.map(S.read_only)
    state = S.tmap(S.read_only, opt.init(frozen.params))
    out = attempt("read-only", lambda: S.run(opt, frozen, state), [prob.path])
    if out is not None:
        ref = S.run(S.make(name), prob.map(S.contiguous_copy))
        assert_same(out, ref, f"{name}: read-only vs writable")


# ----------------------------------------------------------------------------- special values

@st.composite
def two_leaf_problems(draw, name, elements=None, dtype=np.float64):
    """{'a': ..., 'b': ...}: leaf 'a' gets the bad values, leaf 'b' must not notice."""
    shape = draw(S.shapes(name))
    a = draw(S.problems(name, shape=shape, wraps=st.just("root"), elements=elements, dtype=dtype))
    b = draw(S.problems(name, shape=shape, wraps=st.just("root"), dtype=dtype))
    both = S.Problem(name, {"a": a.params, "b": b.params},
                     [{"a": ga, "b": gb} for ga, gb in zip(a.grads, b.grads)],
                     [{k: {"a": ea[k], "b": eb[k]} for k in ea if k in eb}
                      for ea, eb in zip(a.extras, b.extras)], "['a']")
    alone = S.Problem(name, b.params, b.grads,  # 'b' with exactly the extras 'b' gets in both
                      [{k: v["b"] for k, v in e.items()} for e in both.extras], "<root>")
    return both, alone


def _poison(data, prob, values):
    """Put a drawn NaN/inf into leaf 'a' of one drawn step's gradient; returns (problem, step)."""
    i = data.draw(st.integers(0, S.STEPS - 1), label="step index")
    g = prob.grads[i]["a"].copy()
    flat = g.reshape(-1)
    for j in data.draw(st.lists(st.integers(0, flat.size - 1), min_size=1, max_size=3, unique=True)):
        flat[j] = data.draw(st.sampled_from(values))
    grads = list(prob.grads)
    grads[i] = {**grads[i], "a": g}
    return S.Problem(prob.name, prob.params, grads, prob.extras, prob.path), i + 1


def _leaf_b(state):
    """The state buffers of leaf 'b' (a PartitionState keeps its own layout: not compared)."""
    if type(state).__name__ == "PartitionState":
        return None
    return [getattr(state, f)["b"] for f in state._fields[1:]]


NON_FINITE = [np.nan, np.inf, -np.inf]


@rules
@budget(10)
@given(data=st.data())
def test_non_finite_gradients(name, data):
    """NaN/inf in leaf 'a': leaf 'b' bit-identical to its run alone; a NaN never vanishes."""
    both, b = data.draw(two_leaf_problems(name))
    bad, at = _poison(data, both, NON_FINITE)
    out = attempt("NaN/inf grads", lambda: S.run(S.make(name), bad), ["['a']"])
    if out is None:
        return
    ref_p, ref_s = S.run(S.make(name), b)
    assert_same(out[0]["b"], ref_p, f"{name}: leaf 'b' changed by a NaN/inf in leaf 'a'")
    if _leaf_b(out[1]) is not None:
        assert_same(_leaf_b(out[1]), [getattr(ref_s, f) for f in ref_s._fields[1:]], f"{name}: state of 'b'")
    if any(np.isnan(bad.grads[at - 1]["a"]).ravel()):
        assert not (all_finite(out[0]["a"]) and all_finite(state_arrays(out[1]))), \
            f"{name}: a NaN gradient at step {at} left every param and buffer finite"


@rules
@budget(8)
@given(data=st.data())
def test_check_finite_names_leaf_and_step(name, data):
    """check_finite(opt) raises NonFiniteGradient at the poisoned step, naming leaf and step."""
    both, _ = data.draw(two_leaf_problems(name))
    bad, at = _poison(data, both, NON_FINITE)
    opt = refopt.check_finite(S.make(name))
    try:
        S.run(opt, bad)
    except refopt.NonFiniteGradient as err:
        assert "['a']" in str(err) and f"step {at}" in str(err), f"{name}: {err}"
        COUNTS["check_finite NaN/inf", "error"] += 1
        return
    except Exception as err:
        pytest.fail(f"[check_finite NaN/inf] obscure {type(err).__name__}: {str(err)[:300]}", pytrace=False)
    pytest.fail(f"[check_finite NaN/inf] {name}: no error for a non-finite gradient at step {at}",
                pytrace=False)


@rules
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@budget(6)
@given(data=st.data())
def test_overflowing_gradients(name, dtype, data):
    """|g| whose square overflows (1e154.. in float64, 1e19.. in float32, up to the max): the
    plain rule gives a result or a clear error; check_finite(opt) either raises naming the leaf
    or returns exactly the plain result with every param and buffer finite."""
    prob = data.draw(S.problems(name, dtype=dtype, elements=S.huge(dtype) | S.moderate(dtype)))
    plain = attempt(f"overflow {np.dtype(dtype).name}", lambda: S.run(S.make(name), prob), [prob.path])
    opt = refopt.check_finite(S.make(name))
    guarded = attempt(f"check_finite overflow", lambda: S.run(opt, prob), [prob.path],
                      extra_ok=CHECK_FINITE_ERRORS)
    if guarded is not None:
        assert plain is not None, f"{name}: check_finite returned a result where the rule raised"
        assert_same(guarded, plain, f"{name}: check_finite changed the numbers")
        assert all_finite(guarded[0]) and all_finite(state_arrays(guarded[1])), \
            f"{name}: check_finite let a non-finite param or buffer through"


@rules
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@budget(6)
@given(data=st.data())
def test_subnormal_gradients(name, dtype, data):
    """Subnormal gradients (and sometimes params): a finite result, dtype and shape kept."""
    w_elements = data.draw(st.sampled_from(["moderate", "subnormal"]))
    w_el = S.moderate(dtype) if w_elements == "moderate" else S.subnormals(dtype)
    shape = data.draw(S.shapes(name))
    prob = data.draw(S.problems(name, shape=shape, dtype=dtype, elements=S.subnormals(dtype)))
    w = data.draw(S.arrays(shape, w_el, dtype))
    prob = S.Problem(name, S.tmap(lambda _: w, prob.params), prob.grads, prob.extras, prob.path)
    out = attempt("subnormal", lambda: S.run(S.make(name), prob), [prob.path])
    if out is not None:
        assert_kept(out[0], prob.params, f"{name} subnormal params")
        assert all_finite(out[0]) and all_finite(state_arrays(out[1])), \
            f"{name}: non-finite params or state from subnormal gradients ({w_elements} params)"
        ref = S.run(S.make(name), prob.map(S.contiguous_copy))
        assert_same(out, ref, f"{name}: subnormal run not reproducible")


# ----------------------------------------------------------------------------- trees and states

def _two(name):
    w = np.arange(1.0, 7.0).reshape(2, 3) / 4
    return {"a": w, "b": w + 1}, {"a": w - 0.5, "b": w * 0.1}


MISMATCHES = {  # variant -> (params, grads) -> (params, grads, state source, paths accepted)
    "missing key": lambda p, g: (p, {"a": g["a"]}, p, ["['b']"]),
    "extra key": lambda p, g: (p, {**g, "c": g["a"]}, p, ["['c']"]),
    "list vs dict": lambda p, g: (p, [g["a"], g["b"]], p, ["<root>"]),
    "array vs dict": lambda p, g: (p, g["a"], p, ["<root>"]),
    "dict vs array": lambda p, g: (p, {"a": {"x": g["a"]}, "b": g["b"]}, p, ["['a']"]),
    "shorter list": lambda p, g: ([p["a"], p["b"]], [g["a"]], [p["a"], p["b"]], ["<root>", "[1]"]),
    "longer list": lambda p, g: ([p["a"]], [g["a"], g["b"]], [p["a"]], ["<root>", "[1]"]),
    "state missing key": lambda p, g: (p, g, {"a": p["a"]}, ["['b']"]),
    "state extra key": lambda p, g: (p, g, {**p, "c": p["a"]}, ["['c']"]),
}


@rules
@pytest.mark.parametrize("variant", MISMATCHES)
def test_mismatched_trees(name, variant):
    """grads (or the state) shaped as another tree: refused, naming where they part."""
    params, grads, source, paths = MISMATCHES[variant](*_two(name))
    opt = S.make(name)
    state = opt.init(source)
    # a state without arrays (SGD's: t only) fits any tree, so only then may a result come back
    out = attempt("mismatched trees", lambda: opt.step(params, grads, state), paths,
                  result_ok=variant.startswith("state") and not state_arrays(state))
    if out is not None:
        assert_same(out, opt.step(params, grads, opt.init(params)), f"{name}: {variant}")


def _donor(name):
    """The next rule (cyclically) whose state is of another type."""
    i = S.RULE_NAMES.index(name)
    return S.RULE_NAMES[(i + 1) % len(S.RULE_NAMES)]


@rules
def test_state_from_another_rule(name):
    params, grads = _fixed(name)
    opt, donor = S.make(name), S.make(_donor(name))
    state = donor.init(params)
    assert type(state) is not type(opt.init(params))
    attempt("foreign rule state", lambda: opt.step(params, grads, state, **_extra(name, grads)),
            ["state"], result_ok=False)


@rules
def test_state_class_of_the_same_name(name):
    """A NamedTuple named like the rule's state, from another module: the message says so."""
    params, grads = _fixed(name)
    opt = S.make(name)
    real = opt.init(params)
    Impostor = collections.namedtuple(type(real).__name__, type(real)._fields)
    state = Impostor(*real)

    def says_another_class(msg):
        return bool(re.search(r"another|different|not the same|\bmodule\b", msg)) or __name__ in msg
    attempt("same-name state class", lambda: opt.step(params, grads, state, **_extra(name, grads)),
            [says_another_class], result_ok=False)


@rules
@budget(8)
@given(data=st.data())
def test_state_from_another_params_tree(name, data):
    """A state made (and stepped once) on leaves of other shapes: refused naming the leaf,
    unless the rule keeps no arrays, where the result must equal the run on its own state."""
    s2 = data.draw(S.shapes(name), label="params shape")
    s1 = data.draw(st.one_of(S.shapes(name), st.just((1,) * len(s2)), st.just(s2[::-1]))
                   .filter(lambda s: s != s2), label="state's shape")
    prob = data.draw(S.problems(name, shape=s2, wraps=st.just("dict")))
    other = data.draw(S.problems(name, shape=s1, wraps=st.just("dict")))
    opt = S.make(name)
    _, foreign = opt.step(other.params, other.grads[0], opt.init(other.params), **other.extras[0])
    if not state_arrays(foreign):  # nothing shaped: the state is valid for any tree of these keys
        out = attempt("foreign tree state", lambda: S.run(opt, prob, foreign), ["['w']"])
        assert_same(out, S.run(opt, prob, opt.init(prob.params)._replace(t=foreign.t)), name)
        return
    attempt("foreign tree state", lambda: S.run(opt, prob, foreign), ["['w']"], result_ok=False)


def names_t(msg):
    """'t' as a word of its own (not the t of "can't" or "at")."""
    return re.search(r"(?<![\w'])t(?![\w'])", msg) is not None


@rules
@pytest.mark.parametrize("t", S.tampered_t_values(), ids=repr)
def test_tampered_step_count(name, t):
    """state.t must be a non-negative Python int: anything else is refused, naming t."""
    params, grads = _fixed(name)
    opt = S.make(name)
    state = opt.init(params)._replace(t=t)
    attempt("tampered t", lambda: opt.step(params, grads, state, **_extra(name, grads)), [names_t],
            result_ok=False)


def _mixes():
    """variant -> (params, grads, state-source params) on {'w': (2, 3)}."""
    import torch
    w, g = _fixed("sgd")
    w32, g32 = _fixed("sgd", np.float32)
    tw, tg = S.tmap(torch.from_numpy, w), S.tmap(torch.from_numpy, g)
    out = {
        "grads float32, params float64": (w, g32, w),
        "grads float64, params float32": (w32, g, w32),
        "grads torch, params numpy": (w, tg, w),
        "params torch, grads numpy": (tw, g, tw),
        "state torch, params numpy": (w, g, tw),
        "state float32, params float64": (w, g, w32),
    }
    try:
        import jax.numpy as jnp
        out["grads jax, params numpy"] = (w32, S.tmap(jnp.asarray, g32), w32)
    except ImportError:  # pragma: no cover - jax is a test dependency
        pass
    return out


MIX_VARIANTS = ["grads float32, params float64", "grads float64, params float32",
                "grads torch, params numpy", "params torch, grads numpy", "state torch, params numpy",
                "state float32, params float64", "grads jax, params numpy"]


@rules
@pytest.mark.parametrize("variant", MIX_VARIANTS)
def test_mixed_dtype_or_library(name, variant):
    """params, grads and state from different dtypes or libraries: refused, naming the leaf
    (a rule that keeps no arrays in its state may take a state from anywhere)."""
    params, grads, source = _mixes()[variant]
    opt = S.make(name)
    state = opt.init(source)
    only_t = not state_arrays(state)
    attempt(f"mixed {variant.split(',')[0]}", lambda: opt.step(params, grads, state), ["['w']"],
            result_ok=variant.startswith("state") and only_t)


AUX_BAD = {  # variant -> the extra tree given for params {'w': (2, 3) float64}
    "float32": lambda h: {"w": h["w"].astype(np.float32)},
    "shape": lambda h: {"w": h["w"][:, :2]},
    "missing key": lambda h: {"v": h["w"]},
    "torch": lambda h: {"w": __import__("torch").from_numpy(h["w"])},
    "list leaf": lambda h: {"w": h["w"].tolist()},
}


@pytest.mark.parametrize("name", sorted(S.AUX))
@pytest.mark.parametrize("variant", AUX_BAD)
def test_extra_tree_named(name, variant):
    """A bad hess= (Sophia) or prev_grad= (MARS-M): refused, naming that tree and the leaf."""
    params, grads = _fixed(name)
    aux_name = S.AUX[name]
    extra = {aux_name: AUX_BAD[variant](_extra(name, grads)[aux_name])}
    opt = S.make(name)

    def names_tree_and_leaf(msg):
        return aux_name in msg and ("['w']" in msg or "['v']" in msg)
    attempt(f"bad {aux_name}", lambda: opt.step(params, grads, opt.init(params), **extra),
            [names_tree_and_leaf], result_ok=False)


@rules
def test_unknown_step_keyword(name):
    """A keyword tree the rule does not take (hess= to Adam): refused, naming the keyword."""
    params, grads = _fixed(name)
    opt = S.make(name)
    word = "prev_grad" if name == "sophia" else "hess"
    attempt("unknown keyword", lambda: opt.step(params, grads, opt.init(params), **{word: grads}),
            [word], result_ok=False)
