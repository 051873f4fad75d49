"""Running a real rule over a fixed gradient stream, one independent coordinate per column.

The rules whose claims are checked here read w only through weight decay (zero in these
runs), so every step can be taken from w = 0: the step is then exactly -w, with no rounding
from a growing w.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np


def steps_from_zero(opt, grads: np.ndarray) -> tuple[np.ndarray, list]:
    """(steps, states) of ``opt`` over ``grads`` (T, N): steps[t] is the step taken at t+1
    (params after minus before), states[t] the state after it. 0/0 before the first nonzero
    gradient is left as NaN, as the rule computes it."""
    zero = np.zeros(grads.shape[1])
    state = opt.init(zero)
    steps, states = np.empty_like(grads), []
    with np.errstate(invalid="ignore", divide="ignore"):
        for t in range(grads.shape[0]):
            w, state = opt.step(zero, grads[t], state)
            steps[t] = w
            states.append(state)
    return steps, states


def partition_demo():
    """scripts/demo_partition_mlp.py (Muon on an MLP's matrices, AdamW on the rest), loaded by
    path (scripts/ is not a package)."""
    path = Path(__file__).resolve().parents[1] / "scripts" / "demo_partition_mlp.py"
    spec = importlib.util.spec_from_file_location("demo_partition_mlp", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
