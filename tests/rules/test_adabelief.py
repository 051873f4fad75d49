"""AdaBelief: hand-derived steps, the closed form of s for a constant gradient (eps
accumulating inside s), and agreement with optax.adabelief."""
import numpy as np
import optax
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.interop.optax import optax_transformation

from .independent import Check, assert_agrees

LR = 0.01

# optax adds eps_root to the stored s each step and eps outside sqrt(s_hat), exactly the
# paper's two epsilons; the defaults (1e-16, 1e-16) agree. torch has no AdaBelief;
# pytorch_optimizer's AdaBelief adds a further 1e-15 under the root and divides eps by
# sqrt(1 - beta2^t) (its denominator is (sqrt(s) + eps)/sqrt(1-beta2^t)), a different
# placement, so it is not a check of this rule.
CHECKS = [
    Check("adabelief", "optax.adabelief", lambda: refopt.adabelief(lr=LR),
          lambda: optax_transformation(optax.adabelief(LR)), rtol=1e-12),
    Check("adabelief", "optax.adabelief", lambda: refopt.adabelief(lr=LR, eps=1e-8, eps_root=1e-6),
          lambda: optax_transformation(optax.adabelief(LR, eps=1e-8, eps_root=1e-6)), rtol=1e-12,
          why="eps=1e-8, eps_root=1e-6 (both placements bind)"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_steps_by_hand():
    # beta1 = 1/2, beta2 = 3/4, lr = 0.1, eps = 0, eps_root = 1/16:
    # t=1, g=2: m = 1, s = 1/4 (2-1)^2 + 1/16 = 5/16,   m_hat = 2, s_hat = (5/16)/(1/4) = 5/4
    #           w = 1 - 0.1 * 2/sqrt(5/4)
    # t=2, g=0: m = 1/2, s = 3/4 * 5/16 + 1/4 (0 - 1/2)^2 + 1/16 = 15/64 + 4/64 + 4/64 = 23/64,
    #           m_hat = (1/2)/(3/4) = 2/3, s_hat = (23/64)/(7/16) = 23/28
    opt = refopt.adabelief(lr=0.1, beta1=0.5, beta2=0.75, eps=0.0, eps_root=1 / 16)
    w = np.array([1.0])
    s = opt.init(w)
    w, s = opt.step(w, np.array([2.0]), s)
    assert s.m[0] == 1.0 and s.s[0] == 5 / 16
    np.testing.assert_allclose(w[0], 1 - 0.1 * 2 / np.sqrt(5 / 4), rtol=1e-15)
    w_prev = w[0]
    w, s = opt.step(w, np.array([0.0]), s)
    assert s.m[0] == 0.5 and s.s[0] == 23 / 64
    np.testing.assert_allclose(w[0], w_prev - 0.1 * (2 / 3) / np.sqrt(23 / 28), rtol=1e-15)


def test_defaults_follow_the_papers_single_epsilon():
    assert refopt.adabelief().hyperparams == {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999,
                                              "eps": 1e-16, "eps_root": 1e-16}


@given(c=st.floats(-100, 100), beta1=st.floats(0.0, 0.99), beta2=st.floats(0.5, 0.999),
       eps_root=st.sampled_from([0.0, 1e-16, 1e-8]), n=st.integers(1, 40))
def test_constant_gradient_closed_form(c, beta1, beta2, eps_root, n):
    """g_t = c for all t: m_t = (1-beta1^t) c, so g - m_t = beta1^t c and
    s_t = (1-beta2) c^2 sum_i beta2^(t-i) beta1^(2i) + eps_root (1-beta2^t)/(1-beta2):
    the surprise dies out and eps accumulates to a floor of eps_root/(1-beta2)."""
    opt = refopt.adabelief(beta1=beta1, beta2=beta2, eps_root=eps_root)
    w = np.zeros(1)
    state = opt.init(w)
    for _ in range(n):
        w, state = opt.step(w, np.array([c]), state)
    surprise = (1 - beta2) * c * c * sum(beta2 ** (n - i) * beta1 ** (2 * i) for i in range(1, n + 1))
    floor = eps_root * (1 - beta2**n) / (1 - beta2)
    # rounding of the recursion: about n ulps relative to s, plus the cancellation in
    # g - m_t (absolute error ~ ulp(c), which squared and doubled is ~ 1e-15 c^2 at most)
    np.testing.assert_allclose(state.s[0], surprise + floor, rtol=1e-12 * n, atol=1e-15 * c * c + 1e-300)
    np.testing.assert_allclose(state.m[0], (1 - beta1**n) * c, rtol=1e-13 * n, atol=1e-300)
