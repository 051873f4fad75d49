"""Edge cases inside the rules (issue 9, sections 3, 4 and 6): aliasing, 0/0, odd shapes.

Every test here runs over every rule in ``refopt.RULES`` unless it is about one family.
"""
import copy

import numpy as np
import pytest

import refopt
from refopt import tree

from ..conformance.checks import problem

RULES = list(refopt.RULES.values())
IDS = [info.name for info in RULES]

# The rules whose step takes a second tree beside the gradient (read off their signatures:
# sophia's step(..., hess=), mars_m's exact variant step(..., prev_grad=)).
EXTRA_TREE = {"sophia": "hess", "mars_m": "prev_grad"}


def extras_for(info, grads, rng):
    """The extra input trees of ``info``'s step, fresh arrays each call."""
    name = EXTRA_TREE.get(info.name)
    if name is None:
        return {}
    return {name: tree.tree_map(lambda g: np.abs(rng.standard_normal(g.shape)), grads)}


def arrays(x):
    return [a for _, a in tree.leaves_with_paths(x) if isinstance(a, np.ndarray)]


def state_arrays(state):
    return [a for f in state._fields[1:] for a in arrays(getattr(state, f))]


# --------------------------------------------------------------------------- 1. no aliasing

@pytest.mark.parametrize("info", RULES, ids=IDS)
def test_state_never_shares_memory_with_an_input(info):
    """After 1 and 2 steps no state array shares memory with params, grads, extra inputs or
    the returned params (Adan and MARS-M kept ``g`` itself as ``g_prev``)."""
    opt = info.make_example()
    params, grads = problem(info, seed=1, steps=2)
    rng = np.random.default_rng(2)
    state = opt.init(params)
    inputs = [params]
    for g in grads:
        extra = extras_for(info, g, rng)
        inputs += [g, *extra.values()]
        params, state = opt.step(params, g, state, **extra)
        inputs.append(params)
        for buf in state_arrays(state):
            for x in inputs:
                for a in arrays(x):
                    assert not np.shares_memory(buf, a), f"{info.name}: a state array aliases an input"


@pytest.mark.parametrize("info", RULES, ids=IDS)
def test_zeroing_grads_in_place_after_step_changes_nothing(info):
    """A training loop zeroes its gradient buffers in place after each step; the next step
    must give the same bits as a run whose gradients were never touched."""
    opt = info.make_example()
    params, grads = problem(info, seed=3, steps=3)
    extras = [extras_for(info, g, np.random.default_rng(4 + i)) for i, g in enumerate(grads)]
    untouched = copy.deepcopy((grads, extras))

    def run(grads, extras, zero_after):
        p, s = params, opt.init(params)
        for g, e in zip(grads, extras):
            p, s = opt.step(p, g, s, **e)
            if zero_after:
                for a in arrays(g) + [x for t in e.values() for x in arrays(t)]:
                    a[...] = 0.0
        return p, s

    zeroed = run(grads, extras, zero_after=True)
    clean = run(*untouched, zero_after=False)
    for a, b in zip(arrays(zeroed[0]) + state_arrays(zeroed[1]), arrays(clean[0]) + state_arrays(clean[1])):
        assert np.array_equal(a, b), f"{info.name}: zeroing the grads after step changed the run"
