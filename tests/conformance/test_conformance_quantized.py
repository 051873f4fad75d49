"""The conformance suite (checks.py) on rules whose state ``refopt.storage.quantized`` keeps
block-quantized: each wrapped rule is checked as a rule of its own (a ``RuleInfo`` that is the
canonical rule's with the wrapped factory), blocks of 4 so that the suite's small leaves (2 to 12
entries) hold several blocks and partial last ones, and ``min_size=0`` so every leaf is stored.

The state is an ordinary refopt state whose quantized leaves are ``(codes, scale)`` pairs: uint8
codes and float32 scales beside the params' dtype, so the suite's "state arrays share the params'
dtype" is replaced here by the storage's own law (test_dtypes_are_the_storage_s).
"""
import dataclasses

import array_api_strict
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refopt
from refopt.flavors import bitsandbytes
from refopt.storage import quantized
from tests.conformance import checks

MAPS = {"8-bit": None, "4-bit": {"m": "dynamic4", "s": "linear4"}, "fp8": {"m": "e4m3", "s": "e4m3"}}


def wrapped(name, maps=None, **example):
    rule = refopt.RULES[name]
    fields = ("m", "s") if rule.buffers == 2 else ("m",)
    chosen = None if maps is None else {f: maps[f] for f in fields}

    def factory(**kw):
        return quantized(rule.factory(**kw), chosen, block_size=4, min_size=0)
    return dataclasses.replace(rule, factory=factory, example=lambda: factory(**example))


INFOS = {f"adam-{k}": wrapped("adam", m) for k, m in MAPS.items()}
INFOS |= {"adamw": wrapped("adamw", weight_decay=1e-3), "lion": wrapped("lion"), "momentum": wrapped("momentum"),
          "adabelief": wrapped("adabelief")}
# a library flavor too: bitsandbytes' blocks are 256, so min_8bit_size=0 stores each small leaf
# as one partial block (and it computes in float32, its state float32 beside float64 params)
INFOS["bitsandbytes.Adam8bit"] = dataclasses.replace(
    refopt.RULES["adam"], factory=bitsandbytes.Adam8bit, example=lambda: bitsandbytes.Adam8bit(min_8bit_size=0))
ids, infos = list(INFOS), list(INFOS.values())
dtypes = st.sampled_from([np.float32, np.float64])
few = settings(max_examples=max(3, settings.default.max_examples // 8))


@pytest.mark.parametrize("info", infos, ids=ids)
@few
@given(seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1e-3, 1.0, 1e3]), dtype=dtypes)
def test_inputs_never_mutated(info, seed, scale, dtype):
    checks.check_pure(info, seed, dtype, scale)


@pytest.mark.parametrize("info", infos, ids=ids)
@few
@given(seed=st.integers(0, 2**32 - 1), dtype=dtypes)
def test_same_inputs_same_bits(info, seed, dtype):
    checks.check_deterministic(info, seed, dtype)


@pytest.mark.parametrize("info", infos, ids=ids)
def test_saved_state_continues_identically(info, tmp_path):
    checks.check_save_load(info, tmp_path / "state.npz")


@pytest.mark.parametrize("info", infos, ids=ids)
def test_array_api_strict_agrees_with_numpy(info):
    checks.check_backend_agrees(info, array_api_strict)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("info", infos, ids=ids)
def test_dtypes_are_the_storage_s(info, dtype):
    opt = info.make_example()
    params, grads = checks.problem(info, 0, dtype)
    new, state = checks.run(opt, params, grads)
    assert [w.dtype for w in checks.arrays(new)] == [dtype] * len(checks.arrays(params))
    stored = 0
    for x in checks.arrays(state):
        assert x.dtype in (np.uint8, np.float32, dtype), x.dtype
        stored += x.dtype == np.uint8
    assert stored > 0 and type(state.t) is int and state.t == len(grads)
