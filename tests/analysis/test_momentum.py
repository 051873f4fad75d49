"""The Nesterov-forms claim: its verdict, and its closed form checked by hand."""
import numpy as np

from analysis import momentum


def test_nesterov_forms_verdict_and_figures():
    v = momentum.nesterov_forms(quick=True)
    assert v.verdict == "conditional"
    assert v.figures["max_rel_gap_constant_lr"] < 1e-12
    assert v.figures["transition_mismatch"] < 1e-14
    assert v.figures["max_rel_gap_lr_schedule"] > 1e-3


def test_transition_maps_by_hand_in_one_dimension():
    # n = 1, A = a: look-ahead form (w, v) -> ((1-lr a)(w + beta v), -lr a w + beta(1-lr a) v).
    # Starting from (w, v) = (1, 0): phi_0 = 1, b_0 = 0, one step gives
    # phi_1 = 1 - lr(1+beta) a, b_1 = a (reformulated, by hand), and w_1 + beta v_1 with
    # w_1 = 1 - lr a, v_1 = -lr a gives 1 - lr a - beta lr a: the same point.
    lr, beta, a = 0.3, 0.7, 2.0
    assert momentum.transition_mismatch(lr, beta, np.array([[a]])) < 1e-15
    w1, v1 = 1 - lr * a, -lr * a
    assert np.isclose(w1 + beta * v1, 1 - lr * (1 + beta) * a, rtol=0, atol=1e-15)


def test_a_wrong_change_of_variables_is_detected():
    # sanity of the measure itself: the heavy-ball map is not similar to Nesterov's by P
    lr, beta = 0.3, 0.7
    A = np.diag([0.5, 2.0])
    I = np.eye(2)
    M_heavy = np.block([[I - lr * A, beta * I], [-lr * A, beta * I]])
    M_R = np.block([[I - lr * (1 + beta) * A, -lr * beta**2 * I], [A, beta * I]])
    P = np.block([[I, beta * I], [np.zeros((2, 2)), -I / lr]])
    assert np.linalg.norm(P @ M_heavy - M_R @ P) > 1e-3


# --------------------------------------------------------------------------- momentum forms

def test_momentum_forms_verdict_and_figures():
    v = momentum.momentum_forms(quick=True)
    assert v.verdict == "conditional"
    # rounding only: m~ = (1-beta) m and v = lr b hold exactly in exact arithmetic
    assert v.figures["ema_vs_sum_rel_gap_const_lr"] < 1e-13
    assert v.figures["ema_vs_sum_rel_gap_schedule"] < 1e-13
    assert v.figures["inside_vs_outside_rel_gap_const_lr"] < 1e-13
    assert v.figures["inside_vs_outside_rel_gap_schedule"] > 1e-2
    assert v.figures["rule_vs_lfilter_rel_err"] < 1e-13


def test_displacements_on_a_constant_gradient_by_hand():
    # g_t = 1. lr outside: b_t = sum_{k<=t} beta^(t-k) = (1 - beta^t)/(1 - beta), so the
    # displacement is -sum_t lr_t (1 - beta^t)/(1 - beta). lr inside: gradient k enters every
    # later velocity, sum_{t>=k} beta^(t-k) = (1 - beta^(T-k+1))/(1 - beta), so the
    # displacement is -sum_k lr_k (1 - beta^(T-k+1))/(1 - beta).
    T, beta, lr, drop = 40, 0.9, 0.1, 20
    lr_seq = [lr if t <= drop else lr / 10 for t in range(1, T + 1)]
    outside = -sum(l * (1 - beta**t) / (1 - beta) for t, l in enumerate(lr_seq, 1))
    inside = -sum(l * (1 - beta ** (T - k + 1)) / (1 - beta) for k, l in enumerate(lr_seq, 1))
    sim_out, sim_in = momentum._stream_displacements(momentum._step_decay(lr, drop), beta, np.ones(T))
    assert np.isclose(sim_out, outside, rtol=1e-13)  # 40 steps of rounding
    assert np.isclose(sim_in, inside, rtol=1e-13)
    assert inside / outside > 1.1  # the velocity keeps the old lr after the drop
    # and for a constant lr the two coincide
    sim_out, sim_in = momentum._stream_displacements(lr, beta, np.ones(T))
    assert np.isclose(sim_out, sim_in, rtol=1e-13)


# --------------------------------------------------------------------------- rates

def test_quadratic_rates_verdict_and_the_published_numbers():
    v = momentum.quadratic_rates(quick=True)
    assert v.verdict == "conditional"
    # Lessard, Recht & Packard (2016) Prop. 1 at kappa = 100: 0.980198, 0.818182, 0.9
    assert np.isclose(v.figures["gd_rate_theory_k100"], 0.980198, atol=1e-6)
    assert np.isclose(v.figures["heavy_ball_rate_theory_k100"], 0.818182, atol=1e-6)
    assert np.isclose(v.figures["nesterov_rate_theory_k100"], 0.9, atol=1e-12)
    # the same three in closed form (Prop. 1), to rounding: GD with lr 2/(L+mu),
    # (k-1)/(k+1); heavy ball, (sqrt k - 1)/(sqrt k + 1); Nesterov, 1 - 1/sqrt k
    k = 100.0
    assert np.isclose(v.figures["gd_rate_theory_k100"], (k - 1) / (k + 1), rtol=1e-14)
    assert np.isclose(v.figures["heavy_ball_rate_theory_k100"], (np.sqrt(k) - 1) / (np.sqrt(k) + 1),
                      rtol=1e-14)
    assert np.isclose(v.figures["nesterov_rate_theory_k100"], 1 - 1 / np.sqrt(k), rtol=1e-14)
    # GD has no repeated root: the measured rate is the formula's to rounding
    assert np.isclose(v.figures["gd_rate_k100"], 99 / 101, rtol=1e-12)
    # the double roots of heavy ball and Nesterov bias a 2-point estimate by ~ln2/(N/2) ~ 1e-3
    assert v.figures["max_rel_err_measured_vs_theory"] < 5e-3
    assert v.figures["max_rel_err_spectral_vs_theory"] < 1e-6
    assert v.figures["steps_to_1e-6_heavy_ball_k100"] < v.figures["steps_to_1e-6_nesterov_k100"]
    assert v.figures["steps_to_1e-6_nesterov_k100"] < v.figures["steps_to_1e-6_gd_k100"] / 4


def test_rule_error_curves_equal_matrix_powers_by_hand():
    # heavy ball on one eigenvalue lam, state (w, m): m' = beta m + lam w, w' = w - lr m'
    # gives [[1 - lr lam, -lr beta], [lam, beta]]; Nesterov (torch form) b' = beta b + lam w,
    # w' = w - lr (lam w + beta b') gives [[1 - lr lam (1+beta), -lr beta^2], [lam, beta]].
    mu, L, steps = 0.01, 1.0, 300
    eigs = np.array([mu, 0.3, L])
    sk = 10.0
    cases = {
        "heavy_ball": (4 / (1 + 0.1) ** 2, ((sk - 1) / (sk + 1)) ** 2, False),
        "nesterov": (1.0, (sk - 1) / (sk + 1), True),
    }
    methods = momentum.tuned_methods(mu, L)
    for name, (lr, beta, nesterov) in cases.items():
        errs = momentum.error_curve(methods[name][0], eigs, steps)
        by_hand = []
        for k in range(steps + 1):
            w = []
            for lam in eigs:
                if nesterov:
                    M = np.array([[1 - lr * lam * (1 + beta), -lr * beta**2], [lam, beta]])
                else:
                    M = np.array([[1 - lr * lam, -lr * beta], [lam, beta]])
                w.append((np.linalg.matrix_power(M, k) @ np.array([1.0, 0.0]))[0])
            by_hand.append(np.abs(w).max())
        # 300 steps at a double root (a Jordan block): rounding grows like k^2 eps ~ 1e-11
        np.testing.assert_allclose(errs, by_hand, rtol=1e-9)


def test_convergence_figure_is_written(tmp_path):
    momentum.convergence_rates_figure(True, tmp_path)
    assert (tmp_path / "convergence_rates.png").stat().st_size > 10_000
