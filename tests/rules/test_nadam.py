"""NAdam (Dozat's constant-beta1 form): hand-derived steps, the beta1 = 0 law, and
agreement with optax.nadam and with torch.optim.NAdam where its schedule is constant."""
import numpy as np
import optax
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.interop import Adapter
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR = 0.01


def torch_with_float64_scalars(cls, **kwargs):
    """torch keeps NAdam's mu_product in its default scalar dtype (float32 unless the
    default dtype is float64), which alone costs ~2e-7; a float64 default keeps it exact."""
    inner = torch_optimizer(cls, **kwargs)

    def scoped(f):
        def run(*args):
            old = torch.get_default_dtype()
            torch.set_default_dtype(torch.float64)
            try:
                return f(*args)
            finally:
                torch.set_default_dtype(old)
        return run

    return Adapter(inner.name, scoped(inner.init), scoped(inner.step))


# torch's mu_t = beta1 (1 - 0.5 * 0.96^(t psi)) is constant = beta1 exactly when 0.96^(t psi)
# underflows to 0.0: psi = 1e5 gives 0.96^(1e5) = e^-4082 = 0.0 from t = 1. Then its
# products of mu_i are beta1^t and NAdam is Dozat's constant form (formulas.md 11a).
CHECKS = [
    Check("nadam", "optax.nadam", lambda: refopt.nadam(lr=LR),
          lambda: optax_transformation(optax.nadam(LR)), rtol=1e-12),
    Check("nadam", "torch.optim.NAdam", lambda: refopt.nadam(lr=LR),
          lambda: torch_with_float64_scalars(torch.optim.NAdam, lr=LR, momentum_decay=1e5),
          rtol=1e-12, why="momentum_decay=1e5 (constant mu_t = beta1)"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_step_by_hand_and_not_the_cheat_sheets_exponent():
    # beta1 = 1/2, beta2 = 3/4, lr = 0.1, eps = 0, g_1 = 2:
    # m_1 = 1, s_1 = 1/4 * 4 = 1, s_hat = 1/(1 - 3/4) = 4
    # m_bar = (1/2)(1)/(1 - 1/4) + (1/2)(2)/(1 - 1/2) = 2/3 + 2 = 8/3; w_1 = 1 - 0.1 (8/3)/2
    # The cheat sheet's beta1 m_1/(1-beta1^1) + ... = 1 + 2 = 3 would give 1 - 0.15.
    opt = refopt.nadam(lr=0.1, beta1=0.5, beta2=0.75, eps=0.0)
    w1, s = opt.step(np.array([1.0]), np.array([2.0]), opt.init(np.array([1.0])))
    assert s.m[0] == 1.0 and s.s[0] == 1.0
    np.testing.assert_allclose(w1[0], 1.0 - 0.1 * (8 / 3) / 2, rtol=1e-15)
    assert abs(w1[0] - (1.0 - 0.15)) > 1e-2
    # t=2, g_2 = -1: m_2 = 1/2 - 1/2 = 0, s_2 = 3/4 + 1/4 = 1, s_hat = 1/(1 - 9/16) = 16/7
    # m_bar = 0 + (1/2)(-1)/(1 - 1/4) = -2/3; w_2 = w_1 + 0.1 (2/3)/sqrt(16/7)
    w2, s = opt.step(w1, np.array([-1.0]), s)
    np.testing.assert_allclose(w2[0], w1[0] + 0.1 * (2 / 3) / np.sqrt(16 / 7), rtol=1e-15)


@given(gs=st.lists(st.floats(-100, 100), min_size=1, max_size=20),
       beta2=st.floats(0.5, 0.999), eps=st.floats(1e-8, 1e-2), lr=st.floats(1e-3, 1.0))
def test_beta1_zero_is_rmsprop_with_bias_correction(gs, beta2, eps, lr):
    """With beta1 = 0, m_bar_t = g_t: w -= lr g / (sqrt(s/(1-beta2^t)) + eps)."""
    opt = refopt.nadam(lr=lr, beta1=0.0, beta2=beta2, eps=eps)
    w = w_ref = np.zeros(1)
    state, s_ref = opt.init(w), 0.0
    for t, g in enumerate(gs, start=1):
        w, state = opt.step(w, np.array([g]), state)
        s_ref = beta2 * s_ref + (1 - beta2) * g * g
        w_ref = w_ref - lr * g / (np.sqrt(s_ref / (1 - beta2**t)) + eps)
        np.testing.assert_allclose(w, w_ref, rtol=1e-12, atol=1e-12 * lr * t)


def test_eps_root_goes_inside_the_root():
    # one step, g = 2, beta2 = 3/4: s_hat = 4; eps_root = 5 makes the root 3
    opt = refopt.nadam(lr=0.1, beta1=0.0, beta2=0.75, eps=0.0, eps_root=5.0)
    w1, _ = opt.step(np.array([0.0]), np.array([2.0]), opt.init(np.array([0.0])))
    np.testing.assert_allclose(w1[0], -0.1 * 2 / 3, rtol=1e-15)
