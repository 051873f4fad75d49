"""Save and load optimizer state as ``.npz``: the same bits back, and no pickle.

The file holds each array under a numbered key and one JSON document, ``__state__``,
that records the state's shape: NamedTuple types (by module and name, refopt's own only),
dicts, lists, tuples, Python numbers and where each array goes.
"""
from __future__ import annotations

import importlib
import json
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from .backend import to_numpy

__all__ = ["save_state", "load_state"]


def _encode(x: Any, arrays: list) -> Any:
    if hasattr(x, "_fields"):
        cls = type(x)
        return {"namedtuple": f"{cls.__module__}:{cls.__qualname__}",
                "fields": [_encode(v, arrays) for v in x]}
    if isinstance(x, dict):
        if not all(isinstance(k, str) for k in x):
            raise TypeError("save_state: dict keys in a state must be strings")
        return {"dict": {k: _encode(v, arrays) for k, v in x.items()}}
    if isinstance(x, (list, tuple)):
        return {type(x).__name__: [_encode(v, arrays) for v in x]}
    if x is None or isinstance(x, (bool, int, str)):
        return {"value": x}
    if isinstance(x, float):
        return {"float": repr(x)}  # repr round-trips a float64 exactly
    if is_array_api_obj(x):
        arrays.append(to_numpy(x))
        return {"array": len(arrays) - 1}
    raise TypeError(f"save_state: cannot store a {type(x).__name__}")


def _namedtuple(name: str) -> type:
    module, qualname = name.split(":")
    if module != "refopt" and not module.startswith("refopt."):
        raise ValueError(f"load_state: state type {name} is not one of refopt's")
    cls = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    return cls


def _decode(node: dict, arrays: Any) -> Any:
    if "namedtuple" in node:
        return _namedtuple(node["namedtuple"])(*[_decode(v, arrays) for v in node["fields"]])
    (kind, body), = node.items()
    if kind == "dict":
        return {k: _decode(v, arrays) for k, v in body.items()}
    if kind in ("list", "tuple"):
        items = [_decode(v, arrays) for v in body]
        return items if kind == "list" else tuple(items)
    if kind == "float":
        return float(body)
    if kind == "array":
        return arrays[f"a{body}"]
    return body


def save_state(path: str, state: Any) -> None:
    """Write ``state`` (any refopt state, on any backend) to ``path`` as ``.npz``."""
    arrays: list = []
    doc = json.dumps(_encode(state, arrays))
    meta = np.frombuffer(doc.encode(), dtype=np.uint8)
    with open(path, "wb") as f:
        np.savez(f, __state__=meta, **{f"a{i}": a for i, a in enumerate(arrays)})


def load_state(path: str) -> Any:
    """Read a state written by ``save_state``; arrays come back as NumPy arrays."""
    with np.load(path, allow_pickle=False) as data:
        doc = json.loads(data["__state__"].tobytes().decode())
        arrays = {k: data[k] for k in data.files if k != "__state__"}
    return _decode(doc, arrays)
