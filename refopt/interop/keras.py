"""keras and refopt: ``keras_optimizer`` (a keras optimizer on the JAX backend as a refopt pair, for
the oracle), ``keras_on_jax`` (the keras module on that backend). keras's ``floatx`` is process-wide:
see ``refopt.interop`` for how it is set and restored."""
from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Any, Iterator

import numpy as np

from .. import tree
from . import Adapter, in_x64

__all__ = ["keras_on_jax", "keras_optimizer"]


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
    return Adapter(name, in_x64(init), in_x64(step))
