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
