"""The site's generated pages, as Markdown, from the code and the committed report.

One source per fact: a rule page reads ``refopt.RULES`` (family, paper, equations, tolerances),
the rule file (docstring, update function, source), ``refopt.vectors`` (its test vectors) and
the analysis (its claims and figures); the ledger pages read ``docs/report/ledger.json``; the
getting-started page is the README's own sections. ``pages(root)`` returns every page
(site path -> text); scripts/docsite.py hands them to mkdocs at build time.
"""
from __future__ import annotations

import ast
import inspect
import json
import pkgutil
import re
from pathlib import Path

from docsite_code import side_by_side
from docsite_rst import math_block, rst_to_markdown, table_cell

__all__ = ["pages", "nav"]

README_SECTIONS = ("## Two commands", "## Example")
API_MODULES = ("refopt", "refopt.oracle", "refopt.vectors", "refopt.storage", "refopt.fast")


def plain(text: str) -> str:
    """Free text (a claim, a detail) with Markdown's and KaTeX's special characters escaped."""
    return re.sub(r"([\\`*_\[\]>$|#])", r"\\\1", text).replace("<", "&lt;")


def _analysis(root: Path):
    """Claims (id -> topic) and figures (topic -> names) the analysis registers, read from its
    modules' ``@claim("id", ...)`` and ``@figure("name")`` decorators (the topic is the module,
    as ``analysis.claim`` records it) without importing them: the site needs no scipy run."""
    topics: dict[str, str] = {}
    figures: dict[str, list[str]] = {}
    for path in sorted((root / "analysis").glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.args \
                    and isinstance(node.args[0], ast.Constant) and node.func.id in ("claim", "figure"):
                if node.func.id == "claim":
                    topics[node.args[0].value] = path.stem
                else:
                    figures.setdefault(path.stem, []).append(node.args[0].value)
    return topics, figures


def _images(names, report: Path, prefix: str, claims_of=None) -> str:
    """Each figure the analysis wrote, with a caption naming it (and the claims it shows)."""
    out = []
    for n in names:
        if (report / f"{n}.png").exists():
            about = f" (claims: {', '.join(claims_of[n])})" if claims_of and claims_of.get(n) else ""
            out.append(f"![{n}]({prefix}report/{n}.png)\n\n"
                       f"*Figure `{n}`{about}, from `docs/report/{n}.png`.*")
    return "\n\n".join(out)


def _aligned(equations: str) -> str:
    """The registry's equations, one a line, aligned at each line's first ``=``."""
    lines = [ln.replace(" = ", " &= ", 1) if " = " in ln else "& " + ln for ln in equations.splitlines()]
    return math_block(" \\\\\n".join(lines))


def _plain_but_code(text: str) -> str:
    """``plain`` for the text between backticks, the backticked parts kept as code spans."""
    parts = text.split("`")
    return "".join(f"`{p}`" if i % 2 else plain(p) for i, p in enumerate(parts))


def _conventions(tables: list[dict], name: str) -> list[str]:
    """The rule's convention tables (docs/conventions.json, measured by scripts/conventions.py),
    or why it has none (``refopt.conventions.NOT_SHIPPED``)."""
    from refopt.conventions import FRAMEWORKS, NOT_SHIPPED, STEPS
    lines = ["## Conventions: paper, torch, optax, keras", ""]
    mine = [t for t in tables if name in t["rules"]]
    if not mine:
        return lines + [f"torch 2.13, optax 0.2.8 and keras 3.15.1 ship no {name}: "
                        f"{plain(NOT_SHIPPED[name][1])}.", ""]
    for t in mine:
        lines += [f"### {plain(t['title'])}", "", f"Paper: {plain(t['paper'])}.", "",
                  "| aspect | paper | torch | optax | keras |", "|---|---|---|---|---|"]
        lines += ["| " + " | ".join(plain(row[k]) for k in ("aspect", "paper", *FRAMEWORKS)) + " |"
                  for row in t["rows"]]
        if t["measured"]:
            lines += ["", f"Measured over {STEPS} steps in float64 "
                      "([how](../conventions.md)):", "",
                      "| difference | where | max rel. params difference | first step parting > 1e-10 |",
                      "|---|---|---|---|"]
            lines += [f"| {_plain_but_code(m['difference'])} | {plain(m['where'])} | {m['size']} | "
                      f"{m['first_step'] or 'never'} |" for m in t["measured"]]
        if t["notes"]:
            lines += ["", plain(t["notes"])]
        lines += [""]
    return lines


def _vectors() -> dict[str, list[tuple[str, dict | None, str]]]:
    """Rule name -> (stem, arguments, JSON text) of each of its test vectors."""
    from refopt import vectors
    out: dict[str, list] = {}
    for stem, kind, optimizer, arguments, make in vectors.settings():
        if kind == "rule":
            text = vectors.dumps(vectors.generate(stem, kind, optimizer, arguments, make))
            out.setdefault(optimizer, []).append((stem, arguments, text))
    return out


def rule_page(name, info, ctx) -> str:
    module = inspect.getmodule(info.factory)
    path = Path(inspect.getsourcefile(module))
    rel = path.relative_to(ctx["root"]).as_posix()
    code, paired = side_by_side(module, info.factory)
    lines = ["---", "hide:", "  - toc", "---", "",  # the code beside the math needs the width
             f"# {name}", "",
             f"**{table_cell(info.hook)}** · {info.family} · {info.paper}"
             f" · {info.buffers} state buffer(s) per parameter"
             + (" · matrices only" if info.matrix_only else ""),
             "", "## Update", "", _aligned(info.equations), "",
             "## Code beside the math", "",
             f"`{rel}`, the update function, each line beside the equation of the docstring it computes "
             f"({paired} equation(s) placed; the rest are in the documentation below).", "", code, "",
             "## Documentation", "", f"::: {info.factory.__module__}.{info.factory.__name__}",
             "    options:", "      show_root_heading: true", "      heading_level: 3", "",
             rst_to_markdown(module.__doc__), ""]
    lines += _conventions(ctx["conventions"], name)
    panel = ctx["report"] / "gallery" / f"{name}.png"
    if panel.exists():
        lines += ["## On the gallery's test functions", "",
                  f"![{name} in the gallery](../report/gallery/{name}.png)", "",
                  "Its row of the [gallery](../report/gallery.png) (every rule): the lr with the best final "
                  "loss on the grid, each path from the dot; an x where a path leaves the frame.", ""]
    lines += ["## Checked against", ""]
    if info.checked_against:
        lines += ["| implementation | relative tolerance |", "|---|---|"]
        lines += [f"| `{impl}` | {tol:g} |" for impl, tol in info.checked_against.items()]
    else:
        lines += ["No independent implementation: checked by the conformance suite and its own tests only."]
    vecs = ctx["vectors"].get(name, [])
    lines += ["", "## Test vectors", ""]
    if vecs:
        lines += [f"{len(vecs)} vector(s), 10 float64 steps each "
                  "(`python -m refopt.vectors OUT_DIR` writes them):", "",
                  "| file | arguments |", "|---|---|"]
        lines += [f"| [{stem}.json](../vectors/{stem}.json) | {plain(json.dumps(args))} |"
                  for stem, args, _ in vecs]
    else:
        from refopt.vectors import NOT_RECORDED
        lines += [f"None: {plain(NOT_RECORDED.get(name, 'its example uses a schedule, which a vector cannot record'))}."]
    claims = [c for c in ctx["ledger"] if c["id"].split("-")[0] == name]
    claims_of: dict[str, list[str]] = {}
    for c in claims:
        for f in ctx["figures"].get(ctx["topics"].get(c["id"]), []):
            claims_of.setdefault(f, []).append(c["id"])
    if claims:
        lines += ["", "## In the analysis", ""]
        lines += [f"- [{c['id']}](../ledger/{c['id']}.md): {c['verdict']}" for c in claims]
        lines += ["", _images(claims_of, ctx["report"], "../", claims_of)]
    lines += ["", "## Source", "", f'??? note "{rel}"', "", "    ```python"]
    lines += ["    " + ln if ln else "" for ln in path.read_text().splitlines()]
    return "\n".join(lines + ["    ```", ""])


_ERRATUM = re.compile(r"cheat sheet\W(?:[^.]|\.(?=\d))*?"
                      r"\b(omits|wrong|writes|cites|mixes|undefined|never defined|puts|adds|no)\b")
_ABBREVIATIONS = ("i.e", "e.g", "al", "cf", "vs", "eq", "eqs", "sec", "fig", "approx")


def _sentence_end(text: str, start: int) -> int:
    """Where the sentence running at ``start`` ends: a full stop before a space and a word,
    unless it ends an abbreviation; or the text's end."""
    for m in re.finditer(r"\.(?=\s+\S|$)", text[start:]):
        word = re.search(r"[\w.]*$", text[:start + m.start()]).group(0).lower()
        if word not in _ABBREVIATIONS:
            return start + m.end()
    return len(text)


def _errata(doc: str) -> list[str]:
    """The sentences of a rule's docstring that record where the cheat sheet is wrong: in each
    prose paragraph (not a table or a formula), from the clause where "cheat sheet" stands to
    the end of its sentence."""
    found = []
    for para in re.split(r"\n\s*\n", doc or ""):
        if re.search(r"(?m)^\s*(=+\s|\.\. )", para) or para.startswith("    "):
            continue
        text = " ".join(para.split())
        for m in re.finditer(r"cheat sheet", text, re.I):
            start = max(text.rfind(mark, 0, m.start()) for mark in (". ", "; ", "* "))
            sentence = text[start + 2 if start >= 0 else 0:_sentence_end(text, m.end())]
            if _ERRATUM.search(sentence.lower()) and sentence not in found:
                found.append(sentence[0].upper() + sentence[1:])
    return found


def cheat_sheet(ctx) -> str:
    lines = ["# Cheat sheet", "", "Every rule in `refopt.RULES`, by family, with where the cheat sheet "
             "of the source notes is wrong (read from each rule's docstring) and the notes' claims the "
             "analysis found false.", ""]
    families: dict[str, list] = {}
    for name, info in ctx["rules"].items():
        families.setdefault(info.family, []).append((name, info))
    for family, members in families.items():
        lines += [f"## {family}", "", "| rule | hook | paper | state | checked against |",
                  "|---|---|---|---|---|"]
        errata = []
        for name, info in members:
            checked = ", ".join(f"`{k}` ({v:g})" for k, v in info.checked_against.items()) or "-"
            lines.append(f"| [{name}](rules/{name}.md) | {table_cell(info.hook)} | {table_cell(info.paper)} "
                         f"| {info.buffers} | {table_cell(checked)} |")
            doc = inspect.getmodule(info.factory).__doc__
            errata += [f"- **[{name}](rules/{name}.md)**: {rst_to_markdown(e)}" for e in _errata(doc)]
        if errata:
            lines += ["", "Errata found:", "", *dict.fromkeys(errata)]
        lines.append("")
    false = [c for c in ctx["ledger"] if c["verdict"] == "false"]
    lines += ["## Claims of the notes found false", ""]
    lines += [f"- [{c['id']}](ledger/{c['id']}.md) (notes line {c['source_line']}): {plain(c['statement'])}"
              for c in false]
    return "\n".join(lines + [""])


def ledger_pages(ctx) -> dict[str, str]:
    out = {"ledger/index.md": "\n".join(
        ["# Ledger", "", "Each checkable claim of the notes, checked numerically by `python -m analysis` "
         "(from `docs/report/ledger.json`, the committed full run).", "",
         "| claim | verdict | notes line | statement |", "|---|---|---|---|"]
        + [f"| [{c['id']}]({c['id']}.md) | {c['verdict']} | {c['source_line']} | {plain(c['statement'])} |"
           for c in ctx["ledger"]]) + "\n"}
    for c in ctx["ledger"]:
        bold = {k: "**" if k == c["key_figure"] else "" for k in c["figures"]}
        figs = "\n".join(f"| {bold[k]}{plain(k)}{bold[k]} | {v:.6g} |" for k, v in c["figures"].items())
        images = _images(ctx["figures"].get(ctx["topics"].get(c["id"]), []), ctx["report"], "../")
        out[f"ledger/{c['id']}.md"] = "\n".join([
            f"# {c['id']}", "", f"**Verdict: {c['verdict']}** · notes line {c['source_line']}", "",
            "## Statement", "", f"> {plain(c['statement'])}", "",
            "## What was found", "", plain(c["detail"]), "",
            *(["## Figure", "", images, ""] if images else []),
            "## Measured figures", "", "| figure | value |", "|---|---|", figs, ""])
    return out


def start_page(readme: str) -> str:
    """The README's two commands and example, as they stand there."""
    parts = re.split(r"(?m)^(?=## )", readme)
    chosen = [p.rstrip() for p in parts if p.startswith(README_SECTIONS)]
    return "\n\n".join(["# Getting started", "*These sections are README.md's own.*", *chosen]) + "\n"


def api_pages(root: Path) -> dict[str, str]:
    import refopt
    out = {}
    rules = set(refopt.RULES)
    members = "\n".join(f"        - {m}" for m in refopt.__all__ if m not in rules)
    table = "\n".join(f"| [`refopt.{n}`](../rules/{n}.md) | {table_cell(i.hook)} |"
                      for n, i in refopt.RULES.items())
    out["api/refopt.md"] = (f"# refopt\n\n::: refopt\n    options:\n      members:\n{members}\n\n"
                            f"## The rules\n\nEach rule factory is documented on its page.\n\n"
                            f"| factory | hook |\n|---|---|\n{table}\n")
    for mod in API_MODULES[1:]:
        out[f"api/{mod}.md"] = f"# {mod}\n\n::: {mod}\n"
    flavors = sorted(m.name for m in pkgutil.iter_modules([str(root / "refopt" / "flavors")]))
    out["api/refopt.flavors.md"] = ("# refopt.flavors\n\n::: refopt.flavors\n"
                                    "    options:\n      members: false\n")
    for name in flavors:
        out[f"api/flavors/{name}.md"] = f"# refopt.flavors.{name}\n\n::: refopt.flavors.{name}\n"
    return out


def context(root: Path) -> dict:
    import refopt
    topics, figures = _analysis(root)
    return {"root": root, "rules": refopt.RULES, "report": root / "docs" / "report",
            "ledger": json.loads((root / "docs" / "report" / "ledger.json").read_text()),
            "conventions": json.loads((root / "docs" / "conventions.json").read_text()),
            "topics": topics, "figures": figures, "vectors": _vectors()}


def pages(root: Path) -> tuple[dict[str, str], dict]:
    """Every generated page (site path -> Markdown, plus the vectors' JSON files) and the context."""
    ctx = context(root)
    out = {"start.md": start_page((root / "README.md").read_text()), "cheatsheet.md": cheat_sheet(ctx)}
    out.update({f"rules/{n}.md": rule_page(n, i, ctx) for n, i in ctx["rules"].items()})
    out.update(ledger_pages(ctx))
    out.update(api_pages(root))
    out.update({f"vectors/{stem}.json": text for vs in ctx["vectors"].values() for stem, _, text in vs})
    return out, ctx


def nav(generated: dict[str, str], ctx) -> list:
    """The site's navigation: hand-written pages, then the generated ones in the registry's order."""
    api = [p for p in generated if p.startswith("api/")]
    return [{"Home": "index.md"}, {"Getting started": "start.md"}, {"Cheat sheet": "cheatsheet.md"},
            {"Rules": [{n: f"rules/{n}.md"} for n in ctx["rules"]]},
            {"Ledger": ["ledger/index.md", *[{c["id"]: f"ledger/{c['id']}.md"} for c in ctx["ledger"]]]},
            {"Conventions": "conventions.md"},
            {"API reference": [{p[4:-3].replace("flavors/", "refopt.flavors."): p} for p in api]}]
