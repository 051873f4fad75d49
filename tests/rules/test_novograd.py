"""NovoGrad: agreement with optax and pytorch-optimizer, two hand-derived steps, and the paper's
layer-wise normalisation: rescaling one layer's gradients by c > 0 leaves every step unchanged."""
import math

import numpy as np
import optax
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from pytorch_optimizer import NovoGrad

import refopt
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees

LR, B1, B2, EPS, WD = 0.01, 0.8, 0.5, 1e-6, 0.1

# Same algorithm; the norm is sqrt(sum g^2) here, jnp.linalg.norm in optax, sum(g^2) then
# sqrt in pytorch-optimizer (its v by lerp): last-bit differences, carried by the momentum.
# Measured 4.0e-15 (optax), 1.2e-15 (pytorch-optimizer); 1e-12 is slack for other BLAS orders.
CHECKS = [
    Check("novograd", "optax.novograd",
          lambda: refopt.novograd(lr=LR, beta1=B1, beta2=B2, eps=EPS, eps_root=1e-8, weight_decay=WD),
          lambda: optax_transformation(optax.novograd(LR, b1=B1, b2=B2, eps=EPS, eps_root=1e-8,
                                                      weight_decay=WD)),
          rtol=1e-12, why="b1=0.8,b2=0.5,eps_root=1e-8,weight_decay=0.1"),
    Check("novograd", "pytorch_optimizer.NovoGrad",
          lambda: refopt.novograd(lr=LR, beta1=B1, beta2=B2, eps=EPS, weight_decay=WD),
          lambda: torch_optimizer(NovoGrad, lr=LR, betas=(B1, B2), eps=EPS, weight_decay=WD),
          rtol=1e-12, why="betas=(0.8,0.5),weight_decay=0.1"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    lr, b1, b2, wd = 0.5, 0.5, 0.75, 0.25
    opt = refopt.novograd(lr=lr, beta1=b1, beta2=b2, eps=0.0, weight_decay=wd)
    w0 = np.array([2.0, -4.0])
    # v_1 = ||g_1||^2 = 25 (no 1 - b2 and no bias correction); m_1 = g_1/5 + wd*w_0
    w1, s = opt.step(w0, np.array([3.0, 4.0]), opt.init(w0))
    assert s.v.shape == (1,) and s.v[0] == 25.0
    np.testing.assert_allclose(s.m, [0.6 + 0.5, 0.8 - 1.0], rtol=1e-15)
    np.testing.assert_allclose(w1, w0 - lr * np.array([1.1, -0.2]), rtol=1e-15)
    # g_2 = (0, 10): v_2 = 0.75*25 + 0.25*100 = 43.75; m_2 = 0.5*m_1 + g_2/sqrt(v_2) + wd*w_1
    w2, s = opt.step(w1, np.array([0.0, 10.0]), s)
    assert math.isclose(float(s.v[0]), 43.75, rel_tol=1e-15)
    m2 = 0.5 * np.array([1.1, -0.2]) + np.array([0.0, 10.0]) / math.sqrt(43.75) + wd * w1
    np.testing.assert_allclose(s.m, m2, rtol=1e-14)     # a square root and a quotient
    np.testing.assert_allclose(w2, w1 - lr * m2, rtol=1e-14)


def test_the_second_moment_is_one_number_per_layer():
    opt = refopt.novograd()
    params = {"w": np.ones((5, 4)), "b": np.ones(4)}
    state = opt.init(params)
    assert state.v["w"].shape == (1, 1) and state.v["b"].shape == (1,)
    assert state.m["w"].shape == (5, 4)


# |g| >= 1e-100 or 0: ||g||^2 then stays a normal float64 (below ~1e-154 it underflows to 0)
ENTRIES = st.one_of(st.just(0.0), st.floats(1e-100, 1e3), st.floats(-1e3, -1e-100))


@settings(max_examples=50, deadline=None)
@given(gs=hnp.arrays(np.float64, (4, 3, 2), elements=ENTRIES),
       c=st.floats(1e-3, 1e3), wd=st.sampled_from([0.0, 0.1]))
def test_rescaling_one_layers_gradient_leaves_the_steps_unchanged(gs, c, wd):
    """With eps = 0, g/sqrt(v) is invariant under g -> c g for c > 0 (v scales by c^2), so every
    step of the rescaled layer is the same; the other layer is untouched to the bit (no norm
    crosses layers). Tolerance 1e-12 of the distance moved: c*g, its norm squared and the root
    each round (a few ulps per step over 4 steps)."""
    opt = refopt.novograd(lr=0.1, beta1=0.9, beta2=0.5, eps=0.0, weight_decay=wd)
    w0 = {"a": np.full((3, 2), 0.5), "b": np.full(2, -1.0)}
    # no all-zero layer gradient: 0/0 is NaN at eps = 0 (the formula is undefined there)
    assume(all(np.any(g != 0) and np.any(g[0] != 0) for g in gs))
    base, scaled = w0, w0
    sb, ss = opt.init(w0), opt.init(w0)
    for g in gs:
        grads = {"a": g, "b": g[0]}
        base, sb = opt.step(base, grads, sb)
        scaled, ss = opt.step(scaled, {"a": c * g, "b": g[0]}, ss)
    np.testing.assert_array_equal(scaled["b"], base["b"])
    moved = np.max(np.abs(base["a"] - w0["a"]))
    assert np.max(np.abs(scaled["a"] - base["a"])) <= 1e-12 * max(moved, 1e-300)


def test_float32_stays_float32():
    opt = refopt.novograd(lr=0.5, eps=0.0)
    w = np.array([2.0, -4.0], dtype=np.float32)
    w1, s = opt.step(w, np.array([3.0, 4.0], dtype=np.float32), opt.init(w))
    assert w1.dtype == s.m.dtype == s.v.dtype == np.float32
    np.testing.assert_allclose(w1, [2.0 - 0.3, -4.0 - 0.4], rtol=1e-6)   # float32: a few ulps
