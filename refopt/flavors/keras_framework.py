"""keras's optimizers as keras users run them, for the oracle: at the user's ``floatx``.

``refopt.interop.keras.keras_optimizer`` builds keras with floatx set to the params' dtype;
this builds it with keras's floatx as the user has it (float32 by default), or with the one
asked for, so the learning-rate variable has the precision a user's run has. The flavors read
the same floatx (``keras_base.resolve_floatx``), so the two sides agree by default. floatx is
set and restored under the adapters' lock; init and step run with x64 on in this thread only.
"""
from __future__ import annotations

from typing import Any

__all__ = ["keras_at"]


def keras_at(attr: str, floatx: str | None = None, **kwargs: Any) -> Any:
    """``keras.optimizers.<attr>(**kwargs)`` built under ``floatx`` (None: keras's current one),
    over ``keras.Variable``s of the params' dtypes, stepped by a jitted ``stateless_apply``."""
    from ..interop.keras import keras_on_jax, keras_optimizer
    from .keras_base import resolve_floatx
    keras = keras_on_jax()
    if not hasattr(keras.optimizers, attr):
        raise ValueError(f"keras.optimizers has no optimizer {attr!r}")
    return keras_optimizer(getattr(keras.optimizers, attr), floatx=resolve_floatx(floatx), **kwargs)
