"""D-Adapt Adam: agreement with the authors' package (dadaptation 3.2) on the mixed stream and on a
convex quadratic (where d grows), a hand-derived first step and second estimate, d
non-decreasing (hypothesis), and invariance to the gradients' scale where eps is negligible."""
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

NONDEFAULT = dict(lr=0.7, eps=1e-6, weight_decay=0.05, decouple=True, use_bias_correction=True,
                  d0=1e-4, growth_rate=1.05)


def ours(**kw):
    return lambda: refopt.dadapt_adam(**kw)


def theirs(**kw):
    return lambda: torch_optimizer(dadaptation.DAdaptAdam, **kw)


# float64 throughout on both sides, the same operations except the order of the tree-wide sums
# (torch.dot per leaf): a few ulps; 1e-10 (the bar) over a measured 0 to 1e-14.
CHECKS = [
    Check("dadapt_adam", "dadaptation.DAdaptAdam", ours(), theirs(), rtol=1e-10),
    Check("dadapt_adam", "dadaptation.DAdaptAdam", ours(**NONDEFAULT, beta1=0.8, beta2=0.99),
          theirs(**NONDEFAULT, betas=(0.8, 0.99)), rtol=1e-10,
          why="betas,eps,decoupled,bias,d0,growth"),
    Check("dadapt_adam", "dadaptation.DAdaptAdam", ours(weight_decay=0.1), theirs(weight_decay=0.1),
          rtol=1e-10, why="coupled-decay"),
    Check("dadapt_adam", "dadaptation.DAdaptAdam", OnQuadratic(ours()), OnQuadratic(theirs()),
          rtol=1e-10, why="quadratic-closed-loop"),
    Check("dadapt_adam", "dadaptation.DAdaptAdam",
          OnQuadratic(ours(**NONDEFAULT, beta1=0.8, beta2=0.99)),
          OnQuadratic(theirs(**NONDEFAULT, betas=(0.8, 0.99))), rtol=1e-10,
          why="quadratic-nondefault"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_the_authors_package(check):
    assert_agrees(check)


def test_d_grows_on_the_quadratic():
    loop = OnQuadratic(ours())()
    w = {"w": np.zeros((5, 4)), "b": np.zeros(4)}
    state = loop.init(w)
    for _ in range(50):
        w, state = loop.step(w, None, state)
    assert state.d > 100 * 1e-6


def test_first_step_and_second_estimate_by_hand():
    """Step 1: s_0 = 0, so rho_1 = 0 and d stays d0; m_1 = d0 lr (1-b1) g_1, v_1 = (1-b2) g_1^2:
    w_1 = w_0 - d0 lr (1-b1) g_1 / (sqrt(1-b2)|g_1| + eps). Step 2: with s_1 = d0 lr (1-sb2) g_1,
    d_hat = rho_2 / ((1-sb2)||s_2||_1) = d0 lr <g_2, g_1/(sqrt(v_1)+eps)> / ||sb2 g_1 + g_2||_1."""
    b1, b2, eps, lr, d0 = 0.5, 0.99, 1e-6, 30.0, 1e-6
    sb2 = math.sqrt(b2)
    opt = refopt.dadapt_adam(lr=lr, beta1=b1, beta2=b2, eps=eps, d0=d0)
    w0 = np.array([1.0, -2.0, 0.5])
    g1, g2 = np.array([0.3, -0.1, 2.0]), np.array([0.2, -0.4, 1.0])
    w1, s1 = opt.step(w0, g1, opt.init(w0))
    np.testing.assert_allclose(w1, w0 - d0 * lr * (1 - b1) * g1 / (math.sqrt(1 - b2) * abs(g1) + eps),
                               rtol=1e-14)  # the same expression, rounded in another order
    assert s1.d == d0
    _, s2 = opt.step(w1, g2, s1)
    v1 = (1 - b2) * g1 ** 2
    d_hat = d0 * lr * float(g2 @ (g1 / (np.sqrt(v1) + eps))) / float(np.sum(np.abs(sb2 * g1 + g2)))
    assert d_hat > d0
    assert s2.d == pytest.approx(d_hat, rel=1e-12)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10**6), growth=st.sampled_from([1.0, 1.02, math.inf]))
def test_d_never_decreases(seed, growth):
    rng = np.random.default_rng(seed)
    opt = refopt.dadapt_adam(growth_rate=growth)
    w = rng.standard_normal(6)
    state = opt.init(w)
    for _ in range(15):
        before = state.d
        w, state = opt.step(w, rng.standard_normal(6) * 10 ** rng.uniform(-3, 3), state)
        assert state.d >= before


@pytest.mark.parametrize("c", [1e-4, 1e3])
def test_gradient_scale_leaves_the_steps_unchanged_where_eps_is_negligible(c):
    """rho, ||s||_1 are homogeneous of degree 1 in g (s/sqrt(v) of degree 0), m/sqrt(v) of degree 0:
    scaling all gradients by c changes only the eps terms."""
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal(8) for _ in range(30)]
    w = rng.standard_normal(8)
    opt = refopt.dadapt_adam(eps=1e-300, lr=50.0)

    def run(gs):
        x, state = w, opt.init(w)
        for g in gs:
            x, state = opt.step(x, g, state)
        return x, state

    (base, sb), (scaled, ss) = run(grads), run([c * g for g in grads])
    assert sb.d > 1e-6  # the estimate moved, so its invariance is tested
    np.testing.assert_allclose(scaled, base, rtol=1e-12)  # rounding only
    assert ss.d == pytest.approx(sb.d, rel=1e-12)



def test_subnormal_denominator_is_divided_in_two_steps():
    """(1 - sqrt(beta2)) ||s||_1 rounds to 0 for a subnormal ||s||_1 (CI's fuzz found it: a
    ZeroDivisionError). The rule divides by the two factors one after the other there; here rho is
    0 as well (eta g s / (sqrt(v) + eps) underflows), so d_hat = 0 and d stays d0. dadaptation 3.2
    divides by the product as Python floats and raises ZeroDivisionError on the same stream."""
    stream = [5e-324, 5e-324, 2.22507386e-313]
    opt = ours()()
    w = np.array([1.11253693e-308])
    state = opt.init(w)
    for g in stream:
        w, state = opt.step(w, np.array([g]), state)
    assert np.isfinite(w).all() and state.d == 1e-6 and state.rho == 0.0
    theirs_opt = theirs()()
    x = np.array([1.11253693e-308])
    theirs_state = theirs_opt.init(x)
    with pytest.raises(ZeroDivisionError):
        for g in stream:
            x, theirs_state = theirs_opt.step(x, np.array([g]), theirs_state)
