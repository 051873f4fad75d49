"""Adafactor: hand-derived steps (factored and vector, clipping), the rank-one law of the
factored estimate, the clipping bound, and agreement with torch.optim.Adafactor and
optax.adafactor on a matrix, a vector and a rank-3 array."""
import math

import jax
import jax.numpy as jnp
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

SHAPES = {"w": (5, 4), "b": (4,), "k": (2, 5, 4)}


def optax_adafactor(**kwargs):
    # min_dim_size_to_factor=1: optax factors only when both axes are >= 128 (default);
    # here every rank >= 2 leaf is factored, as in the paper. For (2, 5, 4) optax's "two
    # largest axes" are the last two, so it factors the same axes as refopt and torch.
    # learning_rate=1e-2 is rho_t = min(1e-2, 1/sqrt(t)) for t <= 10^4 (optax has no
    # relative step of its own).
    return optax_transformation(optax.adafactor(1e-2, min_dim_size_to_factor=1, **kwargs))


# torch: eps1 (default machine epsilon) is used in clamps, not added to G^2; on this stream
# no clamp binds (measured: row means of R >= 0.15, V-hat entries >= 8e-6, vs clamps at
# 2.2e-16 and 4.9e-32), and refopt's additive eps1 = 1e-30 moves V-hat by a relative
# 1e-30 / 8e-6 at most: far below 1e-12.
# optax: computes beta2_t = 1 - t^-0.8 in float32 whatever the params' dtype
# (factorized._decay_rate_pow), a relative error up to 6e-8 in beta2_t that reaches the
# update at ~1e-7; hence 1e-6 here. test_optax_with_a_float64_decay_agrees_to_1e_12 replaces
# only that schedule and gets 1e-12, so nothing else differs.
CHECKS = [
    Check("adafactor", "torch.optim.Adafactor", lambda: refopt.adafactor(),
          lambda: torch_optimizer(torch.optim.Adafactor), rtol=1e-12, shapes=SHAPES),
    Check("adafactor", "optax.adafactor", lambda: refopt.adafactor(), lambda: optax_adafactor(),
          rtol=1e-6, shapes=SHAPES, why="min_dim_size_to_factor=1, float32 beta2_t"),
    Check("adafactor", "optax.adafactor", lambda: refopt.adafactor(beta1=0.9),
          lambda: optax_adafactor(momentum=0.9), rtol=1e-6, shapes=SHAPES,
          why="momentum=0.9, float32 beta2_t"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def _decay_rate_float64(step, exponent=0.8):
    return 1.0 - jnp.asarray(step + 1, jnp.float64) ** (-exponent)


@pytest.mark.parametrize("momentum", [None, 0.9])
def test_optax_with_a_float64_decay_agrees_to_1e_12(momentum):
    """optax.adafactor's own chain (alias.py) with only decay_rate_fn swapped for a float64
    one: the 1e-6 above is optax's float32 beta2_t and nothing else."""
    with jax.enable_x64(True):  # this thread, this test: a process-wide switch leaked into later tests
        _float64_chain_agrees(momentum)


def _float64_chain_agrees(momentum):
    tx = [optax.scale_by_factored_rms(min_dim_size_to_factor=1, decay_rate_fn=_decay_rate_float64),
          optax.clip_by_block_rms(1.0), optax.scale_by_learning_rate(1e-2, flip_sign=False),
          optax.scale_by_param_block_rms()]
    if momentum is not None:
        tx.append(optax.ema(momentum, debias=False))
    tx.append(optax.scale(-1.0))
    assert_agrees(Check("adafactor", "optax chain", lambda: refopt.adafactor(beta1=momentum or 0.0),
                        lambda: optax_transformation(optax.chain(*tx)), rtol=1e-12, shapes=SHAPES))


def test_first_steps_by_hand_matrix():
    # G = [[1, 2], [2, 4]] = a b^T: G^2 is rank one, so V-hat_1 = G^2 (beta2_1 = 1 - 1 = 0),
    # U = G/|G| = all ones, RMS(U) = 1: no clipping. w_0 = all ones: RMS = 1,
    # alpha_1 = max(1e-3, 1) min(1e-2, 1) = 1e-2; w_1 = w_0 - 1e-2.
    # R_1 = row sums of G^2 = [5, 20], C_1 = column sums = [5, 20].
    opt = refopt.adafactor(eps1=0.0)
    w0, G = np.ones((2, 2)), np.array([[1.0, 2.0], [2.0, 4.0]])
    w1, s = opt.step(w0, G, opt.init(w0))
    np.testing.assert_array_equal(s.v[0], [5.0, 20.0])
    np.testing.assert_array_equal(s.v[1], [5.0, 20.0])
    np.testing.assert_allclose(w1, w0 - 1e-2, rtol=1e-15)
    # t=2, G = [[1, 0], [0, 0]]: beta = 1 - 2^-0.8; R_2 = beta [5, 20] + (1-beta) [1, 0],
    # C_2 = beta [5, 20] + (1-beta) [1, 0]; V-hat = R C / sum(R); U = G / sqrt(V-hat) has one
    # nonzero entry u, RMS(U) = |u|/2, clipped when |u| > 2.
    beta = 1 - 2 ** -0.8
    R = beta * np.array([5.0, 20.0]) + (1 - beta) * np.array([1.0, 0.0])
    C = R.copy()
    u = 1.0 / math.sqrt(R[0] * C[0] / R.sum())
    step_entry = u / max(1.0, (abs(u) / 2) / 1.0)
    alpha = max(1e-3, math.sqrt(np.mean(w1 * w1))) * min(1e-2, 1 / math.sqrt(2))
    w2, s = opt.step(w1, np.array([[1.0, 0.0], [0.0, 0.0]]), s)
    expected = w1.copy()
    expected[0, 0] -= alpha * step_entry
    np.testing.assert_allclose(w2, expected, rtol=1e-15)
    np.testing.assert_allclose(s.v[0], R, rtol=1e-15)


def test_vector_path_and_clipping_by_hand():
    # A vector keeps V whole. t=1, g = [0, 0]: V = eps1 = 1e-30, U = 0, no step.
    # t=2, g = [1, 0]: V = beta 1e-30 + (1-beta)(1 + 1e-30), U = [1/sqrt(V_0), 0],
    # RMS(U) = U_0/sqrt(2) = 0.933 < 1: not clipped. t=3, g = [3, 0] makes U_0 > sqrt(2):
    # clipped to RMS 1, i.e. U-hat = [sqrt(2), 0].
    opt = refopt.adafactor()
    w = np.array([2.0, -2.0])
    s = opt.init(w)
    w1, s = opt.step(w, np.zeros(2), s)
    np.testing.assert_array_equal(w1, w)
    b2 = 1 - 2 ** -0.8
    V = b2 * 1e-30 + (1 - b2) * (1 + 1e-30)
    w2, s = opt.step(w1, np.array([1.0, 0.0]), s)
    np.testing.assert_allclose(w2, [2.0 - 2.0 * 1e-2 / math.sqrt(V), -2.0], rtol=1e-15)
    b3 = 1 - 3 ** -0.8
    V = b3 * V + (1 - b3) * (9 + 1e-30)
    assert 3 / math.sqrt(V) > math.sqrt(2)
    alpha = math.sqrt(np.mean(w2 * w2)) * 1e-2
    w3, s = opt.step(w2, np.array([3.0, 0.0]), s)
    np.testing.assert_allclose(w3, [w2[0] - alpha * math.sqrt(2), -2.0], rtol=1e-15)


def test_relative_step_floor_eps2():
    # w_0 = 0: RMS = 0, so alpha_1 = eps2 * 1e-2; g = [1] gives U-hat = 1
    w1, _ = refopt.adafactor().step(np.zeros(1), np.ones(1), refopt.adafactor().init(np.zeros(1)))
    np.testing.assert_allclose(w1, [-1e-3 * 1e-2], rtol=1e-15)


def test_state_is_factored_and_kept_in_the_params_dtype():
    opt = refopt.adafactor()
    params = {"w": np.zeros((6, 5), np.float32), "b": np.zeros(5, np.float32),
              "k": np.zeros((3, 6, 5), np.float32)}
    s = opt.init(params)
    assert [a.shape for a in s.v["w"]] == [(6,), (5,)]
    assert [a.shape for a in s.v["k"]] == [(3, 6), (3, 5)]
    assert s.v["b"].shape == (5,) and s.m["w"] == ()      # no momentum buffer by default
    assert refopt.adafactor(beta1=0.9).init(params).m["w"].shape == (6, 5)
    assert all(a.dtype == np.float32 for a in (*s.v["w"], *s.v["k"], s.v["b"]))


rank_one = st.tuples(st.lists(st.floats(0.1, 10), min_size=2, max_size=5),
                     st.lists(st.floats(0.1, 10), min_size=2, max_size=5))


@given(ab=rank_one, scales=st.lists(st.floats(0.1, 10), min_size=1, max_size=8),
       signs_seed=st.integers(0, 2**31))
def test_factored_estimate_is_exact_for_rank_one_squares(ab, scales, signs_seed):
    """If every G_t^2 is c_t^2 (a b^T)^2 for fixed a, b, then R_t C_t / sum R_t equals the
    full EMA V_t = sum_i w_i G_i^2 (Section 3): the factored rule takes the same steps as
    the unfactored one. The full V is computed by hand here (eps1 = 0)."""
    a, b = np.array(ab[0]), np.array(ab[1])
    signs = np.random.default_rng(signs_seed).choice([-1.0, 1.0], size=(len(scales), a.size, b.size))
    opt = refopt.adafactor(eps1=0.0)
    w = w_ref = np.ones((a.size, b.size))
    state, V = opt.init(w), np.zeros((a.size, b.size))
    for t, (c, sg) in enumerate(zip(scales, signs), start=1):
        G = sg * c * np.outer(a, b)
        w, state = opt.step(w, G, state)
        beta = 1 - t ** -0.8
        V = beta * V + (1 - beta) * G * G
        U = G / np.sqrt(V)
        U_hat = U / max(1.0, np.sqrt(np.mean(U * U)))
        w_ref = w_ref - max(1e-3, np.sqrt(np.mean(w_ref * w_ref))) * min(1e-2, t ** -0.5) * U_hat
        np.testing.assert_allclose(w, w_ref, rtol=1e-13)  # a few roundings per step


@given(seed=st.integers(0, 2**31), d=st.floats(0.1, 3.0), n=st.integers(1, 6))
def test_applied_step_rms_is_at_most_alpha_times_d(seed, d, n):
    """RMS(w_t - w_{t-1}) = alpha_t RMS(U-hat_t) <= alpha_t d for all gradients."""
    rng = np.random.default_rng(seed)
    opt = refopt.adafactor(d=d)
    w = rng.standard_normal((4, 3))
    s = opt.init(w)
    for t in range(1, n + 1):
        g = rng.standard_normal((4, 3)) * 10.0 ** rng.integers(-3, 4)
        alpha = max(1e-3, np.sqrt(np.mean(w * w))) * min(1e-2, t ** -0.5)
        w_new, s = opt.step(w, g, s)
        assert np.sqrt(np.mean((w_new - w) ** 2)) <= alpha * d * (1 + 1e-12)
        w = w_new
