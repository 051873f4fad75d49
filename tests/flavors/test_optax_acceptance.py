"""optax's own test configurations as the acceptance set of the optax flavors (issue 10).

For every configuration of ``optax_acceptance_cases.CASES`` (optax's ``alias_test.py``, the
``contrib`` tests of Muon, ``contrib/_common_test.py``'s optimizers and the Schedule-Free tests):
optax is built from the arguments as its users build it and run
jitted over STEPS steps of ``refopt.oracle.mixed_gradients`` on a tree with a 2-D and a 1-D leaf
(Muon: two matrices and a vector); the flavor is built from the same arguments. Three runs:

* x64 on, float64 params: the update of every step agrees to ``RTOL64`` = 1e-10 relative;
* the same under ``optax.inject_hyperparams`` (the wrapper ``alias_test`` checks every
  optimizer in), where numeric arguments become float64 arrays: 1e-10 again, the flavor given
  its knob for the one case that computes differently (Adafactor's ``decay_rate_dtype``);
* x64 off (JAX's default), float32 params, the flavor run in float32: ``RTOL32`` (below).

A configuration either matches, or the flavor refuses it with a ValueError naming the option
(its reason class in ``REASONS``), or optax's optimizer has no flavor: 11 contrib rows (acprop,
simplified_ademamix, cocob twice, dog, dowg, madgrad, momo, momo_adam, sophia, galore).
``test_counts`` holds the tally; each runnable configuration's test asserts its match.
"""
from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from refopt import flavors
from refopt.flavors import optax as flavor
from refopt.flavors.optax_framework import as_users_run
from refopt.oracle import compare, mixed_gradients

from .acceptance import effective
from .optax_acceptance_cases import ALIAS, CASES, NEEDS_VALUE, REASONS

STEPS = 20
RTOL64 = 1e-10
# float32: optax computes its scalars in float32 with x64 off (1 - b2**count with b2 = 0.999
# rounded to float32: 1.3e-5 relative at t = 1, 2**-24/(1 - b2) magnified by the cancellation),
# the flavor in float64 before they meet a float32 array; the update's relative error is then
# at most ~1/2 of that through the square root, plus a few float32 ulps (6e-8) per step in the
# moments. RTOL32 = 1e-4 allows 1.3e-5/2 + STEPS * 4 ulps with a margin of 5 (measured worst
# 5.2e-5, nadam). The update is a difference of float32 params, so it carries up to an ulp of
# |w| from each side: ATOL32_ULPS = 4 ulps of the largest |w_0| (a step of 1e-3 on |w| ~ 2 is
# known to 1.2e-4 relative only). RAdam's rectifier sqrt((rho_t - 4)(rho_t - 2)...): optax's
# float32 rho_t = rho_inf - 2t b2^t/(1 - b2^t) subtracts ~2000 to reach ~5 at its first
# rectified step (t = 6), losing ~0.03 absolute to float32, and rho_t - 4 ~ 1 makes that a ~1%
# relative update difference (measured 6.1e-3 at t = 7, decaying to 1.1e-3 at t = 20): 1e-2.
RTOL32, ATOL32_ULPS = 1e-4, 4
RTOL32_FOR = {"radam": 1e-2}
# where inject_hyperparams makes optax compute differently, the flavor's knob for it
INJECT_KNOBS = {"adafactor": {"decay_rate_dtype": "float64"}}
PARAMS = {"w": (5, 4), "b": (4,)}


def build(attr, kwargs):
    """("no flavor", None) | ("unsupported", option) | ("run", the flavor factory)."""
    try:
        make = flavors.attr_of(flavor, attr)
    except ValueError:
        return "no flavor", None
    if attr in NEEDS_VALUE:
        return "unsupported", "value"
    try:
        make(**kwargs)
    except ValueError as error:
        named = [k for k in kwargs if k in str(error) and k in REASONS]
        assert named, f"optax.{attr}{kwargs}: refused without naming a known option: {error}"
        return "unsupported", named[0]
    return "run", make


def _params(attr, dtype):
    rng = np.random.default_rng(0)
    return {k: rng.standard_normal(s).astype(dtype) for k, s in flavor.SHAPES.get(attr, PARAMS).items()}


def _ids(case):
    source, attr, kwargs = case
    return f"{source.split('/')[-1].split()[0]}-{attr}-" + ",".join(f"{k}={v}" for k, v in kwargs.items())


_RUNS = {}
for _case in CASES:
    if build(_case[1], _case[2])[0] == "run":
        _RUNS.setdefault(effective(flavor, _case[1], _case[2]), _case)
RUNNABLE = list(_RUNS.values())

# the tally (issue 10's closing note): configurations tried, and what became of them
EXPECTED = {"tried": 79, "run": 53, "distinct runs": len(RUNNABLE), "no flavor": 11,
            "unsupported": {"complex dtype": 3, "Muon variant": 9, "needs the loss": 1,
                            "two-count warmup": 2}}


def test_counts():
    kinds, reasons = Counter(), Counter()
    for _, attr, kwargs in CASES:
        kind, what = build(attr, kwargs)
        kinds[kind] += 1
        if kind == "unsupported":
            reasons[REASONS[what][0]] += 1
    assert {"tried": len(CASES), "run": kinds["run"], "distinct runs": len(RUNNABLE),
            "no flavor": kinds["no flavor"], "unsupported": dict(reasons)} == EXPECTED
    assert len(RUNNABLE) == 50  # 3 cases repeat another's arguments (a default spelled out)


@pytest.mark.parametrize("case", RUNNABLE, ids=[_ids(c) for c in RUNNABLE])
def test_matches_optax_with_x64_on(case):
    _, attr, kwargs = case
    params = _params(attr, np.float64)
    grads = mixed_gradients(params, STEPS, seed=1)
    report = compare(build(attr, kwargs)[1](**kwargs), as_users_run(attr, x64=True, **kwargs), params, grads,
                     rtol=RTOL64)
    assert report.ok, str(report)
    if case in ALIAS:
        knobs = INJECT_KNOBS.get(attr, {})
        report = compare(build(attr, kwargs)[1](**kwargs, **knobs),
                         as_users_run(attr, x64=True, inject=True, **kwargs), params, grads, rtol=RTOL64)
        assert report.ok, str(report)


@pytest.mark.parametrize("case", RUNNABLE, ids=[_ids(c) for c in RUNNABLE])
def test_matches_optax_in_float32_with_x64_off(case):
    _, attr, kwargs = case
    params = _params(attr, np.float32)
    grads = mixed_gradients(params, STEPS, seed=1)
    atol = ATOL32_ULPS * float(np.spacing(max(np.max(np.abs(w)) for w in params.values())))
    report = compare(build(attr, kwargs)[1](**kwargs), as_users_run(attr, x64=False, **kwargs), params, grads,
                     rtol=RTOL32_FOR.get(attr, RTOL32), atol=atol)
    assert report.ok, str(report)
