"""The registry says true things: its check table is what the tests run, and the README's
tables are the ones the registry generates."""
import importlib
import pkgutil
import subprocess
import sys
from pathlib import Path

import pytest

import refopt
from refopt import RULES
from tests import rules as rule_tests

ROOT = Path(__file__).resolve().parents[1]


def checks_in_tests():
    found = {}
    for mod in pkgutil.iter_modules(rule_tests.__path__):
        if mod.name.startswith("test_"):
            module = importlib.import_module(f"tests.rules.{mod.name}")
            for check in getattr(module, "CHECKS", ()):
                per_rule = found.setdefault(check.rule, {})
                per_rule[check.impl] = max(per_rule.get(check.impl, 0.0), check.rtol)
    return found


def test_checked_against_is_exactly_what_the_tests_run():
    run = checks_in_tests()
    for name, info in refopt.RULES.items():
        assert dict(info.checked_against) == run.get(name, {}), name
    assert set(run) <= set(refopt.RULES)


def test_every_rule_has_its_metadata():
    for name, info in refopt.RULES.items():
        assert info.family and info.paper and info.hook and info.equations, name
        assert getattr(refopt, name) is info.factory
        doc = info.factory.__doc__ or ""
        module_doc = sys.modules[info.factory.__module__].__doc__ or ""
        assert doc.strip() and module_doc.strip(), f"{name}: the rule and its module need docstrings"


def test_readme_tables_are_generated_from_the_registry():
    out = subprocess.run([sys.executable, "scripts/readme.py", "--check"], cwd=ROOT,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.parametrize("name", [n for n, i in RULES.items() if i.factory.__module__.startswith("refopt.rules.")])
def test_help_of_a_rule_shows_its_file_the_formula_table_and_citation(name):
    import pydoc
    text = pydoc.render_doc(getattr(refopt, name), renderer=pydoc.plaintext)
    module = importlib.import_module(RULES[name].factory.__module__)
    # the file's docstring, whole: its first and last lines both reach help()
    lines = [x.strip() for x in module.__doc__.strip().splitlines() if x.strip()]
    assert lines[0] in text and lines[-1] in text, name
    assert str(RULES[name].year) in text, name
