"""Adam's step bound: verdicts, and the supremum re-derived here term by term."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import refopt
from analysis import adam_bound


def sup_by_hand(t, b1, b2):
    # Cauchy-Schwarz: sup |sum a_k g_k| / sqrt(sum b_k g_k^2) = sqrt(sum a_k^2 / b_k)
    # (in logs: b_k underflows for beta2 = 0.7 and t in the thousands)
    j = np.arange(t)
    log_a = np.log1p(-b1) + j * np.log(b1) - np.log1p(-b1**t) if b1 > 0 else np.where(j == 0, 0.0, -np.inf)
    log_b = np.log1p(-b2) + j * np.log(b2) - np.log1p(-b2**t)
    return float(np.sqrt(np.sum(np.exp(2 * log_a - log_b))))


def test_closed_form_supremum_matches_the_direct_sum():
    for t in (1, 2, 10, 300, 3000):
        for b1, b2 in ((0.9, 0.999), (0.0, 0.99), (0.99, 0.999), (0.9, 0.7), (0.9, 0.81)):
            assert np.isclose(adam_bound.sup_ratio(t, b1, b2), sup_by_hand(t, b1, b2), rtol=1e-11)
    assert adam_bound.sup_ratio(1, 0.9, 0.999) == 1.0           # bias-corrected first step: lr
    # limit sqrt((1-b1)^2/(1-b2) / (1 - b1^2/b2)) at the defaults: 7.27029...
    assert np.isclose(adam_bound.sup_ratio_limit(0.9, 0.999),
                      np.sqrt(0.01 / 0.001 / (1 - 0.81 / 0.999)), rtol=1e-15)
    assert adam_bound.sup_ratio_limit(0.9, 0.81) == np.inf      # beta1^2 = beta2: grows like sqrt(t)
    # beta1 = beta2: a_k = b_k and the weights sum to 1, so the supremum is exactly 1
    assert np.allclose(adam_bound.sup_ratio(np.arange(1, 500), 0.95, 0.95), 1.0, rtol=1e-12)


def test_step_bound_claim_is_false_with_the_exact_supremum():
    v = adam_bound.adam_step_bound(quick=True)
    assert v.verdict == "false"
    assert np.isclose(v.figures["sup_ratio_limit"], 7.2702918, rtol=1e-7)
    # and to rounding, the limit sqrt((1-b1)^2/(1-b2) / (1 - b1^2/b2)) written out here
    assert np.isclose(v.figures["sup_ratio_limit"], np.sqrt(0.01 / 0.001 / (1 - 0.81 / 0.999)), rtol=1e-14)
    assert np.isclose(v.figures["notes_bound"], np.sqrt(10), rtol=1e-15)
    T = int(v.figures["T"])
    # the real rule on the attaining sequence; 1e-12 allows rounding over T = 2000 steps (a few
    # ulps each: ~4e-13 at worst; measured 2e-16)
    assert np.isclose(v.figures["attained_at_T"], sup_by_hand(T, 0.9, 0.999), rtol=1e-12)
    assert v.figures["search_excess_over_sup"] < 1e-9
    assert v.figures["search_min_fraction_of_sup_reached"] > 0.999
    # the spike after zeros at step T: (1-b1)/(1-b1^T) * sqrt((1-b2^T)/(1-b2))
    assert np.isclose(v.figures["spike_ratio_at_T"], 0.1 / (1 - 0.9**T) * np.sqrt((1 - 0.999**T) / 0.001),
                      rtol=1e-12)
    # uncorrected, t = 2: (1-b1)/sqrt(1-b2) * sqrt(1 + b1^2/b2)
    assert np.isclose(v.figures["uncorrected_ratio_t2"], np.sqrt(10) * np.sqrt(1 + 0.81 / 0.999), rtol=1e-13)
    first = int(v.figures["first_t_over_notes_bound"])
    assert sup_by_hand(first, 0.9, 0.999) > np.sqrt(10) > sup_by_hand(first - 1, 0.9, 0.999)


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False).filter(lambda x: abs(x) > 1e-6),
                min_size=1, max_size=40),
       st.sampled_from([(0.9, 0.999), (0.5, 0.9), (0.99, 0.999)]))
def test_no_sequence_steps_past_the_supremum(gs, betas):
    b1, b2 = betas
    r = adam_bound.step_ratios(refopt.adam(lr=1.0, beta1=b1, beta2=b2, eps=0.0), np.array(gs)[:, None])
    bound = np.array([sup_by_hand(t, b1, b2) for t in range(1, len(gs) + 1)])
    assert np.all(r[:, 0] <= bound * (1 + 1e-12))              # rounding of both sides


def test_step_cases_both_branches_fail():
    v = adam_bound.adam_step_cases(quick=True)
    assert v.verdict == "false"
    assert v.figures["second_branch_stated_bound"] == 1.0
    assert v.figures["second_branch_measured_at_T"] > 2.0        # sup -> 2.299 at (0.99, 0.999)
    assert v.figures["first_branch_measured_at_T"] > np.sqrt(10)
    assert v.figures["grid_holds_off_diagonal"] == 0
    # each case against this file's Cauchy-Schwarz supremum at the quick run's T = 1500 (the
    # rule on the attaining sequence reaches it: rounding over T steps, 1e-12 as above), its
    # limit in closed form, and the paper's stated bound: (1-b1)/sqrt(1-b2) if that exceeds 1
    # (measured gaps to the sum: 2e-16..9e-16)
    cases = {"first_branch": (0.9, 0.999), "second_branch": (0.99, 0.999),
             "boundary": (1 - np.sqrt(1 - 0.99), 0.99)}
    for name, (b1, b2) in cases.items():
        assert np.isclose(v.figures[f"{name}_measured_at_T"], sup_by_hand(1500, b1, b2), rtol=1e-12), name
        limit = np.sqrt((1 - b1) ** 2 / (1 - b2) / (1 - b1**2 / b2))
        assert np.isclose(v.figures[f"{name}_sup_limit"], limit, rtol=1e-14), name
    assert np.isclose(v.figures["first_branch_stated_bound"], np.sqrt(10), rtol=1e-14)
    # at the boundary (1-b1) = sqrt(1-b2) both branches give 1 (b1 = 1 - sqrt(0.01) rounds)
    assert np.isclose(v.figures["boundary_stated_bound"], 1.0, rtol=1e-14)


def test_beta_condition_regions():
    v = adam_bound.beta_condition(quick=True)
    assert v.verdict == "false"
    # areas on [0,1)^2: int b2^(1/4) = 4/5, int b2^(1/2) = 2/3; midpoint grid of 400^2 points
    assert abs(v.figures["area_gamma_condition"] - 0.8) < 1e-3
    assert abs(v.figures["area_bounded_steps"] - 2 / 3) < 1e-3
    assert abs(v.figures["area_gamma_but_unbounded"] - 2 / 15) < 1e-3
    assert v.figures["area_bounded_but_not_gamma"] == 0.0
    # sqrt(0.81/0.7) per step: S(t) grows geometrically; fit over the second half of the run
    assert abs(v.figures["log_growth_rate_per_step"] - 0.5 * np.log(0.81 / 0.7)) < 5e-3
