"""Reading the oracle's command line: option values (each an argparse type function, so a
bad value is argparse's usage error), the framework's ``--ARG VALUE`` tokens, and the
suggestion for a typo."""
from __future__ import annotations

import argparse
import difflib
import math
import re
from typing import Any

VALUE_OPTIONS = ("--steps", "--seed", "--rtol", "--shapes", "--perturb")
FLAG_OPTIONS = ("-h", "--help", "--list")
OPTION_NAMES = [o[2:] for o in VALUE_OPTIONS + FLAG_OPTIONS if o.startswith("--")]


# --- option values ---------------------------------------------------------------------------

def _integer(text: str, low: int, what: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be an integer {what}, got {text!r}") from None
    if value < low:
        raise argparse.ArgumentTypeError(f"must be an integer {what}, got {value}")
    return value


def steps_value(text: str) -> int:
    return _integer(text, 1, ">= 1")


def seed_value(text: str) -> int:
    return _integer(text, 0, ">= 0")


def rtol_value(text: str) -> float:
    """rtol must be finite and > 0: nan compares false (every step would "agree"), and 0
    or less asks for an agreement no two float computations give."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a finite number > 0, got {text!r}")
    return value


def parse_shapes(text: str) -> dict[str, tuple[int, ...]]:
    """``w=5x4,b=4`` -> ``{"w": (5, 4), "b": (4,)}``: named leaves, each dimension >= 1."""
    out: dict[str, tuple[int, ...]] = {}
    for item in text.split(","):
        key, eq, dims = item.partition("=")
        if not eq or not key:
            raise argparse.ArgumentTypeError(f"{item!r} is not NAME=DIMS (e.g. w=5x4,b=4)")
        if not re.fullmatch(r"[1-9][0-9]*(x[1-9][0-9]*)*", dims):
            raise argparse.ArgumentTypeError(f"{item!r}: dimensions must be integers >= 1 joined by x")
        if key in out:
            raise argparse.ArgumentTypeError(f"leaf {key!r} given twice")
        out[key] = tuple(int(d) for d in dims.split("x"))
    return out


def parse_value(text: str) -> Any:
    """A framework argument's value: bool, None, int, float, tuple or the string itself."""
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


class Once(argparse.Action):
    """Store the value, refusing a second occurrence (argparse's default keeps the last)."""

    def __call__(self, parser: Any, namespace: Any, values: Any, option_string: Any = None) -> None:
        if getattr(namespace, self.dest) is not None:
            raise argparse.ArgumentError(self, "given twice")
        setattr(namespace, self.dest, values)


# --- typos ---------------------------------------------------------------------------------

def _edits(a: str, b: str) -> int:
    """Edits (insert, delete, replace, swap of neighbours) from ``a`` to ``b``: the optimal
    string alignment distance, so ``Adma`` is one swap from ``Adam``."""
    rows = [list(range(len(b) + 1))]
    for i, x in enumerate(a, 1):
        row = [i]
        for j, y in enumerate(b, 1):
            row.append(min(rows[-1][j] + 1, row[j - 1] + 1, rows[-1][j - 1] + (x != y)))
            if i > 1 and j > 1 and x == b[j - 2] and a[i - 2] == y:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


def closest(word: str, choices: list[str]) -> str | None:
    """The choice a typo most likely meant: among difflib's close matches, the fewest edits
    (difflib alone ranks ``Adamax`` above ``Adam`` for ``Adma``)."""
    close = difflib.get_close_matches(word, choices, n=5, cutoff=0.6)
    return min(close, key=lambda c: _edits(word.lower(), c.lower()), default=None)


# --- the framework's arguments ---------------------------------------------------------------

def split_argv(argv: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """``(tokens for argparse, [(--ARG token, raw value)])``. The options and NAME go to
    argparse; every other ``--ARG`` takes the next token as its value unless that token
    starts with ``--`` (then the value is ``true``)."""
    ours: list[str] = []
    extra: list[tuple[str, str]] = []
    i = 0
    while i < len(argv):
        token = argv[i]
        head, eq, value = token.partition("=")
        i += 1
        if head in VALUE_OPTIONS + FLAG_OPTIONS or not token.startswith("--"):
            ours.append(token)
            if head in VALUE_OPTIONS and not eq and i < len(argv):
                ours.append(argv[i])
                i += 1
        elif eq:
            extra.append((head, value))
        elif i < len(argv) and not argv[i].startswith("--"):
            extra.append((token, argv[i]))
            i += 1
        else:
            extra.append((token, "true"))
    return ours, extra
