"""``python -m refopt.oracle NAME [--ARG VALUE ...] [options]``: a framework optimizer against
its refopt flavor.

Examples::

    python -m refopt.oracle torch.optim.Adam --lr 1e-3 --betas 0.9,0.99 --amsgrad true
    python -m refopt.oracle optax.adam --learning_rate=1e-3 --perturb eps-in-sqrt
    python -m refopt.oracle optax.contrib.muon --learning_rate 0.02 --steps 40
    python -m refopt.oracle keras.optimizers.Adam --learning_rate 1e-3 --perturb paper-eps
    python -m refopt.oracle --list

``NAME`` is the framework's own name in one of the namespaces of ``refopt.flavors`` (listed
below; ``--list`` prints every accepted name). Every ``--ARG VALUE`` (or ``--ARG=VALUE``) that
is not an option below is passed, under the same name, both to the framework optimizer and to
the flavor ``refopt.flavors.<framework>.<x>``. Values are read as ``true``/``false``/``none``,
integers, floats, comma-separated tuples (``0.9,0.99``) or strings; ``--ARG`` alone means
``true``.

The run is float64 over ``refopt.oracle.mixed_gradients``. Where the framework computes part
of the step below that (torch's float32 scalar state, bfloat16 Newton-Schulz, keras's float32
learning rate), the flavor does the same by default and a ``precision`` line says so; a last line
then gives how far the float64 formula (the flavor's precision knobs set to float64) is from the
framework: the precision's effect, apart from the flavor's agreement. Exit status: 0 when the two agree
to ``rtol``, 1 when they part, 2 for a usage error (an unknown name or argument, a bad
value, a framework that is not installed).
"""
from __future__ import annotations

import argparse
import inspect
import math
import sys
from typing import Any

import numpy as np

from .. import flavors, tree
from ..core import Optimizer
from .arguments import (OPTION_NAMES, Once, closest, parse_shapes, parse_value, rtol_value, seed_value,
                        split_argv, steps_value)
from .compare import compare
from .names import PROG, list_text, resolve
from .streams import mixed_gradients

DEFAULT_SHAPES = {"w": (5, 4), "b": (4,)}
INSTALL = 'pip install "refopt[oracle]"'
# the run keeps every gradient and both trajectories: 1e8 float64 values is ~2.4 GB in all
MAX_VALUES = 10**8


# --- the parser and its help ---------------------------------------------------------------

def plain(text: str) -> str:
    """reST as plain text: inline literals unquoted, ``Examples::`` as ``Examples:``."""
    return text.replace("``", "").replace("::\n", ":\n")


def _epilog() -> str:
    """What exists now: each flavor module's namespace and each perturbation with the
    optimizers it is defined for (from ``refopt.flavors.MODULES``)."""
    namespaces = ", ".join(m.PREFIX + "*" for m in flavors.MODULES.values())
    perturbations: dict[str, list[str]] = {}
    for module in flavors.MODULES.values():
        for name, table in getattr(module, "PERTURBATIONS", {}).items():
            perturbations.setdefault(name, []).extend(module.PREFIX + attr for attr in table)
    lines = [f"  {name}: {', '.join(names)}" for name, names in perturbations.items()]
    lines.append("  step-scale:F: any optimizer (every reference step multiplied by F)")
    return f"Namespaces: {namespaces}\nPerturbations:\n" + "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG, description=plain(__doc__ or ""), epilog=_epilog(), allow_abbrev=False,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        usage=f"{PROG} NAME [--ARG VALUE ...] [--steps N] [--seed S] [--rtol R] [--shapes SPEC] "
              "[--perturb P] | --list")
    parser.add_argument("name", nargs="?", metavar="NAME", help="e.g. torch.optim.Adam (see --list)")
    parser.add_argument("--list", action="store_true", help="print every accepted NAME and exit")
    parser.add_argument("--steps", type=steps_value, action=Once, metavar="N", help="steps (25)")
    parser.add_argument("--seed", type=seed_value, action=Once, metavar="S", help="random seed (0)")
    parser.add_argument("--rtol", type=rtol_value, action=Once, metavar="R",
                        help="relative tolerance (1e-10, or the flavor module's RTOL for NAME)")
    parser.add_argument("--shapes", type=parse_shapes, action=Once, metavar="SPEC",
                        help="params leaves, e.g. w=5x4,b=4")
    parser.add_argument("--perturb", action=Once, metavar="P",
                        help="run a deliberately wrong reference (see Perturbations)")
    return parser


def usage() -> str:
    return build_parser().format_help()


# --- framework arguments -------------------------------------------------------------------

def framework_kwargs(parser: argparse.ArgumentParser, extra: list[tuple[str, str]]) -> dict:
    kwargs: dict[str, Any] = {}
    for token, raw in extra:
        key = token[2:].replace("-", "_")
        if not key.isidentifier():
            parser.error(f"{token!r} is not --ARG with ARG a Python name")
        if key in kwargs:
            parser.error(f"argument {token}: given twice")
        kwargs[key] = parse_value(raw)
    return kwargs


def check_arguments(parser: argparse.ArgumentParser, name: str, factory: Any, kwargs: dict,
                    extra: tuple[str, ...] | None = None) -> None:
    """Every argument is one the flavor factory takes (else "did you mean", from its
    signature, ``extra`` (the names it takes through ``**kwargs``: the flavor module's
    ``extra_arguments``) and the CLI's options), and every required one is given."""
    params = inspect.signature(factory).parameters.values()
    named = [p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    named += list(extra or ())
    # without a list of what **kwargs takes, an unknown name is for the flavor to judge
    takes_more = extra is None and any(p.kind is p.VAR_KEYWORD for p in params)
    for key in kwargs:
        if key in named:
            continue
        close = closest(key, named + OPTION_NAMES)
        if takes_more and not close:
            continue    # for the flavor to judge (keras's base-optimizer arguments)
        hint = f"did you mean --{close}?" if close else "it takes " + ", ".join(f"--{n}" for n in named)
        parser.error(f"{name} takes no argument --{key} (in its refopt flavor); {hint}")
    for p in params:
        required = p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty
        if required and p.name not in kwargs:
            parser.error(f"{name} needs --{p.name}")


# --- the two sides -------------------------------------------------------------------------

def step_scaled(opt: Optimizer, factor: float) -> Optimizer:
    """``opt`` with every step ``w_t - w_{t-1}`` multiplied by ``factor``."""
    def step(params: Any, grads: Any, state: Any) -> tuple[Any, Any]:
        new, state = opt.step(params, grads, state)
        return tree.tree_map(lambda w, v: w + factor * (v - w), params, new), state

    return Optimizer(f"{opt.name}*{factor:g}", opt.init, step, opt.hyperparams, opt.bounds)


def _perturbed_factory(parser: argparse.ArgumentParser, module: Any, attr: str, factory: Any,
                       perturb: str) -> Any:
    if perturb.startswith("step-scale:"):
        factor = parse_value(perturb.split(":", 1)[1])
        if isinstance(factor, bool) or not isinstance(factor, (int, float)) or not math.isfinite(factor):
            parser.error(f"argument --perturb: step-scale:F needs a finite number F, got {perturb!r}")
        return lambda **kw: step_scaled(factory(**kw), float(factor))
    table = getattr(module, "PERTURBATIONS", {})
    if attr not in table.get(perturb, {}):
        known = sorted(k for k, v in table.items() if attr in v)
        parser.error(f"argument --perturb: {perturb!r} is not defined for {module.PREFIX}{attr}; "
                     f"defined: {', '.join(known + ['step-scale:F'])}")
    return table[perturb][attr]


def build_reference(parser: argparse.ArgumentParser, module: Any, attr: str, kwargs: dict,
                    perturb: str | None) -> Optimizer:
    """The flavor (perturbed if asked); a bad hyperparameter is a usage error naming it."""
    factory = flavors.attr_of(module, attr)
    if perturb is not None:
        factory = _perturbed_factory(parser, module, attr, factory, perturb)
    try:
        return factory(**kwargs)
    except (ValueError, TypeError) as err:
        parser.error(f"refopt flavor of {module.PREFIX}{attr}: {err}")


def build_candidate(parser: argparse.ArgumentParser, module: Any, attr: str, kwargs: dict) -> Any:
    """The framework's optimizer; a framework that is not installed names the extra."""
    try:
        return module.framework(attr, **kwargs)
    except ImportError as err:
        parser.error(f"{module.PREFIX}{attr} needs {err.name or 'its framework'}, which is not "
                     f"installed: {INSTALL}")
    except (ValueError, TypeError) as err:
        parser.error(f"{module.PREFIX}{attr}: {err}")


def call_text(name: str, kwargs: dict) -> str:
    return f"{name}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


# --- the command ---------------------------------------------------------------------------

def parse_args(argv: list[str], parser: argparse.ArgumentParser | None = None) -> tuple[str, dict, dict]:
    """``(name, framework kwargs, options)``; a usage error exits 2 (argparse's SystemExit)."""
    parser = parser or build_parser()
    ours, extra = split_argv(argv)
    args = parser.parse_args(ours)
    kwargs = framework_kwargs(parser, extra)
    if args.list and (args.name or kwargs):
        parser.error("--list takes no NAME or --ARG")
    if not args.list and args.name is None:
        parser.error("the following argument is required: NAME (see --list)")
    options = {"steps": 25 if args.steps is None else args.steps,
               "seed": 0 if args.seed is None else args.seed,
               "rtol": args.rtol, "shapes": args.shapes, "perturb": args.perturb, "list": args.list}
    return args.name, kwargs, options


def make_params(parser: argparse.ArgumentParser, module: Any, attr: str, options: dict,
                reference: Optimizer) -> dict:
    """The float64 params the run starts from (``--shapes``, else the module's ``SHAPES``
    for ``attr``, else w (5, 4) and b (4,)), checked by the flavor's ``init`` first (Muon
    takes matrices only): a shape it refuses is a usage error."""
    shapes = options["shapes"] or getattr(module, "SHAPES", {}).get(attr, DEFAULT_SHAPES)
    size = sum(math.prod(s) for s in shapes.values())
    if size * options["steps"] > MAX_VALUES:
        parser.error(f"--steps x params size is {size * options['steps']:.3g}; at most {MAX_VALUES:.0e}")
    rng = np.random.default_rng(options["seed"])
    params = {k: rng.standard_normal(s) for k, s in shapes.items()}
    try:
        reference.init(params)
    except (ValueError, TypeError) as err:
        parser.error(f"params {shapes}: {err}")
    return params


def main(argv: list[str] | None = None) -> int:
    """The command: 0 when the framework and the flavor agree, 1 when they part; argparse
    exits 2 for a usage error."""
    parser = build_parser()
    name, kwargs, options = parse_args(sys.argv[1:] if argv is None else argv, parser)
    if options["list"]:
        print(list_text())
        return 0
    module, attr, factory = resolve(parser, name)
    extra = getattr(module, "extra_arguments", None)
    check_arguments(parser, name, factory, kwargs, extra(attr) if extra else None)
    reference = build_reference(parser, module, attr, kwargs, options["perturb"])
    params = make_params(parser, module, attr, options, reference)
    candidate = build_candidate(parser, module, attr, kwargs)._replace(name=call_text(name, kwargs))
    ref_name = call_text(f"{flavors.__name__}.{module.__name__.rsplit('.', 1)[1]}.{attr}", kwargs)
    if options["perturb"]:
        ref_name += f"  PERTURBED: {options['perturb']}"
    own_rtol = getattr(module, "RTOL", {}).get(attr)
    rtol = options["rtol"] if options["rtol"] is not None else own_rtol or 1e-10
    grads = mixed_gradients(params, options["steps"], seed=options["seed"] + 1)
    report = compare(Optimizer(ref_name, reference.init, reference.step), candidate, params, grads, rtol=rtol)
    print(f"mixed gradients (dense, mostly-zero, spiking), seed {options['seed']}, float64, "
          f"params {', '.join(f'{k}{list(w.shape)}' for k, w in params.items())}")
    text, formula = precision_of(module, attr)
    print(f"precision: {text}")
    if options["rtol"] is None and own_rtol is not None:
        print(f"rtol {own_rtol:g} from {module.__name__}.RTOL: the framework computes part of it "
              f"in lower precision (see the comment there)")
    print(report)
    if formula is not None and not options["perturb"]:
        print(formula_line(module, attr, kwargs, formula, candidate, params, grads, report))
    return 0 if report.ok else 1


def precision_of(module: Any, attr: str) -> tuple[str, dict | None]:
    """The flavor module's ``precision(attr)``: what the framework computes below float64 (as the
    flavor models it) and the flavor arguments that give the float64 formula (None: no effect)."""
    found = getattr(module, "precision", lambda attr: None)(attr)
    return found or ("the framework computes in the params' dtype (float64) throughout", None)


def formula_line(module: Any, attr: str, kwargs: dict, formula: dict, candidate: Any, params: dict,
                 grads: list, report: Any) -> str:
    """How far the float64 formula is from the framework, beside the flavor's own distance."""
    exact = flavors.attr_of(module, attr)(**{**kwargs, **formula})
    far = compare(exact, candidate, params, grads, rtol=report.rtol).max_update_rel
    knobs = ", ".join(f"{k}={v!r}" for k, v in formula.items())
    return (f"precision effect: the float64 formula ({knobs}) is {far:.2e} from the framework's update "
            f"(max relative), the flavor {report.max_update_rel:.2e}")
