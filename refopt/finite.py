"""``check_finite``: stop at the first NaN or infinity, in a gradient or in what ``step``
makes, and say where it appeared and, where it can be told, why.

Rules propagate NaN and infinity as the math does (DESIGN.md, "Errors and bad input"), so a
run that overflows goes on silently: Adam's ``s`` at infinity makes every later step of that
coordinate 0, and RMSProp's turns into NaN. The wrapper checks the gradients before a step
and the new params and every state buffer after it; the error names the rule, the leaf, the
buffer (``params`` or ``state.<field>``), the step and the entry, and two causes by name:

* a squared gradient above the dtype's maximum (``g*g`` overflows at ``|g| > 1.3e154`` in
  float64, ``1.8e19`` in float32), which leaves an infinity in the buffer that keeps it;
* ``0/0`` from ``eps = 0`` at a coordinate whose second-moment buffer is still 0 (its
  gradient has always been zero): Adam's ``m_hat / (sqrt(s_hat) + eps)`` is undefined there.

A squared gradient can also overflow inside a step and leave every buffer finite (Adam at
``|g| = 1e155`` in float64: ``s`` holds ``(1-beta2) g*g``, but ``s_hat`` is infinite, so the
step is 0); that too raises ``NonFiniteState``, where an entry with ``|g| > sqrt(max)`` did
not move. Not seen: such a lost step where decoupled weight decay still moves the entry
(AdamW), until the buffer itself overflows.
"""
from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from . import tree
from .backend import array_namespace, finfo, to_numpy

__all__ = ["NonFiniteGradient", "NonFiniteState", "check_finite"]

# Buffers named so hold the running mean (or sum, or maximum) of g*g; they are preferred
# when a 0/0 is explained. Any buffer of the leaf's shape that is 0 there would do.
SECOND_MOMENTS = ("s", "s_max", "v", "n", "nu", "h", "u")


class NonFiniteGradient(FloatingPointError):
    """Raised by ``check_finite`` at the first gradient with a NaN or an infinity."""


class NonFiniteState(FloatingPointError):
    """Raised by ``check_finite`` when, from finite gradients, ``step`` made a NaN or an
    infinity in the new params or in a state buffer."""


def _is_finite(x: Any) -> bool:
    if isinstance(x, (int, float)):  # a Python number as a leaf: the step will say it is no array
        return math.isfinite(x)
    xp = array_namespace(x)
    return bool(xp.all(xp.isfinite(x)))


def _leaf_path(prefix: str, key: Any) -> str:
    # partition keeps each rule's leaves in a flat dict keyed by the printed path: use it as is
    if not prefix and isinstance(key, str) and (key == "<root>" or key.startswith("[")):
        return "" if key == "<root>" else key
    return f"{prefix}[{key!r}]"


def _arrays(x: Any, path: str = "") -> list[tuple[str, Any]]:
    """``(path, array)`` for every array below ``x``, paths as ``tree`` writes them ("" is
    the root)."""
    if isinstance(x, dict):
        return [a for k, v in x.items() for a in _arrays(v, _leaf_path(path, k))]
    if isinstance(x, (list, tuple)):
        return [a for i, v in enumerate(x) for a in _arrays(v, f"{path}[{i}]")]
    return [(path, x)] if hasattr(x, "shape") else []


def _split(path: str, owners: list[str]) -> tuple[str, str]:
    """A buffer array's path as (its params leaf, printed; the rest): Adafactor's row factor
    of leaf ``['w']`` is at ``['w'][0]``, so it is ``state.v[0]`` of leaf ``['w']``."""
    mine = [o for o in owners if path.startswith(o)]
    owner = max(mine, key=len) if mine else path
    return tree.fmt_path(owner), path[len(owner):]


def _is_state(x: Any) -> bool:
    return hasattr(x, "_fields") and x._fields[:1] == ("t",)


def _buffers(state: Any, owners: list[str], name: str = "state") -> list[tuple[str, str, Any]]:
    """``(buffer name, leaf path, array)`` for every array of a state; the states inside a
    partition's ``inner`` are walked as states (``state.inner['matrix'].m``)."""
    out = []
    for f in state._fields[1:]:
        value = getattr(state, f)
        if isinstance(value, dict) and value and all(_is_state(v) for v in value.values()):
            for label, sub in value.items():
                out += _buffers(sub, owners, f"{name}.{f}[{label!r}]")
            continue
        for path, a in _arrays(value):
            leaf, rest = _split(path, owners)
            out.append((f"{name}.{f}{rest}", leaf, a))
    return out


def _first_bad(a: np.ndarray) -> tuple[tuple, str]:
    bad = np.argwhere(~np.isfinite(a))[0]
    value = a[tuple(bad)]
    return tuple(int(i) for i in bad), "nan" if np.isnan(value) else "inf"


def _host(x: Any) -> np.ndarray:
    return np.asarray(to_numpy(x), dtype=np.float64)


def _overflow(buffer: str, a: Any, g: Any, entry: tuple) -> str | None:
    """``state.s overflowed: ...`` when ``|g|**2`` exceeds the dtype's maximum."""
    if g is None or isinstance(g, (int, float)):
        return None
    host = np.abs(_host(g))
    # Python floats: at * at is inf past the maximum, without NumPy's warning
    at = float(host[entry] if host.shape == tuple(a.shape) else host.max(initial=0.0))
    top = float(finfo(a).max)
    if at * at <= top:
        return None
    dtype = str(a.dtype).removeprefix("torch.")
    return f"{buffer} overflowed: |g| = {at:.0e}, g*g exceeds the {dtype} maximum {top:.2g}"


def _zero_over_zero(opt: Any, bufs: list, path: str, w: Any, entry: tuple) -> str | None:
    """``0/0: eps = 0 and state.s is 0 at entry ...`` where that explains a NaN in params."""
    eps = [k for k, v in opt.hyperparams.items() if (k == "eps" or k.endswith(".eps")) and v == 0]
    zero = [name for name, p, a in bufs if p == path and tuple(a.shape) == tuple(w.shape)
            and _host(a)[entry] == 0]
    if not eps or not zero:
        return None
    rank = {n: i for i, n in enumerate(SECOND_MOMENTS)}
    buffer = min(zero, key=lambda n: rank.get(n.rsplit(".", 1)[-1], len(rank)))
    return (f"0/0: {eps[0]} = 0 and {buffer} is 0 at entry {entry} (a coordinate whose gradient "
            f"has always been zero); pass {eps[0]} > 0")


def _named(params: Any, state: Any, owners: list[str]) -> list[tuple[str, str, Any]]:
    """``(buffer, leaf, array)`` for every array of a state, then of params."""
    bufs = _buffers(state, owners) if _is_state(state) else []
    return bufs + [("params", tree.fmt_path(p), a) for p, a in _arrays(params)]


def _diagnose(opt: Any, before: list, grads_of: dict, bufs: list, buffer: str, path: str,
              a: Any, t: int) -> str:
    """The message for the first non-finite entry of ``a`` (``buffer`` leaf ``path``)."""
    entry, kind = _first_bad(_host(a))
    head = f"{opt.name}: {buffer} leaf {path} became {kind} at step {t}, entry {entry}"
    old = {(b, p): x for b, p, x in before}.get((buffer, path))
    if old is not None and not _is_finite(old):
        return f"{head}: it was already non-finite before the step"
    cause = _overflow(buffer, a, grads_of.get(path), entry) if buffer != "params" else \
        _zero_over_zero(opt, bufs, path, a, entry)
    return f"{head}: {cause or 'from finite gradients'}"


def _lost_step(name: str, params: Any, new_params: Any, grads_of: dict, t: int) -> str | None:
    """A step lost to an overflow that left no infinity behind: Adam's ``s`` holds
    ``(1-beta2) g*g`` finite at ``|g| = 1e155``, but ``s_hat = s / (1-beta2^t)`` inside the step
    is infinite, so the step is 0 while every buffer stays finite (for ~18 steps, until ``s``
    itself overflows). Flagged where ``|g| > sqrt(max)`` and that entry of params did not move."""
    for (path, w), (_, new) in zip(_arrays(params), _arrays(new_params)):
        g = grads_of.get(tree.fmt_path(path))
        if g is None or isinstance(g, (int, float)):
            continue
        top = float(finfo(w).max)
        big = np.abs(_host(g)) > math.sqrt(top)
        if not big.any():
            continue
        still = big & (_host(new) == _host(w))
        if still.any():
            entry = tuple(int(i) for i in np.argwhere(still)[0])
            at = float(np.abs(_host(g))[entry])
            dtype = str(w.dtype).removeprefix("torch.")
            return (f"{name}: params leaf {tree.fmt_path(path)} did not move at step {t}, entry "
                    f"{entry}, although |g| = {at:.0e}: g*g exceeds the {dtype} maximum {top:.2g} "
                    f"inside the step (a squared-gradient term overflowed), so the step was lost")
    return None


def _check_gradients(name: str, grads: Any, t: int) -> dict:
    grads_of = {}
    for path, g in tree.leaves_with_paths(grads):
        if not _is_finite(g):
            raise NonFiniteGradient(f"{name}: non-finite gradient in leaf {tree.fmt_path(path)} "
                                    f"at step {t}")
        grads_of[tree.fmt_path(path)] = g
    return grads_of


def check_finite(opt: Any) -> Any:
    """The same optimizer (its type, extra fields and methods such as Nesterov's
    ``look_ahead`` kept), but ``step`` raises ``NonFiniteGradient`` at the first non-finite
    gradient, and ``NonFiniteState`` when the new params or a state buffer hold a NaN or an
    infinity, naming the rule, leaf, buffer, step and entry, and the cause where known."""

    def step(params: Any, grads: Any, state: Any, **extra: Any) -> tuple[Any, Any]:
        t = state.t + 1 if isinstance(getattr(state, "t", None), int) else "?"
        grads_of = _check_gradients(opt.name, grads, t)
        new_params, new_state = opt.step(params, grads, state, **extra)
        owners = [p for p, _ in tree.leaves_with_paths(grads)]
        outputs = _named(new_params, new_state, owners)
        for buffer, path, a in outputs:
            if not _is_finite(a):
                bufs = [o for o in outputs if o[0] != "params"]
                raise NonFiniteState(_diagnose(opt, _named(params, state, owners), grads_of, bufs,
                                               buffer, path, a, t))
        lost = _lost_step(opt.name, params, new_params, grads_of, t)
        if lost:
            raise NonFiniteState(lost)
        return new_params, new_state

    return dataclasses.replace(opt, step=step)
