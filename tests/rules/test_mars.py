"""MARS (AdamW form): pytorch-optimizer's MARS(mars_type="adamw") in float64, the authors' update
written out in NumPy from AGI-Arena/MARS ``mars.py``, the per-leaf clip, the exact variant, and the
formulas of the optax pull requests measured against the rule.

pytorch-optimizer is run as its users run it (float64 params, its own defaults elsewhere) with
``optimize_1d=True`` so that every leaf takes the MARS update; the rule gets pytorch-optimizer's eps
placement through its schedules (eps/sqrt(1 - beta2^t) outside, 1e-15/(1 - beta2^t) inside the root),
so what remains is rounding: measured worst 9.8e-14 relative over 50 steps (seeds 0-3), checked
at 1e-10.
"""
import math

import numpy as np
import pytest
import pytorch_optimizer
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refopt
from refopt.interop.torch import torch_optimizer
from refopt.oracle import mixed_gradients, trajectory

from .independent import Check, assert_agrees

SHAPES = {"w": (5, 4), "v": (3, 6), "b": (4,)}
LR, B1, B2, GAMMA, WD = 0.01, 0.95, 0.99, 0.025, 0.1


def pytorch_optimizer_eps(eps, beta2):
    """Their (sqrt(s + 1e-15) + eps) / sqrt(1 - beta2^t) in the rule's sqrt(s_hat + eps_root) + eps."""
    return dict(eps=lambda t: eps / math.sqrt(1 - beta2**t), eps_root=lambda t: 1e-15 / (1 - beta2**t))


CHECKS = [
    Check("mars", "pytorch_optimizer.MARS",
          lambda: refopt.mars(lr=LR, beta1=B1, beta2=B2, gamma=GAMMA, weight_decay=WD,
                              **pytorch_optimizer_eps(1e-8, B2)),
          lambda: torch_optimizer(pytorch_optimizer.MARS, lr=LR, betas=(B1, B2), gamma=GAMMA,
                                  mars_type="adamw", optimize_1d=True, weight_decay=WD),
          rtol=1e-10, shapes=SHAPES, why="optimize_1d, weight_decay=0.1"),
    Check("mars", "pytorch_optimizer.MARS",
          lambda: refopt.mars(lr=LR, beta1=0.9, beta2=0.999, gamma=0.5, **pytorch_optimizer_eps(1e-6, 0.999)),
          lambda: torch_optimizer(pytorch_optimizer.MARS, lr=LR, betas=(0.9, 0.999), gamma=0.5, eps=1e-6,
                                  mars_type="adamw", optimize_1d=True),
          rtol=1e-10, shapes=SHAPES, why="gamma=0.5, eps=1e-6, betas 0.9/0.999"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def authors_update(w, grads, lr, b1, b2, gamma, eps, wd, prev=None):
    """The authors' ``update_fn`` for ``mars-adamw`` (one tensor), line by line in NumPy: their
    denominator sqrt(v)/sqrt(1 - b2^t) + eps, times 1 - b1^t; ``prev[k]`` replaces the stored
    gradient (their ``is_approx=False``)."""
    p, m, v, last = w.copy(), np.zeros_like(w), np.zeros_like(w), np.zeros_like(w)
    out = []
    for t, g in enumerate(grads, 1):
        before = last if prev is None else prev[t - 1]
        c = (g - before) * (gamma * (b1 / (1 - b1))) + g
        norm = np.linalg.norm(c)
        if norm > 1:
            c = c / norm
        m = b1 * m + (1 - b1) * c
        v = b2 * v + (1 - b2) * c * c
        denom = (np.sqrt(v) / math.sqrt(1 - b2**t) + eps) * (1 - b1**t)
        p = p - lr * (wd * p + m / denom)
        last = g
        out.append(p)
    return out


@pytest.mark.parametrize("shape", [(5, 4), (7,), ()])
def test_equals_the_authors_update_over_the_mixed_stream(shape):
    """Measured worst 6.4e-16 relative to the displacement (the same operations in another order)."""
    w0 = np.random.default_rng(2).standard_normal(shape)
    grads = mixed_gradients(w0, 50, seed=3)
    expected = authors_update(w0, grads, LR, B1, B2, GAMMA, 1e-8, WD)
    ours = trajectory(refopt.mars(lr=LR, beta1=B1, beta2=B2, gamma=GAMMA, weight_decay=WD), w0, grads)
    for a, b in zip(ours, expected):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-14 * np.max(np.abs(b - w0)))


def test_exact_variant_takes_the_previous_points_gradient():
    w0 = np.random.default_rng(4).standard_normal((3, 4))
    grads = mixed_gradients(w0, 10, seed=5)
    prev = mixed_gradients(w0, 10, seed=6)  # stands for grad f(w_{t-1}, xi_t)
    expected = authors_update(w0, grads, LR, B1, B2, GAMMA, 1e-8, WD, prev=prev)
    opt = refopt.mars(lr=LR, beta1=B1, beta2=B2, gamma=GAMMA, weight_decay=WD)
    w, state = w0, opt.init(w0)
    for g, p, e in zip(grads, prev, expected):
        w, state = opt.step(w, g, state, prev_grad=p)
        np.testing.assert_allclose(w, e, rtol=0, atol=1e-14)


def test_worked_example_both_branches_of_the_clip():
    """C_1 = (1 + 0.025 * 19) G_1 = 1.475 G_1 has norm 5.8 (clipped); G_2 small and close to G_3:
    ||C_3|| < 1, left alone. Step 1 of Adam is sign-like: w_1 = w_0 - lr * (sign(C_1) + wd w_0)
    up to eps."""
    w0 = np.array([[0.5, -1.0, 2.0], [1.5, 0.0, -0.5]])
    g1 = np.array([[1.0, 2.0, -1.0], [0.0, -3.0, 1.0]])
    g2 = np.array([[0.01, -0.02, 0.0], [0.03, 0.0, 0.01]])
    g3 = np.array([[0.02, -0.01, 0.0], [0.02, 0.01, 0.01]])
    c3 = g3 + 0.475 * (g3 - g2)
    assert np.linalg.norm(1.475 * g1) > 1 > np.linalg.norm(c3)
    opt = refopt.mars(lr=0.1, weight_decay=0.01, eps=0.0, eps_root=0.0)
    with np.errstate(invalid="ignore"):
        w1, state = opt.step(w0, g1, opt.init(w0))
    nonzero = g1 != 0  # where C_1 is 0, m and s are 0: 0/0 at eps = 0
    np.testing.assert_allclose(w1[nonzero], (w0 - 0.1 * (np.sign(g1) + 0.01 * w0))[nonzero], rtol=1e-15)
    np.testing.assert_allclose(state.m, 0.05 * 1.475 * g1 / np.linalg.norm(1.475 * g1), rtol=1e-15)
    opt = refopt.mars(lr=0.1, weight_decay=0.01)
    state = opt.init(w0)
    w = w0
    for g in (g1, g2, g3):
        w, state = opt.step(w, g, state)
    expected = authors_update(w0, [g1, g2, g3], 0.1, 0.95, 0.99, 0.025, 1e-8, 0.01)[-1]
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-15)


def test_the_clip_is_per_leaf():
    """A leaf with a large gradient is clipped by its own norm; a small leaf beside it is not
    touched by that norm (a global clip would shrink it by 1/||c||)."""
    w0 = {"big": np.ones((2, 3)), "small": np.ones(3)}
    g = {"big": 10.0 * np.arange(6.0).reshape(2, 3), "small": np.array([0.01, -0.02, 0.03])}
    opt = refopt.mars()
    _, state = opt.step(w0, g, opt.init(w0))
    c_small = 1.475 * g["small"]
    np.testing.assert_allclose(state.m["small"], 0.05 * c_small, rtol=1e-15)  # ||c_small|| < 1
    c_big = 1.475 * g["big"]
    np.testing.assert_allclose(state.m["big"], 0.05 * c_big / np.linalg.norm(c_big), rtol=1e-15)


small = hnp.arrays(np.float64, (4, 3), elements=st.floats(-0.2, 0.2, allow_subnormal=False))


@given(st.lists(small, min_size=1, max_size=6))
def test_gamma_zero_without_clipping_is_adam(gs):
    """gamma = 0: c_t = g_t; gradients of norm <= 1 are not clipped: Adam's lines, up to the order of
    lr * m_hat / d (Adam) and lr * (m_hat / d) (here): an ulp of w."""
    w0 = np.linspace(-1.0, 1.0, 12).reshape(4, 3)
    assert all(np.linalg.norm(g) <= 1 for g in gs)
    ours = trajectory(refopt.mars(lr=1e-2, gamma=0.0), w0, gs)
    adam = trajectory(refopt.adam(lr=1e-2, beta1=0.95, beta2=0.99), w0, gs)
    for a, b in zip(ours, adam):
        np.testing.assert_allclose(a, b, rtol=1e-15, atol=0)


@given(st.lists(small, min_size=2, max_size=6))
def test_prev_grad_equal_to_the_stored_gradient_is_the_approximate_variant(gs):
    w0 = np.ones((4, 3))
    opt = refopt.mars(gamma=0.3)
    w_a, s_a = w0, opt.init(w0)
    w_e, s_e = w0, opt.init(w0)
    before = np.zeros_like(w0)
    for g in gs:
        w_a, s_a = opt.step(w_a, g, s_a)
        w_e, s_e = opt.step(w_e, g, s_e, prev_grad=before)
        before = g
        assert np.array_equal(w_a, w_e)


@pytest.mark.parametrize("kwargs, name", [({"beta1": 1.0}, "beta1"), ({"beta2": -0.1}, "beta2"),
                                          ({"gamma": -1.0}, "gamma"), ({"eps_root": -1e-9}, "eps_root"),
                                          ({"weight_decay": -0.1}, "weight_decay"), ({"lr": math.nan}, "lr")])
def test_bad_hyperparameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        refopt.mars(**kwargs)


# --- the optax pull requests' formulas (read in their descriptions; none is merged in optax 0.2.8) ---
#   #1697 (closed): c_t = g_t + gamma b1/(1-b1) (g_t - g_{t-1}), clipping optional: modelled off.
#   #1560/#1562 (closed): c_t = g_t + clip(gamma b1/(1-b1) (g_t - g_{t-1}), max_norm) with a global
#     norm over the tree, no correction at t = 1: modelled with max_norm = 1.
#   #1689 (open): c_t = g_t + (1 - gamma)(c_{t-1} - g_{t-1}), c_1 = g_1 (STORM's recursion), no clip.
# Each then feeds Adam's bias-corrected moments, as the rule does. Same b1, b2, eps, lr as the rule.
K = GAMMA * B1 / (1 - B1)


def pr_1697(g, mem):
    prev = mem.get("g", {k: np.zeros_like(x) for k, x in g.items()})
    mem["g"] = g
    return {k: g[k] + K * (g[k] - prev[k]) for k in g}


def pr_1562(g, mem, max_norm=1.0):
    prev, mem["g"] = mem.get("g"), g
    if prev is None:
        return dict(g)
    corr = {k: K * (g[k] - prev[k]) for k in g}
    norm = math.sqrt(sum(float(np.sum(x * x)) for x in corr.values()))
    scale = 1.0 if norm <= max_norm else max_norm / norm
    return {k: g[k] + scale * corr[k] for k in g}


def pr_1689(g, mem):
    c = dict(g) if "c" not in mem else {k: g[k] + (1 - GAMMA) * (mem["c"][k] - mem["g"][k]) for k in g}
    mem["c"], mem["g"] = c, g
    return c


def adam_on(corrected, w0, grads, lr=3e-3, eps=1e-8):
    w = dict(w0)
    m = {k: np.zeros_like(x) for k, x in w0.items()}
    s = {k: np.zeros_like(x) for k, x in w0.items()}
    mem, out = {}, []
    for t, g in enumerate(grads, 1):
        c = corrected(g, mem)
        for k in w:
            m[k] = B1 * m[k] + (1 - B1) * c[k]
            s[k] = B2 * s[k] + (1 - B2) * c[k] ** 2
            w[k] = w[k] - lr * (m[k] / (1 - B1**t)) / (np.sqrt(s[k] / (1 - B2**t)) + eps)
        out.append(dict(w))
    return out


@pytest.mark.parametrize("model, after_1, after_10", [(pr_1697, 1.69e-6, 1.55), (pr_1562, 1.57e-6, 1.75),
                                                     (pr_1689, 1.57e-6, 2.04)])
def test_the_optax_pull_requests_formulas_measured(model, after_1, after_10):
    """max |w_PR - w_rule| / max |w_rule - w_0| after 1 and 10 steps of the mixed stream (lr 3e-3,
    the rule's defaults). One step measures eps only: Adam's first step is m/sqrt(s) = sign(c_1)
    whatever c_1's scale, so the three formulas agree with the paper there up to eps/|c_1|. Ten steps
    measure the formulas: the stream's +-100 spikes pass unclipped (#1697, #1689) or clipped only in
    the correction (#1562), and #1689's recursion carries 0.975 of the last correction forward."""
    rng = np.random.default_rng(0)
    w0 = {k: rng.standard_normal(s) for k, s in SHAPES.items()}
    grads = mixed_gradients(w0, 10, seed=1)
    ours = trajectory(refopt.mars(), w0, grads)
    theirs = adam_on(model, w0, grads)

    def rel(k):
        return max(np.max(np.abs(theirs[k][n] - ours[k][n])) / np.max(np.abs(ours[k][n] - w0[n])) for n in w0)
    assert rel(0) == pytest.approx(after_1, rel=0.01)
    assert rel(9) == pytest.approx(after_10, rel=0.01)
