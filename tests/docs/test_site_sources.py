"""The site generator's pieces, without a build: the reST-to-Markdown translation, the escaping of
free text, and the pairing of math with code (scripts/docsite_rst.py, docsite_pages.py,
docsite_code.py). Expectations are written by hand from the inputs, or checked by rendering the
output with Python-Markdown (the renderer mkdocs uses) and reading the text back.
"""
from __future__ import annotations

import html
import json
import re
import sys
from pathlib import Path

import markdown  # Python-Markdown, which mkdocs renders with (the docs extra)
import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

import docsite_code  # noqa: E402
import docsite_pages  # noqa: E402
import docsite_rst  # noqa: E402

EXTENSIONS = ["tables", "pymdownx.arithmatex"]
CONFIG = {"pymdownx.arithmatex": {"generic": True}}


def render(md: str) -> str:
    return markdown.markdown(md, extensions=EXTENSIONS, extension_configs=CONFIG)


def text_of(rendered: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", rendered)).split())


def test_math_block_and_roles():
    doc = "Intro :math:`x_t` here.\n\n.. math::\n\n    a &= b \\\\\n    c &= d\n\nAfter."
    md = docsite_rst.rst_to_markdown(doc)
    assert "$x_t$" in md
    assert "$$\n\\begin{aligned}\na &= b \\\\\nc &= d\n\\end{aligned}\n$$" in md
    assert md.rstrip().endswith("After.")


def test_simple_table_with_bars_in_math_and_text():
    doc = ("=====  ======================  =======\n"
           "sym    argument                default\n"
           "=====  ======================  =======\n"
           "norm   :math:`\\|w\\| + |g|`     a|b\n"
           "=====  ======================  =======\n")
    rendered = render(docsite_rst.rst_to_markdown(doc))
    rows = re.findall(r"<tr>(.*?)</tr>", rendered, re.S)
    assert len(rows) == 2
    cells = re.findall(r"<td>(.*?)</td>", rows[1], re.S)
    assert len(cells) == 3, cells  # no "|" split a cell
    assert "\\Vert w\\Vert" in cells[1] and "\\vert g\\vert" in cells[1]
    assert text_of(cells[2]) == "a|b"


def test_arxiv_ids_become_links():
    md = docsite_rst.rst_to_markdown("arXiv 1412.6980")
    assert "[arXiv 1412.6980](https://arxiv.org/abs/1412.6980)" in md


@pytest.mark.parametrize("claim", json.loads((ROOT / "docs" / "report" / "ledger.json").read_text()),
                         ids=lambda c: c["id"])
def test_free_text_survives_markdown(claim):
    """Every claim's statement, detail and figure names read back verbatim after rendering, in a
    paragraph and in a table cell."""
    for text in (claim["statement"], claim["detail"], *claim["figures"]):
        assert text_of(render(docsite_pages.plain(text))) == " ".join(text.split())
        cell = render(f"| a |\n|---|\n| {docsite_pages.plain(text)} |")
        assert text_of(re.search(r"<td>(.*?)</td>", cell, re.S).group(1)) == " ".join(text.split())


def test_every_rule_docstring_keeps_all_its_math():
    """Each :math: role and each math block of a rule's docstring becomes exactly one formula."""
    import inspect

    import refopt
    for name, info in refopt.RULES.items():
        doc = inspect.getmodule(info.factory).__doc__ or ""
        rendered = render(docsite_rst.rst_to_markdown(doc))
        inline = len(re.findall(r":math:`", doc))
        blocks = len(re.findall(r"\.\. math::", doc))
        assert rendered.count('<span class="arithmatex">') == inline, name
        assert rendered.count('<div class="arithmatex">') == blocks, name


def test_left_hand_sides_name_the_code_variables():
    assert {"m_hat", "hat_m"} <= docsite_code.lhs_names(r"\hat m_t = m_t / (1-\beta_1^t)")
    assert "m" not in docsite_code.lhs_names(r"\hat m_t = m_t / (1-\beta_1^t)")
    assert "beta2_t" in docsite_code.lhs_names(r"\hat\beta_{2t} = 1 - t^{-c}")
    assert {"m_hat", "s_hat"} <= docsite_code.lhs_names(r"\hat m_t = a, \qquad \hat s_t = b")
    assert docsite_code.lhs_names(r"\operatorname{clip}(z) = y") == set()


def test_adam_math_sits_beside_the_line_computing_it():
    """From refopt/rules/adam.py: m_t beside ``m = ...``, the two bias corrections beside
    ``m_hat = ...`` and the step beside ``w = ...``; ``xp = ...`` and ``return`` get none."""
    import refopt.rules.adam as adam
    table, paired = docsite_code.side_by_side(adam, adam.adam)
    assert paired == 4
    cells = re.findall(r'<td class="sbs-math">(.*?)</td><td class="sbs-code">(.*?)</td>', table)
    untag = lambda h: html.unescape(re.sub(r"<[^>]+>", "", h)).strip()  # noqa: E731
    beside = {untag(code).split(" =")[0]: untag(math) for math, code in cells if math}
    assert set(beside) == {"m", "s", "m_hat", "w"}
    assert beside["m"].startswith(r"\(\displaystyle m_t = \beta_1 m_{t-1}")
    assert r"\hat s_t" in beside["m_hat"]
    assert beside["w"].startswith(r"\(\displaystyle w_t = w_{t-1}")


def test_errata_are_whole_sentences_about_the_cheat_sheet():
    doc = ("Title.\n\nSee Ann. Math. Statist. 22(3); the cheat sheet cites Smith (2004). Next one.\n\n"
           "=====  =====\na      b\n=====  =====\nthe cheat sheet omits x  y\n=====  =====\n\n"
           "The cheat sheet's name is s_t.")
    assert docsite_pages._errata(doc) == ["The cheat sheet cites Smith (2004)."]


def test_every_rule_page_holds_its_convention_tables_as_measured():
    # the JSON is the one test_conventions holds equal to a fresh measurement; each rule's page
    # shows every measured size of every table about it, and the rules with none say why
    import refopt
    from refopt.conventions import NOT_SHIPPED
    tables = json.loads((ROOT / "docs" / "conventions.json").read_text())
    for name in refopt.RULES:
        text = text_of(render("\n".join(docsite_pages._conventions(tables, name))))
        mine = [t for t in tables if name in t["rules"]]
        if not mine:
            assert " ".join(NOT_SHIPPED[name][1].split()) in text, name
        for t in mine:
            assert " ".join(t["title"].split()) in text, name
            for m in t["measured"]:
                assert " ".join(m["difference"].replace("`", "").split()) in text, (name, m)
                assert f" {m['size']} " in f" {text} ", (name, m)
