"""AdamW: Loshchilov & Hutter's Algorithm 2 by hand, the decay scaled by the schedule
multiplier and not by the step size, and agreement with torch.optim.AdamW and optax.adamw
(whose weight_decay is multiplied by the whole learning rate: theirs = ours / lr)."""
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

LR, WD = 0.01, 0.5  # WD in the frameworks' units; ~0.25 of shrinkage over 50 steps


def _sched(count):  # an optax schedule: count = t - 1
    return LR / (1 + 0.05 * count)


CHECKS = [
    Check("adamw", "torch.optim.AdamW", lambda: refopt.adamw(lr=LR, weight_decay=LR * WD),
          lambda: torch_optimizer(torch.optim.AdamW, lr=LR, weight_decay=WD), rtol=1e-12,
          why="weight_decay=lr*wd"),
    Check("adamw", "torch.optim.AdamW", lambda: refopt.adamw(lr=LR, weight_decay=LR * 1e-2),
          lambda: torch_optimizer(torch.optim.AdamW, lr=LR), rtol=1e-12, why="torch default wd=1e-2"),
    Check("adamw", "optax.adamw", lambda: refopt.adamw(lr=LR, weight_decay=LR * WD),
          lambda: optax_transformation(optax.adamw(LR, weight_decay=WD)), rtol=1e-12,
          why="weight_decay=lr*wd"),
    # a framework lr schedule a*f(t) is lr=a with schedule_multiplier=f
    Check("adamw", "optax.adamw",
          lambda: refopt.adamw(lr=LR, schedule_multiplier=lambda t: _sched(t - 1) / LR, weight_decay=LR * WD),
          lambda: optax_transformation(optax.adamw(_sched, weight_decay=WD)), rtol=1e-12,
          why="lr schedule as schedule_multiplier"),
]
# Measured worst relative errors over the 50 mixed steps: 3.3e-15..2.9e-14 (rounding; torch
# multiplies w by the rounded 1 - lr*wd). 1e-12
# fails if the decay is scaled the other way: weight_decay=wd instead of lr*wd is off by a
# factor ~50 of the step-1 movement here.


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_step_by_hand():
    # m_hat = g, s_hat = g^2: w_1 = w_0 - eta (alpha g/(|g| + eps) + lambda w_0); eps = 0
    opt = refopt.adamw(lr=0.5, weight_decay=0.25, schedule_multiplier=0.5, eps=0.0)
    w0, g = np.array([2.0, -4.0]), np.array([-3.0, -0.125])
    w1, _ = opt.step(w0, g, opt.init(w0))
    np.testing.assert_array_equal(w1, [2.0 - 0.5 * (0.5 * -1 + 0.25 * 2.0),
                                      -4.0 - 0.5 * (0.5 * -1 + 0.25 * -4.0)])


def test_without_decay_it_is_adam_bit_for_bit():
    rng = np.random.default_rng(0)
    w = w_a = rng.standard_normal(6)
    opt, adam = refopt.adamw(weight_decay=0.0), refopt.adam()
    s, s_a = opt.init(w), adam.init(w)
    for _ in range(20):
        g = rng.standard_normal(6)
        w, s = opt.step(w, g, s)
        w_a, s_a = adam.step(w_a, g, s_a)
    np.testing.assert_array_equal(w, w_a)


@given(lr=st.floats(0.0, 1.0), lam=st.floats(0.0, 0.5), steps=st.integers(1, 20),
       seed=st.integers(0, 2**32 - 1))
def test_the_decay_does_not_depend_on_the_step_size(lr, lam, steps, seed):
    """Decoupled, as in Algorithm 2: with zero gradients m = s = 0, the Adam term is 0 and
    w_T = w_0 prod_t (1 - eta_t lambda), whatever alpha (lr) is. (torch/optax would give
    prod (1 - lr_t wd).)"""
    eta = lambda t: 1 / (1 + 0.1 * t)  # noqa: E731
    w0 = np.random.default_rng(seed).standard_normal(3)
    opt = refopt.adamw(lr=lr, weight_decay=lam, schedule_multiplier=eta)
    w, s = w0, opt.init(w0)
    for _ in range(steps):
        w, s = opt.step(w, np.zeros(3), s)
    expect = w0 * math.prod(1 - eta(t) * lam for t in range(1, steps + 1))
    np.testing.assert_allclose(w, expect, rtol=4e-16 * steps * 3, atol=0)


@given(c=st.floats(0.01, 10.0), seed=st.integers(0, 2**32 - 1))
def test_schedule_multiplier_c_is_lr_and_decay_both_times_c(c, seed):
    # eta (alpha u + lambda w) = (c alpha) u + (c lambda) w: the framework form's parameters
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(4)
    grads = rng.standard_normal((15, 4))
    a = refopt.adamw(lr=1e-2, weight_decay=1e-3, schedule_multiplier=c)
    b = refopt.adamw(lr=c * 1e-2, weight_decay=c * 1e-3)
    wa, sa, wb, sb = w0, a.init(w0), w0, b.init(w0)
    for g in grads:
        wa, sa = a.step(wa, g, sa)
        wb, sb = b.step(wb, g, sb)
    np.testing.assert_allclose(wa, wb, rtol=0, atol=1e-14 * np.abs(w0).max())
