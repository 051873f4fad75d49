"""Every registered rule against the contract (DESIGN.md, "The contract").

Parametrized over ``refopt.RULES``: a rule added later is checked with no new test code.
"""
import array_api_strict
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refopt

from . import checks

RULES = list(refopt.RULES.values())
ids = [info.name for info in RULES]
seeds = st.integers(0, 2**32 - 1)
scales = st.sampled_from([1e-3, 1.0, 1e3])
dtypes = st.sampled_from([np.float32, np.float64])


@pytest.mark.parametrize("info", RULES, ids=ids)
@given(seed=seeds, scale=scales, dtype=dtypes)
def test_inputs_never_mutated(info, seed, scale, dtype):
    checks.check_pure(info, seed, dtype, scale)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("info", RULES, ids=ids)
def test_dtype_shape_and_tree_kept(info, dtype):
    checks.check_dtype_shape_tree(info, dtype)


@pytest.mark.parametrize("info", RULES, ids=ids)
@given(seed=seeds, dtype=dtypes)
def test_same_inputs_same_bits(info, seed, dtype):
    checks.check_deterministic(info, seed, dtype)


@pytest.mark.parametrize("info", RULES, ids=ids)
def test_array_api_strict_agrees_with_numpy(info):
    checks.check_backend_agrees(info, array_api_strict)


@pytest.mark.parametrize("info", RULES, ids=ids)
def test_torch_arrays_agree_with_numpy(info):
    import array_api_compat.torch as xp
    checks.check_backend_agrees(info, xp)


@pytest.mark.parametrize("info", RULES, ids=ids)
def test_saved_state_continues_identically(info, tmp_path):
    checks.check_save_load(info, tmp_path / "state.npz")


@pytest.mark.parametrize("info", RULES, ids=ids)
def test_bad_hyperparameters_name_themselves(info):
    checks.check_bad_hyperparameters(info)


@pytest.mark.parametrize("info", RULES, ids=ids)
def test_bad_input_names_the_leaf(info):
    checks.check_rejects_bad_input(info)


@pytest.mark.parametrize("info", RULES, ids=ids)
def test_bad_state_names_the_leaf_and_buffer(info):
    checks.check_rejects_bad_state(info)


@pytest.mark.parametrize("info", RULES, ids=ids)
def test_jax_arrays_agree_with_numpy(info):
    import jax
    with jax.enable_x64(True):  # float64 end to end, as NumPy; this thread and this test only
        checks.check_backend_agrees(info, jax.numpy)
