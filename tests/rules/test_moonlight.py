"""Moonlight: torch.optim.Muon(adjust_lr_fn="match_rms_adamw") and pytorch-optimizer's
Muon(use_adjusted_lr=True) through their flavors with NS in float64 (why: tests/rules/test_muon.py), the update RMS, and a
step by hand.

Both frameworks keep EMA momentum with the Nesterov mix; Moonlight's is the sum form. With
eps = 0 the two give the same O_t: the sum-form buffer is the EMA buffer divided by
(1 - beta1) at every step, so U_t is too, and NS(cU) = NS(U) for c > 0.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refopt

from .independent import Check, assert_agrees
from .test_muon import BAND, SHAPES, TORCH_MUON, kozistr, kz, ns_closed_form, torch_muon

LR, WD = 0.01, 0.1

CHECKS = [
    Check("moonlight", TORCH_MUON,
          lambda: refopt.moonlight(lr=LR, weight_decay=WD, nesterov=True, eps=0.0),
          lambda: torch_muon(lr=LR, weight_decay=WD, adjust_lr_fn="match_rms_adamw", eps=0.0),
          rtol=1e-12, shapes=SHAPES, why="match_rms_adamw, nesterov, NS in float64, eps=0"),
    Check("moonlight", TORCH_MUON,
          lambda: refopt.moonlight(lr=LR, weight_decay=WD, eps=0.0),
          lambda: torch_muon(lr=LR, weight_decay=WD, adjust_lr_fn="match_rms_adamw", nesterov=False, eps=0.0),
          rtol=1e-12, shapes=SHAPES, why="match_rms_adamw, nesterov=False, NS in float64, eps=0"),
    Check("moonlight", kz("Muon"),
          lambda: refopt.moonlight(lr=LR, weight_decay=WD, nesterov=True, eps=0.0),
          lambda: kozistr("Muon", lr=LR, weight_decay=WD, use_adjusted_lr=True,
                          foreach=False),
          rtol=1e-12, shapes=SHAPES, why="use_adjusted_lr, NS in float64, eps=0"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_two_steps_by_hand():
    """M_1 = G_1, M_2 = b G_1 + G_2; W_t = W_{t-1} - lr (0.2 sqrt(max(A, B)) NS(M_t) + wd W_{t-1})."""
    rng = np.random.default_rng(0)
    w0, g1, g2 = (rng.standard_normal((3, 5)) for _ in range(3))
    lr, b, wd = 0.1, 0.9, 0.5
    opt = refopt.moonlight(lr=lr, beta1=b, weight_decay=wd, eps=0.0)
    w1, s = opt.step(w0, g1, opt.init(w0))
    w2, s = opt.step(w1, g2, s)
    e1 = w0 - lr * (0.2 * np.sqrt(5) * ns_closed_form(g1)[0] + wd * w0)
    e2 = e1 - lr * (0.2 * np.sqrt(5) * ns_closed_form(b * g1 + g2)[0] + wd * e1)
    np.testing.assert_allclose(w1, e1, rtol=0, atol=1e-13)
    np.testing.assert_allclose(w2, e2, rtol=0, atol=1e-13)
    np.testing.assert_allclose(s.m, b * g1 + g2, rtol=0, atol=1e-15)


@given(seed=st.integers(0, 2**31), rows=st.integers(1, 10), cols=st.integers(1, 10),
       kappa=st.floats(1.0, 20.0))
def test_update_rms_is_0_2_times_the_rms_of_the_singular_values(seed, rows, cols, kappa):
    """The claim "update RMS = 0.2", measured. The update is 0.2 sqrt(max(A,B)) O, whose RMS is
    0.2 sqrt(max(A,B)) ||O||_F / sqrt(AB) = 0.2 sqrt(mean of sigma_i(O)^2) over the min(A,B)
    singular values: exactly 0.2 for an orthogonal O. NS leaves sigma_i in BAND when every
    singular value of the input is >= 1% of its norm (test_muon.py), so the RMS is in
    0.2 * BAND = [0.136, 0.227]; checked (1e-12) as the identity, and as the band."""
    rng = np.random.default_rng(seed)
    r = min(rows, cols)
    U, _ = np.linalg.qr(rng.standard_normal((rows, r)))
    V, _ = np.linalg.qr(rng.standard_normal((cols, r)))
    s = rng.uniform(1.0, kappa, r)
    G = U @ np.diag(s) @ V.T
    w = rng.standard_normal((rows, cols))
    opt = refopt.moonlight(lr=1.0, weight_decay=0.0, eps=0.0)
    w1, _ = opt.step(w, G, opt.init(w))
    update_rms = np.sqrt(np.mean((w - w1) ** 2))
    sigma = np.linalg.svd(ns_closed_form(G)[0], compute_uv=False)
    np.testing.assert_allclose(update_rms, 0.2 * np.sqrt(np.mean(sigma**2)), rtol=1e-12)
    if s.min() / np.linalg.norm(G) >= 0.01:
        assert 0.2 * BAND[0] - 1e-9 <= update_rms <= 0.2 * BAND[1] + 1e-9


def test_reference_example_768_by_3072_gets_lr_times_11_09():
    """formulas.md section 23: 0.2 sqrt(3072) = 11.09."""
    from refopt.rules.muon import rms_match_factor
    assert abs(rms_match_factor((768, 3072)) - 11.0851) < 1e-4
    # the factor is 0.2 sqrt(max(A, B)); 1e-15: one sqrt and one product
    np.testing.assert_allclose(rms_match_factor((768, 3072)), 0.2 * np.sqrt(3072), rtol=1e-15)
    np.testing.assert_allclose(rms_match_factor((3072, 768)), 0.2 * np.sqrt(3072), rtol=1e-15)
    np.testing.assert_allclose(rms_match_factor((5, 3)), 0.2 * np.sqrt(5), rtol=1e-15)


def test_float32_stays_float32():
    w = np.ones((3, 4), dtype=np.float32)
    opt = refopt.moonlight()
    w1, s = opt.step(w, w, opt.init(w))
    assert w1.dtype == s.m.dtype == np.float32
