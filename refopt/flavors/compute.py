"""A framework that computes in one dtype whatever the params': bitsandbytes' and torchao's low-bit
optimizers read ``p.float()`` and ``g.float()``, step in float32 with float32 state, and write the
result back into the parameter in its own dtype.

``computed_in(opt, "float32")`` is ``opt`` run that way: params and gradients cast to float32, the
state kept in float32, the new params cast back (exact: every float32 number is a float64 one). On
float32 params it is ``opt`` itself. ``computed_in(opt, None)`` is ``opt``: the params' dtype, the
formula without the framework's float32 roundings.
"""
from __future__ import annotations

from typing import Any

from .. import tree
from ..backend import array_namespace
from ..core import Optimizer

__all__ = ["computed_in", "COMPUTE_DTYPES"]

COMPUTE_DTYPES = ("float32", None)


def _cast(x: Any, like: Any) -> Any:
    xp = array_namespace(like)
    return xp.astype(x, like.dtype) if x.dtype != like.dtype else x


def computed_in(opt: Optimizer, dtype: str | None) -> Optimizer:
    """``opt`` computing in ``dtype`` (module docstring); ``dtype`` is "float32" or None."""
    if dtype not in COMPUTE_DTYPES:
        raise ValueError(f"compute_dtype must be 'float32' (the library's) or None (the params' dtype), got {dtype!r}")
    if dtype is None:
        return opt

    def down(t: Any) -> Any:
        return tree.tree_map(lambda x: array_namespace(x).astype(x, array_namespace(x).float32), t)

    def init(params: Any) -> Any:
        return opt.init(down(params))

    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        new, state = opt.step(down(params), down(grads), state)
        return tree.tree_map(_cast, new, params), state

    return Optimizer(opt.name, init, step, opt.hyperparams, opt.bounds)
