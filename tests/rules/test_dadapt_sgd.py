"""D-Adapt SGD: agreement with the authors' package (dadaptation 3.2) on the mixed stream and a
convex quadratic, a hand-derived first step and second estimate, d non-decreasing (hypothesis),
exact invariance to the gradients' scale, and the bound d <= 2 ||w_0 - w*|| on convex problems."""
import math

import dadaptation
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refopt
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees
from .test_prodigy import OnQuadratic

NONDEFAULT = dict(lr=0.5, momentum=0.9, weight_decay=0.05, d0=1e-3, growth_rate=1.1)


def ours(**kw):
    return lambda: refopt.dadapt_sgd(**kw)


def theirs(**kw):
    return lambda: torch_optimizer(dadaptation.DAdaptSGD, **kw)


# float64 on both sides, same operations but the order of the tree-wide sums; measured <= 2e-12
# (momentum 0.9 averages z = w_0 - s, whose tiny differences it carries): 1e-10 is the bar.
CHECKS = [
    Check("dadapt_sgd", "dadaptation.DAdaptSGD", ours(), theirs(), rtol=1e-10),
    Check("dadapt_sgd", "dadaptation.DAdaptSGD", ours(**NONDEFAULT), theirs(**NONDEFAULT),
          rtol=1e-10, why="lr,momentum,decay,d0,growth"),
    Check("dadapt_sgd", "dadaptation.DAdaptSGD", OnQuadratic(ours()), OnQuadratic(theirs()),
          rtol=1e-10, why="quadratic-closed-loop"),
    Check("dadapt_sgd", "dadaptation.DAdaptSGD", OnQuadratic(ours(**NONDEFAULT)),
          OnQuadratic(theirs(**NONDEFAULT)), rtol=1e-10, why="quadratic-nondefault"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_the_authors_package(check):
    assert_agrees(check)


def test_first_step_and_second_estimate_by_hand():
    """eta = d0 lr/||g_1||; step 1: rho_1 = 0 (s_0 = 0), d stays d0, w_1 = w_0 - eta g_1.
    Step 2: rho_2 = eta <g_2, eta g_1>, s_2 = eta (g_1 + g_2): d_2 = 2 eta <g_1, g_2> / ||g_1 + g_2||."""
    d0, lr = 1e-6, 1e6
    opt = refopt.dadapt_sgd(lr=lr, d0=d0)
    w0 = np.array([1.0, -2.0, 0.5])
    g1, g2 = np.array([3.0, -1.0, 2.0]), np.array([2.0, -0.5, 1.0])
    eta = d0 * lr / np.linalg.norm(g1)
    w1, s1 = opt.step(w0, g1, opt.init(w0))
    np.testing.assert_allclose(w1, w0 - eta * g1, rtol=1e-15)
    assert s1.d == d0
    _, s2 = opt.step(w1, g2, s1)
    d2 = 2 * eta * float(g1 @ g2) / np.linalg.norm(g1 + g2)
    assert s2.d == pytest.approx(d2, rel=1e-13) and d2 > d0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), growth=st.sampled_from([1.0, 1.02, math.inf]),
       momentum=st.sampled_from([0.0, 0.9]))
def test_d_never_decreases(seed, growth, momentum):
    rng = np.random.default_rng(seed)
    opt = refopt.dadapt_sgd(growth_rate=growth, momentum=momentum)
    w = rng.standard_normal(6)
    state = opt.init(w)
    for _ in range(15):
        before = state.d
        w, state = opt.step(w, rng.standard_normal(6) * 10 ** rng.uniform(-3, 3), state)
        assert state.d >= before


@pytest.mark.parametrize("c", [1e-5, 1e4])
def test_gradient_scale_leaves_the_steps_unchanged(c):
    """eta = d lr/||g_1|| makes s and rho homogeneous of degree 0 in g: no eps, exact invariance."""
    rng = np.random.default_rng(0)
    target, w = rng.standard_normal(8), np.zeros(8)
    grads = [rng.standard_normal(8) + (k % 3) for k in range(30)]
    opt = refopt.dadapt_sgd(lr=1e5)

    def run(gs):
        x, state = w, opt.init(w)
        for g in gs:
            x, state = opt.step(x, g, state)
        return x, state

    (base, sb), (scaled, ss) = run(grads), run([c * g for g in grads])
    assert sb.d > 1e-6
    np.testing.assert_allclose(scaled, base, rtol=1e-12)  # rounding only
    assert ss.d == pytest.approx(sb.d, rel=1e-12)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10**6), kappa=st.sampled_from([1.0, 10.0, 1000.0]))
def test_d_stays_below_twice_the_distance(seed, kappa):
    """With momentum 0 the iterates are w_k = w_0 - s_k; convexity gives
    sum_k eta_k <g_k, w_{k-1} - w*> >= 0, i.e. rho_k <= <s_k, w_0 - w*> <= ||s_k|| D, so the
    package's d_hat = 2 rho/||s|| <= 2D (twice the paper's lower bound rho/||s|| <= D)."""
    rng = np.random.default_rng(seed)
    h = np.geomspace(1.0, kappa, 10)
    target, w = rng.standard_normal(10), np.zeros(10)
    dist = float(np.linalg.norm(target))
    opt = refopt.dadapt_sgd()
    state = opt.init(w)
    for _ in range(200):
        w, state = opt.step(w, h * (w - target), state)
        assert state.d <= 2 * dist * (1 + 1e-12)
