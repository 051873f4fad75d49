r"""Shadow mode for optax: ``refopt.oracle.shadow_optax(optax.adamw, learning_rate=schedule, ...)``.

An optax transformation does not say what it is (``optax.adamw(1e-3)`` is a pair of closures), so
the shadow is built from the alias and its arguments: ``tx = alias(*args, **kwargs)`` is the
framework, ``refopt.flavors.optax.<alias>(*args, **kwargs)`` its flavor, and ``BELIEFS`` the paper's
rule with optax's numbers. The result is a transformation whose state is ``ShadowState(inner,
shadow)``: ``inner`` is optax's own state, ``shadow`` the shadow runs (NumPy params and states in the
params' dtype and in float64, the belief's, and the report's rows so far). It is pure: ``update``
returns a new state and changes nothing it was given.

**jit.** optax's side runs jitted (``jax.jit(tx.update)``, built once); the shadow side runs in
NumPy on the host after it, so ``update`` itself is called outside ``jax.jit``: the training step
is jitted up to the gradients, and ``update``/``apply_updates`` follow (tests/oracle/
test_shadow_optax.py). ``report(state)`` gives the report, as ``refopt.oracle.shadow``'s: per step
and leaf (named by its pytree path), optax against its flavor in the same dtype, the dtype's effect
(optax and its flavor each against the float64 flavor), and where the paper's rule parts and why. optax's ``count`` starts at 0 and refopt's
t at 1: an optax schedule is evaluated at ``t - 1`` by the flavor (``refopt.flavors.optax``), and by
the belief here.
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np

import refopt

from ..flavors import optax as O
from ..flavors.optax_schedules import count_schedule
from .shadow import Report, Row, _distance

__all__ = ["shadow_optax", "ShadowState", "BELIEFS"]


def _lr(learning_rate: Any) -> Any:
    """optax's learning rate (a number or a schedule of count = t - 1) as refopt's ``t -> lr``,
    evaluated as optax evaluates it (``CountSchedule``: an int32 count, jitted)."""
    return count_schedule("learning_rate", learning_rate)


# alias -> (the canonical rule with optax's numbers read as the paper's, where they part)
BELIEFS: dict[str, tuple[Callable[..., Any], str]] = {
    "adamw": (lambda learning_rate, b1=0.9, b2=0.999, eps=1e-8, weight_decay=1e-4, **_:
              refopt.adamw(lr=_lr(learning_rate), beta1=b1, beta2=b2, eps=eps, weight_decay=weight_decay),
              "optax's adamw multiplies weight_decay by the learning rate (add_decayed_weights before "
              "scale_by_learning_rate); the paper's lambda (refopt.adamw's weight_decay) is not: optax's "
              "weight_decay=wd is the paper's lambda = learning_rate*wd"),
    "adam": (lambda learning_rate, b1=0.9, b2=0.999, eps=1e-8, **_:
             refopt.adam(lr=_lr(learning_rate), beta1=b1, beta2=b2, eps=eps),
             "optax's adam adds eps_root inside the root or takes a Nesterov step where asked"),
    "sgd": (lambda learning_rate, momentum=None, **_: refopt.momentum(lr=_lr(learning_rate), beta1=momentum)
            if momentum else refopt.sgd(lr=_lr(learning_rate)),
            "optax's sgd steps Nesterov's reformulated form where asked"),
}


class ShadowState(NamedTuple):
    inner: Any    # optax's state
    shadow: Any   # _Runs


class _Runs(NamedTuple):
    t: int          # steps shadowed
    w0: Any
    same: tuple     # (params, state) in the params' dtype
    f64: tuple      # (params, state) in float64
    belief: tuple | None
    rows: tuple     # Row, ...


def _host(tree: Any, dtype: Any = None) -> Any:
    import jax
    return jax.tree.map(lambda x: np.asarray(x, dtype=dtype or np.asarray(x).dtype).copy(), tree)


def shadow_optax(alias: Any, /, *args: Any, belief: Callable[..., Any] | None = None, rtol: float | None = None,
                 **kwargs: Any) -> Any:
    """Shadow ``alias(*args, **kwargs)`` (an optax alias such as ``optax.adamw``, or its name) with
    its refopt flavor (module docstring). ``belief`` takes the alias's arguments and returns a refopt
    rule (default: ``BELIEFS``). Returns an object with ``init``, ``update`` and ``report(state)``."""
    import jax
    import optax

    name = alias if isinstance(alias, str) else getattr(alias, "__name__", "")
    if name not in O.__all__ or not callable(getattr(O, name, None)) or not hasattr(optax, name):
        raise ValueError(f"shadow_optax: no refopt flavor to shadow optax.{name or alias!r} with "
                         f"(flavors: {', '.join(n for n in O.__all__ if callable(getattr(O, n)))})")
    tx = getattr(optax, name)(*args, **kwargs)
    flavor = getattr(O, name)(*args, **kwargs)
    make_belief, note = (belief, "") if belief is not None else BELIEFS.get(name, (None, ""))
    believed = make_belief(*args, **kwargs) if make_belief is not None else None
    framework_update = jax.jit(tx.update)

    def init(params: Any) -> ShadowState:
        w = _host(params)
        w64 = _host(params, np.float64)
        runs = _Runs(0, w, (w, flavor.init(w)), (w64, flavor.init(w64)),
                     (w64, believed.init(w64)) if believed is not None else None, ())
        return ShadowState(tx.init(params), runs)

    def update(grads: Any, state: ShadowState, params: Any = None) -> tuple[Any, ShadowState]:
        if params is None:
            raise ValueError("shadow_optax: update needs params (the shadow steps them); "
                             "call update(grads, state, params)")
        updates, inner = framework_update(grads, state.inner, params)
        runs = state.shadow
        g = _host(grads)
        same = flavor.step(*_cast(runs.same[0], g, runs.same[1]))
        f64 = flavor.step(*_cast(runs.f64[0], g, runs.f64[1]))
        belief_run = believed.step(*_cast(runs.belief[0], g, runs.belief[1])) if believed is not None else None
        framework_w = _host(optax.apply_updates(params, updates))
        rows = _rows(runs.t + 1, runs.w0, framework_w, same[0], f64[0], belief_run[0] if belief_run else None)
        return updates, ShadowState(inner, _Runs(runs.t + 1, runs.w0, same, f64, belief_run, runs.rows + rows))

    def report(state: ShadowState) -> Report:
        dtype = str(np.asarray(jax.tree.leaves(state.shadow.w0)[0]).dtype)
        label = ("given" if belief is not None else f"refopt.{believed.name} with optax's numbers") if believed else ""
        default_rtol = 1e-10 if dtype == "float64" else 1e-4
        return Report(f"optax.{name}", dtype, rtol or default_rtol, list(state.shadow.rows), label, note)

    return _Shadow(init, update, report)


class _Shadow(NamedTuple):
    init: Any
    update: Any
    report: Any


def _cast(params: Any, grads: Any, state: Any) -> tuple:
    """(params, grads in the params' dtypes, state): a rule's step arguments."""
    import jax
    return params, jax.tree.map(lambda g, w: g.astype(w.dtype), grads, params), state


def _rows(step: int, w0: Any, framework: Any, same: Any, f64: Any, belief: Any) -> tuple[Row, ...]:
    import jax
    paths = [jax.tree_util.keystr(p) for p, _ in jax.tree_util.tree_flatten_with_path(w0)[0]]
    leaves = [jax.tree.leaves(t) if t is not None else [None] * len(paths) for t in (w0, framework, same, f64, belief)]
    return tuple(Row(step, path, _distance(fw, s, x0), _distance(fw, f, x0), _distance(s, f, x0),
                _distance(b, f, x0) if b is not None else np.nan)
            for path, x0, fw, s, f, b in zip(paths, *leaves))
