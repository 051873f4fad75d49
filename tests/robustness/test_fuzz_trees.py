"""Robustness fuzz, part 2 of 2: non-float dtypes, Python leaves, mismatched trees, foreign and
tampered states, mixed dtypes and libraries, bad extra trees (issue 9). The rules, the outcome
contract and how to run it are in test_fuzz.py's docstring; both parts share one case count.
"""
from __future__ import annotations

import collections
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refopt
from tests.robustness import strategies as S
from tests.robustness.fuzz_outcomes import (  # noqa: F401 (report_counts: the autouse fixture)
    CHECK_FINITE_ERRORS, COUNTS, all_finite, assert_kept, assert_same, attempt, budget, report_counts,
    rules, state_arrays)

pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow/NaN warnings are expected


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
