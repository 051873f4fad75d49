"""Run two optimizers side by side and say where, if anywhere, they part.

``compare(reference, candidate, params, grads)`` steps both ``(init, step)`` pairs (a refopt
optimizer, an adapter from ``refopt.interop``, anything with ``init`` and ``step``)
over the same gradient sequence, or, when ``grads`` is a function of the params, each at its
own iterate. After every step it measures, per leaf:

* the update error ``max|du_c - du_r| / max|du_r|`` where ``du = w_t - w_{t-1}`` is the step
  each side took from its own previous iterate: a wrong step shows at the step it is taken,
  not only once the parameters have drifted;
* the params error ``max|w_c - w_r| / max|w_r - w_0|``, the discrepancy relative to how far
  the reference has moved (the measure of ``tests/rules/independent.py``);
* the params error in ulps of the candidate's dtype, ``max |w_c - w_r| / spacing(w_r)``, so
  that a float32 candidate is judged against what float32 can represent.

A leaf parts from the reference at the first step where its update error exceeds ``rtol``
(and its absolute update error exceeds ``atol``). A relative error over a zero reference
update is 0 if the candidate also stands still and infinite otherwise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np

from .. import tree

__all__ = ["compare", "Report", "StepError"]


@dataclass(frozen=True)
class StepError:
    """The worst leaf of one step (``leaf`` names the leaf of the worst update error)."""
    step: int
    update_abs: float
    update_rel: float
    params_abs: float
    params_rel: float
    ulps: float
    leaf: str
    parted: tuple[str, ...]   # the leaves beyond tolerance at this step


@dataclass(frozen=True)
class Report:
    reference: str
    candidate: str
    rtol: float
    atol: float
    dtype: str                 # the candidate's dtype, in which ulps are counted
    steps: tuple[StepError, ...]

    @property
    def first_parting(self) -> StepError | None:
        """The first step at which some leaf's update is beyond tolerance, or None."""
        return next((s for s in self.steps if s.parted), None)

    @property
    def ok(self) -> bool:
        return self.first_parting is None

    def worst(self, field: str) -> float:
        return max((getattr(s, field) for s in self.steps), default=0.0)

    @property
    def max_update_rel(self) -> float:
        return self.worst("update_rel")

    @property
    def max_params_rel(self) -> float:
        return self.worst("params_rel")

    @property
    def max_ulps(self) -> float:
        return self.worst("ulps")

    def __bool__(self) -> bool:
        return self.ok

    def __str__(self) -> str:
        head = (f"reference {self.reference}\ncandidate {self.candidate}\n"
                f"{len(self.steps)} steps, candidate dtype {self.dtype}, "
                f"rtol {self.rtol:g}" + (f", atol {self.atol:g}" if self.atol else ""))
        rows = [f"{'step':>4}  {'update |err|':>12}  {'update rel':>10}  {'params rel':>10}"
                f"  {'ulps':>8}  worst leaf"]
        for s in self.steps:
            mark = "  <- parts" if s.parted else ""
            rows.append(f"{s.step:>4}  {s.update_abs:12.3e}  {s.update_rel:10.3e}  {s.params_rel:10.3e}"
                        f"  {_fmt_ulps(s.ulps):>8}  {s.leaf}{mark}")
        first = self.first_parting
        if first is None:
            verdict = (f"AGREE: max update relative error {self.max_update_rel:.3g} <= {self.rtol:g}, "
                       f"max params relative error {self.max_params_rel:.3g}, "
                       f"max {_fmt_ulps(self.max_ulps)} ulps")
        else:
            leaf = first.leaf if first.leaf in first.parted else first.parted[0]
            verdict = (f"PART at step {first.step}, leaf {leaf}: update relative error "
                       f"{first.update_rel:.3g} > rtol {self.rtol:g}"
                       + (f" (leaves beyond tolerance: {', '.join(first.parted)})"
                          if len(first.parted) > 1 else ""))
        return "\n".join([head, *rows, verdict])


def _fmt_ulps(u: float) -> str:
    return "inf" if math.isinf(u) else f"{u:.4g}"


def _name(opt: Any) -> str:
    return str(getattr(opt, "name", type(opt).__name__))


def _ratio(num: float, den: float) -> float:
    if den > 0:
        return num / den
    return 0.0 if num == 0 else math.inf


def _leaves(spec: Any, t: Any, what: str) -> list[np.ndarray]:
    # by the params' keys: optax hands dicts back with sorted keys
    return [np.asarray(x) for x in tree.leaves_like(spec, t, what)]


def _absdiff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``|a - b|``, 0 where both are the same (NaN and NaN, or the same infinity), and
    infinite where only one is NaN: NaN where the reference has NaN is agreement."""
    with np.errstate(invalid="ignore"):
        d = np.abs(a - b)
        d = np.where((a == b) | (np.isnan(a) & np.isnan(b)), 0.0, d)
    return np.where(np.isnan(d), np.inf, d)


def _scale(x: np.ndarray) -> float:
    return float(np.max(np.where(np.isfinite(x), np.abs(x), 0.0), initial=0.0))


def _leaf_errors(r0, r1, c0, c1, w0):
    """(update abs, update rel, params abs, params rel, ulps) of one leaf at one step."""
    r0, r1, c0 = (x.astype(np.float64) for x in (r0, r1, c0))
    with np.errstate(invalid="ignore", over="ignore"):
        du_r, du_c = r1 - r0, c1.astype(np.float64) - c0
    up_abs = float(np.max(_absdiff(du_c, du_r), initial=0.0))
    up_rel = _ratio(up_abs, _scale(du_r))
    diff = _absdiff(c1.astype(np.float64), r1)
    p_abs = float(np.max(diff, initial=0.0))
    p_rel = _ratio(p_abs, _scale(r1 - w0))
    spacing = np.spacing(np.abs(np.nan_to_num(r1)).astype(c1.dtype)).astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        ulps = float(np.max(np.where(diff == 0, 0.0, diff / spacing), initial=0.0))
    return up_abs, up_rel, p_abs, p_rel, ulps


def compare(reference: Any, candidate: Any, params: Any,
            grads: Sequence[Any] | Callable[[Any], Any], steps: int | None = None,
            rtol: float = 1e-10, atol: float = 0.0) -> Report:
    """Step ``reference`` and ``candidate`` side by side and report their differences.

    ``grads`` is a sequence of gradient trees shaped like ``params``, or a function
    ``params -> grads`` (then ``steps`` is required and each side is given the gradient at
    its own iterate, as in training). ``steps`` may also shorten a sequence. Returns a
    ``Report``; ``str(report)`` is a table with one row per step and a verdict line.
    """
    if callable(grads):
        if steps is None:
            raise ValueError("steps is required when grads is a function of the params")
        count = steps
    else:
        count = len(grads) if steps is None else min(steps, len(grads))
    spec = tree.structure(params)
    w0 = [np.asarray(w, dtype=np.float64) for w in tree.leaves_like(spec, params, "params")]
    paths = [tree.fmt_path(p) for p, _ in tree.leaves_with_paths(params)]
    p_ref, p_cand = params, params
    s_ref, s_cand = reference.init(params), candidate.init(params)
    rows, dtype = [], None
    for k in range(count):
        g_ref = grads(p_ref) if callable(grads) else grads[k]
        g_cand = grads(p_cand) if callable(grads) else grads[k]
        before_r, before_c = _leaves(spec, p_ref, "reference"), _leaves(spec, p_cand, "candidate")
        p_ref, s_ref = reference.step(p_ref, g_ref, s_ref)
        p_cand, s_cand = candidate.step(p_cand, g_cand, s_cand)
        after_r, after_c = _leaves(spec, p_ref, "reference"), _leaves(spec, p_cand, "candidate")
        dtype = dtype or str(after_c[0].dtype) if after_c else "none"
        per_leaf = [_leaf_errors(*a) for a in zip(before_r, after_r, before_c, after_c, w0)]
        parted = tuple(path for path, e in zip(paths, per_leaf) if e[1] > rtol and e[0] > atol)
        worst = max(range(len(per_leaf)), key=lambda i: per_leaf[i][1], default=None)
        if worst is None:
            rows.append(StepError(k + 1, 0.0, 0.0, 0.0, 0.0, 0.0, "-", ()))
            continue
        rows.append(StepError(
            step=k + 1, update_abs=max(e[0] for e in per_leaf), update_rel=per_leaf[worst][1],
            params_abs=max(e[2] for e in per_leaf), params_rel=max(e[3] for e in per_leaf),
            ulps=max(e[4] for e in per_leaf), leaf=paths[worst], parted=parted))
    return Report(_name(reference), _name(candidate), rtol, atol, dtype or "none", tuple(rows))
