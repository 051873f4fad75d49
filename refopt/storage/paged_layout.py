r"""The on-disk format of a paged state (``refopt.storage.paged``): one Zarr v3 group per state.

Layout: attrs ``format``, ``version``, ``rule``, ``state`` (the NamedTuple's ``module:qualname``),
``t``, ``fields``, ``tree`` (the params' containers as JSON), ``paths``, ``buffers`` (per field,
which leaves have an array: a rule may keep ``()``); arrays ``params/<i>``, ``state/<field>/<i>``.
Each array is chunked along its first axis only (``chunks``), whole rows per chunk, so a chunk of
the params and the same chunk of every buffer cover the same entries. Everything the group says
about itself is JSON data in its attributes: the params' containers, the leaf paths, the step
count; reading it never imports or calls anything named there (the state class is looked up in
refopt's own registry of state types, ``refopt.checkpoint.state_types``).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import tree

__all__ = ["FORMAT", "VERSION", "Paged", "open_paged", "chunks", "encode", "decode", "new_group"]

FORMAT, VERSION = "refopt-paged", 1


def chunks(shape: tuple, dtype: np.dtype, entries: int | None, nbytes: int | None) -> tuple:
    """Chunks along the first axis: as many whole rows as fit in the chunk size."""
    if not shape:
        return ()
    per_chunk = entries if entries is not None else max(1, nbytes // dtype.itemsize)
    row = math.prod(shape[1:])
    return (max(1, min(shape[0], per_chunk // max(row, 1))),) + tuple(shape[1:])


def encode(spec: Any) -> Any:
    """The params' containers as JSON (``None`` marks a leaf); ``decode`` is its inverse."""
    if spec is None:
        return None
    if isinstance(spec, (list, tuple)):
        return {"list" if isinstance(spec, list) else "tuple": [encode(v) for v in spec]}
    if any(isinstance(k, bool) or not isinstance(k, (str, int)) for k in spec):
        raise TypeError(f"paged: params keys must be str or int, got {list(spec)[:8]}")
    return {"dict": [[k, encode(v)] for k, v in spec.items()]}


def decode(node: Any) -> Any:
    if node is None or "dict" in node:
        return None if node is None else {k: decode(v) for k, v in node["dict"]}
    return [decode(v) for v in node["list"]] if "list" in node else tuple(map(decode, node["tuple"]))


class Paged:
    """An open paged state: ``t``, ``rule``, and the params and buffers as trees of zarr arrays."""

    def __init__(self, group: Any):
        self.group = group
        a = dict(group.attrs)
        if a.get("format") != FORMAT or a.get("version") != VERSION:
            raise ValueError(f"paged: {group.store} is not a {FORMAT} v{VERSION} group")
        if a.get("in_progress") is not None:
            raise ValueError(f"paged: {group.store}: a write of step t = {a['in_progress']} was "
                             f"interrupted; its arrays may mix steps {a['t']} and {a['in_progress']}")
        self.t, self.rule, self.fields = a["t"], a["rule"], tuple(a["fields"])
        self.spec, self.paths, self.present = decode(a["tree"]), a["paths"], a["buffers"]

    def leaves(self, field: str | None = None) -> list:
        """Zarr arrays of the params (``field=None``) or of one buffer (``()`` where absent)."""
        if field is None:
            return [self.group[f"params/{i}"] for i in range(len(self.paths))]
        return [self.group[f"state/{field}/{i}"] if here else ()
                for i, here in enumerate(self.present[field])]

    def load(self) -> tuple[Any, Any]:
        """``(params, state)`` as NumPy arrays in memory: the rule's own state NamedTuple."""
        from ..checkpoint import state_types
        name, known = self.group.attrs["state"], state_types()
        if name not in known:
            raise ValueError(f"paged: {self.group.store}: state type {name!r} is not a refopt state")
        State = known[name]
        def read(leaves: list) -> Any:  # an absent buffer stays ()
            arrays = [a if isinstance(a, tuple) else np.asarray(a[...]) for a in leaves]
            return tree.unflatten(self.spec, arrays)
        params = read(self.leaves())
        cols = [read(self.leaves(f)) for f in self.fields]
        return params, State(self.t, *cols)


def open_paged(store: Any) -> Paged:
    """Open a paged state written by ``paged.create`` or ``paged.step`` (a path or a zarr store)."""
    import zarr
    return Paged(zarr.open_group(store, mode="r+"))


def new_group(store: Any, attrs: dict) -> Any:
    import zarr
    group = zarr.open_group(store, mode="w")
    group.attrs.update(attrs)
    return group
