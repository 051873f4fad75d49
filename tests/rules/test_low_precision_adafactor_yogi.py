"""Adafactor and Yogi in float32 / bfloat16 / float16 (issue 9, found by the robustness fuzz):
closed forms where the arithmetic allows one, else the float64 run of the rule on the same
rounded inputs, within a bound built from the dtype's unit roundoff u (float16 2^-11,
bfloat16 2^-8, float32 2^-24)."""
import math

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import refopt

BF16 = ml_dtypes.bfloat16
U = {np.float16: 2.0**-11, BF16: 2.0**-8, np.float32: 2.0**-24}
pytestmark = pytest.mark.filterwarnings("ignore::RuntimeWarning")


def _run(opt, w, grads):
    """Params after the steps, and per entry the sum of |step| (float64): the scale that the
    rounding of each step is relative to (the net move can cancel, the steps cannot)."""
    state, moved = opt.init(w), 0.0
    for g in grads:
        w_new, state = opt.step(w, g, state)
        moved = moved + np.abs(np.asarray(w_new, np.float64) - np.asarray(w, np.float64))
        w = w_new
    return w, state, moved


def _ulp(x, dtype):
    if dtype == BF16:  # bfloat16 keeps float32's exponent and 8 of its 24 significand bits
        return np.spacing(np.abs(x).astype(np.float32)).astype(np.float64) * 2.0**16
    return np.spacing(np.abs(x).astype(dtype)).astype(np.float64)


def _assert_near_float64_run(opt, w, grads, dtype, units, per_leaf):
    """The low-precision run within len(grads) ulps of the result (w rounds once a step) plus
    ``units`` u of the steps' size, of the float64 run on the same rounded inputs."""
    got, _, _ = _run(opt, w, grads)
    want, _, moved = _run(opt, w.astype(np.float64), [g.astype(np.float64) for g in grads])
    got = np.asarray(got, np.float64)
    assert np.all(np.isfinite(got)), f"non-finite {got} where float64 gives {want}"
    scale = np.max(moved) if per_leaf else moved  # layer-wise rule: the leaf's step size
    tol = len(grads) * _ulp(want, dtype) + units * U[dtype] * scale
    assert np.all(np.abs(got - want) <= tol), f"{got} vs float64 {want}, tol {tol}"


# ----------------------------------------------------------------------------- Adafactor

@pytest.mark.parametrize("dtype", [np.float32, BF16])
@pytest.mark.parametrize("shape", [(1, 1), (2, 3), (2, 1, 2)])
def test_adafactor_zero_gradient_is_no_step(dtype, shape):
    # G = 0: V-hat = eps1 (R_i = m eps1, C_j = n eps1, 1^T R = n m eps1), U = 0, so w_1 = w_0
    # exactly. R_i C_j ~ 1e-60 is 0 in both dtypes: the literal R C / 1^T R gave 0/0 = NaN.
    w = np.full(shape, 0.5).astype(dtype)
    opt = refopt.adafactor()
    w1, s = opt.step(w, np.zeros(shape, dtype), opt.init(w))
    assert w1.dtype == w.dtype and np.array_equal(w1, w)
    assert all(np.all(np.isfinite(np.asarray(a, np.float64)) & (np.asarray(a) > 0)) for a in s.v)


@pytest.mark.parametrize("dtype", [np.float32, BF16])
@pytest.mark.parametrize("big", [1.0, 3e7, 1e18])
def test_adafactor_zero_row_and_column_beside_a_large_entry(dtype, big):
    # G = [[b, 0], [0, 0]], t = 1 (beta2_1 = 0): R = C = [b^2 + 2 eps1, 2 eps1], so U_00 = 1 up
    # to eps1/b^2 and U = 0 elsewhere; RMS(U) = 1/2 < d: no clipping; w_0 = 1: alpha = 1e-2.
    # w_1[0, 0] = 0.99 rounded once (U's few roundings move it by ~1e-2 * 8u, far below an
    # ulp); the rest stays 1 exactly. sqrt(V-hat_11) = 2 eps1 / b = 2e-48 for b = 1e18 is not
    # even representable: U = G / sqrt(V-hat) must not form it.
    w = np.ones((2, 2), dtype)
    opt = refopt.adafactor()
    w1, _ = opt.step(w, np.array([[big, 0.0], [0.0, 0.0]]).astype(dtype), opt.init(w))
    got = np.asarray(w1, np.float64)
    assert abs(got[0, 0] - 0.99) <= _ulp(np.array(0.99), dtype)
    np.testing.assert_array_equal(got.ravel()[1:], 1.0)


subnormal32 = st.floats(float(np.finfo(np.float32).smallest_subnormal), 1e-38).flatmap(
    lambda x: st.sampled_from([x, -x]))


@given(n=st.integers(1, 4), m=st.integers(1, 4), data=st.data())
def test_adafactor_subnormal_float32_gradients_closed_form(n, m, data):
    """Subnormal float32 G: G^2 = 0 in float32, so every V-hat entry is eps1 (as float32)
    and step 1 is exactly w_1 = w_0 - alpha_1 G / sqrt(eps1); w_0 = 0 (a step ~1e-29 would be
    lost in an O(1) w_0) gives alpha_1 = eps2 * 1e-2; |U| <= 1.2e-38 / 1e-15: no clipping.
    ~8 float32 roundings: rtol 16 u."""
    g = np.array(data.draw(st.lists(subnormal32, min_size=n * m, max_size=n * m)), np.float32)
    g = g.reshape(n, m)
    w = np.zeros((n, m), np.float32)
    opt = refopt.adafactor()
    w1, s = opt.step(w, g, opt.init(w))
    eps1 = float(np.float32(1e-30))
    step = 1e-3 * 1e-2 * g.astype(np.float64) / math.sqrt(eps1)
    np.testing.assert_allclose(-np.asarray(w1, np.float64), step,
                               rtol=16 * U[np.float32], atol=0)
    np.testing.assert_allclose(s.v[0], m * eps1, rtol=4 * U[np.float32])


def test_adafactor_bfloat16_issue_case():
    # the fuzz's case: w = -279.5, g = 0, 53.3, -190.8 on a (1, 1) leaf; float64 -279.97
    w = np.array([[-279.51110492]]).astype(BF16)
    grads = [np.array([[x]]).astype(BF16) for x in (0.0, 53.32819726, -190.81595017)]
    _assert_near_float64_run(refopt.adafactor(), w, grads, BF16, 8, per_leaf=True)


moderate = st.floats(1e-3, 300.0).flatmap(lambda x: st.sampled_from([x, -x, 0.0]))


@pytest.mark.parametrize("dtype", [np.float32, BF16])
@given(shape=st.sampled_from([(1, 1), (2, 2), (3, 2), (2, 1, 3)]), data=st.data())
def test_adafactor_low_precision_follows_float64(dtype, shape, data):
    """3 steps with |x| in [1e-3, 300] or 0 (the fuzz's range): within 3 ulps + 8 u of the
    leaf's step size of the float64 run (measured worst over 3000 random bfloat16 cases:
    2.6 u beyond the 3 ulps)."""
    size = math.prod(shape)
    draw = lambda: np.array(data.draw(st.lists(moderate, min_size=size, max_size=size)))  # noqa: E731
    w, grads = draw().reshape(shape).astype(dtype), [draw().reshape(shape).astype(dtype) for _ in range(3)]
    _assert_near_float64_run(refopt.adafactor(), w, grads, dtype, 8, per_leaf=True)


# ----------------------------------------------------------------------------- Yogi

def test_yogi_float16_gradient_whose_square_overflows():
    # g = 300: g * g = 90000 > 65504 is inf in float16. Hand, t = 1 from s_0 = 0, m_0 = 0:
    # m = 30, s = 1e-3 * 90000 = 90, w_1 = w_0 - 1e-2 * 30 / (sqrt(90) + 1e-3). Forming g^2
    # first made s = inf and the step exactly 0.
    w = np.array([1.0], np.float16)
    opt = refopt.yogi(initial_accumulator=0.0, bias_correction="none")  # the form worked above
    w1, s = opt.step(w, np.array([300.0], np.float16), opt.init(w))
    assert abs(float(s.s[0]) - 90.0) <= 2 * _ulp(np.array(90.0), np.float16)  # 2 roundings
    want = 1.0 - 1e-2 * 30 / (math.sqrt(90) + 1e-3)
    assert abs(float(w1[0]) - want) <= _ulp(np.array(want), np.float16)  # w rounds once


@given(n=st.integers(1, 5), data=st.data())
def test_yogi_float16_large_gradients_follow_float64(n, data):
    """|g| in [256, 4000] (g^2 overflows float16, (1-beta2) g^2 does not): 3 steps within
    3 ulps + 8 u of the steps' size of the float64 run (measured worst: 2.5 u, 3000 cases)."""
    big = st.floats(256.0, 4000.0).flatmap(lambda x: st.sampled_from([x, -x]))
    w = np.array(data.draw(st.lists(moderate, min_size=n, max_size=n)), np.float16)
    grads = [np.array(data.draw(st.lists(big, min_size=n, max_size=n)), np.float16) for _ in range(3)]
    _assert_near_float64_run(refopt.yogi(), w, grads, np.float16, 8, per_leaf=False)


def test_yogi_float16_small_gradients_cannot_be_held_by_s():
    """The documented limit (yogi docstring): g = w_0 = 1e-3 for 3 steps. The float64 s_t =
    t * (1-beta2) g^2 ~ t * 1e-9 rounds to 0 in float16 (smallest 6e-8), so float16's s stays
    exactly 0 and its steps are lr m_t / eps: hand values below. The result is 4.5% of the step
    off the float64 run; no order of operations can avoid it: s cannot hold the number."""
    g16 = np.float16(1e-3)
    yogi = lambda: refopt.yogi(initial_accumulator=0.0, bias_correction="none")  # noqa: E731 (s_0 = 0)
    w16, s16, _ = _run(yogi(), np.array([g16]), [np.array([g16])] * 3)
    w64, s64, _ = _run(yogi(), np.array([g16], np.float64), [np.array([g16], np.float64)] * 3)
    assert s16.s[0] == 0.0 and np.float16(s64.s[0]) == 0.0 and s64.s[0] > 0
    w, m = float(g16), 0.0
    for _ in range(3):  # s = 0: w <- w - lr m / eps, each value rounded to float16 as stored
        m = float(np.float16(0.9 * m + 0.1 * float(g16)))
        w = float(np.float16(w - 1e-2 * m / 1e-3))
    assert abs(float(w16[0]) - w) <= 3 * _ulp(np.array(w), np.float16)
    off = abs(float(w16[0]) - w64[0]) / abs(w64[0] - float(g16))
    assert 0.04 < off < 0.05  # measured 0.0451
