"""``refopt.check_finite`` checks what ``step`` produces, names the buffer and the cause
(issue 9, section 3: overflow of squared gradients, 0/0 at eps = 0), and keeps the wrapped
optimizer's extras (Nesterov's ``look_ahead``)."""
import warnings

import numpy as np
import pytest

import refopt
from refopt import tree
from refopt.core import NonFiniteGradient, NonFiniteState

from ..conformance import checks

# Rules that keep a running sum or mean of g*g (or (g - m)^2, Adan's (g + (1-b2)(g - g_prev))^2,
# Adafactor's factored row/column sums of g*g), read from each rule's formula: with |g| above
# sqrt(max) the buffer reaches infinity. Shampoo (H += g g^T) belongs here too but its
# eigendecomposition raises inside the step first (reported to the rules' owner).
SQUARING = ["adagrad", "rmsprop", "adadelta", "adam", "adamw", "amsgrad", "nadam", "radam", "yogi",
            "adabelief", "adafactor", "lamb", "adan", "partition"]
# |g| with g*g above the maximum: 1e155^2 = 1e310 > 1.8e308; 1e20^2 = 1e40 > 3.4e38.
BIG = {np.float64: 1e155, np.float32: 1e20}


def _drive(opt, info, dtype, big, steps=60):
    """Constant-magnitude gradients of random sign; an EMA with 1 - beta2 = 1e-3 reaches
    g*g (and overflows) after ~19 steps in float64 and ~35 in float32, so 60 suffice."""
    params, _ = checks.problem(info, 0, dtype)
    rng = np.random.default_rng(1)
    state = opt.init(params)
    for _ in range(steps):
        g = tree.tree_map(lambda w: (big * np.sign(rng.standard_normal(w.shape) + 0.5)).astype(dtype),
                          params)
        params, state = opt.step(params, g, state)
    return params, state


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", SQUARING)
def test_overflow_of_squared_gradients_is_caught_naming_the_buffer(name, dtype):
    info = refopt.RULES[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        # without the wrapper the run goes on: the overflow is silent (it is real, not the test's)
        _, state = _drive(info.make_example(), info, dtype, BIG[dtype])
        assert not all(np.isfinite(a).all() for a in checks.arrays(state)), name
        with pytest.raises(NonFiniteState) as err:
            _drive(refopt.check_finite(info.make_example()), info, dtype, BIG[dtype])
    msg = str(err.value)
    dtype_name = np.dtype(dtype).name
    top = f"{np.finfo(dtype).max:.2g}"
    if msg.startswith(info.make_example().name + ": params leaf"):  # lost inside the step, first
        assert "did not move at step " in msg  # RAdam's first steps skip s: step 5
        assert f"|g| = {BIG[dtype]:.0e}: g*g exceeds the {dtype_name} maximum {top} inside the step" in msg
        return
    assert msg.startswith(info.make_example().name + ": state.")
    assert f"overflowed: |g| = {BIG[dtype]:.0e}, g*g exceeds the {dtype_name} maximum {top}" in msg


@pytest.mark.parametrize("name", ["adam", "nadam", "lamb"])
def test_a_step_lost_to_an_overflow_inside_it_is_caught_at_step_1(name):
    """Adam's s = (1-beta2) g*g = 1e307 is finite at |g| = 1e155, but s_hat = s/(1-beta2) is
    not: the step of that entry is exactly 0 (checked on the bare rule) while every buffer is
    finite; check_finite says so at step 1 instead of ~18 steps later. (AMSGrad, uncorrected,
    steps exactly: 0.1 g / sqrt(0.001 g*g).)"""
    opt, w, g = refopt.RULES[name].factory(), np.ones(2), np.array([1e155, -1.0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        new, state = opt.step(w, g, opt.init(w))
        assert new[0] == w[0] and new[1] != w[1]
        assert all(np.isfinite(a).all() for a in checks.arrays(state))
        with pytest.raises(NonFiniteState, match=r"did not move at step 1, entry \(0,\), although "
                                                 r"\|g\| = 1e\+155"):
            refopt.check_finite(opt).step(w, g, opt.init(w))


def test_a_large_gradient_that_moves_the_params_is_not_flagged():
    """SGD at |g| = 1e155 is exact (w - lr g = -1e152 + 1): no false alarm."""
    opt = refopt.check_finite(refopt.sgd(lr=1e-3))
    w = np.ones(2)
    new, _ = opt.step(w, np.array([1e155, -1.0]), opt.init(w))
    assert new[0] == 1 - 1e-3 * 1e155 and new[1] == 1 + 1e-3


def test_the_overflow_message_names_step_leaf_and_entry():
    opt = refopt.check_finite(refopt.adagrad())
    w = {"w": np.zeros(3)}
    s = opt.init(w)
    with warnings.catch_warnings(), pytest.raises(NonFiniteState) as err:
        warnings.simplefilter("ignore", RuntimeWarning)
        opt.step(w, {"w": np.array([1.0, 2e154, 0.0])}, s)  # (2e154)^2 = 4e308 > 1.8e308
    assert str(err.value) == ("adagrad: state.s leaf ['w'] became inf at step 1, entry (1,): "
                              "state.s overflowed: |g| = 2e+154, g*g exceeds the float64 maximum 1.8e+308")


def test_a_factored_buffer_of_a_lone_array_is_named_by_buffer_and_leaf():
    opt = refopt.check_finite(refopt.adafactor())
    w = np.zeros((2, 2))
    with warnings.catch_warnings(), pytest.raises(NonFiniteState) as err:
        warnings.simplefilter("ignore", RuntimeWarning)
        opt.step(w, np.full((2, 2), 2e154), opt.init(w))
    # v is (R, C) per leaf: the row sums R = v[0] overflow first
    assert str(err.value).startswith("adafactor: state.v[0] leaf <root> became inf at step 1, entry (0,): "
                                     "state.v[0] overflowed: |g| = 2e+154")


def test_radam_defaults_give_0_over_0_at_step_5_and_say_why():
    # RAdam's default eps = 0; a coordinate with g = 0 keeps m = s = 0, and from the step where
    # rho_t > 4 (t = 5 for beta2 = 0.999) the rectified step m_hat / sqrt(s_hat) is 0/0
    opt = refopt.check_finite(refopt.radam())
    w = np.zeros(2)
    s = opt.init(w)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for _ in range(4):
            w, s = opt.step(w, np.array([1.0, 0.0]), s)
        assert np.isfinite(w).all() and s.t == 4
        with pytest.raises(NonFiniteState) as err:
            opt.step(w, np.array([1.0, 0.0]), s)
    assert str(err.value) == ("radam: params leaf <root> became nan at step 5, entry (1,): 0/0: eps = 0 "
                              "and state.s is 0 at entry (1,) (a coordinate whose gradient has always "
                              "been zero); pass eps > 0")


def test_without_a_known_cause_the_buffer_step_and_entry_are_still_named():
    opt = refopt.check_finite(refopt.sgd(lr=1e300))
    w = np.zeros(2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(NonFiniteState, match=r"^sgd: params leaf <root> became inf at step 1, "
                                                 r"entry \(0,\): from finite gradients$"):
            opt.step(w, np.array([-1e10, 0.0]), opt.init(w))  # 1e300 * 1e10 overflows


def test_non_finite_gradients_still_raise_non_finite_gradient_first():
    opt = refopt.check_finite(refopt.adam())
    with pytest.raises(NonFiniteGradient, match=r"leaf \['b'\]\[1\] at step 1"):
        opt.step({"b": [np.zeros(1), np.zeros(1)]}, {"b": [np.zeros(1), np.array([np.inf])]},
                 opt.init({"b": [np.zeros(1), np.zeros(1)]}))
    assert issubclass(NonFiniteState, FloatingPointError) and NonFiniteState is not NonFiniteGradient


def test_python_float_leaves_reach_the_rule_which_names_them():
    opt = refopt.check_finite(refopt.sgd())
    with pytest.raises(NonFiniteGradient, match=r"leaf \[1\]"):
        opt.step([np.zeros(1), np.zeros(1)], [1.0, float("nan")], opt.init([np.zeros(1), np.zeros(1)]))
    with pytest.raises(TypeError, match=r"grads leaf \[0\] is a float, not an array"):
        opt.step([np.zeros(1)], [1.0], opt.init([np.zeros(1)]))


def test_torch_outputs_are_checked_too():
    import torch
    opt = refopt.check_finite(refopt.adagrad())
    w = torch.zeros(2, dtype=torch.float64)
    with pytest.raises(NonFiniteState, match=r"state\.s leaf <root> became inf.*\|g\| = 1e\+155"):
        opt.step(w, torch.tensor([1e155, 0.0], dtype=torch.float64), opt.init(w))


def test_check_finite_and_coupled_decay_keep_nesterovs_look_ahead():
    base = refopt.nesterov(lr=0.1, beta1=0.5)
    for opt in (refopt.check_finite(base), refopt.coupled_weight_decay(base, 0.0),
                refopt.check_finite(refopt.coupled_weight_decay(base, 0.0))):
        w = np.array([1.0])
        s = opt.init(w)
        w, s = opt.step(w, np.array([2.0]), s)  # v_1 = -0.2, w_1 = 0.8 (hand: the rule's docstring)
        assert opt.look_ahead(w, s)[0] == 0.8 + 0.5 * -0.2
        assert type(opt) is type(base)
