"""refopt.flavors.torch_lbfgs.LBFGS: torch's names and defaults, and torch's numbers with them.

tests/rules/test_lbfgs.py compares the flavor with torch under non-default settings; here the
signature, and a run with every setting left at torch's default (float64 params, see there).
"""
import inspect

import numpy as np
import pytest
import torch

from refopt.flavors.torch_lbfgs import LBFGS
from tests.rules.test_lbfgs import logistic_np, logistic_torch, rel, run_ours, run_torch


def test_names_and_defaults_are_torchs():
    theirs = dict(inspect.signature(torch.optim.LBFGS.__init__).parameters)
    theirs.pop("self"), theirs.pop("params")
    ours = inspect.signature(LBFGS).parameters
    assert list(ours) == list(theirs)
    assert {k: p.default for k, p in ours.items()} == {k: p.default for k, p in theirs.items()}
    assert LBFGS().hyperparams["history_size"] == 100 and LBFGS().hyperparams["line_search"] is None
    assert LBFGS(max_iter=8).hyperparams["max_eval"] == 10  # torch: max_iter * 5 // 4


def test_torch_defaults_agree_on_logistic_regression():
    p0 = {"w": np.zeros(5), "b": np.array([0.1])}
    (wt, bt), lt, evals, iters = run_torch([p0["w"], p0["b"]], logistic_torch, 3)
    p, losses, state = run_ours(p0, logistic_np, 3)
    # 1e-10 relative, as in tests/rules/test_lbfgs.py (rounding differences only)
    assert rel(p["w"], wt) <= 1e-10 and rel(p["b"], bt) <= 1e-10
    np.testing.assert_allclose(losses, lt, rtol=1e-10)
    assert (state.func_evals, state.n_iter) == (evals, iters)


def test_unknown_line_search_is_refused_at_construction():
    with pytest.raises(ValueError, match="line_search_fn"):
        LBFGS(line_search_fn="armijo")
