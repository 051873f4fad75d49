"""Other frameworks' optimizers as ``(init, step)`` pairs over NumPy arrays.

Each adapter takes and returns NumPy params trees, so a framework optimizer can be run by
``refopt.oracle.trajectory`` exactly as a refopt rule is. torch, optax and keras are imported
on first use: refopt itself does not need them.

Process-wide settings are left as the user set them (issue 9, section 6):

* torch's default dtype is never changed. torch keeps some scalar state in it (NAdam's
  ``mu_product``, float32 unless the user chose float64); ``refopt.flavors.torch`` models
  that instead (its ``scalar_dtype``).
* JAX's ``jax_enable_x64`` is never changed: init and step run inside ``jax.enable_x64(True)``,
  a context manager whose setting is local to the calling thread (jax 0.10.2,
  ``jax._src.config.State``: ``swap_local``/``set_local``), so float64 stays float64 in that
  thread only and other threads keep their own setting.
* keras's ``floatx`` is process-wide (a module global in keras 3.15.1), and keras reads it when
  an optimizer creates its learning-rate variable. ``keras_optimizer`` sets it to the params'
  dtype for the build and restores it exactly, under a module lock (so two adapters never
  restore each other's value); other threads may see it during the build.
* ``KERAS_BACKEND`` is set to ``jax`` only while keras is first imported, and only if unset.
"""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, NamedTuple

import numpy as np

from .. import tree


class Adapter(NamedTuple):
    name: str
    init: Any
    step: Any


def torch_optimizer(cls: Any, **kwargs: Any) -> Adapter:
    """A ``torch.optim.Optimizer`` subclass (torch's own or pytorch-optimizer's), built
    with ``kwargs`` over float tensors made from the params' NumPy leaves (their dtype kept).
    torch's default dtype is left alone, so its scalar state is in the user's default dtype."""
    import torch

    def init(params: Any) -> Any:
        spec = tree.structure(params)
        leaves = [torch.nn.Parameter(torch.tensor(np.array(w))) for _, w in tree.leaves_with_paths(params)]
        return spec, leaves, cls(leaves, **kwargs)

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        spec, leaves, opt = state
        for p, g in zip(leaves, tree.leaves_like(spec, grads, "grads")):
            p.grad = torch.tensor(np.array(g))
        opt.step()
        return tree.unflatten(spec, [p.detach().numpy().copy() for p in leaves]), state

    return Adapter(f"{cls.__module__}.{cls.__name__}", init, step)


def _in_x64(f: Callable[..., Any]) -> Callable[..., Any]:
    """``f`` run inside ``jax.enable_x64(True)``: float64 in this thread, for this call only."""
    import jax

    def run(*args: Any) -> Any:
        with jax.enable_x64(True):
            return f(*args)

    return run


def optax_transformation(tx: Any, name: str = "optax", jit: bool = False) -> Adapter:
    """An ``optax.GradientTransformation``; init and step run with x64 on in the calling thread
    only (``jax.enable_x64``), so float64 stays float64 and the process setting is untouched.
    optax canonicalises dtype arguments (``mu_dtype``) when ``tx`` is built: build it in
    ``jax.enable_x64(True)`` too where they must be float64 (``flavors.optax.framework`` does).
    ``jit=True`` compiles the update and its application once (much faster over many steps;
    XLA may fuse a multiply-add, so results can differ from eager ones in the last bit)."""
    import jax
    import jax.numpy as jnp
    import optax

    def to_jax(t: Any) -> Any:
        return tree.tree_map(lambda w: jnp.asarray(np.array(w)), t)

    def update(p: Any, g: Any, state: Any) -> tuple[Any, Any]:
        updates, state = tx.update(g, state, p)
        return optax.apply_updates(p, updates), state

    run = jax.jit(update) if jit else update  # x64 is part of jit's cache key: traced in x64

    def init(params: Any) -> Any:
        return tx.init(to_jax(params))

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        new, state = run(to_jax(params), to_jax(grads), state)
        return tree.tree_map(lambda w: np.asarray(w).copy(), new), state

    return Adapter(name, _in_x64(init), _in_x64(step))


def keras_on_jax() -> Any:
    """The ``keras`` module on the JAX backend (a keras already imported on another backend is
    refused). ``KERAS_BACKEND`` is set to ``jax`` for the import only, and only if unset."""
    added = "KERAS_BACKEND" not in os.environ
    if added:
        os.environ["KERAS_BACKEND"] = "jax"
    try:
        import keras
    finally:
        if added:
            os.environ.pop("KERAS_BACKEND", None)
    if keras.backend.backend() != "jax":
        raise ValueError(f"the keras oracle runs on the JAX backend, not {keras.backend.backend()!r}")
    return keras


# keras.config.floatx is one module global; this lock makes each set/build/restore atomic
# with respect to the other keras adapters (not to user code that reads floatx meanwhile)
_FLOATX_LOCK = threading.Lock()


@contextmanager
def _floatx(keras: Any, dtype: str | None) -> Iterator[None]:
    """floatx is ``dtype`` inside (unchanged if None), restored exactly after, under the lock."""
    with _FLOATX_LOCK:
        old = keras.config.floatx()
        keras.config.set_floatx(dtype or old)
        try:
            yield
        finally:
            keras.config.set_floatx(old)


def keras_optimizer(cls: Any, *, floatx: str | None = None, **kwargs: Any) -> Adapter:
    """A ``keras.optimizers.Optimizer`` subclass, ``cls(**kwargs)``, over ``keras.Variable``s
    made from the params' NumPy leaves, stepped by a jitted ``stateless_apply`` (Keras's pure
    update: the same ``update_step`` code, run once traced instead of op by op). floatx is the
    params' dtype while it is built (``_floatx``: restored exactly, under a lock; other threads
    may see it during the build), so the learning-rate variable carries the params' precision.
    Init and step run with x64 on in the calling thread only (``jax.enable_x64``). With
    ``floatx`` given, keras is built and first traced under that floatx instead, as a user's run
    with that setting is (``refopt.flavors.keras_framework``)."""
    keras = keras_on_jax()
    import jax

    def init(params: Any) -> Any:
        spec = tree.structure(params)
        leaves = [np.asarray(w) for _, w in tree.leaves_with_paths(params)]
        with _floatx(keras, floatx or (str(leaves[0].dtype) if leaves else None)):
            variables = [keras.Variable(w, dtype=str(w.dtype)) for w in leaves]
            opt = cls(**kwargs)
            opt.build(variables)
        return spec, jax.jit(opt.stateless_apply), [v.value for v in opt.variables]

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        spec, apply, opt_vars = state
        ws = [np.asarray(w) for w in tree.leaves_like(spec, params, "params")]
        gs = [np.asarray(g) for g in tree.leaves_like(spec, grads, "grads")]
        with _floatx(keras, floatx):  # the first call traces: a schedule computes in floatx too
            new, opt_vars = apply(opt_vars, gs, ws)
        return tree.unflatten(spec, [np.asarray(w).copy() for w in new]), (spec, apply, opt_vars)

    name = f"keras.optimizers.{cls.__name__}" + (f"(floatx={floatx})" if floatx else "")
    return Adapter(name, _in_x64(init), _in_x64(step))
