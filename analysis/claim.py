"""A claim of the notes, and the verdict a numerical check returns for it."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

VERDICTS = ("holds", "conditional", "false")


@dataclass(frozen=True)
class Verdict:
    """``verdict`` is one of VERDICTS. ``figures`` are the measured numbers (name -> float),
    ``key`` names the one the ledger table shows, ``detail`` says what was found: the
    condition for ``conditional``, the counterexample or correct statement for ``false``."""
    verdict: str
    figures: dict[str, float]
    key: str
    detail: str

    def __post_init__(self):
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict must be one of {VERDICTS}, got {self.verdict!r}")
        if self.key not in self.figures:
            raise ValueError(f"key figure {self.key!r} is not among the figures")


@dataclass(frozen=True)
class Claim:
    """``check(quick)`` runs the real refopt rules and returns a Verdict; ``quick`` asks
    for the CI-sized version."""
    id: str
    statement: str
    source_line: int
    check: Callable[[bool], Verdict]
    topic: str = ""


CLAIMS: list[Claim] = []
FIGURES: dict[str, Callable] = {}


def claim(id: str, statement: str, source_line: int):
    """Register the decorated ``check(quick) -> Verdict`` as a claim of its module's topic."""
    def register(check: Callable[[bool], Verdict]) -> Callable[[bool], Verdict]:
        topic = check.__module__.rsplit(".", 1)[-1]
        CLAIMS.append(Claim(id, statement, source_line, check, topic))
        return check
    return register


def figure(name: str):
    """Register ``make(quick, outdir) -> None``, which writes ``outdir/<name>.png`` with
    matplotlib (Agg backend) from runs of the real rules."""
    def register(make: Callable) -> Callable:
        if name in FIGURES:
            raise ValueError(f"figure {name!r} is registered twice")
        FIGURES[name] = make
        return make
    return register
