"""Adam's scale invariance, across layers, and its blindness to curvature, by hand."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import refopt
from analysis import invariance as inv


def test_scale_invariance_verdict_and_eps_law():
    v = inv.adam_scale_invariance(quick=True)
    assert v.verdict == "conditional"
    assert v.figures["max_rel_step_gap_eps0_c_1e-12_to_1e12"] < 1e-11  # rounding, see the module
    assert v.figures["bitwise_equal_for_c_power_of_2"] == 1.0
    # x/(1+x) law: at x = 1 half the step is lost, at x = 1000 a fraction 1/1001
    assert abs(v.figures["deviation_at_c|g|/eps_1"] - 0.5) < 1e-12
    assert abs(v.figures["deviation_at_c|g|/eps_1e3"] - 1 / 1001) < 1e-12
    assert v.figures["max_abs_err_deviation_vs_1/(1+x)"] < 1e-12


def test_first_step_with_eps_by_hand():
    # step 1: m_hat = g, v_hat = g^2 exactly, so the step is lr |g| / (|g| + eps)
    g, eps, lr = 3e-8, 1e-8, 1e-3
    steps = inv.displacements(refopt.adam(lr=lr, eps=eps), np.array([[g]]))
    assert np.isclose(steps[0, 0], lr * g / (g + eps), rtol=1e-14)


def test_layer_scale_verdict_and_figures():
    v = inv.adam_layer_scale(quick=True)
    assert v.verdict == "holds"
    # steady gradient G: step lr G/(G + eps); G = 1e-3, eps = 1e-8 gives 1/(1 + 1e-5)
    assert np.isclose(v.figures["adam_step_over_lr_layer_1e-3_clean"], 1 / (1 + 1e-5), rtol=1e-12)
    assert np.isclose(v.figures["adam_step_over_lr_layer_1e3_clean"], 1 / (1 + 1e-11), rtol=1e-12)
    # the same noisy shape at both scales: only eps (1e-8 vs 1e-3, ~1e-5) separates them
    assert abs(v.figures["adam_step_ratio_late_over_early_noisy"] - 1) < 3e-5
    assert np.isclose(v.figures["sgd_step_ratio_late_over_early_noisy"], 1e6, rtol=1e-12)
    # the SNR sets the noisy step; 100 steps of 16 coordinates: a few % of sampling noise
    assert abs(v.figures["adam_step_over_lr_noisy"] - 1 / np.sqrt(1.25)) < 0.05


def test_not_curvature_aware_verdict_and_figures():
    v = inv.adam_not_curvature_aware(quick=True)
    assert v.verdict == "holds"
    # Newton's step on equal gradients is exactly 1/a: slope 1
    assert abs(v.figures["slope_newton_equal_grads"] - 1) < 1e-12
    # Adam and SGD: steps lr * (~1) whatever a (the steepest coordinate moves 20% of its way)
    assert abs(v.figures["slope_step_vs_inverse_curvature_adam_equal_grads"]) < 0.01
    assert v.figures["adam_step_spread_max_over_min_equal_grads"] < 1.05
    # from w_0 = 1 the first step is lr for every coordinate, so step/gradient = lr/a exactly
    assert abs(v.figures["slope_adam_step_per_unit_grad_w0_1"] - 1) < 1e-5


def test_invariance_figure_is_written(tmp_path):
    inv.adam_invariance_figure(True, tmp_path)
    assert (tmp_path / "adam_invariance.png").stat().st_size > 10_000


@given(st.lists(st.floats(-1e3, 1e3, allow_subnormal=False).filter(lambda x: abs(x) > 1e-3),
                min_size=1, max_size=30),
       st.floats(1e-6, 1e6))
def test_scaled_gradients_give_the_same_steps_at_eps_zero(stream, c):
    # (c m_hat)/sqrt(c^2 v_hat) = m_hat/sqrt(v_hat) for every stream and c > 0; the steps are
    # at most a few lr (Kingma & Ba's bound), so an absolute 1e-12 lr is rounding only
    g = np.array(stream)[:, None]
    base = inv.displacements(refopt.adam(lr=1.0, eps=0.0), g)
    scaled = inv.displacements(refopt.adam(lr=1.0, eps=0.0), c * g)
    np.testing.assert_allclose(scaled, base, rtol=0, atol=1e-12)
