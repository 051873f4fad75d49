r"""Shadow mode: a reference that rides along with a real torch training run.

``watch = refopt.oracle.shadow(opt, model.named_parameters())`` hooks a ``torch.optim.Optimizer``
(``register_step_pre_hook`` / ``register_step_post_hook``): the training loop stays as it is
(``opt.step()``, schedulers attached to ``opt``), and ``watch`` behaves as ``opt`` too (it forwards
``step``, ``zero_grad``, ``param_groups``, ``state_dict``, ... to it). Before each step it copies the
gradients and the groups' current options (a scheduler's new ``lr`` included); after torch has
stepped, it advances on the same gradients, from the same starting params:

* the matching flavor (``refopt.flavors.torch.<Class>``, built from each group's options at that
  step) in the params' dtype: torch and it should differ by rounding only;
* the same flavor in float64: how far the params' dtype moves the run (the dtype's effect);
* a *belief*: the canonical rule with torch's numbers read as the paper's (``BELIEFS``), or the rule
  the caller passes: where torch's convention is not the paper's, it parts, and the report names
  the convention.

Each parameter is its own tree of one leaf, as torch applies its update. ``watch.report()`` gives,
per step and parameter, torch's distance from the flavor in the same dtype and the float64 flavor's
from it, each as ``max|w - w_ref| / max|w_ref - w_0|`` (the run's movement: a drift that matters
shows however small the steps), the first step and parameter past tolerance, and the belief's
verdict.

Cost: the shadow keeps three copies of every parameter and of the flavor's state (params' dtype,
float64, the belief's float64), in NumPy on the host, and steps each: measured in
tests/oracle/test_shadow.py. ``every=k`` shadows only every k-th step: at those steps the shadow
restarts from torch's params and torch's state (``STATE_KEYS``: Adam, AdamW, SGD, Adagrad,
RMSprop), so it checks k-th steps one at a time, not the whole trajectory, and the report says so.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

import refopt

from ..flavors import torch as T

__all__ = ["shadow", "Shadow", "BELIEFS", "STATE_KEYS"]


def _betas(o: dict) -> dict:
    return {"beta1": float(o["betas"][0]), "beta2": float(o["betas"][1])}


# torch class -> (the canonical rule with torch's numbers read as the paper's, where they part)
BELIEFS: dict[str, tuple[Callable[[dict], Any], str]] = {
    "AdamW": (lambda o: refopt.adamw(lr=o["lr"], **_betas(o), eps=o["eps"], weight_decay=o["weight_decay"]),
              "torch's AdamW multiplies weight_decay by lr (w <- w - lr*wd*w); the paper's lambda "
              "(refopt.adamw's weight_decay) is not: torch's weight_decay=wd is the paper's lambda = lr*wd"),
    "Adam": (lambda o: refopt.adam(lr=o["lr"], **_betas(o), eps=o["eps"]),
             "torch's Adam adds weight_decay*w to the gradient (coupled L2), which the paper's Adam has not"),
    "SGD": (lambda o: refopt.momentum(lr=o["lr"], beta1=o["momentum"]) if o["momentum"] else refopt.sgd(lr=o["lr"]),
            "torch's SGD dampens the momentum buffer, adds weight_decay*w to the gradient, or steps "
            "Nesterov's reformulated form, where the paper's heavy ball does none of these"),
    "Adagrad": (lambda o: refopt.adagrad(lr=o["lr"], eps=o["eps"]),
                "torch's Adagrad decays lr by lr_decay, starts the sum at initial_accumulator_value and "
                "adds weight_decay*w to the gradient"),
    "RMSprop": (lambda o: refopt.rmsprop(lr=o["lr"], beta2=o["alpha"], eps=o["eps"]),
                "torch's RMSprop adds weight_decay*w to the gradient, or takes momentum/centered steps"),
}

# torch's state keys -> the flavor state's fields, for every=k (restarting from torch's state)
STATE_KEYS = {"step": "t", "exp_avg": "m", "exp_avg_sq": "s", "max_exp_avg_sq": "s_max", "sum": "s",
              "square_avg": "s", "grad_avg": "gbar"}


def _flavor_options(attr: str, group: dict) -> dict:
    factory = getattr(T, attr)
    takes = set(inspect.signature(factory).parameters) | set(T.extra_arguments(attr))
    return {k: v for k, v in group.items() if k in takes and k != "params"}


@dataclass
class Row:
    step: int
    param: str
    framework_vs_flavor: float  # params relative distance, same dtype
    flavor_vs_float64: float  # the dtype's effect
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

    def first(self, column: str, tol: float) -> Row | None:
        return next((r for r in self.rows if getattr(r, column) > tol), None)

    def worst(self, column: str) -> float:
        return max((getattr(r, column) for r in self.rows), default=0.0)

    def __str__(self) -> str:
        steps = max((r.step for r in self.rows), default=0)
        lines = [f"shadow of {self.optimizer}, params {self.dtype}, {steps} steps"
                 + (f" (every {self.every}th, each restarted from torch's params and state)" if self.every > 1 else "")]
        bad = self.first("framework_vs_flavor", self.rtol)
        lines.append(f"{self.optimizer.split('.')[0]} vs its flavor in {self.dtype}: worst {self.worst('framework_vs_flavor'):.2e} of the distance "
                     f"moved, " + (f"PAST rtol {self.rtol:g} at step {bad.step}, {bad.param}" if bad else
                                   f"within rtol {self.rtol:g} (rounding)"))
        lines.append(f"{self.dtype} vs float64 (the dtype's effect): worst {self.worst('flavor_vs_float64'):.2e}")
        if self.belief:
            part = self.first("belief_vs_float64", 1e-10)
            lines.append(f"belief {self.belief}: " + (
                f"parts at step {part.step}, {part.param} ({self.worst('belief_vs_float64'):.2e} at worst): "
                f"{self.belief_note}" if part else "agrees with torch's flavor in float64 to 1e-10"))
        return "\n".join(lines)


# the torch optimizers whose param groups the shadow reads (tests/oracle/test_shadow.py); not Muon
# (bfloat16 NS), SparseAdam (sparse gradients), LBFGS (a closure), nor Rprop and ASGD (not yet tried)
SHADOWED = ("SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "Adamax", "NAdam", "RAdam", "Adafactor")


class Shadow:
    """The hooks and the shadow runs of one torch optimizer; behaves as it (forwards attributes)."""

    def __init__(self, optimizer: Any, named_parameters: Any = None, *, belief: Callable[[dict], Any] | None = None,
                 every: int = 1, rtol: float | None = None):
        attr = type(optimizer).__name__
        if attr not in SHADOWED:
            raise ValueError(f"shadow: no refopt flavor to shadow torch.optim.{attr} with (shadowed: "
                             f"{', '.join(SHADOWED)})")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"shadow: every must be an integer >= 1, got {every!r}")
        if every > 1 and attr not in ("Adam", "AdamW", "SGD", "Adagrad", "RMSprop"):
            raise ValueError(f"shadow: every > 1 restarts from torch's state, read for Adam, AdamW, SGD, Adagrad "
                             f"and RMSprop only, not {attr}")
        self.optimizer, self.attr, self.every = optimizer, attr, every
        names = {id(p): n for n, p in (named_parameters or ())}
        self._names = {id(p): names.get(id(p), f"group{g}[{i}]")
                       for g, group in enumerate(optimizer.param_groups) for i, p in enumerate(group["params"])}
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
        default_rtol = 1e-10 if self.dtype == "float64" else 1e-4
        self._report = Report(f"torch.optim.{attr}", self.dtype, rtol or default_rtol, belief=label,
                              belief_note=note, every=every)
        self._runs: dict[int, dict] = {}   # id(param) -> {"w0", "same", "f64", "belief"}: (w, state)
        self._count = 0
        self._pending: list = []
        self._handles = [optimizer.register_step_pre_hook(self._before),
                         optimizer.register_step_post_hook(self._after)]

    # --- behaving as the optimizer ---------------------------------------------------------

    def __getattr__(self, name: str) -> Any:
        return getattr(self.optimizer, name)

    def report(self) -> Report:
        return self._report

    def remove(self) -> None:
        """Unhook: the optimizer runs on alone."""
        for h in self._handles:
            h.remove()

    # --- the hooks -------------------------------------------------------------------------

    def _before(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        self._count += 1
        self._pending = []
        if (self._count - 1) % self.every:
            return
        for group in optimizer.param_groups:
            # the group's options now (a scheduler's lr included), as torch reads them for this step
            options = {k: v for k, v in group.items() if k != "params"}
            rules = (getattr(T, self.attr)(**_flavor_options(self.attr, options)),
                     self._belief(options) if self._belief is not None else None)
            for p in group["params"]:
                if p.grad is not None:
                    torch_state = ({k: _host(v) for k, v in optimizer.state.get(p, {}).items()}
                                   if self.every > 1 else None)
                    self._pending.append((p, _host(p), _host(p.grad), rules, torch_state))

    def _after(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        for p, w, g, rules, torch_state in self._pending:
            self._advance(p, w, g, rules, torch_state, _host(p))
        self._pending = []

    def _restart(self, w: np.ndarray, flavor: Any, belief: Any, torch_state: dict | None) -> dict:
        """Runs from torch's params ``w`` (and, with every > 1, torch's state before the step)."""
        runs = {"w0": w}
        for key, x in (("same", w), ("f64", w.astype(np.float64))):
            runs[key] = (x, _from_torch(torch_state, flavor.init(x)))
        if belief is not None:
            x = w.astype(np.float64)
            state = belief.init(x)
            runs["belief"] = (x, _from_torch(torch_state, state) if type(state) is type(runs["f64"][1]) else state)
        return runs

    def _advance(self, p: Any, w: np.ndarray, g: np.ndarray, rules: tuple, torch_state: dict | None,
                 torch_w: np.ndarray) -> None:
        flavor, belief = rules
        key = id(p)
        if key not in self._runs or torch_state is not None:
            self._runs[key] = self._restart(w, flavor, belief, torch_state)
        runs = self._runs[key]
        for name, rule in (("same", flavor), ("f64", flavor), ("belief", belief)):
            if rule is not None:
                x, state = runs[name]
                runs[name] = rule.step(x, g.astype(x.dtype), state)
        w0, same, f64 = runs["w0"], runs["same"][0], runs["f64"][0]
        self._report.rows.append(Row(self._count, self._names.get(key, "?"), _distance(torch_w, same, w0),
                                     _distance(same, f64, w0),
                                     _distance(runs["belief"][0], f64, w0) if belief is not None else np.nan))


def _host(x: Any) -> Any:
    """A torch tensor as a NumPy copy on the host; other values as they are."""
    return x.detach().cpu().numpy().copy() if hasattr(x, "detach") else x


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


def shadow(optimizer: Any, named_parameters: Any = None, **options: Any) -> Shadow:
    """Shadow a ``torch.optim.Optimizer`` (module docstring): ``named_parameters`` (e.g.
    ``model.named_parameters()``) names the rows; ``belief`` (group options -> refopt rule), ``every``
    and ``rtol`` as described there."""
    return Shadow(optimizer, list(named_parameters) if named_parameters is not None else None, **options)
