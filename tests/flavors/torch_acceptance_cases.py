"""torch's own optimizer test configurations (``optim_db``) as cases for the torch flavors.

``cases()`` reads ``torch.testing._internal.common_optimizers.optim_db`` (nothing is copied) and
yields one ``Case`` per configuration: every OptimizerInfo's ``optim_inputs_func("cpu")`` with
the code-path options its ``supported_impls`` allow on CPU (each of foreach, fused, differentiable
on its own, and none), each base input again over two parameter groups, and each of its
``scheduler_inputs`` (a list of schedulers stepped together) with the default arguments.
``run(case)`` steps torch and the flavor built from the same arguments and returns an ``Outcome``.
"""
from __future__ import annotations

import copy
import inspect
import warnings
from contextlib import contextmanager
from typing import Any, NamedTuple

import numpy as np
import torch

from refopt import tree
from refopt.flavors import torch as T
from refopt.flavors import torch_schedules as S
from refopt.flavors.torch_groups import param_groups
from refopt.oracle import compare, mixed_gradients
from refopt.interop import Adapter

STEPS = 14
RTOL = 1e-10
# torch's differentiable Adam/AdamW take sqrt(1 - beta2^t) of a float32 tensor with a float32
# sqrt that is one ulp off the correctly rounded one for ~15% of inputs (MKL on CPU); refopt
# rounds correctly, so the update may differ by a few float32 ulps: measured worst 1.7e-7 over
# these configurations (unmodelled, the float32 bias corrections alone are 1e-5)
RTOL_FLOAT32_SQRT = 1e-6
SPARSE = ("SparseAdam",)  # torch takes sparse gradients only; the flavor the values and their mask
NOT_HERE = ("Muon",)  # its bfloat16 Newton-Schulz is checked in its own tests
LOSS = 1.0  # a constant loss: ReduceLROnPlateau cuts the lr after `patience` epochs


@contextmanager
def default_dtype(which: str):
    """torch's default dtype ``"as is"`` or ``"float64"`` inside; restored exactly after."""
    old = torch.get_default_dtype()
    if which == "float64":
        torch.set_default_dtype(torch.float64)
    try:
        yield str(torch.get_default_dtype())
    finally:
        torch.set_default_dtype(old)


class Case(NamedTuple):
    optimizer: str
    kind: str  # "config", "groups" or "scheduler"
    desc: str
    kwargs: dict
    schedulers: tuple = ()


class Outcome(NamedTuple):
    status: str  # "matched", "unsupported", "mismatched", "crashed", "refused by torch"
    detail: str


def _db():
    from torch.testing._internal.common_optimizers import optim_db
    return optim_db


def cases():
    for info in _db():
        name = info.optim_cls.__name__
        if name in NOT_HERE:
            continue
        impls = [f for f in info.supported_impls if f != "fused" or "cpu" in info.supports_fused_on]
        for oi in info.optim_inputs_func("cpu"):
            for flag in (None, *impls):
                kwargs = {**copy.deepcopy(oi.kwargs), **({flag: True} if flag else {})}
                yield Case(name, "config", f"{oi.desc}" + (f" & {flag}" if flag else ""), kwargs)
            yield Case(name, "groups", oi.desc, copy.deepcopy(oi.kwargs))
        for k, constructors in enumerate(info.scheduler_inputs):
            yield Case(name, "scheduler", f"default & schedulers {k}", {}, tuple(constructors))


# --- torch's side --------------------------------------------------------------------------

def _second_group(name: str, kwargs: dict) -> dict:
    """The 1-D leaf's group: half the lr, no decay, and for Adagrad an accumulator value that
    torch ignores (it reads the constructor's)."""
    lr = kwargs.get("lr", T.__dict__[name].__defaults__[0])
    extra = {"initial_accumulator_value": 0.5} if name == "Adagrad" else {}
    # torch keeps any key in a group; the flavors take only their own (Rprop has no weight decay)
    takes = inspect.signature(getattr(torch.optim, name)).parameters
    decay = {"weight_decay": 0.0} if "weight_decay" in takes else {}
    return {"lr": 0.5 * float(lr), **decay, **extra}


def torch_side(case: Case) -> Adapter:
    """torch's optimizer over float64 leaves, as users run it: ``differentiable=True`` over
    non-leaf tensors that require grad (as in meta-learning, where torch's in-place updates on
    leaves would be refused); schedulers stepped after each ``optimizer.step()``."""
    cls = getattr(torch.optim, case.optimizer)

    def init(params: Any) -> Any:
        spec = tree.structure(params)
        leaves = [torch.tensor(np.array(w), requires_grad=True) for _, w in tree.leaves_with_paths(params)]
        if case.kwargs.get("differentiable"):
            leaves = [p.clone() for p in leaves]
        kwargs = copy.deepcopy(case.kwargs)
        if case.kind == "groups":
            second = _second_group(case.optimizer, kwargs)
            opt = cls([{"params": leaves[:1]}, {"params": leaves[1:], **second}], **kwargs)
        else:
            opt = cls(leaves, **kwargs)
        return spec, leaves, opt, [make(opt) for make in case.schedulers]

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        spec, leaves, opt, schedulers = state
        for p, g in zip(leaves, tree.leaves_like(spec, grads, "grads")):
            p.grad = torch.tensor(np.array(g))
            if case.optimizer in SPARSE:   # a sparse COO gradient of the nonzero entries
                p.grad = p.grad.to_sparse()
        opt.step()
        for s in schedulers:
            s.step(LOSS) if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau) else s.step()
        return tree.unflatten(spec, [p.detach().numpy().copy() for p in leaves]), state

    return Adapter(f"torch.optim.{case.optimizer}", init, step)


# --- refopt's side -------------------------------------------------------------------------

def _schedule_of(s: Any, lr: float):
    """refopt's schedule for a torch scheduler object, from the settings it holds."""
    kind = type(s).__name__
    if kind == "StepLR":
        return S.StepLR(lr, s.step_size, s.gamma)
    if kind == "ExponentialLR":
        return S.ExponentialLR(lr, s.gamma)
    if kind == "LinearLR":
        return S.LinearLR(lr, s.start_factor, s.end_factor, s.total_iters)
    if kind == "ConstantLR":
        return S.ConstantLR(lr, s.factor, s.total_iters)
    if kind == "PolynomialLR":
        return S.PolynomialLR(lr, s.total_iters, s.power)
    if kind == "ReduceLROnPlateau":
        return S.ReduceLROnPlateau(lr, s.mode, s.factor, s.patience, s.threshold, s.threshold_mode,
                                   s.cooldown, s.min_lrs[0], s.eps)
    raise AssertionError(f"no refopt schedule for torch's {kind}")


class _Told(NamedTuple):
    """The flavor whose lr is ``lr(t)``, with each ReduceLROnPlateau told the loss after a step."""
    name: str
    inner: Any
    plateaus: tuple

    def init(self, params):
        return self.inner.init(params)

    def step(self, params, grads, state, **extra):
        out = self.inner.step(params, grads, state, **extra)
        for p in self.plateaus:
            p.step(LOSS)
        return out


class _Masked(NamedTuple):
    """SparseAdam's flavor told, each step, the coordinates torch's sparse gradient holds (g != 0)."""
    name: str
    inner: Any

    def init(self, params):
        return self.inner.init(params)

    def step(self, params, grads, state):
        return self.inner.step(params, grads, state, mask=tree.tree_map(lambda g: g != 0, grads))


def flavor_side(case: Case) -> Any:
    ours = _flavor_side(case)
    return _Masked(case.optimizer, ours) if case.optimizer in SPARSE else ours


def _flavor_side(case: Case) -> Any:
    build = getattr(T, case.optimizer)
    if case.kind == "groups":
        return param_groups(build, [{"params": ["['w']"]},
                                    {"params": ["['b']"], **_second_group(case.optimizer, case.kwargs)}],
                            **case.kwargs)
    if not case.schedulers:
        return build(**case.kwargs)
    lr = float(case.kwargs.get("lr", build.__defaults__[0]))
    dummy = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=lr)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = [_schedule_of(make(dummy), lr) for make in case.schedulers]
    chained = [s for s in ours if isinstance(s, S.TorchSchedule)]
    plateaus = tuple(s for s in ours if isinstance(s, S.ReduceLROnPlateau))
    base = S.ChainedScheduler(chained) if chained else (lambda t: lr)
    # torch applies every scheduler to the same group lr, each a factor: their product
    schedule = (lambda t: base(t) * np.prod([p(t) / lr for p in plateaus])) if plateaus else base
    return _Told(case.optimizer, build(**{**case.kwargs, "lr": schedule}), plateaus)


# --- one case ------------------------------------------------------------------------------

def tolerance(case: Case) -> float:
    float32_scalars = torch.get_default_dtype() != torch.float64
    adam = case.optimizer in ("Adam", "AdamW") and case.kwargs.get("differentiable")
    return RTOL_FLOAT32_SQRT if adam and float32_scalars else RTOL


LBFGS_STEPS = 3  # steps of torch's LBFGS (each up to max_iter iterations) on logistic regression


def run_lbfgs(case: Case) -> Outcome:
    """LBFGS evaluates a function: torch's ``step(closure)`` and the flavor's ``step(params, fn,
    state)`` on tests/rules/test_lbfgs.py's logistic regression, float64, ``LBFGS_STEPS`` steps, the
    schedulers stepped after each; params to 1e-10 relative and the same evaluation counts. torch
    refuses two param groups for LBFGS itself (a ValueError at construction): counted as such."""
    from tests.rules.test_lbfgs import logistic_np, logistic_torch
    x0 = {"w": np.zeros(5), "b": np.array([0.1])}
    leaves = [torch.tensor(x0[k], requires_grad=True) for k in ("w", "b")]
    kwargs = copy.deepcopy(case.kwargs)
    try:
        groups = ([{"params": leaves[:1]}, {"params": leaves[1:], **_second_group("LBFGS", kwargs)}]
                  if case.kind == "groups" else leaves)
        opt = torch.optim.LBFGS(groups, **kwargs)
    except ValueError as e:
        return Outcome("refused by torch", str(e))
    schedulers = [make(opt) for make in case.schedulers]

    def closure():
        opt.zero_grad()
        loss = logistic_torch(*leaves)
        loss.backward()
        return loss
    try:
        ours = _flavor_side(case)
    except ValueError as e:
        return Outcome("unsupported", str(e))
    try:
        x, state = x0, ours.init(x0)
        for _ in range(LBFGS_STEPS):
            opt.step(closure)
            for s in schedulers:
                s.step(LOSS) if isinstance(s, torch.optim.lr_scheduler.ReduceLROnPlateau) else s.step()
            x, state = ours.step(x, logistic_np, state)
    except Exception as e:  # a crash is counted and shown, never hidden
        return Outcome("crashed", f"{type(e).__name__}: {e}")
    theirs = {k: p.detach().numpy() for k, p in zip(("w", "b"), leaves)}
    err = max(float(np.max(np.abs(x[k] - theirs[k])) / np.max(np.abs(theirs[k]))) for k in theirs)
    torch_counts = tuple(opt.state[leaves[0]][k] for k in ("func_evals", "n_iter"))
    same = (state.func_evals, state.n_iter) == torch_counts
    return Outcome("matched" if err <= RTOL and same else "mismatched",
                   f"params rel {err:.3g}, evaluations and iterations {torch_counts}, the same: {same}")


def run(case: Case, seed: int = 0) -> Outcome:
    if case.optimizer == "LBFGS":
        return run_lbfgs(case)
    rng = np.random.default_rng(seed)
    params = {"w": rng.standard_normal((5, 4)), "b": rng.standard_normal(4)}
    grads = mixed_gradients(params, STEPS, seed=seed + 1)
    try:
        ours = flavor_side(case)
    except ValueError as e:
        return Outcome("unsupported", str(e))
    try:
        report = compare(torch_side(case), ours, params, grads, rtol=tolerance(case))
    except Exception as e:  # a crash is counted and shown, never hidden
        return Outcome("crashed", f"{type(e).__name__}: {e}")
    return Outcome("matched" if report.ok else "mismatched", f"max update rel {report.max_update_rel:.3g}")
