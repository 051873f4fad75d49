"""Schedule-Free AdamW: agreement with the authors' ``AdamWScheduleFreePaper`` (Algorithm 1:
bias correction in gamma_t) and ``AdamWScheduleFreeReference`` (z, x, y kept explicitly; the
correction on the moment), two steps by hand, and the identities the two conventions share."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
import pytest
import schedulefree

from refopt.interop.torch import torch_optimizer
from refopt.rules.schedule_free_adamw import eval_params, schedule_free_adamw

from .independent import Check, assert_agrees
from .test_schedule_free_sgd import in_train_mode

B1, B2 = 0.8, 0.95
SET = dict(lr=0.02, eps=1e-6, weight_decay=0.1, warmup_steps=7, r=0.5, weight_lr_power=1.5)

# Both keep their weights as Python floats and their tensors in float64 as we do; the Paper class
# keeps y only and forms x implicitly (lerp and add on y), the Reference keeps x, z, y: each
# rounds differently by a few ulp per step, so 1e-10 over 50 steps is slack (measured ~1e-14).
CHECKS = [
    Check("schedule_free_adamw", "schedulefree.AdamWScheduleFreePaper",
          lambda: schedule_free_adamw(beta1=B1, beta2=B2, **SET),
          lambda: torch_optimizer(in_train_mode(schedulefree.AdamWScheduleFreePaper),
                                  betas=(B1, B2), foreach=False, **SET),
          rtol=1e-10, why="betas=(0.8,0.95),wd=0.1,warmup=7,r=0.5,p=1.5"),
    Check("schedule_free_adamw", "schedulefree.AdamWScheduleFreeReference",
          lambda: schedule_free_adamw(beta1=B1, beta2=B2, bias_correction="moment", **SET),
          lambda: torch_optimizer(in_train_mode(schedulefree.AdamWScheduleFreeReference),
                                  betas=(B1, B2), **SET),
          rtol=1e-10, why="bias_correction=moment,betas=(0.8,0.95),wd=0.1,warmup=7,r=0.5,p=1.5"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.id)
def test_agrees_with_independent_implementation(check):
    assert_agrees(check)


def test_first_two_steps_by_hand():
    # lr 0.5, beta1 0.5, beta2 0.75, eps 0 (Algorithm 1). Step 1: s_1 = g^2/4, gamma_1 = 0.5*sqrt(1/4)
    # = 0.25, z_2 = z_1 - 0.25 g/(|g|/2) = z_1 - 0.5 sign(g); c_2 = 1 so x_2 = y_2 = z_2.
    opt = schedule_free_adamw(lr=0.5, beta1=0.5, beta2=0.75, eps=0.0)
    w0, g1, g2 = np.array([1.0, -2.0]), np.array([4.0, -8.0]), np.array([2.0, 4.0])
    y1, s = opt.step(w0, g1, opt.init(w0))
    np.testing.assert_array_equal(s.z, [0.5, -1.5])
    np.testing.assert_array_equal(y1, s.z)
    np.testing.assert_array_equal(eval_params(s), s.z)
    # Step 2: s_2 = 0.75*(4, 16) + 0.25*(4, 16) = (4, 16), sqrt = (2, 4); gamma_2 = 0.5*sqrt(0.4375);
    # weights gamma_1^2 = 1/16, gamma_2^2 = 0.109375, c_3 = 0.109375/0.171875 = 7/11.
    y2, s = opt.step(y1, g2, s)
    gamma2 = 0.5 * np.sqrt(0.4375)
    z3 = np.array([0.5 - gamma2, -1.5 - gamma2])
    x3 = (4 / 11) * np.array([0.5, -1.5]) + (7 / 11) * z3
    np.testing.assert_allclose(s.z, z3, rtol=1e-15)
    np.testing.assert_allclose(eval_params(s), x3, rtol=1e-15)
    np.testing.assert_allclose(y2, 0.5 * z3 + 0.5 * x3, rtol=1e-15)


grads = hnp.arrays(np.float64, (6, 3), elements=st.floats(-100, 100).filter(lambda v: abs(v) > 1e-3))
start = hnp.arrays(np.float64, (3,), elements=st.floats(-100, 100))


def _run(opt, w, gs):
    state, ys = opt.init(w), []
    for g in gs:
        w, state = opt.step(w, g, state)
        ys.append((w, state))
    return ys


@settings(max_examples=30, deadline=None)
@given(w=start, gs=grads, lr=st.floats(1e-3, 1.0), b1=st.floats(0.0, 0.999), b2=st.floats(0.0, 0.999))
def test_the_two_conventions_agree_where_they_must(w, gs, lr, b1, b2):
    """With eps = 0, no decay and weight_lr_power = 0 the conventions coincide: gamma sqrt(bc) g /
    sqrt(s) = gamma g / sqrt(s/bc), and the weights no longer read gamma. 1e-12: rounding only."""
    kw = dict(lr=lr, beta1=b1, beta2=b2, eps=0.0, weight_lr_power=0.0)
    a = _run(schedule_free_adamw(**kw), w, gs)
    b = _run(schedule_free_adamw(bias_correction="moment", **kw), w, gs)
    for (ya, sa), (yb, sb) in zip(a, b):
        np.testing.assert_allclose(ya, yb, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(eval_params(sa), eval_params(sb), rtol=1e-12, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(w=start, gs=grads, lr=st.floats(1e-3, 1.0), b1=st.floats(0.0, 0.999))
def test_x_is_the_uniform_average_of_z_when_the_weights_are_flat(w, gs, lr, b1):
    """weight_lr_power = 0, r = 0: c_{t+1} = 1/t, x after t steps = the mean of those t z's
    (Adam's gamma_t grows with sqrt(1-beta2^t), so with p = 2 the weights would not be flat)."""
    run = _run(schedule_free_adamw(lr=lr, beta1=b1, weight_lr_power=0.0), w, gs)
    zs = np.array([s.z for _, s in run])
    for t, (y, s) in enumerate(run, start=1):
        np.testing.assert_allclose(eval_params(s), zs[:t].mean(axis=0), rtol=0,
                                   atol=1e-12 * max(np.abs(zs).max(), 1.0))
        np.testing.assert_allclose(y, (1 - b1) * s.z + b1 * s.x, rtol=0, atol=1e-13 * (1 + np.abs(zs).max()))


def test_bad_convention_is_refused():
    with pytest.raises(ValueError, match="bias_correction"):
        schedule_free_adamw(bias_correction="both")
