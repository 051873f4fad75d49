"""NAdam claims: verdicts, weights and first steps derived by hand."""
import numpy as np

from analysis import nadam


def test_hand_weights():
    b1 = 0.9
    # t = 1: NAdam's only weight is b1(1-b1)/(1-b1^2) + 1 = 0.09/0.19 + 1
    assert np.isclose(nadam.weights_by_hand(1, b1, "nadam")[0], 0.09 / 0.19 + 1, rtol=1e-15)
    assert np.isclose(nadam.weights_by_hand(1, b1, "adam")[0], 1.0, rtol=1e-15)
    # Adam's weights sum to 1 at every t (bias correction); NAdam's tend to 1
    assert np.isclose(nadam.weights_by_hand(17, b1, "adam").sum(), 1.0, rtol=1e-14)
    w = nadam.weights_by_hand(200, b1, "nadam")
    assert np.isclose(w[-1], 1 - b1**2, rtol=1e-12)               # the double-counted g_t


def test_nadam_forms_holds():
    v = nadam.nadam_forms(quick=True)
    assert v.verdict == "holds"
    f = v.figures
    assert f["max_rel_gap_nadam_vs_adam_look_ahead"] < 1e-12
    assert f["max_abs_gap_weights_vs_hand"] < 1e-12   # readout error ~ sqrt(v)/eps = 1e-15
    assert np.isclose(f["sum_of_weights_nadam_t1"], 0.09 / 0.19 + 1, rtol=1e-12)
    # at t = 40: b1(1-b1)/(1-b1^41) + (1-b1)/(1-b1^40)
    assert np.isclose(f["weight_of_g_t_nadam"], 0.09 / (1 - 0.9**41) + 0.1 / (1 - 0.9**40), rtol=1e-12)
    assert f["max_rel_gap_late_vs_nesterov_reformulated"] < 1e-12


def test_cheat_sheet_form_is_false():
    v = nadam.nadam_cheat_sheet(quick=True)
    assert v.verdict == "false"
    f = v.figures
    # constant gradient, t = 1: sheet b1 + 1 = 1.9; Dozat 0.09/0.19 + 1
    assert np.isclose(f["constant_g_step_t1_sheet"], 1.9, rtol=1e-14)
    assert np.isclose(f["constant_g_step_t1_dozat"], 0.09 / 0.19 + 1, rtol=1e-14)
    # at t = 1, m_1 = (1-b1) g for every gradient, so both steps are multiples of g (1.9 and
    # 0.09/0.19 + 1) and every coordinate differs by the same ratio: the max is that ratio
    assert np.isclose(f["max_rel_diff_t1"], 1.9 / (0.09 / 0.19 + 1) - 1, rtol=1e-13)
    assert abs(f["decay_rate_per_step"] - 0.9) < 0.02     # the gap carries b1^(t+1)
