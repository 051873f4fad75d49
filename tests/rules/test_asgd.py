"""ASGD: agreement with torch.optim.ASGD, hand-derived first steps, and Polyak & Juditsky's
averaging: with a constant step size (lambd = 0) the averaged iterate is the plain mean of the
iterates after t0, checked both on refopt's rule and on torch's own ASGD."""
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import refopt
from refopt.interop import Adapter
from refopt.interop.torch import torch_optimizer

from .independent import Check, assert_agrees


@contextmanager
def torch_default_float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def torch_asgd_float64_scalars(**kwargs):
    """torch.optim.ASGD with its 0-d eta, mu and step in float64 (torch keeps them in its default
    dtype): the canonical formula in double. The float32 scalars torch keeps by default are
    modelled by refopt.flavors.torch_catalogue.ASGD and checked in tests/flavors."""
    inner = torch_optimizer(torch.optim.ASGD, **kwargs)

    def step(params, grads, state):
        with torch_default_float64():
            return inner.step(params, grads, state)

    return Adapter(inner.name, inner.init, step)


def _pair(lr, lambd, alpha, t0):
    # torch's mu_t = 1/max(1, t-1-t0) is the canonical rule's with t0 + 1 (see refopt/rules/asgd.py)
    return (lambda: refopt.asgd(lr=lr, lambd=lambd, alpha=alpha, t0=t0 + 1),
            lambda: torch_asgd_float64_scalars(lr=lr, lambd=lambd, alpha=alpha, t0=t0))


# Same operations in the same order but for torch's add(alpha=-eta), measured <= 2.3e-15 over 50
# steps: 1e-12 is slack for rounding, far below any change of eta, mu or t0 (>= 1e-4 here).
CHECKS = [
    Check("asgd", "torch.optim.ASGD", *_pair(0.05, 0.1, 0.6, 10), rtol=1e-12, why="t0-10-strong-decay"),
    Check("asgd", "torch.optim.ASGD", *_pair(0.3, 0.5, 0.9, 3), rtol=1e-12, why="t0-3-alpha-0.9"),
    Check("asgd", "torch.optim.ASGD", *_pair(0.02, 0.0, 0.75, 0), rtol=1e-12, why="lambd-0-t0-0"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_torch(check):
    assert_agrees(check)


def test_first_three_steps_by_hand():
    # lr = 0.5, lambd = 0.5, alpha = 1, t0 = 1: eta_t = 0.5 / (1 + 0.25 (t-1)) = 0.5, 0.4, 1/3;
    # mu_t = 1/max(1, t-1) = 1, 1, 1/2
    opt = refopt.asgd(lr=0.5, lambd=0.5, alpha=1.0, t0=1)
    w0 = np.array([2.0, -4.0])
    g = [np.array([1.0, 2.0]), np.array([-1.0, 0.5]), np.array([3.0, -3.0])]
    w1, s = opt.step(w0, g[0], opt.init(w0))
    np.testing.assert_array_equal(w1, [2.0 * 0.75 - 0.5, -4.0 * 0.75 - 1.0])   # (1, -4)
    np.testing.assert_array_equal(s.w_avg, w1)
    w2, s = opt.step(w1, g[1], s)
    np.testing.assert_allclose(w2, [1.0 * 0.8 + 0.4, -4.0 * 0.8 - 0.2], rtol=1e-15)  # (1.2, -3.4)
    np.testing.assert_array_equal(s.w_avg, w2)  # t0 = 1: w_avg is the mean of w_2, ..., w_t
    w3, s = opt.step(w2, g[2], s)
    eta3 = 1 / 3
    np.testing.assert_allclose(w3, w2 * (1 - 0.5 * eta3) - eta3 * g[2], rtol=1e-15)
    np.testing.assert_allclose(s.w_avg, (w2 + w3) / 2, rtol=1e-15)


@settings(max_examples=40, deadline=None)
@given(gs=hnp.arrays(np.float64, (9, 3), elements=st.floats(-10, 10)), t0=st.integers(0, 6),
       lr=st.floats(1e-3, 1.0), alpha=st.floats(0.0, 1.0))
def test_average_is_the_mean_of_the_iterates_after_t0(gs, t0, lr, alpha):
    """lambd = 0: eta_t = lr, plain SGD; w_avg after step t is mean(w_{t0+1}, ..., w_t) for
    t > t0 and w_t before. 1e-12: a running mean of <= 9 terms rounds a few ulps of max|w|."""
    opt = refopt.asgd(lr=lr, lambd=0.0, alpha=alpha, t0=t0)
    w = np.zeros(3)
    state = opt.init(w)
    iterates = []
    for t, g in enumerate(gs, start=1):
        w, state = opt.step(w, g, state)
        iterates.append(w)
        want = np.mean(iterates[t0:], axis=0) if t > t0 else w
        scale = max(np.max(np.abs(iterates)), 1e-300)
        np.testing.assert_allclose(state.w_avg, want, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(iterates[-1], -lr * np.cumsum(gs, axis=0)[-1], rtol=1e-12, atol=1e-12)


def test_torchs_own_average_is_the_mean_of_its_iterates_after_t0_plus_1():
    """The same law on torch's ASGD (lambd = 0, float64 scalars), read from its ``ax``: torch
    averages the iterates after step t0 + 1 (its mu_t = 1/max(1, t-1-t0)), the reason the
    canonical rule is compared with t0 + 1."""
    t0 = 2
    p = torch.nn.Parameter(torch.zeros(3, dtype=torch.float64))
    rng = np.random.default_rng(5)
    with torch_default_float64():
        opt = torch.optim.ASGD([p], lr=0.1, lambd=0.0, t0=t0)
        iterates = []
        for t in range(1, 9):
            p.grad = torch.tensor(rng.standard_normal(3))
            opt.step()
            iterates.append(p.detach().numpy().copy())
            if t > t0 + 1:
                np.testing.assert_allclose(opt.state[p]["ax"].numpy(), np.mean(iterates[t0 + 1:], axis=0),
                                           rtol=1e-13)


def test_t0_is_a_count_not_a_dtype_number():
    """t0 = 1e6 (the default) is no float16 number, but it never meets an array: float16 runs."""
    opt = refopt.asgd()
    w = np.ones(2, dtype=np.float16)
    w1, s = opt.step(w, np.ones(2, dtype=np.float16), opt.init(w))
    assert w1.dtype == s.w_avg.dtype == np.float16
    with pytest.raises(ValueError, match="t0"):
        refopt.asgd(t0=-1)
