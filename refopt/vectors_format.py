"""The test-vector codec (``encode``, ``decode``) and what ``refopt.vectors.load`` accepts: a
test-vector file is data, checked before it is used.

A file that is not JSON, is cut short, has another format or version, lacks its gradients or
steps, holds an array whose shape does not match its data, names a rule or a framework
optimizer refopt does not have, or passes an argument that is not a plain JSON value, raises a
``ValueError`` naming the file and the place. Names are looked up only in refopt's own tables
(``refopt.RULES`` and ``refopt.flavors.EXAMPLES``), never imported or walked as attributes.
"""
from __future__ import annotations

import inspect
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from . import flavors
from .registry import RULES

__all__ = ["encode", "decode", "read", "ARRAY_DTYPES", "MAX_DEPTH"]

ARRAY_DTYPES = frozenset({"float16", "float32", "float64"})
NON_FINITE = frozenset({"nan", "inf", "-inf"})
MAX_DEPTH = 32  # a vector nests a params tree inside a state: a few levels


def _number(x: float) -> float | str:
    return x if math.isfinite(x) else ("nan" if math.isnan(x) else ("inf" if x > 0 else "-inf"))



def encode(x: Any) -> Any:
    """A JSON-ready copy of a params tree or a state (see the module docstring)."""
    if hasattr(x, "_fields"):
        return {"__state__": type(x).__name__, "fields": {f: encode(getattr(x, f)) for f in x._fields}}
    if isinstance(x, dict):
        return {str(k): encode(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [encode(v) for v in x]
    if isinstance(x, (bool, int, str)) or x is None:
        return x
    if isinstance(x, float):
        return _number(x)
    a = np.asarray(x)
    return {"__ndarray__": list(a.shape), "dtype": str(a.dtype),
            "data": [_number(float(v)) for v in a.reshape(-1).tolist()]}


def decode(x: Any) -> Any:
    """Inverse of ``encode`` up to container types: arrays become NumPy arrays, a state a
    dict with ``__state__`` and its fields decoded, tuples lists."""
    if isinstance(x, dict) and "__ndarray__" in x:
        data = [float(v) for v in x["data"]]
        return np.array(data, dtype=x["dtype"]).reshape(x["__ndarray__"])
    if isinstance(x, dict) and "__state__" in x:
        return {"__state__": x["__state__"], **{k: decode(v) for k, v in x["fields"].items()}}
    if isinstance(x, dict):
        return {k: decode(v) for k, v in x.items()}
    if isinstance(x, list):
        return [decode(v) for v in x]
    if x in NON_FINITE:  # a non-finite float (no argument is one of these three strings)
        return float(x)
    return x


class _Bad(ValueError):
    pass


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _array(x: dict, where: str) -> None:
    if set(x) != {"__ndarray__", "dtype", "data"}:
        raise _Bad(f"{where}: an array has keys __ndarray__, dtype, data; got {sorted(x)}")
    shape, dtype, data = x["__ndarray__"], x["dtype"], x["data"]
    if not isinstance(shape, list) or not all(_is_int(n) and n >= 0 for n in shape):
        raise _Bad(f"{where}: shape {str(shape)[:40]} is not a list of non-negative ints")
    if dtype not in ARRAY_DTYPES:
        raise _Bad(f"{where}: dtype {str(dtype)[:20]!r} is not one of {sorted(ARRAY_DTYPES)}")
    if not isinstance(data, list) or len(data) != math.prod(shape):
        got = len(data) if isinstance(data, list) else type(data).__name__
        raise _Bad(f"{where}: shape {shape} needs {math.prod(shape)} numbers, data has {got}")
    for v in data:
        if isinstance(v, bool) or not (isinstance(v, (int, float)) or v in NON_FINITE):
            raise _Bad(f"{where}: data holds {str(v)[:20]!r}, not a number")


def _tree(x: Any, where: str, depth: int = 0) -> None:
    """A params tree or a state: dicts, lists, arrays, states, and plain values (a state's t)."""
    if depth > MAX_DEPTH:
        raise _Bad(f"{where}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(x, dict) and "__ndarray__" in x:
        _array(x, where)
    elif isinstance(x, dict) and "__state__" in x:
        if set(x) != {"__state__", "fields"} or not isinstance(x["__state__"], str) \
                or not isinstance(x["fields"], dict):
            raise _Bad(f"{where}: a state is {{'__state__': name, 'fields': {{...}}}}")
        for k, v in x["fields"].items():
            _tree(v, f"{where}.{k}", depth + 1)
    elif isinstance(x, dict):
        for k, v in x.items():
            _tree(v, f"{where}[{k!r}]", depth + 1)
    elif isinstance(x, list):
        for i, v in enumerate(x):
            _tree(v, f"{where}[{i}]", depth + 1)
    elif not (x is None or isinstance(x, (bool, int, float, str))):
        raise _Bad(f"{where}: {type(x).__name__} is not part of a vector")


def _plain(x: Any, where: str, depth: int = 0) -> None:
    """An argument: a JSON number, bool, string, null, or a list of those."""
    if isinstance(x, list) and depth < MAX_DEPTH:
        for i, v in enumerate(x):
            _plain(v, f"{where}[{i}]", depth + 1)
    elif not (x is None or isinstance(x, (bool, int, float, str))):
        raise _Bad(f"{where}: {str(x)[:40]} is not a number, bool, string, null or list")


def _optimizer(raw: dict) -> None:
    kind, name, args = raw["kind"], raw["optimizer"], raw["arguments"]
    if kind == "rule" and name in RULES:
        factory = RULES[name].factory
    elif kind == "flavor" and name in flavors.EXAMPLES:  # a table: never a walk over attributes
        factory = flavors.flavor(name)
    else:
        known = sorted(RULES) if kind == "rule" else sorted(flavors.EXAMPLES)
        raise _Bad(f"{kind} {str(name)[:60]!r} is not one refopt has (known: {', '.join(known[:6])}, ...)"
                   if kind in ("rule", "flavor") else f"kind {str(kind)[:20]!r} is not 'rule' or 'flavor'")
    if args is None and kind == "rule":
        return  # the rule's registered example
    if not isinstance(args, dict):
        raise _Bad("arguments must be an object of name -> value")
    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    for k, v in args.items():
        if k not in params and not takes_any:
            raise _Bad(f"arguments: {str(k)[:40]!r} is not an argument of {name}")
        _plain(v, f"arguments[{k!r}]")


def _check(raw: Any) -> None:
    if not isinstance(raw, dict):
        raise _Bad("not a JSON object")
    version = raw.get("version")
    from .vectors import FORMAT, VERSION
    if raw.get("format") != FORMAT or not _is_int(version) or not 1 <= version <= VERSION:
        raise _Bad(f"not a {FORMAT} file of version <= {VERSION} "
                   f"(format {repr(raw.get('format'))[:40]}, version {repr(version)[:20]})")
    needed = ("name", "kind", "optimizer", "arguments", "params", "grads", "steps")
    missing = [k for k in needed if k not in raw]
    if missing:
        raise _Bad(f"missing {', '.join(missing)}")
    grads, steps = raw["grads"], raw["steps"]
    if not isinstance(grads, list) or not isinstance(steps, list) or not steps or len(steps) != len(grads):
        count = {k: len(v) if isinstance(v, list) else type(v).__name__
                 for k, v in (("grads", grads), ("steps", steps))}
        raise _Bad(f"grads and steps must be lists of the same, non-zero length; got {count}")
    _optimizer(raw)
    _tree(raw["params"], "params")
    for i, g in enumerate(grads):
        _tree(g, f"grads[{i}]")
    for i, s in enumerate(steps):
        if not isinstance(s, dict) or set(s) != {"params", "state"}:
            raise _Bad(f"steps[{i}] must hold exactly params and state")
        _tree(s["params"], f"steps[{i}].params")
        _tree(s["state"], f"steps[{i}].state")
    if "hyperparams" in raw:
        _tree(raw["hyperparams"], "hyperparams")


def _refuse_constant(name: str) -> None:
    raise _Bad(f"{name} is not JSON (non-finite numbers are written as strings)")


def read(path: str | Path) -> dict:
    """The parsed and checked JSON of a vector file; ValueError naming the file otherwise."""
    try:
        raw = json.loads(Path(path).read_bytes().decode("utf-8"), parse_constant=_refuse_constant)
        _check(raw)
    except RecursionError:
        raise ValueError(f"{path}: nested too deeply to be a test vector") from None
    except _Bad as err:
        raise ValueError(f"{path}: {err}") from None
    except ValueError as err:  # JSONDecodeError (also a cut-off file), UnicodeDecodeError, huge ints
        raise ValueError(f"{path}: not a JSON test vector ({err})") from None
    return raw
