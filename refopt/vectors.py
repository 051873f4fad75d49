"""Test vectors: every rule and flavor, step by step, as JSON files any implementation can
replay. ``python -m refopt.vectors OUT_DIR`` writes them; ``load(path)`` reads one back.

One file per optimizer setting: every registered rule (``refopt.RULES``) with its example
and a few non-default settings (unit-interval hyperparameters at 0.5, eps at 1e-3, weight
decay at 0.1, each flag flipped), and every flavor example (``refopt.flavors.EXAMPLES``).
A file holds the format name and version, the optimizer (a rule name, or a framework name
such as ``torch.optim.Adam``), the constructor arguments (``null`` for a rule built from
other rules, such as ``partition``: its registered example is meant), a rule's
hyperparameters, the initial params, the gradient sequence (``mixed_gradients``: dense,
mostly-zero and spiking steps, seed 0), and the params and state after every step.

Numbers are float64 written by ``repr``, so each decimal reads back as the same double, and
everything is deterministic: the directory regenerates byte for byte. An array is
``{"__ndarray__": shape, "dtype": ..., "data": [flat, row-major]}``; NaN and infinities, in
arrays and as numbers (Prodigy's ``growth_rate=inf``), are the strings ``"nan"``, ``"inf"``,
``"-inf"``; a state is ``{"__state__": type name,
"fields": {...}}``; tuples are lists. Hyperparameters are constants: schedules cannot be
serialized, so a rule whose example uses one gets no vector for it.
"""
from __future__ import annotations

import inspect
import json
import sys
from pathlib import Path
from typing import Any, Callable

import numpy as np

from . import flavors
from .core import UNIT, Optimizer
from .oracle.streams import mixed_gradients
from .registry import RULES
from .vectors_format import decode, encode

FORMAT = "refopt-test-vector"
VERSION = 1
STEPS = 10
SEED = 0
SHAPES = {"w": (3, 2), "b": (3,)}
MATRIX_SHAPES = {"w": (4, 3), "v": (2, 5)}
# Shampoo's, SOAP's and PSGD Kron's vectors pass through LAPACK (eigh, QR, triangular solves),
# whose last bits change with the BLAS kernel (OPENBLAS_CORETYPE) and the LAPACK build: they
# regenerate and replay to this relative difference, not bit for bit. Shampoo's are above the
# rounding bound derived from the statistics' conditioning (tests/rules/shampoo_rounding.py;
# tests/rules/test_shampoo.py checks the bound of every Shampoo vector against it). SOAP's and
# Kron's are measured: OpenBLAS's Haswell and SkylakeX kernels on one AVX-512 machine give
# vectors 7.5e-16 (soap), 5.0e-16 (pytorch_optimizer.SOAP) and 5.5e-18 (psgd_kron) apart; 1e-12
# allows a thousand times that. Every other vector: 0, bit for bit.
REPLAY_RTOL = {"shampoo": 1e-8, "pytorch_optimizer.Shampoo": 1e-10,
               "soap": 1e-12, "pytorch_optimizer.SOAP": 1e-12, "psgd_kron": 1e-12}

__all__ = ["FORMAT", "VERSION", "REPLAY_RTOL", "settings", "generate", "write_all", "load", "build",
           "recheck", "difference"]


# --- what gets a vector -------------------------------------------------------------------

def _arguments(opt: Optimizer, factory: Callable) -> dict | None:
    """``opt``'s hyperparameters as arguments of ``factory``, if they rebuild it exactly."""
    names = inspect.signature(factory).parameters
    args = {k: v for k, v in opt.hyperparams.items() if k in names}
    if any(callable(v) for v in args.values()):
        return None
    try:
        same = dict(factory(**args).hyperparams) == dict(opt.hyperparams)
    except (TypeError, ValueError):
        return None
    return args if same else None


def _variants(info: Any, base: dict) -> list[tuple[str, dict]]:
    """A few non-default settings: unit-interval hyperparameters at 0.5, every eps at 1e-3
    (where an eps sits shows most when it is large), weight decay at 0.1, each flag flipped."""
    bounds = info.factory(**base).bounds
    halved = {k: 0.5 for k, v in base.items() if bounds.get(k) == UNIT and v != 0.5}
    large_eps = {k: 1e-3 for k, v in base.items()
                 if k.startswith("eps") and isinstance(v, float) and v != 1e-3}
    decay = {k: 0.1 for k, v in base.items() if k == "weight_decay" and v != 0.1}
    out = [(label, {**base, **change}) for label, change in
           (("unit-half", halved), ("eps-1e-3", large_eps), ("decay-0.1", decay)) if change]
    out += [(f"{k}-{not v}".lower(), {**base, k: not v}) for k, v in base.items() if isinstance(v, bool)][:3]
    valid = []
    for label, args in out:
        try:
            info.factory(**args)
        except ValueError:
            continue  # an invalid combination (e.g. nesterov without momentum)
        valid.append((label, args))
    return valid


# rules whose step takes an input besides the gradients that a vector does not record
NOT_RECORDED = {"polyak_sgd": "its step takes the loss f(w_t), which a vector (params, grads, state) does not hold",
                "adopt": "its clipping bound is a function of t (t^(1/4) by default), which a vector's "
                         "JSON arguments cannot hold"}


def settings() -> list[tuple[str, str, str, dict, Callable[[], Optimizer]]]:
    """``(file stem, kind, optimizer, arguments, make)`` for every vector, in a fixed order."""
    out = []
    for name, info in RULES.items():
        if name in NOT_RECORDED:
            continue
        example = info.make_example()
        if any(callable(v) for v in example.hyperparams.values()):
            continue  # a schedule: no constant to write down
        base = _arguments(example, info.factory)
        if base is None:  # arguments that are not numbers (partition's rules): the example itself
            out.append((f"rule-{name}-example", "rule", name, None, info.make_example))
            continue
        out.append((f"rule-{name}-example", "rule", name, base, lambda f=info.factory, a=base: f(**a)))
        for label, args in _variants(info, base):
            out.append((f"rule-{name}-{label}", "rule", name, args, lambda f=info.factory, a=args: f(**a)))
    for qualname, factory in flavors.EXAMPLES.items():
        args = dict(getattr(factory, "keywords", {}))
        out.append((f"flavor-{qualname}", "flavor", qualname, args, factory))
    return out


def _shapes(kind: str, optimizer: str) -> dict:
    if kind == "rule" and RULES[optimizer].matrix_only:
        return MATRIX_SHAPES
    if kind == "flavor":
        module, attr = flavors.lookup(optimizer)
        return getattr(module, "SHAPES", {}).get(attr, SHAPES)
    return SHAPES


def generate(stem: str, kind: str, optimizer: str, arguments: dict, make: Callable[[], Optimizer]) -> dict:
    """One vector: ``STEPS`` steps of ``make()`` from seeded params and mixed gradients."""
    rng = np.random.default_rng(SEED)
    params = {k: rng.standard_normal(s) for k, s in _shapes(kind, optimizer).items()}
    grads = mixed_gradients(params, STEPS, seed=SEED + 1)
    opt = make()
    state = opt.init(params)
    steps, p = [], params
    for g in grads:
        p, state = opt.step(p, g, state)
        steps.append({"params": encode(p), "state": encode(state)})
    header = {"format": FORMAT, "version": VERSION, "name": stem, "kind": kind, "optimizer": optimizer,
              "arguments": encode(arguments)}
    if kind == "rule":  # the rule's own names and values (flavors hold schedules made from theirs)
        header["hyperparams"] = encode(dict(opt.hyperparams))
    return {**header, "dtype": "float64", "seed": SEED,
            "params": encode(params), "grads": [encode(g) for g in grads], "steps": steps}


def dumps(vector: dict) -> str:
    """JSON with one line per top-level entry and per gradient / step: diffs stay readable."""
    def one(x: Any) -> str:
        return json.dumps(x, allow_nan=False, separators=(", ", ": "))

    lines = []
    for key, value in vector.items():
        if key in ("grads", "steps"):
            items = ",\n".join(f"  {one(v)}" for v in value)
            lines.append(f" {one(key)}: [\n{items}\n ]")
        else:
            lines.append(f" {one(key)}: {one(value)}")
    return "{\n" + ",\n".join(lines) + "\n}\n"


def write_all(out_dir: str | Path) -> list[Path]:
    """Write every vector into ``out_dir`` (created if needed); returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for stem, kind, optimizer, arguments, make in settings():
        path = out / f"{stem}.json"
        path.write_text(dumps(generate(stem, kind, optimizer, arguments, make)), encoding="utf-8")
        paths.append(path)
    return paths


# --- reading and re-checking --------------------------------------------------------------

def load(path: str | Path) -> dict:
    """A vector with its arrays as NumPy arrays. The file is checked first
    (``refopt.vectors_format``): anything but a complete vector of this format and a known
    version, rule or flavor raises a ValueError naming the file."""
    from .vectors_format import read
    raw = read(path)
    return {**raw, "arguments": decode(raw["arguments"]), "params": decode(raw["params"]),
            "grads": [decode(g) for g in raw["grads"]],
            "steps": [{"params": decode(s["params"]), "state": decode(s["state"])} for s in raw["steps"]]}


def build(vector: dict) -> Optimizer:
    """The optimizer a vector was made with, from its recorded arguments (``None``: the
    rule's registered example, for a rule whose arguments are not numbers)."""
    if vector["kind"] == "rule" and vector["arguments"] is None:
        return RULES[vector["optimizer"]].make_example()
    if vector["kind"] == "rule":
        return RULES[vector["optimizer"]].factory(**vector["arguments"])
    if vector["optimizer"] not in flavors.EXAMPLES:  # a table, never an attribute walk by name
        raise ValueError(f"{vector['optimizer']!r} is not a framework optimizer refopt has a flavor of")
    return flavors.flavor(vector["optimizer"])(**vector["arguments"])


def _relative(a: np.ndarray, stored: np.ndarray) -> float:
    """max |a - stored| / max |stored| over finite entries; a NaN against a number (or a
    number against a NaN) is an infinite difference, as is an infinity against anything else."""
    a_nan, s_nan = np.isnan(a), np.isnan(stored)
    with np.errstate(invalid="ignore"):
        diff = np.where((a == stored) | (a_nan & s_nan), 0.0, np.abs(a - stored))
    diff = np.where(a_nan != s_nan, np.inf, diff)
    scale = float(np.max(np.abs(stored[np.isfinite(stored)]), initial=0.0))
    return float(np.max(diff, initial=0.0) / max(scale, 1e-300))


def _worst(ours: Any, stored: Any, path: str = "") -> float:
    """Largest normwise relative difference between two decoded trees; raises on a
    structural difference (another state type, a missing leaf, another step count)."""
    if isinstance(stored, np.ndarray):
        a = np.asarray(ours, dtype=np.float64)
        if a.shape != stored.shape:
            raise AssertionError(f"{path}: shape {a.shape} != {stored.shape}")
        return _relative(a, stored)
    if isinstance(stored, dict):
        if not isinstance(ours, dict) or set(ours) != set(stored):
            raise AssertionError(f"{path}: keys {sorted(ours) if isinstance(ours, dict) else ours!r} "
                                 f"!= {sorted(stored)}")
        return max((_worst(ours[k], v, f"{path}[{k!r}]") for k, v in stored.items()), default=0.0)
    if isinstance(stored, list):
        if not isinstance(ours, list) or len(ours) != len(stored):
            raise AssertionError(f"{path}: {ours!r} is not a list of {len(stored)}")
        return max((_worst(o, s, f"{path}[{i}]") for i, (o, s) in enumerate(zip(ours, stored))), default=0.0)
    if ours != stored:
        raise AssertionError(f"{path}: {ours!r} != {stored!r}")
    return 0.0


def recheck(vector: dict) -> float:
    """Replay a loaded vector with the current code; the worst relative difference of params
    and state over all steps (raises if the structure differs)."""
    if not vector["steps"] or len(vector["steps"]) != len(vector["grads"]):
        raise AssertionError(f"{vector['name']}: {len(vector['steps'])} steps for "
                             f"{len(vector['grads'])} gradients; a vector needs one step per gradient")
    opt = build(vector)
    p, state = vector["params"], opt.init(vector["params"])
    worst = 0.0
    for k, (g, stored) in enumerate(zip(vector["grads"], vector["steps"])):
        p, state = opt.step(p, g, state)
        ours = {"params": decode(encode(p)), "state": decode(encode(state))}
        worst = max(worst, _worst(ours, stored, f"{vector['name']} step {k + 1}"))
    return worst


def difference(a: dict, b: dict) -> float:
    """The worst relative difference between the steps of two loaded vectors of the same
    setting (raises if anything else differs: header, params, gradients, structure)."""
    for key in set(a) | set(b):
        if key != "steps" and _worst(a.get(key), b.get(key), key) != 0.0:
            raise AssertionError(f"{a['name']}: {key} differs")
    return _worst(a["steps"], b["steps"], f"{a['name']} steps")


def main(argv: list[str] | None = None) -> int:
    """``python -m refopt.vectors OUT_DIR``: write every vector into OUT_DIR. Exit 0 when
    written, 2 for a usage error (``--help`` exits 0 and writes nothing)."""
    import argparse   # here, not at the top: only the command needs it

    parser = argparse.ArgumentParser(prog="python -m refopt.vectors", allow_abbrev=False,
                                     description=(__doc__ or "").split("\n\n")[0].replace("``", ""))
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder for the JSON files (created if needed)")
    out = Path(parser.parse_args(sys.argv[1:] if argv is None else argv).out_dir)
    if out.exists() and not out.is_dir():
        parser.error(f"OUT_DIR {str(out)!r} exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        parser.error(f"cannot create OUT_DIR {str(out)!r}: {err.strerror or err}")
    paths = write_all(out)
    print(f"wrote {len(paths)} test vectors ({FORMAT} v{VERSION}, {STEPS} steps each) to {out}")
    return 0




if __name__ == "__main__":
    sys.exit(main())
