"""RAdam: the SMA length and rectification in closed form, the switch step, the
un-rectified momentum phase, and agreement with torch.optim.RAdam and optax.radam."""
import math

import numpy as np
import optax
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR = 0.01

# Both frameworks switch at 5 (torch: rho_t > 5, optax: rho_t >= 5; rho_t is never exactly
# 5 on integer t here), so threshold=5. torch's eps is sqrt(1-beta2^t)/(sqrt(s)+eps), an
# eps-hat placement: it equals refopt's form only at eps=0 (the paper's). optax places eps
# outside sqrt(s_hat) as refopt does, so its default 1e-8 is matched.
CHECKS = [
    Check("radam", "torch.optim.RAdam", lambda: refopt.radam(lr=LR, threshold=5.0),
          lambda: torch_optimizer(torch.optim.RAdam, lr=LR, eps=0.0), rtol=1e-12,
          why="threshold=5, eps=0"),
    Check("radam", "optax.radam", lambda: refopt.radam(lr=LR, threshold=5.0, eps=1e-8),
          lambda: optax_transformation(optax.radam(LR)), rtol=1e-12, why="threshold=5, eps=1e-8"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def rho(t, beta2):
    """The paper's rho_t, written out again here."""
    rho_inf = (1 + beta2) / (1 - beta2)  # = 2/(1-beta2) - 1
    return rho_inf - 2 * t * beta2**t / (1 - beta2**t)


def first_rectified_step(beta2, threshold):
    assert threshold < (1 + beta2) / (1 - beta2), "rho_t < rho_inf: it would never switch"
    t = 1
    while rho(t, beta2) <= threshold:
        t += 1
    return t


def test_switch_steps_for_the_default_beta2():
    # rho_1 = 1 (every beta2), rho_4 = 3.998, rho_5 = 4.996, rho_6 = 5.994 (analysis_facts 8.9)
    assert rho(1, 0.999) == pytest.approx(1.0, abs=1e-9)
    assert rho(5, 0.999) == pytest.approx(4.996, abs=1e-3)
    assert first_rectified_step(0.999, 4.0) == 5   # the paper
    assert first_rectified_step(0.999, 5.0) == 6   # torch, optax, the official code
    # and the rule switches there: with g = 2 every step, the momentum phase steps by
    # lr m_hat = 0.2 exactly, the first rectified one by lr r_t m_hat/sqrt(s_hat) = 0.1 r_t
    # (r_t ~ 0.02); rho_t - 4 >= 1 here, so r_t is good to ~1e-13 (see rho's cancellation)
    rho_inf = (1 + 0.999) / (1 - 0.999)
    for threshold, switch in ((4.0, 5), (5.0, 6)):
        opt = refopt.radam(lr=0.1, threshold=threshold)
        w, s, steps = np.zeros(1), opt.init(np.zeros(1)), []
        for _ in range(switch):
            w_new, s = opt.step(w, np.array([2.0]), s)
            steps.append(w[0] - w_new[0])
            w = w_new
        np.testing.assert_allclose(steps[:-1], 0.2, rtol=1e-14)
        p = rho(switch, 0.999)
        r = math.sqrt((p - 4) * (p - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * p))
        np.testing.assert_allclose(steps[-1], 0.1 * r, rtol=1e-12)


def test_first_steps_by_hand_constant_gradient():
    # g = 2 every step: m_hat_t = 2 and s_hat_t = 4 exactly (up to rounding) for all t.
    # t <= 4: w -= lr * m_hat = 0.2 each; t = 5: w -= lr * r_5 * 2 / 2.
    beta2, lr = 0.999, 0.1
    rho_inf = (1 + beta2) / (1 - beta2)
    r5 = math.sqrt((rho(5, beta2) - 4) * (rho(5, beta2) - 2) * rho_inf
                   / ((rho_inf - 4) * (rho_inf - 2) * rho(5, beta2)))
    opt = refopt.radam(lr=lr)
    w = np.array([0.0])
    s = opt.init(w)
    expected = [-0.2, -0.4, -0.6, -0.8, -0.8 - 0.1 * r5]
    for w_hand in expected:
        w, s = opt.step(w, np.array([2.0]), s)
        np.testing.assert_allclose(w[0], w_hand, rtol=1e-13)
    assert 0.017 < r5 < 0.018  # the rectified step starts at 1.7% of Adam's: a built-in warmup


@given(gs=st.lists(st.floats(-10, 10), min_size=12, max_size=12),
       beta1=st.floats(0.0, 0.99), beta2=st.floats(0.8, 0.9999), threshold=st.floats(4.0, 8.0))
def test_momentum_phase_then_rectified_at_the_predicted_step(gs, beta1, beta2, threshold):
    """While rho_t <= threshold the step is exactly lr * m_hat_t (bias-corrected momentum
    SGD); from the first t with rho_t > threshold on it is lr * r_t * m_hat / sqrt(s_hat).
    beta2 >= 0.8 keeps rho_inf = (1+beta2)/(1-beta2) >= 9 above every threshold drawn."""
    lr = 0.1
    switch = first_rectified_step(beta2, threshold)
    opt = refopt.radam(lr=lr, beta1=beta1, beta2=beta2, threshold=threshold)
    w, m, v = np.zeros(1), 0.0, 0.0
    s = opt.init(w)
    rho_inf = (1 + beta2) / (1 - beta2)
    for t, g in enumerate(gs, start=1):
        with np.errstate(invalid="ignore"):  # g = 0 so far and eps = 0: 0/0, as the paper's formula
            w_new, s = opt.step(w, np.array([g]), s)
        m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1**t)
        if t < switch:
            step = lr * m_hat
        else:
            r = math.sqrt((rho(t, beta2) - 4) * (rho(t, beta2) - 2) * rho_inf
                          / ((rho_inf - 4) * (rho_inf - 2) * rho(t, beta2)))
            step = lr * r * m_hat / math.sqrt(v / (1 - beta2**t)) if v > 0 else float("nan")
        if not math.isnan(step):
            # w - w_new carries the rounding of w itself (a few ulps of |w|: it swallows steps
            # far below |w|); the step's own arithmetic is good to ~1e-13, except that rho_t is
            # a difference of numbers near rho_inf, so its absolute error is ~1e-16 rho_inf and
            # r_t's relative error is about that over rho_t - 4
            ulps = 4 * np.spacing(max(abs(w[0]), abs(w_new[0])))
            cancel = 1e-15 * rho_inf / (rho(t, beta2) - 4) if t >= switch else 0.0
            np.testing.assert_allclose(w[0] - w_new[0], step, rtol=1e-13 + cancel, atol=ulps)
        w = w_new


def test_threshold_below_the_pole_is_rejected():
    with pytest.raises(ValueError, match=r"threshold must be a number in \[4, inf\)"):
        refopt.radam(threshold=3.0)
