"""The NAMEs the oracle CLI accepts (each flavor module's ``__all__`` and ``EXAMPLES``), and
NAME to its flavor, or a usage error with the closest accepted name. Names are looked up in
refopt's own tables (``refopt.flavors.MODULES``), never imported."""
from __future__ import annotations

import argparse
from typing import Any

from .. import flavors
from .arguments import closest

PROG = "python -m refopt.oracle"


def _module_names(module: Any) -> list[str]:
    """The qualified names a flavor module accepts: its ``__all__`` (a namespace object such
    as optax's ``contrib`` contributes its public callables) and its ``EXAMPLES`` keys."""
    names = []
    for attr in getattr(module, "__all__", ()):
        obj = getattr(module, attr)
        if callable(obj):
            names.append(module.PREFIX + attr)
        else:
            names += [f"{module.PREFIX}{attr}.{k}" for k, v in vars(obj).items()
                      if not k.startswith("_") and callable(v)]
    names += [n for n in getattr(module, "EXAMPLES", {}) if n.startswith(module.PREFIX)]
    return list(dict.fromkeys(names))


def accepted_names() -> dict[str, list[str]]:
    """Every NAME the CLI accepts, grouped by namespace (the name up to its last dot)."""
    groups: dict[str, list[str]] = {}
    for module in flavors.MODULES.values():
        for name in _module_names(module):
            groups.setdefault(name.rsplit(".", 1)[0], []).append(name)
    return groups


def list_text() -> str:
    return "\n\n".join(f"# {space}.*\n" + "\n".join(names) for space, names in accepted_names().items())


def resolve(parser: argparse.ArgumentParser, name: str) -> tuple[Any, str, Any]:
    """``(flavor module, attribute path, flavor factory)`` for NAME, or a usage error with
    the closest accepted name."""
    names = [n for group in accepted_names().values() for n in group]
    if name in names:
        module, attr = flavors.lookup(name)
        if attr in getattr(module, "CLI_REFUSES", {}):
            parser.error(f"{name}: {module.CLI_REFUSES[attr]}")
        return module, attr, flavors.attr_of(module, attr)
    module = next((m for m in flavors.MODULES.values() if name.startswith(m.PREFIX)), None)
    why = getattr(module, "NOT_MODELLED", {}).get(name[len(module.PREFIX):]) if module else None
    if why:
        parser.error(f"no refopt flavor for {name!r}: {why}")
    # within a known namespace, match the part after it: the shared prefix would make every
    # name of the namespace look close (LBFGS is not a typo of SGD)
    prefix = next((m.PREFIX for m in flavors.MODULES.values() if name.startswith(m.PREFIX)), "")
    tails = [n[len(prefix):] for n in names if n.startswith(prefix)]
    close = closest(name[len(prefix):], tails)
    hint = f"did you mean {prefix}{close}?" if close else f"{PROG} --list prints every accepted name"
    spaces = ", ".join(m.PREFIX + "*" for m in flavors.MODULES.values())
    parser.error(f"no refopt flavor for {name!r} (known namespaces: {spaces}); {hint}")
