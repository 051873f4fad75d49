"""``python -m refopt.oracle NAME [--ARG VALUE ...] [options]``: a framework optimizer against
its refopt flavor.

::

    python -m refopt.oracle torch.optim.Adam --lr 1e-3 --betas 0.9,0.99 --amsgrad true
    python -m refopt.oracle optax.adam --learning_rate 1e-3 --perturb eps-in-sqrt
    python -m refopt.oracle optax.contrib.muon --learning_rate 0.02 --steps 40
    python -m refopt.oracle keras.optimizers.Adam --learning_rate 1e-3 --perturb paper-eps

``NAME`` is the framework's own name in one of the namespaces of ``refopt.flavors``
(``torch.optim.X``, ``optax.x``, ``optax.contrib.x``, ``keras.optimizers.X``; the usage
message lists them); every ``--ARG VALUE`` not listed below is passed, under the same name,
both to the framework optimizer and to the flavor ``refopt.flavors.<framework>.<x>``. Values
are read as ``true``/``false``/``none``, integers, floats, comma-separated tuples
(``0.9,0.99``) or strings; ``--ARG`` alone means ``true``.

Options: ``--steps N`` (25), ``--seed S`` (0), ``--rtol R`` (1e-10, or the flavor module's
``RTOL`` for the optimizer, e.g. torch's bfloat16 Muon), ``--shapes w=5x4,b=4``,
``--perturb P``: run a deliberately wrong reference, to see the report name where it parts.
``P`` is one of the flavor module's ``PERTURBATIONS`` (``eps-in-sqrt``, ``paper-threshold``,
``paper-eps``: the usage message lists each with its optimizers) or ``step-scale:F`` (every
reference step multiplied by F). The run is float64 over ``refopt.oracle.mixed_gradients``;
the exit status is 0 when the two agree to ``rtol`` and 1 when they part.
"""
from __future__ import annotations

import sys
from typing import Any

import numpy as np

from .. import flavors, tree
from ..core import Optimizer
from .compare import compare
from .streams import mixed_gradients

OPTIONS = {"steps": int, "seed": int, "rtol": float, "shapes": str, "perturb": str}
DEFAULT_SHAPES = {"w": (5, 4), "b": (4,)}


def usage() -> str:
    """The module docstring and what exists now: each flavor module's namespace and each
    perturbation with the optimizers it is defined for (from ``refopt.flavors.MODULES``)."""
    namespaces = ", ".join(m.PREFIX + "*" for m in flavors.MODULES.values())
    perturbations: dict[str, list[str]] = {}
    for module in flavors.MODULES.values():
        for name, table in getattr(module, "PERTURBATIONS", {}).items():
            perturbations.setdefault(name, []).extend(module.PREFIX + attr for attr in table)
    lines = [f"  {name}: {', '.join(names)}" for name, names in perturbations.items()]
    lines.append("  step-scale:F: any optimizer")
    return f"{__doc__}\nNamespaces: {namespaces}\nPerturbations:\n" + "\n".join(lines)


def parse_value(text: str) -> Any:
    low = text.lower()
    if low in ("true", "false"):
        return low == "true"
    if low == "none":
        return None
    if "," in text:
        return tuple(parse_value(part) for part in text.split(",") if part)
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_args(argv: list[str]) -> tuple[str, dict, dict]:
    """``(name, framework kwargs, options)``."""
    if not argv or argv[0].startswith("-"):
        raise SystemExit(usage())
    name, rest = argv[0], argv[1:]
    kwargs: dict[str, Any] = {}
    options: dict[str, Any] = {"steps": 25, "seed": 0, "rtol": None, "shapes": None, "perturb": None}
    i = 0
    while i < len(rest):
        key = rest[i]
        if not key.startswith("--") or len(key) < 3:
            raise SystemExit(f"expected --ARG, got {key!r}\n\n{usage()}")
        key = key[2:].replace("-", "_")
        has_value = i + 1 < len(rest) and not rest[i + 1].startswith("--")
        raw = rest[i + 1] if has_value else "true"
        i += 2 if has_value else 1
        if key in OPTIONS:
            options[key] = OPTIONS[key](raw)
        else:
            kwargs[key] = parse_value(raw)
    return name, kwargs, options


def parse_shapes(text: str) -> dict[str, tuple[int, ...]]:
    out = {}
    for item in text.split(","):
        key, _, dims = item.partition("=")
        out[key] = tuple(int(d) for d in dims.split("x") if d)
    return out


def step_scaled(opt: Optimizer, factor: float) -> Optimizer:
    """``opt`` with every step ``w_t - w_{t-1}`` multiplied by ``factor``."""
    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        new, state = opt.step(params, grads, state)
        return tree.tree_map(lambda w, v: w + factor * (v - w), params, new), state

    return Optimizer(f"{opt.name}*{factor:g}", opt.init, step, opt.hyperparams, opt.bounds)


def build_reference(module: Any, attr: str, kwargs: dict, perturb: str | None) -> Optimizer:
    if perturb is None:
        return flavors.attr_of(module, attr)(**kwargs)
    if perturb.startswith("step-scale:"):
        return step_scaled(flavors.attr_of(module, attr)(**kwargs), float(perturb.split(":", 1)[1]))
    table = getattr(module, "PERTURBATIONS", {}).get(perturb, {})
    if attr not in table:
        known = sorted(k for k, v in getattr(module, "PERTURBATIONS", {}).items() if attr in v)
        raise SystemExit(f"perturbation {perturb!r} is not defined for {module.PREFIX}{attr}; "
                         f"defined: {', '.join(known + ['step-scale:F'])}")
    return table[attr](**kwargs)


def call_text(name: str, kwargs: dict) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def main(argv: list[str] | None = None) -> int:
    name, kwargs, options = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        module, attr = flavors.lookup(name)
        reference = build_reference(module, attr, kwargs, options["perturb"])
    except ValueError as err:
        raise SystemExit(str(err))
    candidate = module.framework(attr, **kwargs)._replace(name=call_text(name, kwargs))
    ref_name = call_text(f"{flavors.__name__}.{module.__name__.rsplit('.', 1)[1]}.{attr}", kwargs)
    if options["perturb"]:
        ref_name += f"  PERTURBED: {options['perturb']}"
    reference = Optimizer(ref_name, reference.init, reference.step)
    shapes = (parse_shapes(options["shapes"]) if options["shapes"]
              else getattr(module, "SHAPES", {}).get(attr, DEFAULT_SHAPES))
    rng = np.random.default_rng(options["seed"])
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    grads = mixed_gradients(params, options["steps"], seed=options["seed"] + 1)
    own_rtol = getattr(module, "RTOL", {}).get(attr)
    rtol = options["rtol"] if options["rtol"] is not None else own_rtol or 1e-10
    report = compare(reference, candidate, params, grads, rtol=rtol)
    print(f"mixed gradients (dense, mostly-zero, spiking), seed {options['seed']}, float64, "
          f"params {', '.join(f'{k}{list(s)}' for k, s in shapes.items())}")
    if options["rtol"] is None and own_rtol is not None:
        print(f"rtol {own_rtol:g} from {module.__name__}.RTOL: the framework computes part of it "
              f"in lower precision (see the comment there)")
    print(report)
    return 0 if report.ok else 1
