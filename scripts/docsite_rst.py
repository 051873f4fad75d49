"""The reST of refopt's docstrings as the Markdown the site renders, and a griffe extension that
applies it to every docstring mkdocstrings shows.

refopt's docstrings are written once, in the reST subset Python's ``help`` reads well:
``.. math::`` blocks, ``:math:`...``` roles, simple tables (``====  ====`` borders) and
````literals````. The site's Markdown (Python-Markdown with pymdownx.arithmatex) needs
``$$...$$`` blocks, ``$...$`` spans and pipe tables. This module is the one translation, used
for the rule pages (scripts/docsite_pages.py) and for the API reference (``RstDocstrings``,
loaded by mkdocstrings as ``scripts/docsite_rst.py:RstDocstrings``), so a formula is never
typed twice and never reaches the reader as raw LaTeX.
"""
from __future__ import annotations

import re

import griffe

__all__ = ["rst_to_markdown", "math_block", "table_cell", "RstDocstrings"]

_ROLE_MATH = re.compile(r":math:`([^`]+)`", re.S)
_ROLE_OTHER = re.compile(r":(?:func|class|meth|mod|attr|obj|data|exc|ref|py:\w+):`~?([^`]+)`")
_BORDER = re.compile(r"^\s*=+(\s+=+)+\s*$")
_ARXIV = re.compile(r"arXiv[ :](\d{4}\.\d{4,5})")


def math_block(latex: str) -> str:
    """A display formula: several lines (reST ``\\\\`` breaks or ``&`` alignment) become one
    ``aligned`` environment, which KaTeX lays out as the reST source means it."""
    body = latex.strip()
    if "\\\\" in body or "&" in body:
        body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
    return f"$$\n{body}\n$$"


def _inline_math(text: str) -> str:
    return _ROLE_MATH.sub(lambda m: "$" + " ".join(m.group(1).split()) + "$", text)


def table_cell(text: str) -> str:
    """Text safe inside a pipe-table cell: ``|`` in math becomes ``\\vert``/``\\Vert`` (a table
    row is split at every ``|`` before any inline markup is read), elsewhere it is escaped."""
    parts = re.split(r"(\$[^$]+\$)", text)
    for i, part in enumerate(parts):
        if i % 2:  # inside $...$
            parts[i] = part.replace("\\|", "\\Vert ").replace("|", "\\vert ")
        else:
            parts[i] = part.replace("|", "\\|")
    return "".join(parts)


def _simple_table(lines: list[str]) -> list[str]:
    """A reST simple table (border, header, border, rows, border) as a pipe table; columns are
    the border's runs of ``=``, a cell's text the characters under its run (the last column
    takes the rest of the line)."""
    spans = [m.span() for m in re.finditer(r"=+", lines[0])]

    def cells(line: str) -> list[str]:
        out = []
        for k, (a, _) in enumerate(spans):
            b = spans[k + 1][0] if k + 1 < len(spans) else len(line)
            out.append(table_cell(_inline_math(line[a:b].strip())))
        return out

    rows = [cells(line) for line in lines if line.strip() and not _BORDER.match(line)]
    head, body = rows[0], rows[1:]
    md = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return md + ["| " + " | ".join(r) + " |" for r in body]


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def rst_to_markdown(doc: str | None) -> str:
    """Markdown for a reST docstring of the subset above; anything else passes through (reST's
    ``**bold**``, ``*emphasis*``, lists and ````literals```` read the same in Markdown)."""
    lines = (doc or "").expandtabs().splitlines()
    out: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith(".. math::"):
            indent = _indent(line)
            i += 1
            block = []
            while i < len(lines) and (not lines[i].strip() or _indent(lines[i]) > indent):
                block.append(lines[i])
                i += 1
            out += ["", math_block("\n".join(b.strip() for b in block if b.strip())), ""]
            continue
        if _BORDER.match(line):
            j, borders = i, 0
            while j < len(lines) and borders < 3 and (lines[j].strip() or borders < 1):
                borders += bool(_BORDER.match(lines[j]))
                j += 1
            out += ["", *_simple_table(lines[i:j]), ""]
            i = j
            continue
        out.append(line)
        i += 1
    text = _inline_math("\n".join(out))
    text = _ROLE_OTHER.sub(r"`\1`", text)
    return _ARXIV.sub(r"[arXiv \1](https://arxiv.org/abs/\1)", text)


class RstDocstrings(griffe.Extension):
    """Rewrite each docstring griffe loads for mkdocstrings with ``rst_to_markdown``."""

    def on_object(self, *, obj, **kwargs) -> None:
        if obj.docstring is not None and not obj.is_alias:
            obj.docstring.value = rst_to_markdown(obj.docstring.value)
