"""AdaMax claims: verdicts, and the supremum and limits re-derived by hand here."""
import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import refopt
from analysis import adamax


def sup_by_hand(t, b1, b2):
    # |sum_k a_k g_k| <= sum_k a_k |g_k| and |g_k| <= u_t b2^-(t-k): sum the weights directly
    k = np.arange(1, t + 1)
    a = (1 - b1) * b1 ** (t - k) / (1 - b1**t)
    return float(np.sum(a * b2 ** -(t - k)))


def test_closed_form_supremum_matches_the_direct_sum():
    for t in (1, 2, 7, 100, 5000):
        for b1, b2 in ((0.9, 0.999), (0.5, 0.9), (0.9, 0.9), (0.95, 0.9)):
            # the geometric-sum formula against the term-by-term sum: rounding only
            assert np.isclose(adamax.sup_ratio(t, b1, b2), sup_by_hand(t, b1, b2), rtol=1e-12)
    assert adamax.sup_ratio(1, 0.9, 0.999) == 1.0
    # (1-b1) b2 / (b2-b1) = 0.1 * 0.999 / 0.099
    assert np.isclose(adamax.sup_ratio_limit(0.9, 0.999), 0.0999 / 0.099, rtol=1e-15)
    assert adamax.sup_ratio_limit(0.9, 0.9) == np.inf


def test_step_bound_claim_is_false_with_the_exact_supremum():
    v = adamax.adamax_step_bound(quick=True)
    assert v.verdict == "false"
    assert np.isclose(v.figures["sup_ratio_limit"], 0.0999 / 0.099, rtol=1e-15)
    T = int(v.figures["T"])
    # the rule on g_k = b2^k reaches A(T); float64 rounding over T steps stays below 1e-12
    assert np.isclose(v.figures["attained_at_T"], sup_by_hand(T, 0.9, 0.999), rtol=1e-12)
    assert v.figures["max_rel_gap_rule_vs_closed_form"] < 1e-12
    assert v.figures["search_excess_over_sup"] < 1e-9
    assert v.figures["search_min_fraction_of_sup_reached"] > 0.99
    assert v.figures["first_t_over_lr"] == 2                 # A(2) = (1 + b1/b2)/(1 + b1) > 1
    # beta1 = beta2 = 0.9: A(t) = (1-b1) t / (1-b1^t), 20 at t = 200
    assert np.isclose(v.figures["ratio_at_t200_beta1_eq_beta2_0.9"], 0.1 * 200 / (1 - 0.9**200),
                      rtol=1e-13)  # 200 steps of rounding (measured 7e-16)


@given(st.lists(st.floats(-1e3, 1e3, allow_nan=False).filter(lambda x: abs(x) > 1e-6),
                min_size=1, max_size=40))
def test_no_sequence_steps_past_the_supremum(gs):
    g = np.array(gs)[:, None]
    r = adamax.step_ratios(refopt.adamax(lr=1.0, eps=0.0), g)[:, 0]
    bound = np.array([sup_by_hand(t, 0.9, 0.999) for t in range(1, len(gs) + 1)])
    assert np.all(r <= bound * (1 + 1e-12))                 # 1e-12: rounding of both sides


def test_recursion_and_the_notes_example():
    v = adamax.adamax_recursion(quick=True)
    assert v.verdict == "holds"
    assert v.figures["example_u5"] == 0.999 * 8              # 0.999*8 beats 1, 0.999^2*2, ...
    assert v.figures["u1_minus_abs_g1"] == 0.0


def test_lp_limit_and_its_rate():
    v = adamax.adamax_lp_limit(quick=True)
    assert v.verdict == "holds"
    assert v.figures["max_outside_exact_bracket"] < 1e-12
    # single gradient: (v^(p))^(1/p) = (1-b2^p)^(1/p) |g|: at p = 10, 0.00995^(0.1) = 0.631
    assert np.isclose(adamax.lp_moment_root(np.array([3.0]), 0.999, 10.0),
                      3 * (1 - 0.999**10) ** 0.1, rtol=1e-13)
    assert np.isclose(v.figures["leading_term_p10"], (1 - 0.999**10) ** 0.1 - 1, rtol=1e-14)
    assert v.figures["rel_err_p1e5"] < 1e-12
    # the key figure: log(u_p/u) lies in [log(1-b2^p)/p, (log(1-b2^p) + log t)/p], and on
    # heavy-tailed (Student-t(2)) runs the worst one sits on the lower end (one |g| dominates
    # the sum), so at p = 100 the error is 1 - (1-b2^100)^(1/100) = 0.02324; the figure is
    # read off a log-spaced p grid by interpolation, which costs 0.3% here: 1%
    lower = -np.expm1(np.log1p(-0.999**100) / 100)
    assert np.isclose(v.figures["rel_err_p100"], lower, rtol=1e-2)


def test_lp_norm_table_rows():
    v = adamax.lp_norm_table(quick=True)
    assert v.verdict == "false" and v.figures["rows_wrong"] == 2
    # 7 (1 + (3/7)^10 + (2/7)^10)^(1/10), by hand
    assert np.isclose(v.figures["norm_p10"], 7 * (1 + (3 / 7) ** 10 + (2 / 7) ** 10) ** 0.1, rtol=1e-14)
    assert np.isclose(v.figures["norm_p2"], np.sqrt(62), rtol=1e-15)
