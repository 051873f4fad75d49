"""Run any ``(init, step)`` pair over a gradient sequence and keep every iterate."""
from __future__ import annotations

from typing import Any, Callable, Sequence


def trajectory(opt: Any, params: Any, grads: Sequence[Any] | Callable[[Any], Any],
               steps: int | None = None) -> list[Any]:
    """Params after each step. ``grads`` is a sequence of gradient trees, or a function
    of the current params (then ``steps`` says how many). ``opt`` needs only ``init``
    and ``step``: a refopt optimizer or an adapter from ``refopt.interop``."""
    state = opt.init(params)
    count = steps if callable(grads) else len(grads)
    out = []
    for k in range(count):
        g = grads(params) if callable(grads) else grads[k]
        params, state = opt.step(params, g, state)
        out.append(params)
    return out
