"""Other frameworks' optimizers as ``(init, step)`` pairs over NumPy arrays.

Each adapter takes and returns NumPy params trees, so a framework optimizer can be run by
``refopt.oracle.trajectory`` exactly as a refopt rule is. torch, optax and keras are imported
on first use: refopt itself does not need them.
"""
from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Any, Iterator, NamedTuple

import numpy as np

from .. import tree


class Adapter(NamedTuple):
    name: str
    init: Any
    step: Any


@contextmanager
def _torch_default_dtype(leaves: list) -> Iterator[None]:
    """torch keeps scalar state (step counts, NAdam's mu_product) in its default dtype,
    float32 unless changed: while a float64 run steps, make float64 the default, so the
    framework computes in the precision it is compared in."""
    import torch
    old = torch.get_default_dtype()
    wanted = leaves[0].dtype if leaves and leaves[0].dtype in (torch.float32, torch.float64) else old
    torch.set_default_dtype(wanted)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


def torch_optimizer(cls: Any, **kwargs: Any) -> Adapter:
    """A ``torch.optim.Optimizer`` subclass (torch's own or pytorch-optimizer's), built
    with ``kwargs`` over float tensors made from the params' NumPy leaves. While it runs,
    torch's default dtype is the params' (see ``_torch_default_dtype``)."""
    import torch

    def init(params: Any) -> Any:
        spec = tree.structure(params)
        leaves = [torch.nn.Parameter(torch.tensor(np.array(w))) for _, w in tree.leaves_with_paths(params)]
        with _torch_default_dtype(leaves):
            return spec, leaves, cls(leaves, **kwargs)

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        spec, leaves, opt = state
        for p, g in zip(leaves, tree.leaves_like(spec, grads, "grads")):
            p.grad = torch.tensor(np.array(g))
        with _torch_default_dtype(leaves):
            opt.step()
        return tree.unflatten(spec, [p.detach().numpy().copy() for p in leaves]), state

    return Adapter(f"{cls.__module__}.{cls.__name__}", init, step)


def optax_transformation(tx: Any, name: str = "optax", jit: bool = False) -> Adapter:
    """An ``optax.GradientTransformation``; x64 is switched on so float64 stays float64.
    ``jit=True`` compiles the update and its application once (much faster over many steps;
    XLA may fuse a multiply-add, so results can differ from eager ones in the last bit)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp
    import optax

    def to_jax(t: Any) -> Any:
        return tree.tree_map(lambda w: jnp.asarray(np.array(w)), t)

    def update(p: Any, g: Any, state: Any) -> tuple[Any, Any]:
        updates, state = tx.update(g, state, p)
        return optax.apply_updates(p, updates), state

    run = jax.jit(update) if jit else update

    def init(params: Any) -> Any:
        return tx.init(to_jax(params))

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        new, state = run(to_jax(params), to_jax(grads), state)
        return tree.tree_map(lambda w: np.asarray(w).copy(), new), state

    return Adapter(name, init, step)


def keras_on_jax() -> Any:
    """The ``keras`` module on the JAX backend with x64 on (``KERAS_BACKEND`` is set to
    ``jax`` only if unset; a keras already imported on another backend is refused)."""
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import jax
    jax.config.update("jax_enable_x64", True)
    import keras
    if keras.backend.backend() != "jax":
        raise ValueError(f"the keras oracle runs on the JAX backend, not {keras.backend.backend()!r}")
    return keras


def keras_optimizer(cls: Any, **kwargs: Any) -> Adapter:
    """A ``keras.optimizers.Optimizer`` subclass, ``cls(**kwargs)``, over ``keras.Variable``s
    made from the params' NumPy leaves, stepped by a jitted ``stateless_apply`` (Keras's pure
    update: the same ``update_step`` code, run once traced instead of op by op). floatx is the
    params' dtype while it is built, so the learning-rate variable and NAdam's ``u_product``
    carry the same precision. Runs on the JAX backend with x64 (``keras_on_jax``)."""
    keras = keras_on_jax()
    import jax

    def init(params: Any) -> Any:
        spec = tree.structure(params)
        leaves = [np.asarray(w) for _, w in tree.leaves_with_paths(params)]
        old = keras.config.floatx()
        keras.config.set_floatx(str(leaves[0].dtype) if leaves else old)
        try:
            variables = [keras.Variable(w, dtype=str(w.dtype)) for w in leaves]
            opt = cls(**kwargs)
            opt.build(variables)
        finally:
            keras.config.set_floatx(old)
        return spec, jax.jit(opt.stateless_apply), [v.value for v in opt.variables]

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        spec, apply, opt_vars = state
        ws = [np.asarray(w) for w in tree.leaves_like(spec, params, "params")]
        gs = [np.asarray(g) for g in tree.leaves_like(spec, grads, "grads")]
        new, opt_vars = apply(opt_vars, gs, ws)
        return tree.unflatten(spec, [np.asarray(w).copy() for w in new]), (spec, apply, opt_vars)

    return Adapter(f"keras.optimizers.{cls.__name__}", init, step)
