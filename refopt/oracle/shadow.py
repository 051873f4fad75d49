r"""Shadow mode: a reference that rides along with a real torch training run.

``watch = refopt.oracle.shadow(opt, model.named_parameters())`` hooks a ``torch.optim.Optimizer``
(``register_step_pre_hook``/``register_step_post_hook``) and returns it under another class:
``Shadowed<Class>``, a subclass of ``Shadow`` and ``type(opt)`` whose ``__dict__`` *is* ``opt``'s. So
``isinstance(watch, torch.optim.Optimizer)`` holds, ``step``, ``zero_grad``, ``param_groups``,
``state_dict``, ``load_state_dict`` are torch's own on torch's own data, ``opt.step()`` and
``watch.step()`` are one step, and an lr scheduler may be attached to either (what it patches lands
in the shared ``__dict__``). The shadow's record lives apart (one slot, ``_tracker``). Before each
step the shadow copies the gradients and the groups' current options (a scheduler's ``lr``
included); after torch has stepped, it advances on the same gradients, from the same start:

* the matching flavor (``refopt.flavors.torch.<Class>``, built from each group's options at that
  step) in the params' dtype: torch and it should differ by rounding only;
* the same flavor in float64: how far the params' dtype moves the run (the dtype's effect; for
  ``Muon`` the float64 formula, Newton-Schulz in float64, so bfloat16's effect too: ``FLOAT64_OPTIONS``);
* a *belief*: the canonical rule with torch's numbers read as the paper's (``BELIEFS``), or the rule
  the caller passes: where torch's convention is not the paper's, it parts, and the report names
  the convention (the conventions are those of ``refopt.conventions``' tables).

Each parameter is its own tree of one leaf, as torch applies its update. ``watch.report()`` gives,
per step and parameter, each as ``max|w - w_ref| / max|w_ref - w_0|`` (the run's movement: a drift
that matters shows however small the steps): torch against the flavor in the same dtype (rounding),
torch against the float64 flavor and the same-dtype flavor against it (both the dtype's effect, of
one order), the belief against the float64 flavor; the first step and parameter past tolerance, and
the belief's verdict. A torch convention in time is followed: ``ASGD`` steps with the eta computed
from the previous step's lr (``LAGGED_LR``). ``SparseAdam``'s sparse gradients reach its flavor as
(values, index mask) (``refopt.flavors.torch.sparse_gradient``). ``LBFGS`` is refused (``REFUSED``).
What the shadow knows of each torch class is in ``shadow_torch``.

Cost: three NumPy copies on the host of every parameter and of the flavor's state (params' dtype,
float64, the belief's float64), each stepped one parameter at a time. scripts/bench_shadow.py
(docs/bench/shadow.json: torch 2.13 CPU, one thread, float32 MLPs of 1e5 and 1e6 params, AdamW, a
shared 2-core machine, so times are indicative) measured 64 bytes kept per parameter (as counted:
float32 w0 and w, float64 w twice, m and s in float32 and twice in float64), a step's transient
copies on top (peak 106 MB at 1e6); ``opt.step()`` 10.5 times torch's, a training step (forward,
backward, step) 4.3 (1e6) to 5.5 (1e5) times. ``every=k`` shadows every k-th step only (``every=10``:
a training step 1.3 to 1.7 times torch's on average, the same memory), each restarted from torch's
params and state (``STATE_KEYS``: Adam, AdamW, SGD, Adagrad, RMSprop): it checks k-th steps one at
a time, not the whole trajectory, and the report says so.

Loshchilov & Hutter (2019) for AdamW's decoupled decay; the other papers are cited in each rule.
"""
from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..flavors import torch as T
from .shadow_torch import (BELIEFS, EFFECTS, FLOAT64_OPTIONS, LAGGED_LR, REFUSED, RESTARTABLE, SHADOWED,
                           STATE_KEYS)

__all__ = ["shadow", "Shadow", "BELIEFS", "STATE_KEYS", "SHADOWED", "REFUSED"]


def _flavor_options(attr: str, group: dict) -> dict:
    factory = getattr(T, attr)
    takes = set(inspect.signature(factory).parameters) | set(T.extra_arguments(attr))
    return {k: v for k, v in group.items() if k in takes and k != "params"}


@dataclass
class Row:
    step: int
    param: str
    framework_vs_flavor: float  # params relative distance, same dtype: rounding
    framework_vs_float64: float  # torch against the float64 flavor: the dtype's effect on torch itself
    flavor_vs_float64: float  # the same, for the flavor: the dtype's effect
    belief_vs_float64: float


@dataclass
class Report:
    optimizer: str
    dtype: str
    rtol: float
    rows: list[Row] = field(default_factory=list)
    belief: str = ""
    belief_note: str = ""
    every: int = 1
    effect: str = "the dtype's effect"   # what the float64 run's distance measures (FLOAT64_OPTIONS)

    def first(self, column: str, tol: float) -> Row | None:
        return next((r for r in self.rows if getattr(r, column) > tol), None)

    def worst(self, column: str) -> float:
        return max((getattr(r, column) for r in self.rows), default=0.0)

    def __str__(self) -> str:
        steps = max((r.step for r in self.rows), default=0)
        framework, d = self.optimizer.split(".")[0], self.dtype
        every = f" (every {self.every}th, each restarted from {framework}'s params and state)"
        lines = [f"shadow of {self.optimizer}, params {d}, {steps} steps" + (every if self.every > 1 else "")]
        bad = self.first("framework_vs_flavor", self.rtol)
        verdict = (f"PAST rtol {self.rtol:g} at step {bad.step}, {bad.param}" if bad
                   else f"within rtol {self.rtol:g} (rounding)")
        lines.append(f"{framework} vs its flavor in {d}: worst {self.worst('framework_vs_flavor'):.2e} "
                     f"of the distance moved, {verdict}")
        lines.append(f"{framework} in {d} vs the float64 flavor ({self.effect}): worst "
                     f"{self.worst('framework_vs_float64'):.2e}")
        lines.append(f"flavor in {d} vs float64 ({self.effect}): worst "
                     f"{self.worst('flavor_vs_float64'):.2e}")
        if self.belief:
            part = self.first("belief_vs_float64", 1e-10)
            lines.append(f"belief {self.belief}: " + (
                f"parts at step {part.step}, {part.param} ({self.worst('belief_vs_float64'):.2e} at worst): "
                f"{self.belief_note}" if part else f"agrees with {framework}'s flavor in float64 to 1e-10"))
        return "\n".join(lines)


class Shadow:
    """The mixin of every shadowed optimizer's class (``Shadowed<Class>``, made by ``_shadow_class``):
    the report and unhooking; all else is the optimizer's class on the optimizer's ``__dict__``."""
    __slots__ = ("_tracker",)

    def report(self) -> Report:
        return self._tracker.report

    def remove(self) -> None:
        """Unhook: the optimizer runs on alone (this object stays the optimizer)."""
        for h in self._tracker.handles:
            h.remove()


@functools.cache
def _shadow_class(cls: type) -> type:
    # no __init__ runs: torch's class step is hooked already (Optimizer._patch_step_function), and
    # __dict__ is the optimizer's; empty __slots__ keeps the one slot Shadow declares
    return type(f"Shadowed{cls.__name__}", (Shadow, cls), {"__slots__": (), "__module__": __name__})


class _Tracker:
    """The hooks and the shadow runs of one torch optimizer (module docstring)."""

    def __init__(self, optimizer: Any, attr: str, names: dict, belief: Callable[[dict], Any] | None,
                 every: int, rtol: float | None):
        self.attr, self.every = attr, every
        groups = optimizer.param_groups
        self._names = {id(p): names.get(id(p), f"group{g}[{i}]")
                       for g, group in enumerate(groups) for i, p in enumerate(group["params"])}
        if belief is not None:
            self._belief, label, note = belief, "given", ""
        elif attr in BELIEFS:
            self._belief, note = BELIEFS[attr]
            label = f"refopt.{self._belief(dict(optimizer.defaults)).name} with torch's numbers"
        else:
            self._belief, label, note = None, "", ""
        dtype = str(next(p for group in optimizer.param_groups for p in group["params"]).dtype)
        self.dtype = dtype.replace("torch.", "")
        if self.dtype not in ("float32", "float64"):
            raise ValueError(f"shadow: params of dtype {self.dtype}; the same-dtype shadow runs in NumPy "
                             f"(float32 or float64)")
        # float64: rounding in another order; float32: a few float32 roundings of the distance moved
        default_rtol = T.RTOL.get(attr) or (1e-10 if self.dtype == "float64" else 1e-4)
        self.report = Report(f"torch.optim.{attr}", self.dtype, rtol or default_rtol, belief=label,
                             belief_note=note, every=every, effect=EFFECTS.get(attr, Report.effect))
        self._runs: dict[int, dict] = {}   # id(param) -> {"w0", "same", "f64", "belief"}: (w, state)
        self._count = 0
        self._pending: list = []
        self._last_lr: dict[int, Any] = {}   # group index -> the lr of the step before (LAGGED_LR)
        self.handles = [optimizer.register_step_pre_hook(self._before),
                        optimizer.register_step_post_hook(self._after)]

    def _before(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._count += 1
        self._pending = []
        if (self._count - 1) % self.every:
            return
        for i, group in enumerate(optimizer.param_groups):
            # the group's options now (a scheduler's lr included), as torch reads them for this step
            options = {k: v for k, v in group.items() if k != "params"}
            if self.attr in LAGGED_LR:
                options["lr"], self._last_lr[i] = self._last_lr.get(i, group["lr"]), group["lr"]
            rules = (self._flavor(options), self._flavor({**options, **FLOAT64_OPTIONS.get(self.attr, {})}),
                     self._belief(options) if self._belief is not None else None)
            for p in group["params"]:
                if p.grad is not None:
                    torch_state = ({k: _host(v) for k, v in optimizer.state.get(p, {}).items()}
                                   if self.every > 1 else None)
                    self._pending.append((p, _host(p), _gradient(p.grad), rules, torch_state))

    def _flavor(self, options: dict) -> Any:
        return getattr(T, self.attr)(**_flavor_options(self.attr, options))

    def _after(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        for p, w, g, rules, torch_state in self._pending:
            self._advance(p, w, g, rules, torch_state, _host(p))
        self._pending = []

    def _restart(self, w: np.ndarray, rules: tuple, torch_state: dict | None) -> dict:
        """Runs from torch's params ``w`` (and, with every > 1, torch's state before the step)."""
        flavor, flavor64, belief = rules
        runs = {"w0": w}
        for key, x, rule in (("same", w, flavor), ("f64", w.astype(np.float64), flavor64)):
            runs[key] = (x, _from_torch(torch_state, rule.init(x)))
        if belief is not None:
            x = w.astype(np.float64)
            state = belief.init(x)
            same_kind = type(state) is type(runs["f64"][1])   # torch's state fits the belief's
            runs["belief"] = (x, _from_torch(torch_state, state) if same_kind else state)
        return runs

    def _advance(self, p: Any, w: np.ndarray, g: np.ndarray, rules: tuple, torch_state: dict | None,
                 torch_w: np.ndarray) -> None:
        key = id(p)
        if key not in self._runs or torch_state is not None:
            self._runs[key] = self._restart(w, rules, torch_state)
        runs = self._runs[key]
        g, mask = g if isinstance(g, tuple) else (g, None)
        for name, rule in zip(("same", "f64", "belief"), rules):
            if rule is not None:
                x, state = runs[name]
                # SparseAdam's step takes the gradient's index set (sparse_gradient); no other does
                extra = {} if mask is None else {"mask": mask}
                runs[name] = rule.step(x, g.astype(x.dtype), state, **extra)
        belief = rules[2]
        w0, same, f64 = runs["w0"], runs["same"][0], runs["f64"][0]
        belief_distance = _distance(runs["belief"][0], f64, w0) if belief is not None else np.nan
        self.report.rows.append(Row(self._count, self._names.get(key, "?"), _distance(torch_w, same, w0),
                                    _distance(torch_w, f64, w0), _distance(same, f64, w0), belief_distance))


def _host(x: Any) -> Any:
    """A torch tensor as a NumPy copy on the host; other values as they are."""
    return x.detach().cpu().numpy().copy() if hasattr(x, "detach") else x


def _gradient(grad: Any) -> Any:
    """A dense gradient on the host; a sparse one (SparseAdam's) as its (dense values, index mask)."""
    if grad.is_sparse:
        return tuple(_host(x) for x in T.sparse_gradient(grad))
    return _host(grad)


def _from_torch(torch_state: dict | None, state: Any) -> Any:
    """``state`` with the fields torch's state holds (``STATE_KEYS``; ``momentum_buffer`` is the
    flavor's ``m`` or ``b``), in the state's own dtypes; ``state`` itself when there is none."""
    if not torch_state:
        return state
    names = {**STATE_KEYS, "momentum_buffer": "b" if "b" in state._fields else "m"}
    found = {names[k]: v for k, v in torch_state.items() if k in names and v is not None}
    return state._replace(**{f: int(v) if f == "t" else np.asarray(v, dtype=getattr(state, f).dtype)
                             for f, v in found.items() if f in state._fields})


def _distance(w: np.ndarray, ref: np.ndarray, w0: np.ndarray) -> float:
    """``max|w - ref| / max|ref - w0|`` in float64 (0 when neither has moved)."""
    d = np.abs(w.astype(np.float64) - ref.astype(np.float64)).max()
    moved = np.abs(ref.astype(np.float64) - w0.astype(np.float64)).max()
    return float(d / moved) if moved > 0 else (0.0 if d == 0 else float("inf"))


def shadow(optimizer: Any, named_parameters: Any = None, *, belief: Callable[[dict], Any] | None = None,
           every: int = 1, rtol: float | None = None) -> Any:
    """Shadow a ``torch.optim.Optimizer``: returns it as a ``Shadowed<Class>`` (a ``Shadow`` and a
    ``type(optimizer)`` on its ``__dict__``; module docstring). ``named_parameters`` (e.g.
    ``model.named_parameters()``) names the rows; ``belief`` (group options -> refopt rule), ``every``
    and ``rtol`` as described there."""
    attr = type(optimizer).__name__
    if isinstance(optimizer, Shadow):
        raise ValueError(f"shadow: optimizer is already a shadow ({attr}); call its report()")
    if attr in REFUSED:
        raise ValueError(f"shadow: torch.optim.{attr} is not shadowed: {REFUSED[attr]}")
    if attr not in SHADOWED or type(optimizer).__module__.split(".")[:2] != ["torch", "optim"]:
        raise ValueError(f"shadow: no refopt flavor to shadow torch.optim.{attr} with (shadowed: "
                         f"{', '.join(SHADOWED)})")
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"shadow: every must be an integer >= 1, got {every!r}")
    if every > 1 and attr not in RESTARTABLE:
        raise ValueError(f"shadow: every > 1 restarts from torch's state, read for "
                         f"{', '.join(RESTARTABLE[:-1])} and {RESTARTABLE[-1]} only, not {attr}")
    names = {id(p): n for n, p in (named_parameters or ())}
    tracker = _Tracker(optimizer, attr, names, belief, every, rtol)
    watch = object.__new__(_shadow_class(type(optimizer)))
    watch.__dict__ = optimizer.__dict__    # the same object's data: torch's state, groups, hooks
    watch._tracker = tracker
    return watch
