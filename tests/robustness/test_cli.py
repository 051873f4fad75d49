"""The three command lines follow the conventions (issue 9, section 5): ``--help`` exits 0,
a usage error is argparse's two lines (``usage: ...``, ``PROG: error: ...``) and exit 2 with no
traceback, a typo gets a "did you mean". Run as users run them (subprocesses) where the process
matters (exit status, stderr, files written, no traceback); in-process (``main(argv)``,
argparse's SystemExit) for the many parsing cases, which do not depend on the process."""
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from analysis import __main__ as analysis_cli
from analysis import ledger
from refopt import flavors, vectors
from refopt.oracle import arguments, cli

ROOT = Path(__file__).resolve().parents[2]
ORACLE_USAGE = "usage: python -m refopt.oracle NAME [--ARG VALUE ...]"


def _run(args, cwd=ROOT, code=None):
    """``python -m ARGS`` (or ``python -c CODE``) from ``cwd``: (status, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    argv = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", *args]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=env, timeout=300)
    return done.returncode, done.stdout, done.stderr


def _usage_error(main, argv, capsys) -> str:
    """The error line of a usage error from ``main(argv)``: exit 2, the usage (argparse may wrap it
    over several lines), then exactly one error line, the last."""
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2, argv
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("usage: ") and ": error: " in err[-1], err
    assert not any(": error: " in line for line in err[:-1]), err
    return err[-1]


# --- python -m refopt.oracle --------------------------------------------------------------

def test_oracle_help_and_usage_errors_as_a_user_sees_them():
    rc, out, err = _run(["refopt.oracle", "--help"])
    assert rc == 0 and err == "" and out.startswith(ORACLE_USAGE), err
    # the four that printed tracebacks before (issue 9): each exits 2 with one error line
    for argv, says in [(["torch.optim.Adam", "--steps", "abc"], "argument --steps: must be an integer >= 1"),
                       (["torch.optim.Adam", "--seed", "-1"], "argument --seed: must be an integer >= 0"),
                       (["torch.optim.Adam", "--shapes", "w=axb"], "argument --shapes: 'w=axb'"),
                       (["torch.optim.Adam", "--stesp", "3"], "did you mean --steps?")]:
        rc, out, err = _run(["refopt.oracle", *argv])
        assert rc == 2 and out == "" and "Traceback" not in err, (argv, err)
        lines = err.splitlines()
        assert len(lines) == 2 and lines[0].startswith(ORACLE_USAGE) and says in lines[1], (argv, err)


BAD = [
    # options: types and ranges (rtol must be finite and > 0: nan compares false, so every
    # step "agreed"; 0 or less asks for what no two float computations give)
    (["torch.optim.Adam", "--steps", "abc"], "argument --steps: must be an integer >= 1, got 'abc'"),
    (["torch.optim.Adam", "--steps", "0"], "argument --steps: must be an integer >= 1, got 0"),
    (["torch.optim.Adam", "--steps", "2.5"], "argument --steps: must be an integer >= 1, got '2.5'"),
    (["torch.optim.Adam", "--seed", "-1"], "argument --seed: must be an integer >= 0, got -1"),
    (["torch.optim.Adam", "--rtol", "nan"], "argument --rtol: must be a finite number > 0, got 'nan'"),
    (["torch.optim.Adam", "--rtol", "-1"], "argument --rtol: must be a finite number > 0, got '-1'"),
    (["torch.optim.Adam", "--rtol", "0"], "argument --rtol: must be a finite number > 0, got '0'"),
    (["torch.optim.Adam", "--rtol", "inf"], "argument --rtol: must be a finite number > 0, got 'inf'"),
    (["torch.optim.Adam", "--steps"], "argument --steps: expected one argument"),
    (["torch.optim.Adam", "--shapes", "w=axb"], "'w=axb': dimensions must be integers >= 1 joined by x"),
    (["torch.optim.Adam", "--shapes", "5x4"], "'5x4' is not NAME=DIMS"),
    (["torch.optim.Adam", "--shapes", "w="], "'w=': dimensions must be integers >= 1"),
    (["torch.optim.Adam", "--shapes", "w=0x3"], "'w=0x3': dimensions must be integers >= 1"),
    (["torch.optim.Adam", "--shapes", "w=2,w=3"], "leaf 'w' given twice"),
    (["torch.optim.Adam", "--shapes", "w=100000x100000"], "--steps x params size is 2.5e+11; at most 1e+08"),
    (["torch.optim.Muon", "--shapes", "b=4"], "params {'b': (4,)}: torch.Muon takes 2-D matrices only"),
    # a flag given twice, ours or the framework's, in either spelling
    (["torch.optim.Adam", "--steps", "3", "--steps=4"], "argument --steps: given twice"),
    (["torch.optim.Adam", "--lr", "1", "--lr=2"], "argument --lr: given twice"),
    # misspellings: the flavor factory's signature and the CLI's options are the candidates
    (["torch.optim.Adam", "--stesp", "3"], "torch.optim.Adam takes no argument --stesp (in its refopt "
                                           "flavor); did you mean --steps?"),
    (["torch.optim.Adam", "--betaz", "0.9,0.9"], "did you mean --betas?"),
    (["keras.optimizers.Adam", "--learing_rate", "1e-3"], "did you mean --learning_rate?"),
    (["torch.optim.Adam", "--momentum", "0.9"], "torch.optim.Adam takes no argument --momentum"),
    # the names a flavor takes through **kwargs (torch's code paths, keras's base optimizer) count
    (["torch.optim.Adam", "--foreachh", "true"], "did you mean --foreach?"),
    (["torch.optim.Adam", "--fooo", "1"], "it takes --lr, --betas, --eps"),
    (["torch.optim.RMSprop", "--fused", "true"], "torch.optim.RMSprop takes no argument --fused"),
    (["keras.optimizers.Adam", "--clipnorn", "1"], "did you mean --clipnorm?"),
    (["torch.optim.Adma"], "no refopt flavor for 'torch.optim.Adma' (known namespaces: torch.optim.*, "),
    (["torch.optim.Adma"], "; did you mean torch.optim.Adam?"),
    (["optax.contrb.muon", "--learning_rate", "0.02"], "did you mean optax.contrib.muon?"),
    (["keras2.Adam"], "did you mean keras.optimizers.Adam?"),
    (["torch.optim.LBFGS"], "evaluates the loss inside its step (a closure)"),
    (["torch.optim.Lbfgs"], "python -m refopt.oracle --list prints every accepted name"),
    # the flavor's own checks, named
    (["torch.optim.Adam", "--lr", "-1"], "refopt flavor of torch.optim.Adam: lr must be"),
    (["optax.adam"], "optax.adam needs --learning_rate"),
    (["torch.optim.Adamax", "--perturb", "eps-in-sqrt"], "not defined for torch.optim.Adamax; defined: "),
    (["torch.optim.Adam", "--perturb", "step-scale:x"], "step-scale:F needs a finite number F"),
    # the shape of the command line
    ([], "the following argument is required: NAME"),
    (["--list", "torch.optim.Adam"], "--list takes no NAME or --ARG"),
    (["torch.optim.Adam", "extra"], "unrecognized arguments: extra"),
    (["torch.optim.Adam", "--"], "'--' is not --ARG"),
]


@pytest.mark.parametrize("argv, says", BAD, ids=[" ".join(a) or "(none)" for a, _ in BAD])
def test_oracle_usage_errors_exit_2_naming_the_problem(argv, says, capsys):
    line = _usage_error(cli.main, argv, capsys)
    assert line.startswith("python -m refopt.oracle: error: ") and says in line, line


def test_a_missing_framework_names_the_extra_to_install(monkeypatch, capsys):
    # each flavor module's framework hidden in turn (None in sys.modules makes its import
    # fail as if it were not installed); the first example of each module is a valid call
    parser = cli.build_parser()
    for module in (m for m in flavors.MODULES.values() if m.EXAMPLES):  # bitsandbytes has none yet
        name, example = next(iter(module.EXAMPLES.items()))
        top = name.split(".")[0]
        with monkeypatch.context() as patch:
            patch.setitem(sys.modules, top, None)
            with pytest.raises(SystemExit) as exit_:
                cli.build_candidate(parser, module, name[len(module.PREFIX):], dict(example.keywords))
        assert exit_.value.code == 2, name
        err = capsys.readouterr().err
        assert f'error: {name} needs {top}, which is not installed: pip install "refopt[oracle]"' in err, err


def test_a_missing_torch_is_a_usage_error_in_a_real_process():
    code = "import sys; sys.modules['torch'] = None; from refopt.oracle.cli import main; sys.exit(main())"
    rc, out, err = _run(["torch.optim.Adam", "--lr", "1e-3"], code=code)
    assert rc == 2 and "Traceback" not in err, err
    assert 'torch.optim.Adam needs torch, which is not installed: pip install "refopt[oracle]"' in err


def test_importing_the_main_module_runs_nothing():
    # issue 9 section 1: a crafted file once imported refopt.oracle.__main__, which ran the CLI
    # and exited the loading process; importing it must now be harmless
    code = "import refopt.oracle.__main__ as m; print('still here', callable(m.main))"
    rc, out, err = _run([], code=code)
    assert rc == 0 and out == "still here True\n", err


NAMES = st.text("abwxyz_0", min_size=1, max_size=6)      # any text without "=" or ","


@given(st.dictionaries(NAMES,
                       st.lists(st.integers(1, 10**6), min_size=1, max_size=4).map(tuple),
                       min_size=1, max_size=4))
def test_shapes_read_back_what_was_written(shapes):
    spec = ",".join(f"{k}={'x'.join(map(str, dims))}" for k, dims in shapes.items())
    assert arguments.parse_shapes(spec) == shapes


@given(st.floats(allow_nan=True, allow_infinity=True))
def test_rtol_is_accepted_exactly_when_finite_and_positive(x):
    if math.isfinite(x) and x > 0:
        assert arguments.rtol_value(repr(x)) == x      # repr reads back as the same double
    else:
        with pytest.raises(Exception, match="must be a finite number > 0"):
            arguments.rtol_value(repr(x))


@given(st.dictionaries(st.text("abeilrst_", min_size=1, max_size=8).filter(
           lambda k: "--" + k not in arguments.VALUE_OPTIONS + arguments.FLAG_OPTIONS),
       st.one_of(st.floats(allow_nan=False).map(repr), st.integers().map(str),
                 st.sampled_from(["true", "none", "0.9,0.99", "-1e-3", "match_rms_adamw"])),
       max_size=5))
def test_equals_form_reads_as_the_spaced_form(kwargs):
    spaced = [t for k, v in kwargs.items() for t in ("--" + k, v)]
    joined = [f"--{k}={v}" for k, v in kwargs.items()]
    assert cli.parse_args(["torch.optim.Adam", *spaced]) == cli.parse_args(["torch.optim.Adam", *joined])
    assert cli.parse_args(["torch.optim.Adam", *joined])[1].keys() == kwargs.keys()


# --- python -m refopt.vectors -------------------------------------------------------------

def test_vectors_help_exits_0_and_writes_nothing(tmp_path):
    rc, out, err = _run(["refopt.vectors", "--help"], cwd=tmp_path)
    assert rc == 0 and out.startswith("usage: python -m refopt.vectors [-h] OUT_DIR"), err
    assert list(tmp_path.iterdir()) == []     # it once wrote 130 files into ./--help
    rc, out, err = _run(["refopt.vectors"], cwd=tmp_path)
    assert rc == 2 and "Traceback" not in err and "required: OUT_DIR" in err, err
    assert list(tmp_path.iterdir()) == []


def test_vectors_usage_errors(tmp_path, capsys):
    assert "unrecognized arguments: b" in _usage_error(vectors.main, ["a", "b"], capsys)
    assert "required: OUT_DIR" in _usage_error(vectors.main, [], capsys)
    (tmp_path / "file").write_text("x")
    line = _usage_error(vectors.main, [str(tmp_path / "file")], capsys)
    assert f"OUT_DIR {str(tmp_path / 'file')!r} exists and is not a folder" in line
    line = _usage_error(vectors.main, [str(tmp_path / "file" / "sub")], capsys)
    assert "cannot create OUT_DIR" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# --- python -m analysis -------------------------------------------------------------------

def test_analysis_only_typo_exits_2_before_writing(tmp_path):
    out_dir = tmp_path / "out"
    rc, out, err = _run(["analysis", "--quick", "--only", "nestrov-forms", "--out", str(out_dir)])
    assert rc == 2 and "Traceback" not in err, err
    assert "--only 'nestrov-forms' matches no claim id and no figure name; closest: nesterov-forms" in err
    assert not out_dir.exists()


def test_analysis_only_with_nothing_close_lists_every_valid_name(tmp_path, capsys):
    out_dir = tmp_path / "out"
    line = _usage_error(analysis_cli.main, ["--only", "zzzz", "--out", str(out_dir)], capsys)
    assert "valid: " in line and "nesterov-forms" in line and "gallery" in line, line
    assert not out_dir.exists()
    (tmp_path / "file").write_text("x")
    line = _usage_error(analysis_cli.main, ["--out", str(tmp_path / "file")], capsys)
    assert "exists and is not a folder" in line


def test_analysis_prints_the_summary_line(tmp_path):
    # nesterov-forms is a conditional claim (tests/analysis/test_ledger.py pins its verdict)
    rc, out, err = _run(["analysis", "--quick", "--only", "nesterov-forms", "--out", str(tmp_path)])
    assert rc == 0, err
    assert "\n1 claim checked: 0 hold, 1 holds only under a condition, 0 are false.\n" in out


def test_summary_counts_and_the_readme_states_the_same_sentence():
    records = [{"verdict": v} for v in ("holds", "false", "conditional", "holds", "false", "false")]
    assert ledger.summary(records) == "6 claims checked: 2 hold, 1 holds only under a condition, 3 are false."
    two = "2 claims checked: 1 holds, 0 hold only under a condition, 1 is false."
    assert ledger.summary(records[:2]) == two
    # the README's line comes from the committed full run; it must be this function's text
    committed = json.loads((ROOT / "docs" / "report" / "ledger.json").read_text())
    assert ledger.summary(committed) in (ROOT / "README.md").read_text()
