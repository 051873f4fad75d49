"""Comparing a refopt rule with an implementation no one here wrote.

A rule's test module lists its comparisons in ``CHECKS``; ``test_registry.py`` makes sure
they are exactly the ``checked_against`` entries of the rule's ``RuleInfo`` (the README
table is generated from those), so the table cannot claim a check that does not run.

Error measure: for each leaf and step, ``max|ours_t - theirs_t| / max|theirs_t - w_0|``,
the discrepancy relative to how far the parameters have moved. Relative to |w| it would
hide a wrong update behind large weights; relative to each entry it would blow up where
an entry happens to be near zero.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from refopt import tree
from refopt.oracle import mixed_gradients, trajectory

PARAMS_SHAPES = {"w": (5, 4), "b": (4,)}


@dataclass(frozen=True)
class Check:
    rule: str                    # name in refopt.RULES
    impl: str                    # the independent implementation, e.g. "torch.optim.Adam"
    ours: Callable[[], Any]      # the refopt optimizer, configured to match
    theirs: Callable[[], Any]    # an adapter from refopt.interop
    rtol: float
    steps: int = 50
    shapes: Any = None           # leaf shapes, PARAMS_SHAPES by default
    why: str = ""                # the configuration or tolerance, explained

    @property
    def id(self) -> str:
        return f"{self.rule}-vs-{self.impl}-{self.why or 'defaults'}"


def initial_params(shapes: dict, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {k: rng.standard_normal(s) for k, s in shapes.items()}


def relative_errors(ours: list, theirs: list, w0: Any) -> np.ndarray:
    """errors[step, leaf] as described in the module docstring."""
    spec = tree.structure(w0)  # leaves by key: optax returns dicts with sorted keys
    start = tree.leaves_like(spec, w0, "params")
    rows = []
    for a, b in zip(ours, theirs):
        la = [np.asarray(x) for x in tree.leaves_like(spec, a, "ours")]
        lb = [np.asarray(x) for x in tree.leaves_like(spec, b, "theirs")]
        rows.append([np.max(np.abs(x - y)) / max(np.max(np.abs(y - s)), 1e-300)
                     for x, y, s in zip(la, lb, start)])
    return np.array(rows)


def assert_agrees(check: Check, seed: int = 0) -> float:
    params = initial_params(check.shapes or PARAMS_SHAPES, seed)
    grads = mixed_gradients(params, check.steps, seed=seed + 1)
    ours = trajectory(check.ours(), params, grads)
    theirs = trajectory(check.theirs(), params, grads)
    errors = relative_errors(ours, theirs, params)
    worst = float(errors.max())
    assert worst <= check.rtol, (
        f"{check.rule} vs {check.impl}: relative error {worst:.3g} > {check.rtol:g}, "
        f"first at step {int(np.argmax(errors.max(axis=1) > check.rtol)) + 1}")
    return worst
