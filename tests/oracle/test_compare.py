"""``refopt.oracle.compare``: its measures by hand, where it says two optimizers part, and
that it gives each side the gradient at its own params when given a function."""
import math

import numpy as np
import pytest
import torch

import refopt
from refopt.core import Optimizer
from refopt.oracle import compare, mixed_gradients
from refopt.interop.torch import torch_optimizer


def _nudged(opt, step, leaf, delta):
    """``opt`` whose step number ``step`` moves leaf ``leaf`` by an extra ``delta``."""
    def step_fn(params, grads, state):
        new, state = opt.step(params, grads, state)
        if state.t == step:
            new = {**new, leaf: new[leaf] + delta}
        return new, state
    return Optimizer("nudged", opt.init, step_fn)


PARAMS = {"w": np.array([[1.0, -2.0], [0.5, 4.0]]), "b": np.array([3.0, -1.0])}
GRADS = [{"w": np.full((2, 2), float(k + 1)), "b": np.array([1.0, -1.0]) * (k + 1)} for k in range(5)]


def test_identical_optimizers_agree_exactly():
    report = compare(refopt.sgd(lr=0.1), refopt.sgd(lr=0.1), PARAMS, GRADS)
    assert report.ok and report.first_parting is None
    assert report.max_update_rel == report.max_params_rel == report.max_ulps == 0.0
    assert len(report.steps) == 5 and "AGREE" in str(report)


def test_first_parting_names_step_and_leaf():
    # sgd lr=0.1 on b at step 3: update = -0.1 * 3 * [1, -1] = [-0.3, 0.3]; a nudge of 3e-7
    # is an update error of 3e-7 / 0.3 = 1e-6 relative, at step 3, leaf ['b'] only
    ref = refopt.sgd(lr=0.1)
    report = compare(ref, _nudged(ref, 3, "b", 3e-7), PARAMS, GRADS, rtol=1e-10)
    first = report.first_parting
    assert first.step == 3 and first.parted == ("['b']",)
    assert first.update_rel == pytest.approx(1e-6, rel=1e-6)
    assert report.steps[1].parted == ()
    # from step 4 the params still differ by the nudge, but the steps taken agree again
    assert report.steps[3].update_rel < 1e-15 and report.steps[3].params_abs == pytest.approx(3e-7, rel=1e-6)
    assert "PART at step 3, leaf ['b']" in str(report)


def test_tolerance_decides():
    ref = refopt.sgd(lr=0.1)
    assert compare(ref, _nudged(ref, 2, "w", 1e-9), PARAMS, GRADS, rtol=1e-6).ok
    assert not compare(ref, _nudged(ref, 2, "w", 1e-9), PARAMS, GRADS, rtol=1e-10).ok
    assert compare(ref, _nudged(ref, 2, "w", 1e-9), PARAMS, GRADS, rtol=1e-10, atol=1e-8).ok


def test_params_error_is_relative_to_the_distance_moved():
    # after step 1 of sgd(0.1) on w (grad 1): w moved 0.1; a nudge of 1e-5 is 1e-4 of it
    ref = refopt.sgd(lr=0.1)
    report = compare(ref, _nudged(ref, 1, "w", 1e-5), {"w": PARAMS["w"]}, [{"w": g["w"]} for g in GRADS])
    assert report.steps[0].params_rel == pytest.approx(1e-4, rel=1e-9)


def test_ulps_are_counted_in_the_candidates_dtype():
    # a float32 candidate one float32 spacing above the float64 reference is 1 ulp off
    w0 = np.array([1.0, 3.0])

    def one_ulp_up(params, grads, state):
        return (params.astype(np.float32) - np.float32(0.5) * grads.astype(np.float32)
                + np.spacing(np.abs(params - 0.5 * grads).astype(np.float32))), state

    cand = Optimizer("f32", lambda p: refopt.sgd(lr=0.5).init(p), one_ulp_up)
    report = compare(refopt.sgd(lr=0.5), cand, w0, [np.array([1.0, 2.0])])
    assert report.dtype == "float32"
    assert report.max_ulps == 1.0


def test_a_zero_reference_update_makes_any_move_infinitely_wrong():
    ref = refopt.sgd(lr=0.1)
    zero = [{"w": np.zeros((2, 2)), "b": np.zeros(2)}] * 2
    report = compare(ref, _nudged(ref, 1, "w", 1e-12), PARAMS, zero)
    assert math.isinf(report.steps[0].update_rel) and not report.ok


def test_nan_on_both_sides_agrees_and_on_one_side_parts():
    nan = [{"w": np.array([[np.nan, 1.0], [1.0, 1.0]]), "b": np.ones(2)}]
    assert compare(refopt.sgd(lr=0.1), refopt.sgd(lr=0.1), PARAMS, nan).ok
    report = compare(refopt.sgd(lr=0.1), _nudged(refopt.sgd(lr=0.1), 1, "b", np.array([np.nan, 0.0])),
                     PARAMS, GRADS[:1])
    assert report.first_parting.parted == ("['b']",)


def test_gradient_function_is_taken_at_each_sides_own_params():
    # grad(w) = w, sgd lr a: w_t = (1-a)^t w_0, so the step taken at t is -a(1-a)^(t-1) w_0.
    # With lr 0.5 and 0.25 the step errors are |0.5*0.5^(t-1) - 0.25*0.75^(t-1)| |w_0|.
    w0 = np.array([2.0])
    seen = []

    def grad(w):
        seen.append(float(w[0]))
        return w

    report = compare(refopt.sgd(lr=0.5), refopt.sgd(lr=0.25), w0, grad, steps=3)
    for t, s in enumerate(report.steps, start=1):
        by_hand = abs(0.5 * 0.5 ** (t - 1) - 0.25 * 0.75 ** (t - 1)) * 2.0
        assert s.update_abs == pytest.approx(by_hand, rel=1e-14)
    assert seen == [2.0, 2.0, 1.0, 1.5, 0.5, 1.125]  # reference and candidate alternate
    with pytest.raises(ValueError, match="steps"):
        compare(refopt.sgd(lr=0.5), refopt.sgd(lr=0.5), w0, grad)


def test_compare_against_torch_agrees_and_sees_a_wrong_momentum():
    rng = np.random.default_rng(0)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    grads = mixed_gradients(params, 25, seed=1)
    ours = refopt.momentum(lr=0.05, beta1=0.9)
    good = compare(ours, torch_optimizer(torch.optim.SGD, lr=0.05, momentum=0.9), params, grads)
    assert good.ok and good.max_update_rel < 1e-13
    bad = compare(ours, torch_optimizer(torch.optim.SGD, lr=0.05, momentum=0.91), params, grads)
    assert bad.first_parting.step == 2  # step 1 is -lr*g_1 for any momentum
