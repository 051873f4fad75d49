"""RMSProp, plain, centered (Graves 2013) and with momentum on the rescaled gradient:
steps by hand, the centered variance estimate, and agreement with torch.optim.RMSprop and
optax.rmsprop."""
from fractions import Fraction

import numpy as np
import optax
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import refopt
from refopt.core import RuleInfo
from refopt.oracle import trajectory
from refopt.interop.optax import optax_transformation
from refopt.interop.torch import torch_optimizer

from ..conformance import checks
from .independent import Check, assert_agrees

LR = 0.01


def _torch(**kw):
    return lambda: torch_optimizer(torch.optim.RMSprop, lr=LR, **kw)


def _optax(**kw):
    return lambda: optax_transformation(optax.rmsprop(LR, **kw))


CHECKS = [
    # torch: alpha is beta2, eps outside the root (our placement)
    Check("rmsprop", "torch.optim.RMSprop", lambda: refopt.rmsprop(lr=LR, beta2=0.99),
          _torch(), rtol=1e-12, why="alpha=0.99"),
    Check("rmsprop", "torch.optim.RMSprop", lambda: refopt.rmsprop(lr=LR, beta2=0.99, centered=True),
          _torch(centered=True), rtol=1e-12, why="centered"),
    Check("rmsprop", "torch.optim.RMSprop", lambda: refopt.rmsprop(lr=LR, beta2=0.9, momentum=0.9, eps=1e-6),
          _torch(alpha=0.9, momentum=0.9, eps=1e-6), rtol=1e-12, why="momentum=0.9"),
    Check("rmsprop", "torch.optim.RMSprop",
          lambda: refopt.rmsprop(lr=LR, beta2=0.95, momentum=0.9, centered=True),
          _torch(alpha=0.95, momentum=0.9, centered=True), rtol=1e-12, why="centered+momentum"),
    # optax: eps inside the root by default -> eps_root, and no eps outside
    Check("rmsprop", "optax.rmsprop", lambda: refopt.rmsprop(lr=LR, eps=0.0, eps_root=1e-8),
          _optax(), rtol=1e-12, why="eps_in_sqrt: eps_root=1e-8, eps=0"),
    Check("rmsprop", "optax.rmsprop", lambda: refopt.rmsprop(lr=LR, eps=1e-8),
          _optax(eps_in_sqrt=False), rtol=1e-12, why="eps_in_sqrt=False"),
    Check("rmsprop", "optax.rmsprop",
          lambda: refopt.rmsprop(lr=LR, eps=0.0, eps_root=1e-8, centered=True, momentum=0.9,
                                 initial_accumulator=1.0),
          _optax(centered=True, momentum=0.9, initial_scale=1.0), rtol=1e-12,
          why="centered+momentum+initial_scale=1"),
]
# Measured worst relative errors over the 50 mixed steps: 4.7e-16..7.0e-15 (rounding: torch
# updates the mean by lerp, optax keeps -lr inside its momentum trace). 1e-12 still fails
# at any convention difference: eps=1e-8 inside vs outside the root differs by 6e-5 at step 1.


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_momentum_on_the_rescaled_gradient_two_steps_by_hand():
    """beta2 = 3/4, mu = 1/2, eps = 0, g = 2 then -3:
    s_1 = 1/4*4 = 1,            r_1 = 2/1 = 2,              b_1 = 2,       w_1 = w_0 - lr*2
    s_2 = 3/4*1 + 1/4*9 = 3,    r_2 = -3/sqrt(3) = -sqrt 3, b_2 = 1 - sqrt 3, w_2 = w_1 - lr*(1 - sqrt 3).
    Adam-style momentum (average raw gradients, then rescale) would step by
    (1/2*2 - 3)/sqrt(3) = -2/sqrt(3) instead: the notes' RMSProp+momentum is the former."""
    lr = 0.125
    opt = refopt.rmsprop(lr=lr, beta2=0.75, momentum=0.5, eps=0.0)
    w0 = np.array([1.0])
    s = opt.init(w0)
    w1, s = opt.step(w0, np.array([2.0]), s)
    assert s.s[0] == 1.0 and s.b[0] == 2.0 and w1[0] == 1.0 - lr * 2
    w2, s = opt.step(w1, np.array([-3.0]), s)
    assert s.s[0] == 3.0
    np.testing.assert_allclose(s.b, [1 - np.sqrt(3.0)], rtol=1e-15)
    np.testing.assert_allclose(w2, [w1[0] - lr * (1 - np.sqrt(3.0))], rtol=1e-15)
    assert abs((w1[0] - w2[0]) / lr - (-2 / np.sqrt(3.0))) > 0.4


def test_plain_and_centered_first_step_by_hand():
    # plain: s_1 = (1-b) g^2, step lr*g/(sqrt(1-b)|g|) = lr*sign(g)/sqrt(1-b) = 2 lr at b = 3/4
    # centered: var_1 = (1-b) g^2 - (1-b)^2 g^2 = b(1-b) g^2, so at b = 1/2 the step is 2 lr
    g = np.array([5.0, -0.25])
    opt = refopt.rmsprop(lr=0.5, beta2=0.75, eps=0.0)
    w, _ = opt.step(np.zeros(2), g, opt.init(np.zeros(2)))
    np.testing.assert_array_equal(w, [-1.0, 1.0])
    opt = refopt.rmsprop(lr=0.5, beta2=0.5, eps=0.0, centered=True)
    w, s = opt.step(np.zeros(2), g, opt.init(np.zeros(2)))
    np.testing.assert_array_equal(s.gbar, g / 2)
    np.testing.assert_array_equal(w, [-1.0, 1.0])


def test_graves_form_lr_inside_the_buffer_is_the_same_for_a_constant_lr():
    # Graves (2013) eq. (41): Delta = mu Delta - lr g/sqrt(n - gbar^2 + k), w += Delta, written here
    beta, mu, lr, k = 0.95, 0.9, 1e-2, 1e-4
    rng = np.random.default_rng(3)
    grads = rng.standard_normal((40, 3))
    n, gbar, delta, w = np.zeros(3), np.zeros(3), np.zeros(3), np.ones(3)
    ours = refopt.rmsprop(lr=lr, beta2=beta, momentum=mu, centered=True, eps=0.0, eps_root=k)
    w_ours, s = np.ones(3), ours.init(np.ones(3))
    for g in grads:
        n = beta * n + (1 - beta) * g**2
        gbar = beta * gbar + (1 - beta) * g
        delta = mu * delta - lr * g / np.sqrt(n - gbar**2 + k)
        w = w + delta
        w_ours, s = ours.step(w_ours, g, s)
        np.testing.assert_allclose(w_ours, w, rtol=0, atol=1e-14 * np.abs(w - 1).max())


def test_absent_buffers_are_empty():
    plain = refopt.rmsprop().init({"a": np.zeros(2)})
    assert plain.gbar == {"a": ()} and plain.b == {"a": ()}
    full = refopt.rmsprop(centered=True, momentum=0.5).init({"a": np.zeros(2)})
    assert full.gbar["a"].shape == (2,) and full.b["a"].shape == (2,)


@pytest.mark.parametrize("kw", [{}, {"centered": True}, {"momentum": 0.9},
                                {"momentum": lambda t: 0.9, "initial_accumulator": 0.1}],
                         ids=["plain", "centered", "momentum", "momentum-schedule"])
def test_every_variant_meets_the_contract(kw, tmp_path):
    # the registered example is centered+momentum; the other state layouts are checked here
    info = RuleInfo(name="rmsprop", factory=refopt.rmsprop, family="-", paper="-", year=None,
                    hook="-", equations="-", buffers=1, example=lambda: refopt.rmsprop(**kw))
    checks.check_pure(info)
    checks.check_dtype_shape_tree(info, np.float32)
    checks.check_save_load(info, tmp_path / "s.npz")
    import array_api_strict
    checks.check_backend_agrees(info, array_api_strict)


def test_centered_requires_a_bool():
    with pytest.raises(ValueError, match="centered"):
        refopt.rmsprop(centered=1)


@given(g=st.lists(st.fractions(-10, 10, max_denominator=50), min_size=1, max_size=12),
       beta=st.sampled_from([Fraction(1, 2), Fraction(9, 10), Fraction(99, 100)]),
       s0=st.sampled_from([Fraction(0), Fraction(1, 10)]))
def test_centered_variance_is_nonnegative_in_exact_arithmetic(g, beta, s0):
    """s_t - gbar_t^2 >= 0: the EMA weights (1-beta) beta^(t-i) sum to 1 - beta^t <= 1, so by
    Cauchy-Schwarz gbar^2 <= (1 - beta^t) * sum w_i g_i^2 <= s_t. Checked with exact rationals,
    then the rule's float64 state is compared with them."""
    s, gbar = s0, Fraction(0)
    opt = refopt.rmsprop(lr=0.0, beta2=float(beta), centered=True, initial_accumulator=float(s0))
    w = np.zeros(1)
    state = opt.init(w)
    for gi in g:
        s = beta * s + (1 - beta) * gi * gi
        gbar = beta * gbar + (1 - beta) * gi
        assert s - gbar * gbar >= 0
        w, state = opt.step(w, np.array([float(gi)]), state)
        np.testing.assert_allclose(state.s[0], float(s), rtol=1e-14, atol=1e-300)


@given(seed=st.integers(0, 2**32 - 1), steps=st.integers(1, 40), scale=st.sampled_from([1e-3, 1.0, 1e3]),
       beta=st.sampled_from([0.5, 0.9, 0.99]))
def test_centered_variance_in_float64_is_nonnegative_up_to_rounding(seed, steps, scale, beta):
    # the float64 estimate can only dip below 0 by rounding: a few ulps of s
    rng = np.random.default_rng(seed)
    opt = refopt.rmsprop(lr=0.0, beta2=beta, centered=True)
    w = np.zeros(5)
    s = opt.init(w)
    for _ in range(steps):
        w, s = opt.step(w, scale * rng.standard_normal(5) + scale, s)
        assert np.all(s.s - s.gbar**2 >= -8 * np.finfo(float).eps * s.s)


def test_centered_variance_rounds_negative_for_a_long_constant_gradient_and_torch_agrees():
    """The exception: a constant gradient g makes the exact variance beta^t (1 - beta^t) g^2,
    which falls below the rounding error of s ~ g^2. With g = 0.1, beta2 = 0.99 the float64
    estimate is first negative at step 3227, the root is NaN and so is the step; torch's
    (which updates gbar by lerp, rounding differently) turns NaN at step 3226. An
    eps_root > 0 (optax's placement) keeps it finite."""
    steps = 3227
    grads = [np.array([0.1])] * steps
    opt = refopt.rmsprop(lr=1e-3, beta2=0.99, centered=True)
    w = np.zeros(1)
    s = opt.init(w)
    with np.errstate(invalid="ignore"):
        for g in grads[:-1]:
            w, s = opt.step(w, g, s)
        assert s.s[0] - s.gbar[0] ** 2 >= 0 and np.isfinite(w[0])
        w, s = opt.step(w, grads[-1], s)
    assert s.s[0] - s.gbar[0] ** 2 < 0 and np.isnan(w[0])
    theirs = trajectory(torch_optimizer(torch.optim.RMSprop, lr=1e-3, alpha=0.99, centered=True),
                        np.zeros(1), grads)
    first_nan = [k + 1 for k, x in enumerate(theirs) if np.isnan(x[0])][0]
    assert first_nan == 3226
    guarded = refopt.rmsprop(lr=1e-3, beta2=0.99, centered=True, eps_root=1e-12)
    assert np.isfinite(trajectory(guarded, np.zeros(1), grads)[-1][0])


def test_the_notes_ema_momentum_form_is_lr_times_one_minus_beta1():
    """The notes ("Adam vs RMSProp with Momentum") write the buffer as an average,
    m_t = b1 m_{t-1} + (1-b1) g_t/(sqrt(v_t) + eps), w -= eta m_t. With m_0 = 0 that is
    (1-b1) times the sum-form buffer of Graves/torch/optax, so it is
    rmsprop(lr=eta*(1-b1), momentum=b1): written out here and compared."""
    eta, b1, b2, eps = 0.01, 0.9, 0.99, 1e-8
    rng = np.random.default_rng(7)
    grads = rng.standard_normal((30, 4))
    v, m, w = np.zeros(4), np.zeros(4), np.ones(4)
    opt = refopt.rmsprop(lr=eta * (1 - b1), beta2=b2, momentum=b1, eps=eps)
    w_ours, s = np.ones(4), opt.init(np.ones(4))
    for g in grads:
        v = b2 * v + (1 - b2) * g**2
        m = b1 * m + (1 - b1) * g / (np.sqrt(v) + eps)
        w = w - eta * m
        w_ours, s = opt.step(w_ours, g, s)
    np.testing.assert_allclose(w_ours, w, rtol=0, atol=1e-14 * np.abs(w - 1).max())
