"""refopt.cautious: against pytorch-optimizer's ``cautious=True`` (Lion and ADOPT, the classes whose
flag masks the whole update), the mask's sign law, and the factor d/(nnz+1) on a rule that always
agrees with the gradient (SGD). Tolerance 1e-10 relative over 50 mixed steps in float64: the mask is
the same test (u*g > 0), the step is recovered as w - w_new (one rounding); measured worst over
seeds 0-2: 1.4e-14 (Lion), 3.5e-13 (ADOPT)."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import ADOPT, Lion

import refopt
from refopt.cautious import CautiousState, cautious, masked_step
from refopt.flavors.torch_wrappers import decoupled
from refopt.interop.torch import torch_optimizer
from refopt.rules.momentum import MomentumState

from .rules.independent import Check, assert_agrees

CHECKS = [
    Check("lion", "pytorch_optimizer.Lion(cautious=True)", lambda: cautious(refopt.lion(lr=1e-2)),
          lambda: torch_optimizer(Lion, lr=1e-2, cautious=True), rtol=1e-10, why="cautious"),
    # pytorch-optimizer decays w(1 - lr wd) outside the mask: the decay wraps the cautious rule
    Check("lion", "pytorch_optimizer.Lion(cautious=True)",
          lambda: decoupled(cautious(refopt.lion(lr=1e-2)), 1e-2, 0.1),
          lambda: torch_optimizer(Lion, lr=1e-2, weight_decay=0.1, cautious=True), rtol=1e-10,
          why="cautious, decay outside the mask"),
    Check("adopt", "pytorch_optimizer.ADOPT(cautious=True)",
          lambda: cautious(refopt.adopt(lr=1e-2, beta2=0.99, clip=lambda t: (t + 1) ** 0.25)),
          lambda: torch_optimizer(ADOPT, lr=1e-2, betas=(0.9, 0.99), cautious=True), rtol=1e-10,
          why="cautious"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_pytorch_optimizer(check):
    assert_agrees(check)


def test_the_mask_is_really_active_in_those_checks():
    # the checks would be vacuous if the mask never dropped anything: count what it drops
    rng = np.random.default_rng(0)
    w = rng.standard_normal(50)
    opt, inner = cautious(refopt.lion(lr=1e-2)), refopt.lion(lr=1e-2)
    s = opt.init(w)
    dropped = 0
    for g in refopt.oracle.mixed_gradients(w, 30, seed=1):
        s_prev = s.inner                      # the inner rule's proposal from the same state
        w_c, s = opt.step(w, g, s)
        w_i, _ = inner.step(w, g, s_prev)
        dropped += int(np.sum((w_i - w) * g > 0))  # proposed steps *against* descent (uphill in g)
        w = w_c
    assert dropped > 0


@settings(max_examples=60, deadline=None)
@given(w=hnp.arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3)),
       g=hnp.arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3)),
       m=hnp.arrays(np.float64, (4, 3), elements=st.floats(-1e3, 1e3)),
       lr=st.floats(1e-4, 1.0), beta=st.floats(0.0, 0.99))
def test_the_masked_step_never_opposes_the_gradient(w, g, m, lr, beta):
    """Whatever momentum the rule carries, every entry of the masked step -(w_t - w_{t-1}) has the
    gradient's sign or is 0: (w_{t-1} - w_t) * g >= 0 (the paper's descent property)."""
    opt = cautious(refopt.momentum(lr=lr, beta1=beta))
    state = CautiousState(0, MomentumState(0, m))
    w1, _ = opt.step(w, g, state)
    assert np.all((w - w1) * g >= 0)


@settings(max_examples=60, deadline=None)
@given(w=hnp.arrays(np.float64, 7, elements=st.floats(-10, 10)),
       # nonzero entries >= 0.01: a step lr*g below half an ulp of w does not move w, so the
       # combinator (which recovers u as w - w_new) sees u = 0 there and does not count it in nnz
       g=hnp.arrays(np.float64, 7, elements=st.sampled_from([0.0, 1.0, -2.0, 0.5]) | st.floats(0.01, 5)
                    | st.floats(-5, -0.01)),
       lr=st.floats(1e-3, 1.0))
def test_a_rule_that_always_agrees_is_rescaled_by_d_over_nnz_plus_one(w, g, lr):
    """SGD's step lr*g agrees with g wherever g != 0 (and is 0 elsewhere), so cautious(sgd) is SGD
    with lr * d/(nnz(g)+1). Tolerance: the step recovered as w - (w - lr g) is lr g up to 1 ulp of w."""
    d, nnz = g.size, int(np.count_nonzero(g))
    w1, _ = cautious(refopt.sgd(lr=lr)).step(w, g, cautious(refopt.sgd(lr=lr)).init(w))
    expected = w - lr * d / (nnz + 1) * g
    np.testing.assert_allclose(w1, expected, rtol=0, atol=4 * np.spacing(np.max(np.abs(w)) + 10.0))


def test_xi_is_the_constant_of_the_factor():
    w, g = np.zeros(4), np.ones(4)
    np.testing.assert_array_equal(masked_step(w, w - g, g, xi=0.0), -g)          # d / nnz = 1
    np.testing.assert_array_equal(masked_step(w, w - g, g), -g * 4 / 5)          # d / (nnz + 1)
    np.testing.assert_array_equal(masked_step(w, w + g, g), np.zeros(4))         # all uphill: no step


def test_state_tree_and_bad_input():
    params = {"a": np.ones(3), "b": np.ones((2, 2))}
    opt = cautious(refopt.adam(lr=0.1))
    s = opt.init(params)
    p, s = opt.step(params, {"a": np.ones(3), "b": -np.ones((2, 2))}, s)
    assert s.t == 1 and s.inner.t == 1 and p["a"].shape == (3,)
    with pytest.raises(TypeError, match="state"):
        opt.step(params, params, refopt.adam().init(params))
    with pytest.raises(ValueError, match="opt"):
        cautious("adam")
    with pytest.raises(ValueError, match="xi"):
        cautious(refopt.sgd(lr=0.1), xi=-1.0)
