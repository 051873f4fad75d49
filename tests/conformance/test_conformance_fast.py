"""The conformance suite (checks.py) on refopt.fast's pure ``step``: each fast rule is checked
as a rule of its own, through a ``RuleInfo`` that is the canonical rule's with the fast
factory, so the same checks catch a fast rule that breaks the contract.

Not run here: the checks on other Array API libraries (torch, JAX, array_api_strict), since
the kernels take NumPy arrays only; tests/fast/test_in_place.py checks that they refuse
those with a TypeError naming the canonical rule.
"""
import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refopt
import refopt.fast

from . import checks


def fast_info(name, **example):
    factory = refopt.fast.FAST[name]
    return dataclasses.replace(refopt.RULES[name], factory=factory,
                               example=(lambda: factory(**example)) if example else None)


# each rule at its defaults (rmsprop plain), then the kernels' other branches
INFOS = [fast_info(name) for name in refopt.fast.FAST] + [
    fast_info("rmsprop", momentum=0.9, centered=True), fast_info("adamw", weight_decay=0.1),
    fast_info("adan", debias=True, eps_inside=False, proximal=False, weight_decay=0.1),
    fast_info("radam", threshold=5.0)]
ids = [f"{info.name}{'-variant' if i >= len(refopt.fast.FAST) else ''}" for i, info in enumerate(INFOS)]
dtypes = st.sampled_from([np.float32, np.float64])
few = settings(max_examples=max(3, settings.default.max_examples // 8))  # ci: 3 per rule


@pytest.mark.parametrize("info", INFOS, ids=ids)
@few
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-3, 1.0, 1e3]), dtype=dtypes)
def test_inputs_never_mutated(info, seed, scale, dtype):
    checks.check_pure(info, seed, dtype, scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("info", INFOS, ids=ids)
def test_dtype_shape_and_tree_kept(info, dtype):
    checks.check_dtype_shape_tree(info, dtype)


@pytest.mark.parametrize("info", INFOS, ids=ids)
@few
@given(seed=st.integers(0, 2**32 - 1), dtype=dtypes)
def test_same_inputs_same_bits(info, seed, dtype):
    checks.check_deterministic(info, seed, dtype)


@pytest.mark.parametrize("info", INFOS, ids=ids)
def test_saved_state_continues_identically(info, tmp_path):
    checks.check_save_load(info, tmp_path / "state.npz")


@pytest.mark.parametrize("info", INFOS[:len(refopt.fast.FAST)], ids=ids[:len(refopt.fast.FAST)])
def test_bad_hyperparameters_name_themselves(info):
    checks.check_bad_hyperparameters(info)


@pytest.mark.parametrize("info", INFOS, ids=ids)
def test_bad_input_names_the_leaf(info):
    checks.check_rejects_bad_input(info)


@pytest.mark.parametrize("info", INFOS, ids=ids)
def test_bad_state_names_the_leaf_and_buffer(info):
    checks.check_rejects_bad_state(info)


@pytest.mark.parametrize("info", INFOS[:len(refopt.fast.FAST)], ids=ids[:len(refopt.fast.FAST)])
def test_same_signature_as_the_canonical_rule(info):
    import inspect
    canonical = refopt.RULES[info.name].factory
    assert inspect.signature(info.factory) == inspect.signature(canonical)
    opt = info.factory()
    assert opt.hyperparams == canonical().hyperparams and opt.bounds == canonical().bounds


def test_the_checks_catch_a_fast_rule_whose_step_writes_its_inputs():
    info = fast_info("adam")
    opt = info.factory()
    writes = dataclasses.replace(opt, step=lambda p, g, s: (p, opt.step_(p, g, s)))
    with pytest.raises(AssertionError, match="inputs were modified"):
        checks.check_pure(dataclasses.replace(info, example=lambda: writes))
