"""The EWMA claims, checked against hand derivations."""
import numpy as np

from analysis import ewma


def test_ewma_bias_verdict_and_figures():
    v = ewma.ewma_bias(quick=True)
    assert v.verdict == "holds"
    # all of these are rounding only: a few ulps of the quantities compared
    assert v.figures["max_rel_err_weights_vs_closed_form"] < 1e-13
    assert v.figures["max_abs_err_weight_sum_vs_1-beta^t"] < 1e-14
    assert v.figures["max_rel_err_rule_vs_lfilter"] < 1e-13
    assert v.figures["max_rel_err_corrected_vs_normalised_weights"] < 1e-13
    # the notes' walk-through (line 130): 0.1 * 30 = 3, 0.9 * 3 + 0.1 * 17 = 4.4
    assert abs(v.figures["notes_example_v1"] - 3.0) < 1e-14
    assert abs(v.figures["notes_example_v2"] - 4.4) < 1e-14
    # a constant gradient: m_hat = g and s_hat = g^2 exactly, so the step is lr * sign(g)
    assert v.figures["adam_first_step_over_lr"] == -1.0


def test_impulse_weights_by_hand():
    # beta = 0.5: x_T gets 0.5, x_{T-1} 0.25, x_{T-2} 0.125, x_{T-3} 0.0625 (powers of two:
    # exact in binary floating point)
    np.testing.assert_array_equal(ewma.impulse_weights(0.5, 4), [0.5, 0.25, 0.125, 0.0625])


def test_window_closed_forms_by_series():
    # sum_k k (1-beta) beta^k = beta/(1-beta); sum_k ((1-beta) beta^k)^2 = (1-beta)/(1+beta), so
    # white noise of variance 1 leaves variance (1-beta)/(1+beta), the same as a mean of
    # (1+beta)/(1-beta) points; beta = 0.9: mass in the last 10 steps 1 - 0.9^10.
    for beta in (0.5, 0.9, 0.99):
        k = np.arange(20000)
        w = (1 - beta) * beta**k
        closed = ewma.window_figures(beta)
        assert np.isclose(np.sum(k * w), closed["mean_age"], rtol=1e-12)
        assert np.isclose(1 / np.sum(w * w), closed["equivalent_sma"], rtol=1e-12)
    assert np.isclose(ewma.window_figures(0.9)["mass_in_last_window"], 0.6513215599, rtol=1e-10)
    # to rounding: 1 - 0.9^10 (0.9^10 = 0.3486784401 exactly in decimal), and the weight
    # beta^k falls by e after k = -1/ln(beta) steps (9.49 for 0.9)
    for beta, n in ((0.5, 2), (0.9, 10), (0.99, 100)):
        closed = ewma.window_figures(beta)
        assert np.isclose(closed["mass_in_last_window"], 1 - beta**n, rtol=1e-14)
        assert np.isclose(beta ** closed["e_folding_steps"], np.exp(-1), rtol=1e-14)


def test_ewma_window_verdict_and_figures():
    v = ewma.ewma_window(quick=True)
    assert v.verdict == "conditional"
    assert v.figures["max_err_mass_and_age_vs_closed_form"] < 1e-12
    assert abs(v.figures["mass_in_last_window_beta0.9"] - (1 - 0.9**10)) < 1e-12
    assert abs(v.figures["mass_in_last_window_beta0.5"] - 0.75) < 1e-12
    assert abs(v.figures["mean_age_beta0.9"] - 9.0) < 1e-13  # a weighted sum: rounding (5e-15)
    # Monte-Carlo over 4000 streams: the variance is known to ~2.2% (1 sigma); 10% is 4.5 sigma
    assert abs(v.figures["equivalent_sma_beta0.9"] / 19 - 1) < 0.1
    assert abs(v.figures["equivalent_sma_beta0.5"] / 3 - 1) < 0.1
    assert v.figures["equivalent_sma_beta0.9"] > 1.5 * 10  # not the notes' 10 points


def test_ewma_weights_figure_is_written(tmp_path):
    from analysis.ewma import ewma_weights_figure
    ewma_weights_figure(True, tmp_path)
    png = tmp_path / "ewma_weights.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
