"""``python -m refopt.oracle``: a clean report for a matching optimizer, the first parting
step for a deliberately perturbed reference, the exit status (0 agree, 1 part), the argument
parsing and ``--list``. Usage errors (exit 2) are in tests/robustness/test_cli.py."""
import functools
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import pytest

from refopt import flavors
from refopt.oracle import cli
from refopt.oracle.names import accepted_names

ROOT = Path(__file__).resolve().parents[2]


def _readme_examples() -> list[list[str]]:
    """The oracle command lines in README.md's code blocks, as argv lists (comment dropped)."""
    text = (ROOT / "README.md").read_text()
    lines = re.findall(r"^python -m refopt\.oracle (.*)$", text, re.M)
    return [shlex.split(line.split("#")[0]) for line in lines]


def _main(capsys, *argv):
    rc = cli.main(list(argv))
    return rc, capsys.readouterr().out


def test_the_first_readme_example_runs_as_a_user_runs_it():
    argv = _readme_examples()[0]
    assert argv[0] == "torch.optim.Adam", argv    # the example this test is about
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "refopt.oracle", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "candidate torch.optim.Adam(lr=0.001, betas=(0.9, 0.99), amsgrad=True)" in done.stdout
    assert "25 steps, candidate dtype float64, rtol 1e-10" in done.stdout
    assert "AGREE: max update relative error" in done.stdout and "<- parts" not in done.stdout


def test_the_second_readme_example_names_the_parting_step(capsys):
    # optax.adam with eps moved inside the root: the first step's update relative error is
    # 5.8e-6 here (the eps terms against the smallest |g| of the dense N(0,1) step 1), far
    # above rtol 1e-10, so step 1 parts and the exit status is 1
    argv = _readme_examples()[1]
    assert "--perturb" in argv, argv
    rc, out = _main(capsys, *argv)
    assert rc == 1, out
    assert "PERTURBED: eps-in-sqrt" in out and "PART at step 1, leaf ['w']" in out


def test_eps_inside_the_root_parts_at_step_one(capsys):
    # with eps inside the root the first Adam step changes by ~eps/(2 sqrt(s_hat)) relative,
    # 5.8e-6 here (dense N(0,1) gradient): far above 1e-10, so step 1 already parts
    rc, out = _main(capsys, "torch.optim.Adam", "--lr", "1e-3", "--betas", "0.9,0.99",
                    "--perturb", "eps-in-sqrt")
    assert rc == 1, out
    assert "PERTURBED: eps-in-sqrt" in out
    assert "PART at step 1, leaf ['w']" in out


def test_radam_with_the_papers_threshold_parts_at_step_five(capsys):
    # rho_t first exceeds 4 at t = 5 (rho_5 = 4.996) and 5 at t = 6: only step 5 differs
    rc, out = _main(capsys, "torch.optim.RAdam", "--lr", "1e-2", "--steps", "8",
                    "--perturb", "paper-threshold")
    assert rc == 1 and "PART at step 5" in out, out
    rows = [line for line in out.splitlines() if "<- parts" in line]
    assert [int(r.split()[0]) for r in rows] == [5], out


def test_optax_name_and_a_step_scale_perturbation(capsys):
    rc, out = _main(capsys, "optax.sgd", "--learning_rate", "0.1", "--momentum", "0.9", "--steps", "5")
    assert rc == 0 and "AGREE" in out, out
    # every reference step times 1 + 1e-6: the update relative error is exactly 1e-6 at step 1
    rc, out = _main(capsys, "optax.sgd", "--learning_rate=0.1", "--momentum=0.9", "--steps=5",
                    "--perturb=step-scale:1.000001")
    assert rc == 1 and "PART at step 1" in out and "update relative error 1e-06" in out, out



def _effect(out: str) -> tuple[float, float]:
    """(the float64 formula's distance, the flavor's) from the "precision effect" line."""
    line = next(x for x in out.splitlines() if x.startswith("precision effect:"))
    far, flavor = re.search(r"is (\S+) from the framework's update .* the flavor (\S+)$", line).groups()
    return float(far), float(flavor)


def test_nadam_at_torchs_default_dtype_says_so_and_sizes_the_float32_state(capsys):
    import torch
    assert torch.get_default_dtype() == torch.float32   # as users run it: the adapter changes nothing
    rc, out = _main(capsys, "torch.optim.NAdam", "--lr", "1e-2")
    assert rc == 0 and "AGREE" in out, out
    assert "precision: scalar state (step, mu_product) in torch's default dtype, float32" in out
    far, flavor = _effect(out)
    # mu_product is a product of t float32 roundings (2^-24 ~ 6e-8 each) entering the step through
    # 1/(1 - mu_product): the float64 formula misses by float32's order, far above the oracle's
    # 1e-10, while the flavor (float32 mu_product modelled) stays within it
    assert 1e-10 < far < 1e-5 and flavor <= 1e-10, out


@pytest.mark.parametrize("name", ["torch.optim.Muon", "pytorch_optimizer.NorMuon"])
def test_muon_agrees_to_the_emulation_and_reports_the_bfloat16_effect_apart(capsys, name):
    rc, out = _main(capsys, name, "--lr", "2e-2")
    assert rc == 0 and "AGREE" in out, out
    assert "precision: Newton-Schulz in bfloat16" in out
    far, flavor = _effect(out)
    # bfloat16 keeps 8 significant bits (2^-8 ~ 3.9e-3 per rounding) over 5 Newton-Schulz steps:
    # the float64 formula is percent-level off; the emulation, rounding at torch's points, is
    # within the RTOL bound (5e-3 worst measured where the matmul sums in another order)
    assert far > 1e-3 and flavor < far / 5, out


def test_a_framework_at_full_precision_has_no_effect_line(capsys):
    rc, out = _main(capsys, "torch.optim.SGD", "--lr", "0.1", "--steps", "3")
    assert rc == 0 and "precision: the framework computes in the params' dtype (float64)" in out
    assert "precision effect" not in out, out

def test_parse_values_and_options():
    name, kwargs, options = cli.parse_args(["torch.optim.SGD", "--lr", "0.1", "--nesterov",
                                            "--momentum", "0.9",
                                            "--betas", "0.9,0.99", "--adjust-lr-fn", "match_rms_adamw",
                                            "--eps", "none", "--steps", "7", "--rtol", "1e-8"])
    assert name == "torch.optim.SGD"
    assert kwargs == {"lr": 0.1, "nesterov": True, "momentum": 0.9, "betas": (0.9, 0.99),
                      "adjust_lr_fn": "match_rms_adamw", "eps": None}
    assert options["steps"] == 7 and options["rtol"] == 1e-8 and options["seed"] == 0
    assert cli.parse_value("5") == 5 and isinstance(cli.parse_value("5"), int)
    assert cli.parse_value("3.4445,-4.775,2.0315") == (3.4445, -4.775, 2.0315)
    assert cli.parse_shapes("w=5x4,b=4") == {"w": (5, 4), "b": (4,)}


def test_equals_form_and_negative_values_read_as_the_spaced_form():
    spaced = cli.parse_args(["torch.optim.Adam", "--lr", "1e-3", "--betas", "-0.5,0.99", "--seed", "3",
                             "--shapes", "w=2x3", "--amsgrad"])
    joined = cli.parse_args(["torch.optim.Adam", "--lr=1e-3", "--betas=-0.5,0.99", "--seed=3",
                             "--shapes=w=2x3", "--amsgrad"])
    assert spaced == joined
    assert spaced[1] == {"lr": 1e-3, "betas": (-0.5, 0.99), "amsgrad": True}
    assert spaced[2]["seed"] == 3 and spaced[2]["shapes"] == {"w": (2, 3)}


def _listed(capsys) -> tuple[list[str], list[str]]:
    assert cli.main(["--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    return [x for x in lines if x.startswith("# ")], [x for x in lines if x and not x.startswith("#")]


def test_list_prints_every_accepted_name_grouped_by_namespace(capsys):
    headers, names = _listed(capsys)
    assert len(names) == len(set(names))
    # every example the flavor modules publish is accepted (an independent list: EXAMPLES is
    # written by hand in each module), among them optax.contrib.* in its own group
    assert set(flavors.EXAMPLES) <= set(names)
    assert "optax.contrib.muon" in names and "# optax.contrib.*" in headers
    for module in flavors.MODULES.values():
        assert f"# {module.PREFIX}*" in headers, module.PREFIX
    for name in names:
        assert callable(flavors.flavor(name)), name
    # each name sits under the header of its namespace
    groups = accepted_names()
    assert [f"# {g}.*" for g in groups] == headers
    assert all(n.rsplit(".", 1)[0] == g for g, members in groups.items() for n in members)


def test_a_new_flavor_module_is_listed_and_accepted_with_no_change(capsys, monkeypatch):
    # what the pytorch_optimizer flavor module (PREFIX "pytorch_optimizer.") gets: a module in
    # refopt.flavors.MODULES is picked up by --list and by NAME lookup
    def Fancy(lr=1e-3, *, beta=0.9):
        raise AssertionError("not run here")
    fake = types.ModuleType("refopt.flavors.fakefw")
    fake.PREFIX, fake.__all__, fake.Fancy = "fakefw.", ["Fancy"], Fancy
    fake.EXAMPLES = {"fakefw.Fancy": functools.partial(Fancy, lr=0.1)}
    monkeypatch.setitem(flavors.MODULES, "fakefw", fake)
    headers, names = _listed(capsys)
    assert "# fakefw.*" in headers and "fakefw.Fancy" in names
    parser = cli.build_parser()
    assert cli.resolve(parser, "fakefw.Fancy") == (fake, "Fancy", Fancy)
    with pytest.raises(SystemExit) as exit_:
        cli.check_arguments(parser, "fakefw.Fancy", Fancy, {"betta": 0.5})
    assert exit_.value.code == 2
    assert "did you mean --beta?" in capsys.readouterr().err


def test_help_is_the_docstring_as_plain_text_with_what_exists_now(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["--help"])
    assert exit_.value.code == 0
    text = capsys.readouterr().out
    assert text.startswith("usage: python -m refopt.oracle NAME")
    assert "``" not in text and "Examples:\n" in text and "::" not in text
    # derived from refopt.flavors at run time, so a new flavor module shows up without edits
    for module in flavors.MODULES.values():
        assert module.PREFIX + "*" in text, module.PREFIX
        for name, table in getattr(module, "PERTURBATIONS", {}).items():
            assert f"  {name}: " in text, name
            for attr in table:
                assert module.PREFIX + attr in text, attr
    assert "keras.optimizers.*" in text and "paper-eps: keras.optimizers.Adam" in text
    assert cli.usage() == text


def test_a_code_path_option_close_to_a_cli_option_is_still_the_frameworks(capsys):
    # "fused" is one edit from "--seed"-like names; torch.optim.SGD takes fused=True on CPU
    rc, out = _main(capsys, "torch.optim.SGD", "--lr", "0.1", "--momentum", "0.9", "--fused", "true",
                    "--steps", "3")
    assert rc == 0 and "candidate torch.optim.SGD(lr=0.1, momentum=0.9, fused=True)" in out, out


@pytest.mark.parametrize("name, far", [("bitsandbytes.optim.Adam8bit", 0.05), ("torchao.optim.AdamW8bit", 1e-10)])
def test_the_quantized_libraries_on_float64_params_compute_in_float32_as_their_flavors(capsys, name, far):
    # both libraries step p.float(): the flavors' compute_dtype='float32' models it; bitsandbytes' own
    # float32 operation order flips a code now and then (measured worst 0.014, its RTOL 0.05)
    rc, out = _main(capsys, name, "--steps", "20")
    assert rc == 0 and "AGREE" in out, out
    assert "computes in float32 whatever the params' dtype" in out
    formula, flavor = _effect(out)
    assert flavor <= far


def test_sparse_adam_is_refused_with_the_reason(capsys):
    # torch raises RuntimeError on a dense gradient: the CLI says why before running anything
    with pytest.raises(SystemExit) as exit_:
        cli.main(["torch.optim.SparseAdam"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "sparse gradients only" in err and "test_sparse_adam.py" in err
