"""Adam vs RMSProp+momentum, the uncorrected first step, and the AdaGrad limit, by hand."""
import numpy as np

import refopt
from analysis import adam_limits as al

B1, B2 = 0.9, 0.999


def test_adam_vs_rmsprop_momentum_verdict_and_first_spike_by_hand():
    v = al.adam_vs_rmsprop_momentum(quick=True)
    assert v.verdict == "conditional"
    assert v.figures["rules_vs_lfilter_max_rel_err"] < 1e-12  # 4000 steps of rounding
    # RMSProp + EMA momentum: the spike enters as G/sqrt((1-B2) G^2) = 1/sqrt(1-B2), spread by
    # weights (1-B1) B1^k, of which 100 steps hold 1 - B1^100
    rms = (1 - B1**100) / np.sqrt(1 - B2)
    # Adam, k steps after the first spike: m_hat = (1-B1) B1^k G / (1-B1^(k+1)),
    # v_hat = (1-B2) B2^k G^2 / (1-B2^(k+1)); the step is their ratio (G cancels)
    k = np.arange(100)
    adam = np.sum((1 - B1) * B1**k / (1 - B1 ** (k + 1))
                  / np.sqrt((1 - B2) * B2**k / (1 - B2 ** (k + 1))))
    assert np.isclose(v.figures["first_spike_rmsprop_momentum_displacement_over_lr"], rms, rtol=1e-12)
    assert np.isclose(v.figures["first_spike_adam_displacement_over_lr"], adam, rtol=1e-12)
    assert np.isclose(v.figures["torch_sum_form_first_spike_over_lr"], rms / (1 - B1), rtol=1e-12)
    # steady state: the two nearly agree (closed form 1.0045), to 1% after 40 spikes
    assert abs(v.figures["last_spike_adam_over_rmsprop"] - 1) < 0.01
    gamma = B1 / np.sqrt(B2)
    limit = (1 - B1) * (1 - gamma**100) / (1 - gamma) / (1 - B1**100)
    assert np.isclose(v.figures["steady_state_adam_over_rmsprop_closed_form"], limit, rtol=1e-14)


def test_first_step_without_bias_correction_by_hand():
    v = al.adam_first_step(quick=True)
    assert v.verdict == "conditional"
    # v_1 = (1-B2) g^2: RMSProp steps lr g / (sqrt(0.001) |g|) = 31.62 lr
    assert np.isclose(v.figures["rmsprop_first_step_over_lr"], 1 / np.sqrt(0.001), rtol=1e-13)
    # m_1 = 0.1 g as well: the uncorrected Adam step is 0.1 / sqrt(0.001) = 3.162 lr
    assert np.isclose(v.figures["adam_uncorrected_first_step_over_lr"], 0.1 / np.sqrt(0.001), rtol=1e-13)
    assert v.figures["adam_corrected_first_step_over_lr"] == 1.0
    # the ratio (1 - B1^t)/sqrt(1 - B2^t) for a constant gradient, maximised by brute force
    t = np.arange(1, 1000)
    ratio = (1 - B1**t) / np.sqrt(1 - B2**t)
    assert v.figures["adam_uncorrected_max_ratio_step"] == t[np.argmax(ratio)] == 12
    assert np.isclose(v.figures["adam_uncorrected_max_ratio"], ratio.max(), rtol=1e-12)
    assert v.figures["max_rel_err_uncorrected_vs_closed_form"] < 1e-12


def test_adagrad_limit_two_steps_by_hand():
    # beta1 = 0, lr_2 = lr/sqrt(2): v_hat_2 = (B g1^2 + g2^2)/(1 + B) (bias-corrected weights
    # B/(1+B), 1/(1+B)), so Adam's step 2 over AdaGrad's lr g2/sqrt(g1^2 + g2^2) is
    # sqrt((1+B)(g1^2+g2^2) / (2 (B g1^2 + g2^2))) -> 1 as B -> 1, linearly in 1-B.
    g = np.array([[3.0], [-0.5]])
    ref = al.displacements(refopt.adagrad(lr=0.1, eps=0.0), g)
    for d in (1e-1, 1e-3, 1e-5):
        b = 1 - d
        adam = al.displacements(refopt.adam(lr=lambda t: 0.1 / np.sqrt(t), beta1=0.0, beta2=b, eps=0.0), g)
        by_hand = np.sqrt((1 + b) * (9 + 0.25) / (2 * (b * 9 + 0.25)))
        assert np.isclose(adam[1, 0] / ref[1, 0], by_hand, rtol=1e-13)
        assert np.isclose(adam[0, 0], ref[0, 0], rtol=1e-15)  # step 1 is lr sign(g) for both


def exact_gap(g, one_minus_beta2):
    """max over t and coordinates of |Adam step / AdaGrad step - 1| (beta1 = 0, eps = 0,
    lr_t = lr/sqrt(t)) in closed form: the ratio is sqrt(mean_{i<=t} g_i^2 / v_hat_t) with
    v_hat_t = sum_i d b^(t-i) g_i^2 / (1 - b^t), b = 1 - d; powers through log1p/expm1, so
    the weights are good to a few ulps even for d = 1e-8."""
    b = 1.0 - one_minus_beta2
    d = 1.0 - b  # the 1 - beta2 the rule sees
    g2 = g * g
    worst = 0.0
    for t in range(1, len(g) + 1):
        age = np.arange(t - 1, -1, -1.0)
        w = d * np.exp(age * np.log1p(-d)) / -np.expm1(t * np.log1p(-d))
        ratio = np.sqrt(np.mean(g2[:t], axis=0) / (w @ g2[:t]))
        worst = max(worst, float(np.max(np.abs(ratio - 1))))
    return worst, d


def test_adagrad_limit_verdict_and_slopes():
    v = al.adam_adagrad_limit(quick=True)
    assert v.verdict == "conditional"
    # the measured gap at 1 - beta2 = 1e-6 against the closed form on the same stream; the
    # rule's 1 - beta2^t carries an absolute rounding ~1e-16, relative 1e-16/(t d), which
    # against a gap of ~3e-6 is up to ~1e-6 of it (measured 7e-8)
    g = al._limit_stream(True)
    gap, _ = exact_gap(g, 1e-6)
    assert np.isclose(v.figures["gap_over_(1-beta2)_measured"] * 1e-6, gap, rtol=1e-6)
    # the first-order constant against the exact gap at d = 1e-8, divided by d: the O(d)
    # remainder and the rounding of a ~3e-8 gap are each ~1e-8 relative (measured 1.3e-8)
    gap, d = exact_gap(g, 1e-8)
    assert np.isclose(v.figures["gap_over_(1-beta2)_first_order"], gap / d, rtol=1e-7)
    # first-order expansion: the gap is linear in 1-beta2, with the predicted constant
    assert abs(v.figures["slope_corrected_gap_vs_1-beta2"] - 1) < 0.01
    assert np.isclose(v.figures["gap_over_(1-beta2)_measured"],
                      v.figures["gap_over_(1-beta2)_first_order"], rtol=1e-4)
    # without correction the step is 1/sqrt(1-beta2^t) ~ 1/sqrt(t(1-beta2)) too large
    assert abs(v.figures["slope_uncorrected_gap_vs_1-beta2"] + 0.5) < 0.02
    assert v.figures["eps_1e-3_gap_vs_adagrad_eps_sqrt_t"] < 1e-5
    assert v.figures["eps_1e-3_gap_vs_adagrad_const_eps"] > 0.1


def test_adagrad_limit_figure_is_written(tmp_path):
    al.adagrad_limit_figure(True, tmp_path)
    assert (tmp_path / "adagrad_limit.png").stat().st_size > 10_000
