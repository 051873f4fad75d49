"""Nested dict / list / tuple containers of arrays ("trees").

A rule's math is written for one array; these helpers lift it over a tree. Every error
names the leaf by its path, e.g. ``['layer1']['w']`` or ``[0]``, so a mismatch deep in a
model says where it is.
"""
from __future__ import annotations

from typing import Any, Callable, Iterator

__all__ = ["leaves_with_paths", "structure", "leaves_like", "unflatten", "tree_map", "fmt_path"]

ROOT = ""


def _is_node(x: Any) -> bool:
    return isinstance(x, (dict, list, tuple))


def _items(node: Any) -> list[tuple[Any, Any]]:
    if isinstance(node, dict):
        return list(node.items())
    return list(enumerate(node))


def fmt_path(path: str) -> str:
    """A printable leaf name: ``['a'][0]``, or ``<root>`` for a lone array."""
    return path or "<root>"


def _child_path(path: str, key: Any) -> str:
    return f"{path}[{key!r}]"


def leaves_with_paths(tree: Any, path: str = ROOT) -> Iterator[tuple[str, Any]]:
    """Yield ``(path, leaf)`` in a fixed order: dict insertion order, list/tuple order."""
    if not _is_node(tree):
        yield path, tree
        return
    for key, child in _items(tree):
        yield from leaves_with_paths(child, _child_path(path, key))


def structure(tree: Any) -> Any:
    """The tree with every leaf replaced by ``None``: what ``unflatten`` rebuilds from."""
    if not _is_node(tree):
        return None
    if isinstance(tree, dict):
        return {k: structure(v) for k, v in tree.items()}
    children = [structure(v) for v in tree]
    return _rebuild(tree, children)


def _rebuild(like: Any, children: list) -> Any:
    if isinstance(like, list):
        return children
    if hasattr(like, "_fields"):  # a NamedTuple keeps its type
        return type(like)(*children)
    return type(like)(children)


def leaves_like(spec: Any, tree: Any, what: str, path: str = ROOT) -> list:
    """Leaves of ``tree`` taken in the order of ``spec``'s leaves.

    Below a leaf of ``spec`` anything goes (a per-leaf state may itself be a tuple of
    arrays). Above it, ``tree`` must have the same containers and keys, otherwise a
    ``ValueError`` names the first path where they part.
    """
    if spec is None:
        return [tree]
    if not _is_node(tree) or isinstance(tree, dict) != isinstance(spec, dict):
        raise ValueError(f"{what}: expected a {type(spec).__name__} at {fmt_path(path)}, "
                         f"got {type(tree).__name__}")
    if isinstance(spec, dict):
        missing = [k for k in spec if k not in tree]
        extra = [k for k in tree if k not in spec]
        if missing:
            raise ValueError(f"{what}: leaf {fmt_path(_child_path(path, missing[0]))} is missing")
        if extra:
            raise ValueError(f"{what}: leaf {fmt_path(_child_path(path, extra[0]))} is not in params")
        pairs = [(k, tree[k]) for k in spec]
    else:
        if len(tree) != len(spec):
            raise ValueError(f"{what}: {fmt_path(path)} has {len(tree)} entries, params has {len(spec)}")
        pairs = list(enumerate(tree))
    out = []
    for (key, child), sub in zip(pairs, _items(spec)):
        out.extend(leaves_like(sub[1], child, what, _child_path(path, key)))
    return out


def unflatten(spec: Any, leaves: list) -> Any:
    """Inverse of ``leaves_like(spec, ...)``: put ``leaves`` back into ``spec``'s shape."""
    return _build(spec, iter(leaves))


def _build(node: Any, it: Any) -> Any:
    # a module function, not a closure over itself: a recursive closure is a reference cycle that
    # keeps the leaves (every array of a step) alive until the cycle collector runs
    if node is None:
        return next(it)
    if isinstance(node, dict):
        return {k: _build(v, it) for k, v in node.items()}
    return _rebuild(node, [_build(v, it) for v in node])


def tree_map(f: Callable, tree: Any, *rest: Any) -> Any:
    """Apply ``f`` leaf by leaf; ``rest`` must have ``tree``'s structure (up to its leaves)."""
    spec = structure(tree)
    columns = [leaves_like(spec, r, "tree_map") for r in rest]
    leaves = [leaf for _, leaf in leaves_with_paths(tree)]
    return unflatten(spec, [f(*args) for args in zip(leaves, *columns)])
