"""optax's own optimizers, run as optax's users run them, for comparison with the flavors.

``framework(attr, **kwargs)`` is the adapter ``refopt.flavors`` asks every flavor module for
(float64, x64 on in the calling thread only). ``as_users_run`` chooses JAX's x64 setting (off
is JAX's default: float32 params, float32 arithmetic) and optionally wraps the optimizer in
``optax.inject_hyperparams``, which turns numeric arguments into arrays (float64 ones with x64
on: optax then computes some scalars, Adafactor's decay power, in float64 instead of float32).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import tree

__all__ = ["framework", "as_users_run", "factory"]

# arguments inject_hyperparams must keep static (optax's alias_test does the same for Adafactor)
STATIC = {"adafactor": ("min_dim_size_to_factor",), "contrib.muon": ("ns_steps",)}


def factory(attr: str) -> Any:
    """``optax.<attr>`` (``attr`` may be ``contrib.muon``), or a ValueError naming it."""
    import optax

    obj: Any = optax
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"optax has no optimizer {attr!r}")
        obj = getattr(obj, part)
    return obj


def framework(attr: str, **kwargs: Any) -> Any:
    """``optax.<attr>(**kwargs)`` as a jitted adapter, built in ``jax.enable_x64(True)`` as it
    runs: optax canonicalises dtype arguments when built."""
    import jax

    from ..interop.optax import optax_transformation
    with jax.enable_x64(True):
        tx = factory(attr)(**kwargs)
    return optax_transformation(tx, name=f"optax.{attr}", jit=True)


def as_users_run(attr: str, *, x64: bool, inject: bool = False, **kwargs: Any) -> Any:
    """``optax.<attr>(**kwargs)`` (in ``optax.inject_hyperparams`` if ``inject``) built and run,
    jitted, with JAX's x64 flag set to ``x64`` in the calling thread only (``jax.enable_x64``).
    With x64 off JAX makes float64 input float32: pass float32 params."""
    import jax
    import jax.numpy as jnp
    import optax

    from ..interop import Adapter

    with jax.enable_x64(x64):
        make = factory(attr)
        if inject:
            make = optax.inject_hyperparams(make, static_args=STATIC.get(attr, ()))
        tx = make(**kwargs)

    @jax.jit
    def update(p: Any, g: Any, state: Any) -> tuple[Any, Any]:
        updates, state = tx.update(g, state, p)
        return optax.apply_updates(p, updates), state

    def to_jax(t: Any) -> Any:
        return tree.tree_map(lambda w: jnp.asarray(np.array(w)), t)

    def init(params: Any) -> Any:
        with jax.enable_x64(x64):
            return tx.init(to_jax(params))

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        with jax.enable_x64(x64):
            new, state = update(to_jax(params), to_jax(grads), state)
        return tree.tree_map(lambda w: np.asarray(w).copy(), new), state

    suffix = (" (inject_hyperparams)" if inject else "") + ("" if x64 else " (x64 off)")
    return Adapter(f"optax.{attr}{suffix}", init, step)
