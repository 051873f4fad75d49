"""MARS-M: pytorch-optimizer's MARS(mars_type="shampoo") in float64, a worked example from the
README's Algorithm 2 (approximate) and the exact variant's extra gradient, and the clip.

pytorch-optimizer's "shampoo" type for a 2-D leaf is MARS-M with Muon's shape factor
sqrt(max(1, rows/cols)) instead of 0.2 sqrt(max(A, B)): compared with ``adjust_lr="original"``,
through its flavor with NS in float64, eps = 0 (tests/rules/test_muon.py says why). Its NS input is
M/(1 - beta1), which NS's scale invariance makes the same O_t.
"""
import numpy as np
import pytest

import refopt

from .independent import Check, assert_agrees
from .test_muon import SHAPES, kozistr, kz, ns_closed_form


def _kz_mars(**kw):
    return kozistr("MARS", **kw)


LR, WD, B1, GAMMA = 0.01, 0.1, 0.95, 0.025

CHECKS = [
    Check("mars_m", kz("MARS"),
          lambda: refopt.mars_m(lr=LR, beta1=B1, gamma=GAMMA, weight_decay=WD, eps=0.0, adjust_lr="original"),
          lambda: _kz_mars(lr=LR, betas=(B1, 0.99), gamma=GAMMA, mars_type="shampoo", weight_decay=WD,
                           eps=0.0),
          rtol=1e-12, shapes=SHAPES, why="mars_type=shampoo is adjust_lr=original, NS in float64"),
    Check("mars_m", kz("MARS"),
          lambda: refopt.mars_m(lr=LR, beta1=0.9, gamma=0.5, eps=0.0, weight_decay=0.0, adjust_lr="original"),
          lambda: _kz_mars(lr=LR, betas=(0.9, 0.99), gamma=0.5, mars_type="shampoo", weight_decay=0.0,
                           eps=0.0),
          rtol=1e-12, shapes=SHAPES, why="gamma=0.5 (large correction), NS in float64"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def by_hand(w, grads, lr, b1, gamma, lam, prev=None):
    """Algorithm 2, one line each; ``prev[k]`` replaces the stored gradient (exact variant)."""
    W, M, G_prev = w.copy(), np.zeros_like(w), np.zeros_like(w)
    A, B = w.shape
    out = []
    for k, G in enumerate(grads):
        before = G_prev if prev is None else prev[k]
        C = G + gamma * b1 / (1 - b1) * (G - before)
        norm = np.linalg.norm(C)
        C_clipped = C / norm if norm > 1 else C
        M = b1 * M + (1 - b1) * C_clipped
        O = ns_closed_form(M)[0]
        W = W - lr * (0.2 * np.sqrt(max(A, B)) * O + lam * W)
        G_prev = G
        out.append((W, M, C, norm))
    return out


W0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
# Steps 1 and 2: ||C|| > 1 (5.8, then 1.81 from the jump G_2 - G_1), clipped; step 3: small
# gradients close to G_2, ||C_3|| < 1, not clipped.
GRADS = [np.array([[1.0, 2.0, -1.0], [0.0, -3.0, 1.0]]),
         np.array([[0.01, -0.02, 0.0], [0.03, 0.0, 0.01]]),
         np.array([[0.02, -0.01, 0.0], [0.02, 0.01, 0.01]])]


def test_worked_example_approximate_variant():
    lr, b1, gamma, lam = 0.1, 0.9, 0.05, 0.01   # gamma b1/(1-b1) = 0.45: C_1 = 1.45 G_1
    expected = by_hand(W0, GRADS, lr, b1, gamma, lam)
    assert expected[0][3] > 1 and expected[1][3] > 1 and expected[2][3] < 1  # both branches of Clip
    np.testing.assert_allclose(expected[0][2], 1.45 * GRADS[0], rtol=1e-15)
    opt = refopt.mars_m(lr=lr, beta1=b1, gamma=gamma, weight_decay=lam, eps=0.0)
    w, state = W0, opt.init(W0)
    for G, (W, M, _, _) in zip(GRADS, expected):
        w, state = opt.step(w, G, state)
        np.testing.assert_allclose(w, W, rtol=0, atol=1e-13)   # a few ulps of O(1) entries
        np.testing.assert_allclose(state.m, M, rtol=0, atol=1e-15)
        np.testing.assert_array_equal(state.g_prev, G)


def test_worked_example_exact_variant_takes_the_previous_point_on_this_batch():
    lr, b1, gamma, lam = 0.1, 0.9, 0.05, 0.01
    prev = [np.zeros((2, 3)), np.array([[0.5, 0.5, 0.0], [0.0, -0.5, 0.5]]), GRADS[0]]
    expected = by_hand(W0, GRADS, lr, b1, gamma, lam, prev=prev)
    approx = by_hand(W0, GRADS, lr, b1, gamma, lam)
    assert not np.allclose(expected[-1][0], approx[-1][0])  # the variants differ here
    opt = refopt.mars_m(lr=lr, beta1=b1, gamma=gamma, weight_decay=lam, eps=0.0)
    w, state = W0, opt.init(W0)
    for G, P, (W, _, _, _) in zip(GRADS, prev, expected):
        w, state = opt.step(w, G, state, prev_grad=P)
        np.testing.assert_allclose(w, W, rtol=0, atol=1e-13)


def test_gamma_zero_is_moonlight_on_clipped_ema_gradients():
    """gamma = 0: C = G, so with ||G|| <= 1 MARS-M is Moonlight on an EMA (no Nesterov) buffer,
    which NS cannot tell from Moonlight's sum buffer (scale invariance, eps = 0)."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3))
    grads = [0.1 * rng.standard_normal((4, 3)) for _ in range(5)]
    a, b = refopt.mars_m(gamma=0.0, eps=0.0), refopt.moonlight(eps=0.0)
    sa, sb, wa, wb = a.init(w), b.init(w), w, w
    for g in grads:
        wa, sa = a.step(wa, g, sa)
        wb, sb = b.step(wb, g, sb)
    np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-14)
