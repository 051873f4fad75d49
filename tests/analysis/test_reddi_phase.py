"""The reddi-phase sweep: the closed-form orbit against the real rules' state, cells against the
known (0.9, 0.99) result, and the same grid serially, on processes and on a dask cluster."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import refopt
from analysis import parallel, reddi_phase as rp, regret
from analysis.runs import steps_from_zero

betas = st.floats(0.0, 0.999)


@pytest.mark.parametrize("beta1, beta2", [(0.0, 0.0), (0.9, 0.99), (0.5, 0.97)])
def test_closed_form_orbit_is_the_real_rules_settled_state(beta1, beta2):
    # refopt.adam keeps the raw m and s: after whole periods (the last step a -10, j = P - 1)
    # their transients are beta^n; 30 periods leave 0.99^3030 = 6e-14 of s's first value
    n = 30 * rp.P
    _, states = steps_from_zero(refopt.adam(lr=1.0, beta1=beta1, beta2=beta2, eps=0.0),
                                regret.reddi_gradients(n + rp.P)[:, None])
    m, s = rp.orbit(beta1, beta2)
    m_rule = np.array([states[n + j].m[0] for j in range(rp.P)])
    s_rule = np.array([states[n + j].s[0] for j in range(rp.P)])
    np.testing.assert_allclose(m_rule, m, rtol=1e-10, atol=1e-10)   # sums of 1e4 terms: 1e-10
    np.testing.assert_allclose(s_rule, s, rtol=1e-10)


@settings(max_examples=50, deadline=None)
@given(betas, betas)
def test_amsgrad_always_drifts_to_the_optimum_and_m_averages_the_gradient(beta1, beta2):
    m, s = rp.orbit(beta1, beta2)
    # an exponential average of a periodic signal has the signal's mean: (1010 - 100 * 10) / 101
    assert np.isclose(m.mean(), 10 / rp.P, rtol=1e-9, atol=1e-12)
    assert np.isclose(rp.closed_drift("amsgrad", beta1, beta2), 10 / np.sqrt(s.max()), rtol=1e-9)
    assert rp.closed_drift("amsgrad", beta1, beta2) > 0


def test_settle_steps_are_whole_periods_past_the_transients():
    for b1, b2 in [(0.0, 0.0), (0.9, 0.99), (0.2, 0.9968)]:
        n = rp.settle_steps(b1, b2)
        assert n % rp.P == 0 and max(b1, b2) ** (n - 2 * rp.P) <= np.exp(-rp.SETTLE)


def test_cells_reproduce_reddis_result_at_0_9_0_99():
    # analysis.regret: Adam goes to +1 (average regret ~20/101), AMSGrad towards -1
    T = 20_000
    adam = dict(zip(rp.FIELDS, rp.run_cell(("adam", 0.9, 0.99, T))))
    ams = dict(zip(rp.FIELDS, rp.run_cell(("amsgrad", 0.9, 0.99, T))))
    assert adam["end_x"] == 1.0 and adam["avg_regret"] > rp.AT_PLUS_ONE / 2
    # at T = 2e4 AMSGrad is still on its way (x = -0.98 only by T = 1e6, analysis.regret)
    assert ams["end_x"] < -0.5 and ams["move"] < 0 and ams["avg_regret"] < adam["avg_regret"] / 2
    for name, cell in (("adam", adam), ("amsgrad", ams)):
        # transients below e^-8 of their start: the drift agrees with the orbit to ~1e-4
        assert np.isclose(cell["drift"], rp.closed_drift(name, 0.9, 0.99), rtol=1e-3)


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster   # the storage extra
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as c:
        yield c


def test_serial_processes_and_cluster_give_identical_grids(cluster):
    grids = []
    for ex in (parallel.Serial(), parallel.Processes(2), parallel.Cluster(cluster.scheduler_address)):
        try:
            grids.append(rp.sweep(2, 20_000, ex))
        finally:
            ex.close()
    for other in grids[1:]:
        for name in rp.RULES:
            for field in rp.FIELDS + ("closed_drift",):
                assert np.array_equal(other[name][field], grids[0][name][field]), (name, field)


def test_quick_claim_verdict_and_figures_agree():
    v = rp.reddi_phase(True)
    f = v.figures
    assert v.verdict == "false"
    assert f["adam_disagree_where_x_can_have_arrived"] == 0 == f["amsgrad_disagree_where_x_can_have_arrived"]
    assert f["adam_moves_against_closed_form"] == 0 == f["amsgrad_moves_against_closed_form"]
    assert f["adam_fails_with_gamma_below_1"] > 0 and f["amsgrad_fails_closed_form_fraction"] == 0
