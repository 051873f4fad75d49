"""Adam's step on typical gradients: the SNR closed forms and the conditional 'typical' bound."""
import numpy as np

from analysis import adam_snr


def test_snr_closed_forms():
    v = adam_snr.adam_snr(quick=True)
    assert v.verdict == "conditional"
    # pure noise: RMS step sqrt((1-b1)/(1+b1)) = 0.2294; Monte Carlo with 2000 x 1500 correlated
    # samples: 2% covers the sampling error
    assert np.isclose(v.figures["rms_step_mu0"], np.sqrt(0.1 / 1.9), rtol=0.02)
    assert np.isclose(v.figures["mean_step_mu1"], 1 / np.sqrt(2), atol=0.01)
    assert v.figures["scale_invariance_max_rel_gap"] < 1e-12


def test_typical_claim_is_conditional():
    v = adam_snr.adam_step_typical(quick=True)
    assert v.verdict == "conditional"
    assert v.figures["max_ratio_equal_betas_cauchy"] <= 1 + 1e-12   # Jensen with equal weights
    assert v.figures["frac_over_lr_sparse_1pct"] > 1e-3
    # each kind does exceed lr, yet no sequence can pass the Cauchy-Schwarz supremum of
    # |m_hat|/sqrt(v_hat) at (0.9, 0.999), sqrt((1-b1)^2/(1-b2) / (1 - b1^2/b2)) = 7.27
    # (tests/analysis/test_adam_bound.py): 1e-12 is rounding
    sup = np.sqrt(0.01 / 0.001 / (1 - 0.81 / 0.999))
    for kind in ("gaussian_snr1", "student_t3", "sparse_1pct"):
        assert 1 < v.figures[f"max_ratio_{kind}"] <= sup * (1 + 1e-12), kind
