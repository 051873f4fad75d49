"""AdaDelta's units and effective learning rate, against hand derivations."""
import numpy as np

import refopt
from analysis import adadelta

RHO, EPS = 0.95, 1e-6


def test_first_two_steps_by_hand():
    # s_1 = (1-rho) g^2, u_0 = 0: dw_1 = -sqrt(eps)/sqrt(s_1 + eps) g, u_1 = (1-rho) dw_1^2;
    # s_2 = rho s_1 + (1-rho) g^2, dw_2 = -sqrt(u_1 + eps)/sqrt(s_2 + eps) g.
    g = 7.0
    s1 = (1 - RHO) * g * g
    d1 = np.sqrt(EPS) / np.sqrt(s1 + EPS) * g
    u1 = (1 - RHO) * d1 * d1
    s2 = RHO * s1 + (1 - RHO) * g * g
    d2 = np.sqrt(u1 + EPS) / np.sqrt(s2 + EPS) * g
    opt = refopt.adadelta()
    w = np.array([0.0])
    state = opt.init(w)
    w1, state = opt.step(w, np.array([g]), state)
    w2, state = opt.step(w1, np.array([g]), state)
    assert np.isclose(-w1[0], d1, rtol=1e-14)
    assert np.isclose(w1[0] - w2[0], d2, rtol=1e-14)
    # for |g| >> sqrt(eps/(1-rho)) the first step is sqrt(eps/(1-rho)) whatever the scale of w
    # (exactly sqrt(eps) g/sqrt((1-rho) g^2 + eps), which differs from the limit by
    # eps/(2 (1-rho) g^2) = 1e-17 here: so 1e-14, the rounding of two roots and a quotient)
    assert np.isclose(adadelta.first_step(opt, 1e6, 0.0), np.sqrt(EPS / (1 - RHO)), rtol=1e-14)


def test_adadelta_units_verdict_and_figures():
    v = adadelta.adadelta_units(quick=True)
    assert v.verdict == "false"
    # a unit-correct step would have slope 1 against the scale c; SGD's is exactly -1
    assert abs(v.figures["first_step_slope_adadelta_vs_scale"]) < 0.1
    assert np.isclose(v.figures["first_step_slope_sgd_vs_scale"], -1.0, atol=1e-9)
    assert v.figures["progress_spread_adadelta_max_over_min"] > 10
    # near w = 0 with lr_eff r the iteration is w <- (1 - a r) w, stable iff r <= 2/a; with
    # s, u << eps the ratio is sqrt(eps)/sqrt(eps) = 1, so the limit is min(1, 2/a)
    for a in adadelta.CURVATURES:
        assert abs(v.figures[f"lr_eff_curvature_{a:g}"] - min(1.0, 2.0 / a)) < 1e-3
    # above curvature 2 the amplitude grows instead of annealing (~ sqrt(t): sqrt(3) from T/3)
    assert v.figures["growth_of_|w|_curvature_10_from_T/3_to_T"] > 1.3
