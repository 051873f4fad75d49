"""Every rule, with what a reader wants to know about it.

Each module in ``refopt/rules/`` declares ``INFO = RuleInfo(...)`` (or a tuple ``INFOS``) beside
its factory; this
module collects them into ``RULES`` (name -> RuleInfo), in the cheat sheet's order. Adding a
rule is adding a file: the conformance suite and the README table pick it up from here.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil

from .core import RuleInfo

__all__ = ["RuleInfo", "RULES"]

# The cheat sheet's order (seed notes, table lines 11-62); rules not in it come after.
CHEAT_SHEET_ORDER = (
    "sgd", "momentum", "nesterov", "nesterov_reformulated",
    "adagrad", "rmsprop", "adadelta",
    "adam", "adamw", "amsgrad", "adamax", "nadam", "radam", "yogi", "adabelief", "adafactor",
    "lars", "lamb", "lion", "adan", "sophia", "shampoo",
    "muon", "moonlight", "normuon", "reg", "mars_m",
)


def _collect() -> dict[str, RuleInfo]:
    from . import rules
    found = {}
    for mod in pkgutil.iter_modules(rules.__path__):
        module = importlib.import_module(f"{rules.__name__}.{mod.name}")
        infos = getattr(module, "INFOS", ()) + ((module.INFO,) if hasattr(module, "INFO") else ())
        for info in infos:
            found[info.name] = info
            _full_docstring(info.factory, module.__doc__)
    from . import combine  # partition and other combinators may register too
    for info in getattr(combine, "INFOS", ()):
        found[info.name] = info
    rank = {name: i for i, name in enumerate(CHEAT_SHEET_ORDER)}
    return dict(sorted(found.items(), key=lambda kv: (rank.get(kv[0], len(rank)), kv[0])))


def _full_docstring(factory, module_doc: str | None) -> None:
    """``help(refopt.adam)`` shows the factory's summary, then the rule file's docstring (the
    update, the argument table, the citation): the factory is what users hold, the file is where
    the formula is written once."""
    if module_doc and module_doc not in (factory.__doc__ or ""):
        factory.__doc__ = f"{inspect.cleandoc(factory.__doc__ or '')}\n\n{module_doc}"


RULES: dict[str, RuleInfo] = _collect()
