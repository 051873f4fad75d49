r"""optax and refopt, both directions: ``optax_transformation`` (an optax transformation as a refopt
pair, for the oracle) and ``transformation`` (a refopt rule as an optax ``GradientTransformation``).

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

from .. import tree
from . import Adapter, in_x64

__all__ = ["transformation", "State", "optax_transformation"]


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

    return Adapter(name, in_x64(init), in_x64(step))


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
