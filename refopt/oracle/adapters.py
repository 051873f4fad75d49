"""Other frameworks' optimizers as ``(init, step)`` pairs over NumPy arrays.

Both adapters take and return NumPy params trees, so a framework optimizer can be run by
``refopt.oracle.trajectory`` exactly as a refopt rule is. torch and optax are imported on
first use: refopt itself does not need them.
"""
from __future__ import annotations

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
