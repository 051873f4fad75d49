r"""A refopt rule as an optax ``GradientTransformation``.

``tx = refopt.interop.optax.transformation(refopt.adam(lr=1e-3))`` is used as any optax
transformation (``tx.init(params)``, ``updates, state = tx.update(grads, state, params)``,
``optax.apply_updates``, inside ``optax.chain``), on pytrees of JAX arrays, and under ``jax.jit``.

**How it runs under jit.** The rule runs as itself, in NumPy on the host, called from inside the
traced function by ``jax.pure_callback`` with the params, gradients and state buffers; its result
comes back with the same shapes and dtypes (the rule keeps dtypes). So the numbers are the rule's
own, float32 for float32 params, and the hyperparameters are what refopt makes of them everywhere.

**The step count.** The state is ``State(count, buffers)``: ``count`` is an ``int32`` array (as
optax's own ``count``), the only leaf jit traces as a number; the callback turns it into the Python
int ``t`` the rule takes, so :math:`\beta^t` and the bias corrections are Python floats of an
exact integer, as in every refopt run. A float32 count would stop at :math:`2^{24}` (16777216 + 1
rounds back); an int32 one runs to :math:`2^{31}-1` (tests/interop/test_optax_transformation.py
steps past :math:`2^{24}` under jit).

``update`` needs ``params`` (refopt's rules step params, not gradients) and returns
``new_params - params`` as optax's updates; ``optax.apply_updates`` adds them back, which gives the
rule's params exactly where the step is at most the parameter's size (Sterbenz: the difference of
two floats within a factor 2 is exact) and to one rounding elsewhere.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["transformation", "State"]


class State(NamedTuple):
    count: Any     # int32 array: the rule's t
    buffers: Any   # the rule's state without t (a tuple of its fields)


def transformation(rule: Any) -> Any:
    """``rule`` (a refopt optimizer) as an ``optax.GradientTransformation`` (module docstring)."""
    import jax
    import jax.numpy as jnp
    import optax

    if not (callable(getattr(rule, "init", None)) and callable(getattr(rule, "step", None))):
        raise TypeError(f"rule must be a refopt optimizer (with init and step), got {type(rule).__name__}")
    kind: list[type] = []   # the rule's state class, known once init has run

    def init(params: Any) -> State:
        state = rule.init(jax.tree.map(np.asarray, params))
        kind[:] = [type(state)]
        return State(jnp.asarray(state.t, dtype=jnp.int32), jax.tree.map(jnp.asarray, tuple(state[1:])))

    def host_step(count: Any, params: Any, grads: Any, buffers: Any) -> tuple[Any, Any]:
        new, state = rule.step(params, grads, kind[0](int(count), *buffers))
        return new, tuple(state[1:])

    def update(updates: Any, state: State, params: Any = None) -> tuple[Any, State]:
        if params is None:
            raise ValueError("refopt.interop.optax.transformation: update needs params (refopt's rules "
                             "step the params); call tx.update(grads, state, params)")
        if not kind:
            raise ValueError("refopt.interop.optax.transformation: update before init")
        shapes = jax.tree.map(lambda x: jax.ShapeDtypeStruct(jnp.shape(x), jnp.result_type(x)),
                              (params, state.buffers))
        new, buffers = jax.pure_callback(host_step, shapes, state.count, params, updates, state.buffers)
        return jax.tree.map(jnp.subtract, new, params), State(state.count + 1, buffers)

    return optax.GradientTransformation(init, update)
