"""D-Adapt AdaGrad: agreement with the authors' package (dadaptation 3.2) on the mixed stream and
a convex quadratic, a hand-derived first step and second estimate, d non-decreasing
(hypothesis), and the scale dependence that its accumulator's start a_0 = 1e-6 brings."""
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

NONDEFAULT = dict(lr=0.5, momentum=0.5, weight_decay=0.05, eps=1e-4, d0=1e-3, growth_rate=1.1)


def ours(**kw):
    return lambda: refopt.dadapt_adagrad(**kw)


def theirs(**kw):
    return lambda: torch_optimizer(dadaptation.DAdaptAdaGrad, **kw)


# The package keeps ||s||^2_{A^-1} and ||s||_1 as running sums of per-step changes, this rule
# recomputes them from s and a: rounding differences only (measured 0 on these streams); 1e-10.
CHECKS = [
    Check("dadapt_adagrad", "dadaptation.DAdaptAdaGrad", ours(), theirs(), rtol=1e-10),
    Check("dadapt_adagrad", "dadaptation.DAdaptAdaGrad", ours(**NONDEFAULT), theirs(**NONDEFAULT),
          rtol=1e-10, why="lr,momentum,decay,eps,d0,growth"),
    Check("dadapt_adagrad", "dadaptation.DAdaptAdaGrad", OnQuadratic(ours()), OnQuadratic(theirs()),
          rtol=1e-10, why="quadratic-closed-loop"),
    Check("dadapt_adagrad", "dadaptation.DAdaptAdaGrad", OnQuadratic(ours(**NONDEFAULT)),
          OnQuadratic(theirs(**NONDEFAULT)), rtol=1e-10, why="quadratic-nondefault"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_the_authors_package(check):
    assert_agrees(check)


def test_first_step_and_second_estimate_by_hand():
    """a_1 = 1e-6 + g_1^2, s_1 = d0 lr g_1, w_1 = w_0 - s_1/(sqrt(a_1) + eps); q_1 = (d0 lr)^2
    ||g_1||^2_{A_1^-1} = ||s_1||^2_{A_1^-1}, so d_hat_1 = 0 and d stays d0. Step 2 (eta = d0 lr):
    d_hat_2 = (||s_2||^2_{A_2^-1} - q_1 - eta^2 ||g_2||^2_{A_2^-1}) / ||s_2||_1."""
    d0, lr, eps = 1e-6, 1e6, 1e-6
    eta = d0 * lr
    opt = refopt.dadapt_adagrad(lr=lr, d0=d0, eps=eps)
    w0 = np.array([1.0, -2.0, 0.5])
    g1, g2 = np.array([3.0, -1.0, 2.0]), np.array([2.0, -0.5, 1.0])
    a1 = 1e-6 + g1 ** 2
    w1, s1 = opt.step(w0, g1, opt.init(w0))
    np.testing.assert_allclose(w1, w0 - eta * g1 / (np.sqrt(a1) + eps), rtol=1e-15)
    assert s1.d == d0
    _, s2 = opt.step(w1, g2, s1)
    a2 = a1 + g2 ** 2
    A1, A2 = np.sqrt(a1) + eps, np.sqrt(a2) + eps
    sum2 = eta * (g1 + g2)
    q = eta ** 2 * (np.sum(g1 ** 2 / A1) + np.sum(g2 ** 2 / A2))
    d2 = (np.sum(sum2 ** 2 / A2) - q) / np.sum(np.abs(sum2))
    assert d2 > d0 and s2.d == pytest.approx(d2, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), growth=st.sampled_from([1.0, 1.02, math.inf]),
       momentum=st.sampled_from([0.0, 0.5]))
def test_d_never_decreases(seed, growth, momentum):
    rng = np.random.default_rng(seed)
    opt = refopt.dadapt_adagrad(growth_rate=growth, momentum=momentum)
    w = rng.standard_normal(6)
    state = opt.init(w)
    for _ in range(15):
        before = state.d
        w, state = opt.step(w, rng.standard_normal(6) * 10 ** rng.uniform(-3, 3), state)
        assert state.d >= before


def test_gradient_scale_matters_through_the_accumulator_start():
    """a_0 = 1e-6 (not 0): gradients of size 1e-3 and below meet it, so scaling them changes
    the steps, while at size 1 and above it barely does (eps = 0 to isolate a_0)."""
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(8) for _ in range(20)]
    w = rng.standard_normal(8)
    opt = refopt.dadapt_adagrad(eps=0.0, lr=1e4)

    def run(gs):
        x, state = w, opt.init(w)
        for g in gs:
            x, state = opt.step(x, g, state)
        return x

    base = run(grads)
    moved = np.max(np.abs(base - w))
    assert np.max(np.abs(run([1e3 * g for g in grads]) - base)) < 1e-5 * moved
    assert np.max(np.abs(run([1e-4 * g for g in grads]) - base)) > 1e-2 * moved
