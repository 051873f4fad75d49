"""Reddi's counterexample and Theorem 1: verdicts, and the measured quantities against
hand-derived values."""
import numpy as np

import refopt
from analysis import regret


def test_linear_regret_by_hand_and_theorem1_bound_at_equality():
    # c = (3, -1, -1), x = +1 throughout: paid 1, best fixed point x = -1 pays -1, R = 2,
    # which is Reddi's (2C - 4) T / 3 at C = 3, T = 3 exactly
    R = regret.linear_regret(np.array([3.0, -1.0, -1.0]), np.ones(3))
    assert R[-1] == 2.0 == (2 * 3 - 4) * 3 / 3
    assert R[0] == 3.0 - (-3.0)   # after round 1: paid 3, best point -1 pays -3


def test_steps_times_schedule_then_clip_is_the_projected_run():
    # the shortcut used for the long runs against the straightforward loop with the schedule
    T = 606
    c = regret.reddi_gradients(T)
    for name, opt in regret.online_rules().items():
        lr = regret.rule_lr(name)
        direct = {"adam": refopt.adam, "amsgrad": refopt.amsgrad}.get(name)
        opt_lr = (direct(lr=lr, beta1=0.9, beta2=0.99, eps=0.0) if direct
                  else refopt.adagrad(lr=lr, eps=0.0))
        xs = regret.projected_run(opt_lr, lambda t, x: np.full_like(x, c[t - 1]), np.zeros(1), T)[:, 0]
        short = regret.clip_path(regret.rule_steps(opt, c), lr, 0.0)
        assert np.max(np.abs(xs - short)) < 1e-12   # same products, summed in the same order


def test_periodic_extension_matches_a_longer_real_run():
    T = regret.RULE_STEPS + 505
    c = regret.reddi_gradients(T)
    opt = regret.online_rules()["amsgrad"]
    full = regret.rule_steps(opt, c)
    ext, gap = regret.periodic_extension(full[:regret.RULE_STEPS], T, regret.C_PERIOD)
    assert gap < 1e-12
    assert np.max(np.abs(ext - full)) / np.max(np.abs(full)) < 1e-12


def test_reddi_counterexample():
    v = regret.reddi_counterexample(quick=True)
    assert v.verdict == "conditional"
    f = v.figures
    assert f["adam_final_x"] > 0.99 and f["amsgrad_final_x"] < -0.99
    # at x = +1 the regret is 20 per period of 101 steps; Adam's second half is within 0.03
    assert abs(f["adam_avg_regret_second_half"] - 20 / 101) < 0.03
    assert f["amsgrad_avg_regret_second_half"] < 0.05
    assert f["thm1_min_x_at_3t_plus_1"] == 1.0 and f["thm1_regret_over_bound"] >= 1.0
