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
