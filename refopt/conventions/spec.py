"""What a convention row is, and how its size is measured.

A ``Spec`` is one optimizer's table: what the paper, torch, optax and keras do where they
differ (text, with the source each column was read in), and the differences measured. Each
``Diff`` is a pair of refopt optimizers that differ in that one convention only (the paper's
side and the framework's side, all else equal); each of ``totals`` is the paper rule at its
own defaults against the framework's flavor at the framework's defaults, with the same lr.
``measure`` runs a pair ``STEPS`` steps of ``refopt.oracle.mixed_gradients`` in float64 from
the same params and gives the largest relative params difference over the run,
max |w_fw - w_paper| / max |w_paper - w_0| (``refopt.oracle.compare``), and the first step
whose update differs by more than ``RTOL`` relative. The flavors are checked against the
frameworks themselves by tests/flavors/ (1e-10), so a flavor's numbers are the framework's.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

STEPS = 100
RTOL = 1e-10
SHAPES = {"w": (5, 4), "b": (4,)}
FRAMEWORKS = ("torch", "optax", "keras")

# where the framework columns were read: torch 2.13, optax 0.2.8, keras 3.15.1 (installed)
SOURCES = {
    "torch": "torch/optim/{}.py (torch 2.13)",
    "optax": "optax/_src/{} (optax 0.2.8)",
    "keras": "keras/src/optimizers/{}.py (keras 3.15.1)",
}


@dataclass
class Diff:
    """One convention, measured: ``paper()`` and ``framework()`` differ in it alone."""
    what: str
    frameworks: str
    paper: Callable[[], Any]
    framework: Callable[[], Any]


@dataclass
class Spec:
    title: str
    rules: tuple[str, ...]  # the refopt.RULES names this table is about
    paper: str
    sources: dict[str, str]
    rows: list[tuple[str, str, str, str, str]]   # aspect, paper, torch, optax, keras
    diffs: list[Diff]
    totals: dict[str, tuple[Callable[[], Any], Callable[[], Any]]] = field(default_factory=dict)
    notes: str = ""
    shapes: dict = field(default_factory=lambda: dict(SHAPES))


def eps_hat(eps, beta2=0.999):
    """keras's eps-hat as the paper's eps at step t: eps/sqrt(1 - beta2^t) outside sqrt(s_hat)."""
    return lambda t: eps / math.sqrt(1 - beta2**t)


def measure(paper: Callable[[], Any], framework: Callable[[], Any],
            shapes: dict | None = None) -> tuple[float, int | None]:
    """(max relative params difference, first step whose update parts beyond RTOL or None)."""
    from ..oracle import compare, mixed_gradients
    rng = np.random.default_rng(0)
    params = {k: rng.standard_normal(s) for k, s in (shapes or SHAPES).items()}
    report = compare(paper(), framework(), params, mixed_gradients(params, STEPS, seed=1), rtol=RTOL)
    first = report.first_parting
    return report.max_params_rel, (first.step if first else None)


def size_text(x: float) -> str:
    """The printed size: below 1e-12 the figure is rounding noise that may differ by platform."""
    return "< 1e-12" if x < 1e-12 else ("inf" if math.isinf(x) else f"{x:.2g}")


def measured(spec: Spec) -> dict:
    """The table as data, every size measured now (the page, the site and the tests read this)."""
    def row(what, where, pair):
        size, step = measure(*pair, spec.shapes)
        return {"difference": what, "where": where, "size": size_text(size), "first_step": step}
    return {
        "title": spec.title, "rules": list(spec.rules), "paper": spec.paper,
        "sources": {fw: spec.sources[fw] for fw in FRAMEWORKS},
        "rows": [dict(zip(("aspect", "paper", *FRAMEWORKS), r)) for r in spec.rows],
        "measured": [row(d.what, d.frameworks, (d.paper, d.framework)) for d in spec.diffs]
        + [row(f"total: paper rule vs `{name}` at its defaults, same lr", name.split(".")[0], pair)
           for name, pair in spec.totals.items()],
        "notes": spec.notes,
    }
