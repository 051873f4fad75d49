"""The contract every rule follows, and the one helper that lifts a rule over a tree.

An optimizer is a pair of pure functions::

    state = opt.init(params)
    params, state = opt.step(params, grads, state)

``params`` and ``grads`` are one array or the same nested dict/list/tuple of arrays. A
rule writes its math for one array (``update(w, g, *buffers, t=..., **hyper)``) and
``rule()`` below does the rest: validation, the step count, schedules, and the tree.

The step count ``t`` is a Python int that starts at 1 inside ``step``. Powers such as
``beta1**t`` are therefore Python float64 numbers before they meet an array, so a float16
or float32 run never freezes its bias correction.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from . import tree
from .backend import as_array_like, check_leaf, no_grad
from .finite import NonFiniteGradient, NonFiniteState, check_finite
from .validate import (LayoutCache, check_layout, check_representable,
                       check_state_type, describe, real_number, step_count)

__all__ = ["Interval", "Optimizer", "rule", "hyper", "number", "check_finite", "NonFiniteGradient",
           "NonFiniteState",
           "RuleInfo", "POSITIVE", "NONNEGATIVE", "UNIT", "UNIT_CLOSED"]

Schedule = Callable[[int], float]


@dataclass(frozen=True)
class Interval:
    """The allowed range of a hyperparameter, printed the way a maths text writes it."""
    lo: float
    hi: float = math.inf
    lo_open: bool = False
    hi_open: bool = True

    def __contains__(self, x: float) -> bool:
        above = x > self.lo if self.lo_open else x >= self.lo
        below = x < self.hi if self.hi_open else x <= self.hi
        return above and below

    def __str__(self) -> str:
        hi = "inf" if self.hi == math.inf else f"{self.hi:g}"
        return f"{'(' if self.lo_open else '['}{self.lo:g}, {hi}{')' if self.hi_open else ']'}"


NONNEGATIVE = Interval(0.0)                      # lr, eps, weight_decay
POSITIVE = Interval(0.0, lo_open=True)
UNIT = Interval(0.0, 1.0)                        # betas: [0, 1)
UNIT_CLOSED = Interval(0.0, 1.0, hi_open=False)


def number(name: str, x: Any, allowed: Interval, when: str = "") -> float:
    """``x`` as a Python float if it is one real number inside ``allowed``, else a
    ``ValueError`` naming ``name``. Python and NumPy numbers and 0-d arrays of any library
    count (``np.float32(0.9)``, ``torch.tensor(0.9)``); bools, complex, strings, arrays
    with a shape and ints too large for a float (``10**400``) do not."""
    try:
        value = real_number(x)
    except OverflowError:
        value = None
    if value is None or math.isnan(value) or value not in allowed:
        raise ValueError(f"{name} must be a number in {allowed}{when}, got {describe(x)}")
    return value


def hyper(name: str, value: float | Schedule, allowed: Interval | None) -> float | Schedule:
    """Validate a hyperparameter at construction. A schedule ``t -> float`` is checked
    each time it is evaluated, so a bad value at step 1000 still names itself.
    ``allowed=None`` marks a setting that is not a number (a flag, a count): the rule
    validates it and it is passed on unchanged."""
    if callable(value) or allowed is None:
        return value
    return number(name, value, allowed)


def _at(name: str, value: float | Schedule, allowed: Interval | None, t: int) -> float:
    if callable(value) and allowed is not None:
        return number(name, value(t), allowed, f" (schedule at step {t})")
    return value


@dataclass(frozen=True)
class Optimizer:
    """``init(params) -> state`` and ``step(params, grads, state) -> (params, state)``."""
    name: str
    init: Callable[..., Any]
    step: Callable[..., Any]
    hyperparams: Mapping[str, Any] = field(default_factory=dict)
    bounds: Mapping[str, Interval] = field(default_factory=dict)


def _state_fields(State: type) -> tuple[str, ...]:
    if State._fields[0] != "t":
        raise TypeError(f"{State.__name__}: the first field of a state must be the step count t")
    return State._fields[1:]


def _leaves(params: Any) -> tuple[Any, list[tuple[str, Any]]]:
    return tree.structure(params), [(tree.fmt_path(p), w) for p, w in tree.leaves_with_paths(params)]


def rule(name: str, State: type, init_leaf: Callable, update_leaf: Callable,
         hyperparams: Mapping[str, tuple[Any, Interval | None]], *, aux: tuple[str, ...] = (),
         check: Callable[[str, Any], None] | None = None) -> Optimizer:
    """Build an ``Optimizer`` from a rule's one-array math.

    ``init_leaf(w)`` returns the per-leaf buffers, one per field of ``State`` after ``t``.
    ``update_leaf(w, g, *buffers, t=t, **hyper, **aux)`` returns ``(w, *buffers)``.
    ``hyperparams`` maps each name to ``(value, allowed interval)``; values may be
    schedules. ``aux`` names extra per-leaf trees that ``step`` accepts as keywords (for
    example Sophia's ``hess``); a leaf of an absent one is ``None``. ``check(path, w)``
    rejects leaves the rule cannot take (for example a non-matrix given to Muon).

    ``step`` checks, before any arithmetic: the state's type and ``state.t``; every leaf of
    grads and of the ``aux`` trees against its params leaf; every buffer against the layout
    ``init_leaf`` makes for that leaf (shape, dtype, library, tuple nesting). ``init`` and
    ``step`` refuse a hyperparameter that rounds to 0 or infinity in a leaf's dtype. Outputs
    keep 0-d leaves 0-d, and torch leaves are stepped without building an autograd graph
    (the new params have ``requires_grad`` False).
    """
    fields = _state_fields(State)
    values = {k: hyper(k, v, allowed) for k, (v, allowed) in hyperparams.items()}
    bounds = {k: allowed for k, (_, allowed) in hyperparams.items() if allowed is not None}
    layouts = LayoutCache(init_leaf)

    def validate_params(leaves: list[tuple[str, Any]], numbers: dict, when: str = "") -> None:
        dtypes = set()
        for path, w in leaves:
            check_leaf(path, w, w)
            if check is not None:
                check(path, w)
            if (type(w), w.dtype) not in dtypes:  # each dtype once: the rounding is the same
                dtypes.add((type(w), w.dtype))
                check_representable(name, numbers, path, w, when)

    def init(params: Any) -> Any:
        spec, leaves = _leaves(params)
        validate_params(leaves, {k: v for k, v in values.items() if k in bounds and not callable(v)})
        per_leaf = [tuple(init_leaf(w)) for _, w in leaves]
        columns = [tree.unflatten(spec, [bufs[i] for bufs in per_leaf]) for i in range(len(fields))]
        return State(0, *columns)

    def gather(spec: Any, leaves: list, grads: Any, state: Any, extra: dict) -> tuple:
        """grads, buffers and aux trees as per-leaf columns, each leaf checked."""
        g_leaves = tree.leaves_like(spec, grads, "grads")
        columns = [tree.leaves_like(spec, getattr(state, f), f"state.{f}") for f in fields]
        aux_columns = {k: [None] * len(leaves) if extra.get(k) is None
                       else tree.leaves_like(spec, extra[k], k) for k in aux}
        for i, ((path, w), g) in enumerate(zip(leaves, g_leaves)):
            check_leaf(path, w, g)
            for f, want, col in zip(fields, layouts(w), columns):
                check_layout(path, f, want, col[i], w)
            for k, col in aux_columns.items():
                if col[i] is not None:
                    check_leaf(path, w, col[i], what=k)
        return g_leaves, columns, aux_columns

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, Any]:
        unknown = set(extra) - set(aux)
        if unknown:
            raise TypeError(f"{name}.step got unexpected keyword {sorted(unknown)[0]!r}")
        check_state_type(name, state, State)
        t = step_count(name, state.t) + 1
        now = {k: _at(k, v, bounds.get(k), t) for k, v in values.items()}
        spec, leaves = _leaves(params)
        scheduled = {k: now[k] for k, v in values.items() if callable(v) and k in bounds}
        validate_params(leaves, scheduled, f" (schedule at step {t})")
        g_leaves, columns, aux_columns = gather(spec, leaves, grads, state, extra)
        out = []
        with no_grad([w for _, w in leaves]):
            for i, ((_, w), g) in enumerate(zip(leaves, g_leaves)):
                new = update_leaf(w, g, *[col[i] for col in columns], t=t, **now,
                                  **{k: col[i] for k, col in aux_columns.items()})
                out.append(tuple(as_array_like(w, x) for x in new))
        new_params = tree.unflatten(spec, [o[0] for o in out])
        new_columns = [tree.unflatten(spec, [o[j + 1] for o in out]) for j in range(len(fields))]
        return new_params, State(t, *new_columns)

    return Optimizer(name, init, step, dict(values), bounds)


@dataclass(frozen=True)
class RuleInfo:
    """Metadata of one rule.

    ``equations`` is the update as LaTeX, one equation per line. ``buffers`` counts the
    state arrays kept per parameter. ``checked_against`` maps each independent
    implementation the rule's tests compare with to the relative tolerance used there.
    ``example`` builds the instance the conformance suite runs (the defaults, unless the
    rule needs arguments). ``matrix_only`` rules take 2-D leaves only.
    """
    name: str
    factory: Callable[..., Optimizer]
    family: str
    paper: str
    year: int | None
    hook: str
    equations: str
    buffers: int | str
    matrix_only: bool = False
    checked_against: Mapping[str, float] = field(default_factory=dict)
    example: Callable[[], Optimizer] | None = None

    def make_example(self) -> Optimizer:
        return self.example() if self.example is not None else self.factory()
