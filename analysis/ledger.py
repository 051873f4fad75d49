"""Run every claim and write the ledger: a table on stdout, report/ledger.json and .md."""
from __future__ import annotations

import difflib
import importlib
import json
import pkgutil
import sys
import time
from pathlib import Path

from . import parallel
from .claim import CLAIMS, FIGURES, Claim, Verdict

NOT_TOPICS = {"claim", "ledger", "parallel", "runs", "__main__"}


def load_topics() -> list[Claim]:
    import analysis
    for mod in pkgutil.iter_modules(analysis.__path__):
        if mod.name not in NOT_TOPICS:
            importlib.import_module(f"analysis.{mod.name}")
    return list(CLAIMS)


def unknown_only(only: str) -> str | None:
    """Why ``--only only`` selects nothing (it matches no claim id and no figure name, as a
    substring), naming the closest ids or, failing those, every valid one; None if it selects
    something."""
    ids = [c.id for c in load_topics()] + list(FIGURES)
    if any(only in name for name in ids):
        return None
    close = difflib.get_close_matches(only, ids, n=3, cutoff=0.5)
    listed = f"closest: {', '.join(close)}" if close else f"valid: {', '.join(ids)}"
    return f"--only {only!r} matches no claim id and no figure name; {listed}"


def summary(records: list[dict]) -> str:
    """The ledger in one sentence, as the README states it: "26 claims checked: 6 hold,
    13 hold only under a condition, 7 are false." """
    n = {v: sum(r["verdict"] == v for r in records) for v in ("holds", "conditional", "false")}

    def verb(count: int, one: str, many: str) -> str:
        return f"{count} {one if count == 1 else many}"

    return (f"{verb(len(records), 'claim', 'claims')} checked: {verb(n['holds'], 'holds', 'hold')}, "
            f"{verb(n['conditional'], 'holds', 'hold')} only under a condition, "
            f"{verb(n['false'], 'is', 'are')} false.")


def run(quick: bool, only: str | None, outdir: Path, ex) -> list[dict]:
    """Check the claims and draw the figures (those whose name contains ``only``) as groups
    on the executor ``ex`` (see ``analysis.parallel``); write outdir/ledger.json, ledger.md,
    the figures, and the wall times apart in outdir/timing.json, so that the rest is the
    same bytes on every run. Returns the records in ledger order."""
    claims = [c for c in load_topics() if only is None or only in c.id]
    figures = {n: f for n, f in FIGURES.items() if only is None or only in n}
    work = parallel.groups(claims, figures)
    before = _previous_seconds(outdir) or FIRST_RUN_SECONDS
    # longest first (as the last run measured them): the slowest group starts at once
    work.sort(key=lambda g: -sum(before.get(x, 0.0) for x in g[0] + tuple(f"figure {n}" for n in g[1])))
    start = time.perf_counter()
    futures = [ex.submit(parallel.run_group, quick, ids, names) for ids, names in work]
    done = parallel.Outcome()
    parallel.progress(0, len(claims), 0, len(figures), "")
    for future in ex.as_completed(futures):
        got = future.result()
        for part in ("records", "pngs", "parts", "seconds"):
            getattr(done, part).update(getattr(got, part))
        parallel.progress(len(done.records), len(claims), len(done.pngs), len(figures),
                          ", ".join(got.records)[:32])
    sys.stderr.write("\n")
    records = [done.records[c.id] for c in claims]
    write(records, outdir)
    for name in figures:
        (outdir / f"{name}.png").write_bytes(done.pngs[name])
    for folder in {Path(rel).parent for rel in done.parts}:  # a removed rule's panel goes too
        for old in (outdir / folder).glob("*.png"):
            old.unlink()
    for rel, data in done.parts.items():
        (outdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (outdir / rel).write_bytes(data)
    timing = {"workers": ex.workers, "wall_seconds": round(time.perf_counter() - start, 2),
              "seconds": {k: round(v, 2) for k, v in sorted(done.seconds.items())}}
    (outdir / TIMING).write_text(json.dumps(timing, indent=1) + "\n")
    return records


TIMING = "timing.json"
# A first run into a folder (a fresh clone has no timing.json) orders by these serial seconds
# (2026-12-08): in ledger order a first run took 125 s against the 94 s of the longest-first
# order on 2 cores. Only the order is read from them; later runs use their own.
FIRST_RUN_SECONDS = {"figure gallery": 41.4, "adopt-any-beta2": 40.4, "storage-divergence": 20.2,
                     "regret-exponents": 10.6, "storage-error-bound": 8.9, "reddi-counterexample": 7.9,
                     "reddi-phase": 7.1}


def _previous_seconds(outdir: Path) -> dict[str, float]:
    try:
        return json.loads((outdir / TIMING).read_text())["seconds"]
    except (OSError, ValueError, KeyError, TypeError):
        return {}


def _first_sentence(text: str) -> str:
    return text.strip().split(". ")[0].rstrip(".") + "."


def record(c: Claim, v: Verdict) -> dict:
    """The ledger's entry for claim ``c`` and its verdict (no timing: see ``run``)."""
    return {"id": c.id, "statement": c.statement, "source_line": c.source_line,
            "verdict": v.verdict, "figures": {k: float(x) for k, x in v.figures.items()},
            "key_figure": v.key, "detail": v.detail}


def cell(text: str) -> str:
    """``text`` for a Markdown table cell: in GitHub-flavoured tables a bare ``|`` ends the cell
    (|step|/lr split the adamax-step-bound row), so it is written ``\\|``."""
    return text.replace("|", "\\|")


def table(records: list[dict]) -> str:
    rows = ["| id | verdict | key figure | finding |", "|---|---|---|---|"]
    for r in records:
        key = f"{r['key_figure']} = {r['figures'][r['key_figure']]:.4g}"
        rows.append(f"| `{r['id']}` | {r['verdict']} | {cell(key)} | {cell(_first_sentence(r['detail']))} |")
    return "\n".join(rows)


def markdown(records: list[dict]) -> str:
    parts = ["# The analysis ledger", "", "Generated by `python -m analysis`; do not edit.", "",
             table(records), ""]
    for r in records:
        figures = ", ".join(f"{k} = {v:.6g}" for k, v in r["figures"].items())
        parts += [f"## `{r['id']}`: {r['verdict']}", "",
                  f"> {r['statement']} (notes, line {r['source_line']})", "",
                  r["detail"], "", f"Figures: {figures}", ""]
    return "\n".join(parts)


def write(records: list[dict], outdir: Path) -> None:
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "ledger.json").write_text(json.dumps(records, indent=1) + "\n")
    (outdir / "ledger.md").write_text(markdown(records))
