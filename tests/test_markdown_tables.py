"""The generated Markdown tables render as GitHub-flavoured Markdown reads them: a bare ``|``
inside a cell (an absolute value in a finding, a norm in an equation) would end the cell and
shift the row, so every row must have exactly its header's number of cells."""
import re
from pathlib import Path

import pytest

from analysis.ledger import cell, table

ROOT = Path(__file__).resolve().parents[1]


def cells(row: str) -> int:
    """Cells of one table row, split at the pipes GitHub splits at (not ``\\|``)."""
    return len(re.split(r"(?<!\\)\|", row.strip())) - 2


def table_rows(text: str) -> list[tuple[int, str, str]]:
    """(line number, header, row) for every row of every table in ``text``."""
    out, header = [], None
    for i, line in enumerate(text.splitlines(), 1):
        if not line.startswith("|"):
            header = None
        elif header is None:
            header = line
        elif not set(line) <= set("|-: "):
            out.append((i, header, line))
    return out


@pytest.mark.parametrize("path", ["README.md", "docs/report/ledger.md"])
def test_every_row_has_its_headers_cells(path):
    rows = table_rows((ROOT / path).read_text(encoding="utf-8"))
    assert rows
    bad = [i for i, header, row in rows if cells(row) != cells(header)]
    assert not bad, f"{path}: rows with another number of cells than their header at lines {bad}"


def test_a_finding_with_bars_stays_in_one_cell():
    record = {"id": "x", "verdict": "false", "key_figure": "k", "figures": {"k": 1.0},
              "detail": "|step|/lr reaches 1.009 and ||w|| does not."}
    row = table([record]).splitlines()[-1]
    assert cells(row) == 4
    assert cell("a|b") == "a\\|b"


# --- the same tables through a GFM table parser (markdown-it-py), cell by cell ------------------

def parsed_tables(text: str) -> list[list[list[str]]]:
    """Every table as GitHub's parser splits it: rows of cells' inline source (escaped pipes
    unescaped, as GFM does before it renders a cell)."""
    from markdown_it import MarkdownIt
    tables, rows, row = [], None, None
    for tok in MarkdownIt("commonmark").enable("table").parse(text):
        if tok.type == "table_open":
            rows = []
        elif tok.type == "tr_open":
            row = []
        elif tok.type == "inline" and row is not None:
            row.append(tok.content)
        elif tok.type == "tr_close":
            rows.append(row)
            row = None
        elif tok.type == "table_close":
            tables.append(rows)
    return tables


def table_headed(text: str, first: str) -> list[list[str]]:
    return next(t for t in parsed_tables(text) if t[0][0] == first)


def test_the_rule_table_parses_into_the_registry_s_cells():
    import refopt
    rows = table_headed((ROOT / "README.md").read_text(encoding="utf-8"), "family")[1:]
    assert len(rows) == len(refopt.RULES)
    for row, (name, info) in zip(rows, refopt.RULES.items()):
        assert len(row) == 7, row
        # each cell holds exactly its field: GFM splits at bare pipes and unescapes "\|" back
        assert row[:4] == [info.family, f"`{name}`", info.paper, info.hook], name
        assert row[5] == str(info.buffers), name


@pytest.mark.parametrize("path", ["README.md", "docs/report/ledger.md"])
def test_the_ledger_table_parses_into_the_ledger_s_cells(path):
    import json
    records = json.loads((ROOT / "docs" / "report" / "ledger.json").read_text())
    rows = table_headed((ROOT / path).read_text(encoding="utf-8"), "id")[1:]
    assert [r[0] for r in rows] == [f"`{r['id']}`" for r in records]
    for row, r in zip(rows, records):
        assert len(row) == 4 and row[1] == r["verdict"], row
        assert row[3] == r["detail"].strip().split(". ")[0].rstrip(".") + ".", r["id"]
