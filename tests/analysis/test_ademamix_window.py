"""The AdEMAMix window claim (analysis/ademamix_window.py): its schedule against the rule's, its closed
form against a product written out here and the real rule's m_2, its figures against the constant-beta
formulas, and its verdict's bar."""
import math

import numpy as np
import pytest

from analysis import ademamix_window as aw
from refopt.rules.ademamix import beta3_warmup


@pytest.mark.parametrize("t", [1, 7, 500, 2_500, 9_999, 10_000, 30_000])
def test_the_half_life_schedule_is_the_rules_warmup(t):
    # two forms of the paper's f_beta3: half-life linear in t (here) and the rule's log formula
    want = beta3_warmup(t, 0.9, 0.9999, 10_000)
    assert abs(float(aw.half_life_schedule(t, 0.9, 0.9999, 10_000)) - want) <= 1e-13 * want


def test_weights_are_the_product_of_the_betas():
    t, T = 60, 40.0
    w = aw.weights(t, T)
    b = [beta3_warmup(j, aw.BETA1, aw.BETA3, T) for j in range(1, t + 1)]
    for k in (0, 1, 13, 59):
        s = t - k   # the gradient of step s, weighted (1 - b_s) prod_{j > s} b_j
        want = (1 - b[s - 1]) * math.prod(b[s:])
        assert abs(w[k] - want) <= 1e-12 * want
    assert abs(w.sum() - (1 - math.prod(b))) < 1e-12   # the mass 1 - prod(beta): m_2 is not bias-corrected


@pytest.mark.parametrize("t_beta3", [None, 300.0])
def test_the_real_rules_m2_is_the_closed_form(t_beta3):
    lags = np.array([0, 1, 5, 50, 299])
    got_w, got_older = aw.simulate(300, t_beta3, lags)
    w = aw.weights(300, t_beta3)
    # the rule and the closed form get beta_3,t from two formulas (log/exp against 0.5 ** (1/(h+1))),
    # measured up to 1 ulp apart (2**-53 for a beta in [0.5, 1)), and 1 - beta_3,t ~ 1e-4 turns one
    # ulp into 1.1e-12 of a weight: two ulps allowed, plus 300 steps of m_2's rounding
    ulp = 2.0**-53
    np.testing.assert_allclose(got_w, w[lags], rtol=2 * ulp / (1 - aw.BETA3) + 300 * ulp)
    np.testing.assert_allclose(got_older, [w[k + 1:].sum() for k in lags], rtol=1e-11, atol=1e-300)


def test_the_constant_window_figures_are_beta3_powers():
    b, t = aw.BETA3, aw.RUN_T
    f = aw.window(aw.weights(t, None))
    # mass on lags > k: beta^(k+1) - beta^t; weight halves past ln 0.5 / ln beta = 6931.1 lags
    assert f["mass_older_than_20000"] == pytest.approx(b**20_001 - b**t, rel=1e-9)
    assert f["half_life"] == math.ceil(math.log(0.5) / math.log(b)) == 6932
    assert abs(f["k_5pct"] - math.log(0.05) / math.log(b)) <= 2
    assert f["total_mass"] == pytest.approx(1 - b**t, rel=1e-12)


def test_the_warmup_halves_the_window_at_half_the_run():
    # half-life linear in t: at t = T/2 beta_3,t's half-life is about half beta3's, and the older
    # steps' betas are smaller still, so the window at T/2 is below half the constant one
    half = aw.window(aw.weights(aw.RUN_T // 2, aw.RUN_T))
    const = aw.window(aw.weights(aw.RUN_T, None))
    assert 0.4 * const["k_5pct"] < half["k_5pct"] < 0.5 * const["k_5pct"]


def _figs(**over):
    figs = {"sim_vs_closed_form_max_rel_error": 1e-12, "constant_k_5pct": 29_954.0,
            "warmup_t_1.0T_k_5pct": 28_270.0, "warmup_t_0.5T_k_5pct": 14_148.0,
            "warmup_t_0.25T_k_5pct": 7_086.0}
    figs.update(over)
    return figs


def test_the_verdict_follows_the_bar():
    assert aw.verdict_of(_figs()) == "conditional"
    assert aw.verdict_of(_figs(**{"warmup_t_0.5T_k_5pct": 2e4, "warmup_t_0.25T_k_5pct": 2e4})) == "holds"
    assert aw.verdict_of(_figs(constant_k_5pct=19_999.0)) == "false"
    assert aw.verdict_of(_figs(sim_vs_closed_form_max_rel_error=1e-6)) == "false"
