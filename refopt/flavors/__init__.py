"""Frameworks' optimizers as refopt optimizers: their names, defaults and conventions.

``refopt.flavors.torch.Adam(lr=..., betas=..., eps=..., weight_decay=..., amsgrad=...)``
gives the numbers of ``torch.optim.Adam``; ``refopt.flavors.optax.adam(learning_rate, ...)``
those of ``optax.adam``. A flavor is the canonical rule of ``refopt.rules`` with its
convention knobs set (eps inside the root, initial accumulator, threshold, ...), or, where
the framework's algorithm is not the paper's, a short rule of its own in the flavor module
that says why.

A flavor module (``torch``, ``optax``, ``keras``, ``pytorch_optimizer``, ``bitsandbytes``,
``torchao``, and the authors' packages ``prodigyopt``, ``dadaptation``, ``schedulefree``: each one that
exists is picked up here, so adding one needs no change elsewhere)
defines:

``PREFIX``
    the dotted namespace of the framework's optimizers, e.g. ``"torch.optim."``;
``EXAMPLES``
    qualified name (``PREFIX`` + attribute path, e.g. ``"optax.contrib.muon"``) -> a
    zero-argument ``functools.partial`` of the flavor, whose ``keywords`` are the framework
    arguments it sets (the test vectors record them);
``framework(attr, **kwargs)``
    the framework's own optimizer for ``attr`` (``"Adam"``, ``"contrib.muon"``) as an
    adapter of ``refopt.interop``; the framework is imported there, never at import;
``SHAPES`` (optional)
    attr -> params leaf shapes, for optimizers that take only some shapes (Muon: matrices);
``PERTURBATIONS`` (optional)
    perturbation name -> {attr: factory taking the framework arguments}: a deliberately
    wrong variant of the flavor, for ``python -m refopt.oracle --perturb``;
``precision(attr)`` (optional)
    ``(text, formula)``: where the framework computes ``attr`` below the params' dtype, as the
    flavor models it by default (torch's float32 scalar state, bfloat16 Newton-Schulz), and the
    flavor arguments that give the float64 formula instead (None if the modelled precision
    changes nothing); None where there is nothing to say. The oracle CLI prints both;
``NOT_MODELLED`` (optional)
    attr -> why the framework's optimizer of that name has no flavor (a wrapper that is not an
    update rule, a routing refopt.partition does, an algorithm not modelled yet); the CLI says
    it for that name, and tests/flavors/test_catalogue.py holds every optimizer the framework
    lists to a flavor or one of these;
``CLI_REFUSES`` (optional)
    attr -> why the oracle CLI cannot run a flavor that exists (torch's SparseAdam: sparse
    gradients only);
``RTOL`` (optional)
    attr -> the oracle's tolerance where the framework cannot agree to 1e-10 in float64
    (bfloat16 Newton-Schulz, an ill-conditioned default), with the measured gap in a comment.
"""
from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any, Callable

__all__ = ["EXAMPLES", "MODULES", "lookup", "flavor", "framework", "attr_of"]

_KNOWN = ("torch", "optax", "keras", "pytorch_optimizer", "bitsandbytes", "torchao", "prodigyopt",
          "dadaptation", "schedulefree")


def _modules() -> dict[str, ModuleType]:
    found = {}
    for name in _KNOWN:
        if importlib.util.find_spec(f"{__name__}.{name}") is not None:
            found[name] = importlib.import_module(f"{__name__}.{name}")
    return found


MODULES: dict[str, ModuleType] = _modules()
EXAMPLES: dict[str, Callable[[], Any]] = {
    qualname: factory for module in MODULES.values() for qualname, factory in module.EXAMPLES.items()}


def lookup(qualname: str) -> tuple[ModuleType, str]:
    """The flavor module and attribute path of a framework name such as ``torch.optim.Adam``."""
    for module in MODULES.values():
        if qualname.startswith(module.PREFIX):
            return module, qualname[len(module.PREFIX):]
    prefixes = ", ".join(m.PREFIX + "*" for m in MODULES.values())
    raise ValueError(f"no flavor module for {qualname!r}: known namespaces are {prefixes}")


def attr_of(module: ModuleType, attr: str) -> Any:
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"{module.PREFIX}{attr} has no refopt flavor in {module.__name__}")
        obj = getattr(obj, part)
    return obj


def flavor(qualname: str) -> Callable[..., Any]:
    """The flavor factory for a framework name: ``flavor("torch.optim.Adam")(lr=1e-3)``."""
    module, attr = lookup(qualname)
    return attr_of(module, attr)


def framework(qualname: str, **kwargs: Any) -> Any:
    """The framework's own optimizer, as an ``(init, step)`` adapter."""
    module, attr = lookup(qualname)
    return module.framework(attr, **kwargs)
