"""AdEMAMix: agreement with optax.contrib, pytorch-optimizer and bitsandbytes (32-bit), a hand-derived
first step with the warm-ups, the paper's identity alpha = 0 -> Adam, and the warm-ups' closed forms."""
import math

import numpy as np
import optax
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import AdEMAMix

import refopt
from refopt.flavors import bitsandbytes_more
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer
from refopt.rules.ademamix import alpha_warmup, beta3_warmup

from .independent import Check, assert_agrees

LR, B1, B2, B3, ALPHA, WD, T = 1e-2, 0.9, 0.99, 0.999, 3.0, 0.1, 30


def _bnb(**kw):
    import bitsandbytes.optim
    return torch_optimizer(bitsandbytes.optim.AdEMAMix, **kw)


# optax and pytorch-optimizer: the same float64 lines in another order; measured worst 5.0e-15
# (optax) and 8e-16 (pytorch-optimizer), 1e-10 is the flavor tests' budget. bitsandbytes computes in
# float32 whatever the params' dtype (the flavor does too): float32 roundings over 50 steps, measured
# worst 2.0e-5 relative to the distance moved (seeds 0-2), so 1e-4.
CHECKS = [
    Check("ademamix", "optax.contrib.ademamix",
          lambda: refopt.ademamix(lr=LR, beta1=B1, beta2=B2, beta3=B3, alpha=ALPHA, weight_decay=WD),
          lambda: optax_transformation(optax.contrib.ademamix(LR, b1=B1, b2=B2, b3=B3, alpha=ALPHA,
                                                              weight_decay=WD)),
          rtol=1e-10, why="weight_decay=0.1"),
    Check("ademamix", "pytorch_optimizer.AdEMAMix",
          lambda: refopt.ademamix(lr=LR, beta1=B1, beta2=B2, beta3=B3, alpha=ALPHA, t_alpha=T, t_beta3=T,
                                  weight_decay=WD),
          lambda: torch_optimizer(AdEMAMix, lr=LR, betas=(B1, B2, B3), alpha=ALPHA, t_alpha_beta3=T,
                                  weight_decay=WD, weight_decouple=True),
          rtol=1e-10, why="warm-up T=30"),
    Check("ademamix", "bitsandbytes.optim.AdEMAMix",
          lambda: bitsandbytes_more.AdEMAMix(lr=LR, betas=(B1, B2, B3), alpha=ALPHA, t_alpha=20, t_beta3=40),
          lambda: _bnb(lr=LR, betas=(B1, B2, B3), alpha=ALPHA, t_alpha=20, t_beta3=40),
          rtol=1e-4, why="32-bit, warm-ups 20 and 40"),
    Check("ademamix", "bitsandbytes.optim.AdEMAMix",
          lambda: bitsandbytes_more.AdEMAMix(lr=LR), lambda: _bnb(lr=LR), rtol=1e-4, why="32-bit defaults"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_step_by_hand_with_both_warmups():
    # t = 1, T_alpha = 2, T_beta3 = 2: alpha_1 = alpha/2; 1/ln(beta3_1) = (1/ln b1 + 1/ln b3)/2.
    # m1_hat = g, s_hat = g^2, m2 = (1-beta3_1) g, so w_1 = w_0 - lr*((g + alpha_1 m2)/(|g|+eps) + wd w_0).
    lr, b1, b3, alpha, wd, eps = 0.5, 0.5, 0.25 ** 0.5, 4.0, 0.25, 0.0
    beta3_1 = math.exp(2 / (1 / math.log(b1) + 1 / math.log(b3)))
    opt = refopt.ademamix(lr=lr, beta1=b1, beta2=0.75, beta3=b3, alpha=alpha, t_alpha=2, t_beta3=2, eps=eps,
                          weight_decay=wd)
    w0, g = np.array([1.0, -2.0]), np.array([3.0, -0.5])
    w1, s = opt.step(w0, g, opt.init(w0))
    np.testing.assert_allclose(s.m2, (1 - beta3_1) * g, rtol=1e-15)
    expected = w0 - lr * ((g + 2.0 * (1 - beta3_1) * g) / np.abs(g) + wd * w0)
    np.testing.assert_allclose(w1, expected, rtol=1e-15)


@settings(max_examples=30, deadline=None)
@given(gs=hnp.arrays(np.float64, (8, 4), elements=st.floats(-1e3, 1e3)), lr=st.floats(1e-4, 1.0),
       b1=st.floats(0.0, 0.99), b2=st.floats(0.0, 0.9999), b3=st.floats(0.0, 0.9999),
       eps=st.floats(1e-8, 1.0))
def test_alpha_zero_is_adam(gs, lr, b1, b2, b3, eps):
    """With alpha = 0 and no decay, (m1_hat + 0*m2)/(sqrt(s_hat)+eps) is Adam's step: the slow EMA
    drops out (the paper: AdEMAMix generalises Adam). The moments are the same bits; the params are
    computed as lr*(a/b) here and (lr*a)/b in Adam, a few roundings apart per step: the difference
    may grow by 4.5e-16 (2 ulp) of |w| + |step| per step (the moments being the same, it only adds)."""
    ours, adam = refopt.ademamix(lr=lr, beta1=b1, beta2=b2, beta3=b3, alpha=0.0, eps=eps), refopt.adam(
        lr=lr, beta1=b1, beta2=b2, eps=eps)
    w_a = w_b = np.linspace(-1, 1, 4)
    sa, sb = ours.init(w_a), adam.init(w_b)
    bound = 0.0
    for g in gs:
        w_a, sa = ours.step(w_a, g, sa)
        w_prev = w_b
        w_b, sb = adam.step(w_b, g, sb)
        bound += 4.5e-16 * (np.max(np.abs(w_b)) + np.max(np.abs(w_b - w_prev)))
        np.testing.assert_array_equal(sa.m1, sb.m)
        np.testing.assert_array_equal(sa.s, sb.s)
        assert np.max(np.abs(w_a - w_b)) <= bound


@settings(max_examples=60, deadline=None)
@given(b1=st.floats(0.01, 0.99), b3=st.floats(0.01, 0.99999), alpha=st.floats(0.0, 20.0),
       T=st.integers(2, 10**6).map(lambda n: 2 * n))
def test_warmups_closed_forms_at_0_half_and_T(b1, b3, alpha, T):
    """f_alpha: 0, alpha/2, alpha at t = 0, T/2, T (and alpha after). f_beta3: beta1 at 0, beta3 at T
    (capped at beta3 throughout), and at T/2 the time scale halfway: 1/ln b = (1/ln b1 + 1/ln b3)/2."""
    assert alpha_warmup(0, alpha, T) == 0.0
    assert alpha_warmup(T // 2, alpha, T) == pytest.approx(alpha / 2, rel=1e-15)
    # t*alpha/T at t = T is alpha up to one rounding (1 ulp): rel 1e-15; past T the min gives alpha itself
    assert alpha_warmup(T, alpha, T) == pytest.approx(alpha, rel=1e-15)
    assert alpha_warmup(3 * T, alpha, T) == alpha
    assert beta3_warmup(0, b1, b3, T) == pytest.approx(min(b1, b3), rel=1e-14)
    assert beta3_warmup(T, b1, b3, T) == pytest.approx(b3, rel=1e-14)
    half = math.exp(2.0 / (1.0 / math.log(b1) + 1.0 / math.log(b3)))
    assert beta3_warmup(T // 2, b1, b3, T) == pytest.approx(min(half, b3), rel=1e-12)
    if b3 >= b1:  # the paper's setting; with beta3 < beta1 the formula past T can fall below beta3
        assert beta3_warmup(5 * T, b1, b3, T) == pytest.approx(b3, rel=1e-14)


def test_no_warmup_keeps_alpha_and_beta3():
    assert alpha_warmup(1, 5.0, None) == 5.0 and beta3_warmup(1, 0.9, 0.9999, None) == 0.9999


@pytest.mark.parametrize("kw, name", [({"t_alpha": 0}, "t_alpha"), ({"t_beta3": -1.0}, "t_beta3"),
                                      ({"t_beta3": 10, "beta1": 0.0}, "beta1"), ({"alpha": -1.0}, "alpha")])
def test_bad_settings_are_refused_naming_them(kw, name):
    with pytest.raises(ValueError, match=name):
        refopt.ademamix(**kw)
