"""keras's optimizers as keras users run them, for the oracle: at the user's ``floatx``.

``refopt.oracle.adapters.keras_optimizer`` builds keras with floatx set to the params' dtype;
this builds it with keras's floatx as the user has it (float32 by default), or with the one
asked for, so the learning-rate variable has the precision a user's run has. The flavors read
the same floatx (``keras_base.resolve_floatx``), so the two sides agree by default. floatx is
set and restored under the adapters' lock; init and step run with x64 on in this thread only.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import tree

__all__ = ["keras_at"]


def keras_at(attr: str, floatx: str | None = None, **kwargs: Any) -> Any:
    """``keras.optimizers.<attr>(**kwargs)`` built under ``floatx`` (None: keras's current one),
    over ``keras.Variable``s of the params' dtypes, stepped by a jitted ``stateless_apply``."""
    from ..oracle.adapters import Adapter, _floatx, _in_x64, keras_on_jax
    from .keras_base import resolve_floatx
    keras = keras_on_jax()
    import jax
    if not hasattr(keras.optimizers, attr):
        raise ValueError(f"keras.optimizers has no optimizer {attr!r}")
    cls = getattr(keras.optimizers, attr)
    dtype = resolve_floatx(floatx)

    def init(params: Any) -> Any:
        spec = tree.structure(params)
        leaves = [np.asarray(w) for _, w in tree.leaves_with_paths(params)]
        with _floatx(keras, dtype):
            variables = [keras.Variable(w, dtype=str(w.dtype)) for w in leaves]
            opt = cls(**kwargs)
            opt.build(variables)
        return spec, jax.jit(opt.stateless_apply), [v.value for v in opt.variables]

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        spec, apply, opt_vars = state
        ws = [np.asarray(w) for w in tree.leaves_like(spec, params, "params")]
        gs = [np.asarray(g) for g in tree.leaves_like(spec, grads, "grads")]
        with _floatx(keras, dtype):  # the first call traces: a schedule computes in floatx too
            new, opt_vars = apply(opt_vars, gs, ws)
        return tree.unflatten(spec, [np.asarray(w).copy() for w in new]), (spec, apply, opt_vars)

    return Adapter(f"keras.optimizers.{attr}(floatx={dtype})", _in_x64(init), _in_x64(step))
