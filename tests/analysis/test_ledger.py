"""The ledger's format, and the committed full run (docs/report) covering every claim."""
import json
import subprocess
import sys
from pathlib import Path

from analysis import ledger
from analysis.claim import FIGURES, VERDICTS

ROOT = Path(__file__).resolve().parents[2]
KEYS = {"id", "statement", "source_line", "verdict", "figures", "detail"}
REQUIRED = {"ewma-window", "ewma-bias", "momentum-forms", "nesterov-forms", "adam-vs-rmsprop-momentum",
            "adam-first-step-no-bias-correction", "adam-adagrad-limit", "adam-step-bound",
            "adam-scale-invariance", "adamax-lp-limit", "adamax-step-bound", "nadam-forms",
            "reddi-counterexample", "regret-exponents", "adadelta-units", "beta-condition", "reddi-phase",
            "prodigy-d-estimate", "ademamix-slow-window"}


def test_command_writes_the_ledger_in_its_format(tmp_path):
    out = subprocess.run([sys.executable, "-m", "analysis", "--quick", "--only", "nesterov-forms",
                          "--out", str(tmp_path)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "| `nesterov-forms` | conditional |" in out.stdout
    records = json.loads((tmp_path / "ledger.json").read_text())
    assert [r["id"] for r in records] == ["nesterov-forms"]
    r = records[0]
    assert KEYS <= set(r) and r["verdict"] in VERDICTS and isinstance(r["source_line"], int)
    assert all(isinstance(v, float) for v in r["figures"].values())
    assert "## `nesterov-forms`: conditional" in (tmp_path / "ledger.md").read_text()


def test_every_required_claim_is_registered_once():
    ids = [c.id for c in ledger.load_topics()]
    assert len(ids) == len(set(ids))
    assert REQUIRED <= set(ids)


def test_committed_report_covers_every_claim_and_figure():
    # docs/report is the full run the README quotes: a new claim or figure needs a new run
    records = json.loads((ROOT / "docs" / "report" / "ledger.json").read_text())
    assert sorted(r["id"] for r in records) == sorted(c.id for c in ledger.load_topics())
    for name in FIGURES:
        assert (ROOT / "docs" / "report" / f"{name}.png").is_file(), name
    figures = {r["id"]: r["figures"] for r in records}
    assert "sup_ratio_limit" in figures["adam-step-bound"] and "sup_ratio_limit" in figures["adamax-step-bound"]
    assert {"adam_final_x", "amsgrad_final_x"} <= set(figures["reddi-counterexample"])
