"""Regret rates and the notes' table: verdicts, and the exponent estimate on known power laws."""
import numpy as np

from analysis import regret_rates


def test_window_exponent_on_power_laws():
    T = np.arange(1, 2**16 + 1, dtype=float)
    assert abs(regret_rates.window_exponent(np.sqrt(T)) - 0.5) < 1e-3   # discretisation only
    assert abs(regret_rates.window_exponent(0.198 * T + 50) - 1.0) < 1e-3


def test_regret_exponents():
    v = regret_rates.regret_exponents(quick=True)
    assert v.verdict == "conditional"
    f = v.figures
    assert f["reddi_adam_exponent"] > 0.9
    assert 0.35 < f["reddi_amsgrad_exponent"] < 0.65
    for name in ("adam", "amsgrad", "adagrad"):
        assert f[f"random_{name}_exponent"] < 0.65
    # E R_T = E|sum eps_t| = sqrt(2T/pi) for every learner: within 3 standard errors
    assert abs(f["coin_adam_over_sqrt_2T_pi"] - 1) < 3 * f["coin_standard_error"] + 2e-3


def test_regret_table():
    v = regret_rates.regret_table(quick=True)
    assert v.verdict == "conditional"
    assert v.figures["reddi_adam_avg_regret_T1000000"] > 0.198   # never reaches 0.001
    assert 0.1 < v.figures["adam_avg_regret_T10000"] / 0.01 < 10
