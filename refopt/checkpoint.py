"""Save and load optimizer state as ``.npz``: the same bits back, no pickle, no code run.

The file holds each array under a numbered member (``a0``, ``a1``, ...) and one JSON
document, ``__state__``, the *layout*: ``{"format": "refopt-state", "version": 1, "root": node}``
where a node is one of

- ``{"state": "module:qualname", "fields": [node, ...]}``: a state NamedTuple, ``t`` first;
- ``{"dict": [[key, node], ...]}``: keys are JSON strings or integers, kept as they were;
- ``{"list": [...]}``, ``{"tuple": [...]}``;
- ``{"value": v}``: ``None``, a bool, an int or a str; ``{"float": repr}``: a Python float;
- ``{"array": i, "dtype": name}``: member ``a{i}``, a NumPy scalar included (it comes back
  as a 0-d array); bfloat16 and FP8 are stored as raw bits (``checkpoint_format``).

Reading a file never imports or looks up anything it names. A state type is found in an
explicit table of refopt's own state classes (``state_types()``): every rule module's, the
flavor modules', ``PartitionState``, whatever a wrapper adds with ``register_state``, and the
names under which a class lived before it moved between refopt's modules (``MOVED``).
Anything else in a file, and any damage, raises ``CheckpointError`` naming the file.
"""
from __future__ import annotations

import importlib
import importlib.util
import json
import os
import sys
import tempfile
from typing import Any

import numpy as np
from array_api_compat import is_array_api_obj

from .checkpoint_format import BIT_DTYPES, NATIVE_DTYPES, CheckpointError, Members, to_host, to_library

__all__ = ["save_state", "load_state", "register_state", "state_types", "CheckpointError"]

FORMAT, VERSION = "refopt-state", 1
MAX_DEPTH = 64  # a refopt state nests a handful of levels; a file nesting deeper is refused
_REGISTERED: dict[str, type] = {}


def _type_name(cls: type) -> str:
    return f"{cls.__module__}:{cls.__qualname__}"


def _is_state_class(obj: Any) -> bool:
    return isinstance(obj, type) and issubclass(obj, tuple) and getattr(obj, "_fields", ())[:1] == ("t",)


def register_state(cls: type) -> type:
    """Let ``load_state`` rebuild ``cls`` (a NamedTuple whose first field is the step count
    ``t``), for state classes defined outside ``refopt.rules`` and ``refopt.flavors`` (a
    wrapper's quantized state). Returns ``cls``, so it works as a class decorator."""
    if not _is_state_class(cls):
        raise TypeError(f"register_state: {cls!r} is not a NamedTuple whose first field is t")
    _REGISTERED[_type_name(cls)] = cls
    return cls


def state_types() -> dict[str, type]:
    """``"module:qualname" -> class`` for every state class a checkpoint may hold.

    Built from modules refopt itself has imported (the registry imports every rule module,
    ``refopt.flavors`` its flavor modules and their helpers, ``refopt.storage`` where present; any
    module under ``refopt.`` that is imported counts), never from a name in a file."""
    from . import combine, flavors, registry  # noqa: F401 (they import the modules scanned below)
    for optional in ("refopt.storage",):  # wrappers whose states a checkpoint may hold
        if importlib.util.find_spec(optional) is not None:
            importlib.import_module(optional)
    modules = [m for name, m in sorted(sys.modules.items())
               if name.startswith("refopt.") and m is not None]
    table = {_type_name(combine.PartitionState): combine.PartitionState}
    for module in modules:
        for obj in vars(module).values():
            if _is_state_class(obj) and obj.__module__ == module.__name__:
                table[_type_name(obj)] = obj
    moved = {old: table[new] for old, new in MOVED.items() if new in table}
    return {**moved, **table, **_REGISTERED}


# State classes that moved between refopt's modules (same fields), so that a checkpoint saved
# before the move still loads: old "module:qualname" -> the current one. optax's Yogi state became
# the canonical rule's (the flavor is refopt.yogi with optax's settings; fields t, m, s both).
MOVED = {
    **{f"refopt.flavors.optax:{c}": f"refopt.flavors.optax_rules:{c}"
       for c in ("AdafactorState", "AdanState", "AmsgradState", "LarsState", "RmspropState")},
    "refopt.flavors.optax:YogiState": "refopt.rules.yogi:YogiState",
    "refopt.flavors.optax_rules:YogiState": "refopt.rules.yogi:YogiState",
    "refopt.flavors.keras:AdamaxState": "refopt.flavors.keras_rules:AdamaxState",
    **{f"refopt.flavors.torch:{c}": f"refopt.flavors.torch_rules:{c}"
       for c in ("DampenedMomentumState", "TorchAdafactorState", "TorchNAdamState")},
    "refopt.flavors.torch:TorchMuonState": "refopt.flavors.torch_muon:TorchMuonState",
    "refopt.flavors.torch_rules:TorchMuonState": "refopt.flavors.torch_muon:TorchMuonState",
}


# --- saving ------------------------------------------------------------------------------

def _check_t(t: Any, where: str) -> None:
    if isinstance(t, bool) or not isinstance(t, int) or t < 0:
        raise TypeError(f"{where}.t is {t!r}; the step count must be a non-negative int")


def _encode(x: Any, arrays: list, table: dict, path: str) -> dict:
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        name = _type_name(type(x))
        if table.get(name) is not type(x):
            raise TypeError(f"save_state: {path} is a {name}, not a refopt state class "
                            f"(a wrapper's own state needs refopt.checkpoint.register_state)")
        _check_t(x[0], f"save_state: {path}")
        return {"state": name, "fields": [_encode(v, arrays, table, f"{path}.{f}")
                                          for f, v in zip(x._fields, x)]}
    if isinstance(x, dict):
        for k in x:
            if isinstance(k, bool) or not isinstance(k, (str, int)):
                raise TypeError(f"save_state: {path} has a key {k!r} of type {type(k).__name__}; "
                                f"state dict keys must be str or int")
        return {"dict": [[k, _encode(v, arrays, table, f"{path}[{k!r}]")] for k, v in x.items()]}
    if isinstance(x, (list, tuple)):
        kind = "tuple" if isinstance(x, tuple) else "list"
        return {kind: [_encode(v, arrays, table, f"{path}[{i}]") for i, v in enumerate(x)]}
    if isinstance(x, np.generic) or is_array_api_obj(x):  # before float: np.float64 is a float
        host, dtype = to_host(x, path)
        arrays.append(host)
        return {"array": len(arrays) - 1, "dtype": dtype}
    if x is None or isinstance(x, (bool, int, str)):
        return {"value": x}
    if isinstance(x, float):
        return {"float": repr(x)}  # repr round-trips a float64 exactly
    raise TypeError(f"save_state: {path} is a {type(x).__name__}, which a checkpoint cannot hold")


def save_state(path: str | os.PathLike, state: Any) -> None:
    """Write ``state`` (any refopt state, on any array library) to ``path`` as ``.npz``.

    Everything is encoded before the file is touched, and the file is written under a
    temporary name and renamed: a state that cannot be saved leaves no file behind."""
    arrays: list = []
    doc = json.dumps({"format": FORMAT, "version": VERSION,
                      "root": _encode(state, arrays, state_types(), "state")}, allow_nan=False)
    members = {"__state__": np.frombuffer(doc.encode(), dtype=np.uint8),
               **{f"a{i}": a for i, a in enumerate(arrays)}}
    path = os.fspath(path)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(os.path.abspath(path)), suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **members)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


# --- loading -----------------------------------------------------------------------------

class _Decoder:
    """Turns a parsed layout into a state, checking every node; arrays come from ``members``."""

    def __init__(self, members: Members, table: dict, like: Any, target: Any):
        self.members, self.table, self.used = members, table, set()
        self.like, self.target = like, target

    def node(self, x: Any, where: str, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise self.members.error(f"the layout nests deeper than {MAX_DEPTH} levels at {where}")
        if not isinstance(x, dict) or not x:
            raise self.members.error(f"layout node {where} is {str(x)[:60]!r}, not a node")
        kind = next((k for k, keys in _KINDS.items() if set(x) == keys), None)
        if kind is None:  # a fixed table of handlers: no name from the file is looked up
            raise self.members.error(f"layout node {where} has keys {sorted(x)[:8]}, not a node kind")
        return _HANDLERS[kind](self, x, where, depth + 1)

    def _items(self, x: dict, kind: str, where: str, depth: int) -> list:
        if not isinstance(x[kind], list):
            raise self.members.error(f"layout node {where}: a {kind} needs a list")
        return [self.node(v, f"{where}[{i}]", depth) for i, v in enumerate(x[kind])]

    def _list(self, x: dict, where: str, depth: int) -> list:
        return self._items(x, "list", where, depth)

    def _tuple(self, x: dict, where: str, depth: int) -> tuple:
        return tuple(self._items(x, "tuple", where, depth))

    def _dict(self, x: dict, where: str, depth: int) -> dict:
        out: dict = {}
        for item in x["dict"] if isinstance(x["dict"], list) else [None]:
            if not (isinstance(item, list) and len(item) == 2) or isinstance(item[0], bool) \
                    or not isinstance(item[0], (str, int)) or item[0] in out:
                raise self.members.error(f"layout node {where}: a dict entry must be a unique "
                                         f"[str or int key, node] pair, got {str(item)[:60]}")
            out[item[0]] = self.node(item[1], f"{where}[{item[0]!r}]", depth)
        return out

    def _value(self, x: dict, where: str, depth: int) -> Any:
        v = x["value"]
        if v is not None and not isinstance(v, (bool, int, str)):
            raise self.members.error(f"layout node {where}: a value must be null, bool, int or str")
        return v

    def _float(self, x: dict, where: str, depth: int) -> float:
        s = x["float"]
        try:
            if isinstance(s, str) and repr(float(s)) == s:
                return float(s)
        except ValueError:
            pass
        raise self.members.error(f"layout node {where}: {str(s)[:40]!r} is not a float's repr")

    def _state(self, x: dict, where: str, depth: int) -> tuple:
        name, fields = x["state"], x["fields"]
        cls = self.table.get(name) if isinstance(name, str) else None
        if cls is None:
            raise self.members.error(f"state type {str(name)[:120]!r} at {where} is not one of "
                                     f"refopt's state classes")
        if not isinstance(fields, list) or len(fields) != len(cls._fields):
            got = len(fields) if isinstance(fields, list) else type(fields).__name__
            raise self.members.error(f"{name} at {where} needs {len(cls._fields)} fields, got {got}")
        values = [self.node(v, f"{where}.{f}", depth) for f, v in zip(cls._fields, fields)]
        t = values[0]
        if isinstance(t, bool) or not isinstance(t, int) or t < 0:
            raise self.members.error(f"{name} at {where} has t = {t!r}, not a non-negative int")
        return cls(*values)

    def _array(self, x: dict, where: str, depth: int) -> Any:
        i, dtype = x["array"], x["dtype"]
        member = f"a{i}" if isinstance(i, int) and not isinstance(i, bool) and i >= 0 else None
        if member is None or member not in self.members.names() or member in self.used:
            raise self.members.error(f"layout node {where} refers to array {str(i)[:20]!r}, which is "
                                     f"{'used twice' if member in self.used else 'not in the file'}")
        stored = BIT_DTYPES.get(dtype, dtype) if isinstance(dtype, str) else None
        if stored not in NATIVE_DTYPES or self.members.dtype(member) != np.dtype(stored):
            raise self.members.error(f"member {member} holds {self.members.dtype(member)}, but the "
                                     f"layout at {where} says {str(dtype)[:30]!r}")
        if self.like is not None and self.target is None:
            raise TypeError(f"load_state: like= has no array leaf to take a library from: {self.like!r}")
        self.used.add(member)
        try:
            return to_library(self.members.read(member), dtype, self.target)
        except TypeError as err:
            raise TypeError(f"load_state: {self.members.path}: {where}: {err}") from None


_KINDS = {"state": {"state", "fields"}, "dict": {"dict"}, "list": {"list"}, "tuple": {"tuple"},
          "value": {"value"}, "float": {"float"}, "array": {"array", "dtype"}}
_HANDLERS = {"state": _Decoder._state, "dict": _Decoder._dict, "list": _Decoder._list,
             "tuple": _Decoder._tuple, "value": _Decoder._value, "float": _Decoder._float,
             "array": _Decoder._array}


def _first_array(x: Any, depth: int = 0) -> Any:
    if is_array_api_obj(x) or depth > MAX_DEPTH:
        return x if is_array_api_obj(x) else None
    children = x.values() if isinstance(x, dict) else x if isinstance(x, (list, tuple)) else ()
    return next((a for a in (_first_array(c, depth + 1) for c in children) if a is not None), None)


def _layout(members: Members) -> Any:
    if "__state__" not in members.names():
        raise members.error("no __state__ member: not a file save_state wrote")
    raw = members.read("__state__")
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise members.error(f"__state__ is {raw.dtype} of shape {raw.shape}, not JSON bytes")
    try:
        doc = json.loads(raw.tobytes().decode("utf-8"))
    except RecursionError:
        raise members.error("the layout nests too deeply to parse") from None
    except ValueError as err:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise members.error(f"the layout is not JSON ({err})") from None
    if not isinstance(doc, dict) or set(doc) != {"format", "version", "root"} \
            or doc["format"] != FORMAT or doc["version"] != VERSION or isinstance(doc["version"], bool):
        raise members.error(f"the layout is not a {FORMAT} v{VERSION} document")
    expected = {"__state__"} | {f"a{i}" for i in range(len(members.names()) - 1)}
    if members.names() != expected:
        extra = sorted(members.names() - expected)
        raise members.error(f"unexpected members {extra}: a checkpoint holds __state__, a0, a1, ...")
    return doc["root"]


def load_state(path: str | os.PathLike, like: Any = None) -> Any:
    """Read a state written by ``save_state``: the same types, values and bits.

    Arrays come back as NumPy arrays (a NumPy scalar as a 0-d array), or, with ``like`` (a
    state, a params tree or an array), in the library and on the device of like's first
    array, with dtype and bits unchanged. Raises ``CheckpointError`` (a ValueError naming
    the file) for anything that is not a checkpoint refopt wrote, before reading big arrays."""
    path = os.fspath(path)
    with open(path, "rb") as f:
        members = Members(path, f, os.fstat(f.fileno()).st_size)
        try:
            decoder = _Decoder(members, state_types(), like, _first_array(like))
            state = decoder.node(_layout(members), "state")
            if decoder.used != members.names() - {"__state__"}:
                unused = sorted(members.names() - decoder.used - {"__state__"})
                raise members.error(f"members {unused} are in no place of the layout")
        finally:
            members.close()
    return state
