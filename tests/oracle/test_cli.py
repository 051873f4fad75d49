"""``python -m refopt.oracle``: a clean report for a matching optimizer, the first parting
step for a deliberately perturbed reference, and the argument parsing."""
import os
import subprocess
import sys
from pathlib import Path

import pytest

from refopt import flavors
from refopt.oracle import cli

ROOT = Path(__file__).resolve().parents[2]


def _oracle(*args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "refopt.oracle", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)
    return done.returncode, done.stdout + done.stderr


def test_matching_torch_adam_reports_agreement():
    rc, out = _oracle("torch.optim.Adam", "--lr", "1e-3", "--betas", "0.9,0.99", "--steps", "25")
    assert rc == 0, out
    assert "candidate torch.optim.Adam(lr=0.001, betas=(0.9, 0.99))" in out
    assert "25 steps, candidate dtype float64, rtol 1e-10" in out
    assert "AGREE: max update relative error" in out and "<- parts" not in out


def test_eps_inside_the_root_parts_at_step_one():
    # with eps inside the root the first Adam step changes by ~eps/(2 sqrt(s_hat)) relative,
    # 5.8e-6 here (dense N(0,1) gradient): far above 1e-10, so step 1 already parts
    rc, out = _oracle("torch.optim.Adam", "--lr", "1e-3", "--betas", "0.9,0.99", "--perturb", "eps-in-sqrt")
    assert rc == 1, out
    assert "PERTURBED: eps-in-sqrt" in out
    assert "PART at step 1, leaf ['w']" in out


def test_radam_with_the_papers_threshold_parts_at_step_five():
    # rho_t first exceeds 4 at t = 5 (rho_5 = 4.996) and 5 at t = 6: only step 5 differs
    rc, out = _oracle("torch.optim.RAdam", "--lr", "1e-2", "--steps", "8", "--perturb", "paper-threshold")
    assert rc == 1 and "PART at step 5" in out, out
    rows = [line for line in out.splitlines() if "<- parts" in line]
    assert [int(r.split()[0]) for r in rows] == [5], out


def test_optax_name_and_a_step_scale_perturbation():
    rc, out = _oracle("optax.sgd", "--learning_rate", "0.1", "--momentum", "0.9", "--steps", "5")
    assert rc == 0 and "AGREE" in out, out
    rc, out = _oracle("optax.sgd", "--learning_rate", "0.1", "--momentum", "0.9", "--steps", "5",
                      "--perturb", "step-scale:1.000001")
    assert rc == 1 and "PART at step 1" in out and "update relative error 1e-06" in out, out


def test_parse_values_and_options():
    name, kwargs, options = cli.parse_args(["torch.optim.SGD", "--lr", "0.1", "--nesterov",
                                            "--momentum", "0.9",
                                            "--betas", "0.9,0.99", "--adjust-lr-fn", "match_rms_adamw",
                                            "--eps", "none", "--steps", "7", "--rtol", "1e-8"])
    assert name == "torch.optim.SGD"
    assert kwargs == {"lr": 0.1, "nesterov": True, "momentum": 0.9, "betas": (0.9, 0.99),
                      "adjust_lr_fn": "match_rms_adamw", "eps": None}
    assert options["steps"] == 7 and options["rtol"] == 1e-8
    assert cli.parse_value("5") == 5 and isinstance(cli.parse_value("5"), int)
    assert cli.parse_value("3.4445,-4.775,2.0315") == (3.4445, -4.775, 2.0315)
    assert cli.parse_shapes("w=5x4,b=4") == {"w": (5, 4), "b": (4,)}


def test_unknown_names_and_perturbations_say_what_exists():
    with pytest.raises(SystemExit, match="known namespaces"):
        cli.main(["keras2.Adam"])
    with pytest.raises(SystemExit, match="no refopt flavor"):
        cli.main(["torch.optim.LBFGS"])
    with pytest.raises(SystemExit, match="step-scale"):
        cli.main(["torch.optim.Adamax", "--perturb", "eps-in-sqrt"])


def test_usage_lists_every_flavor_namespace_and_perturbation():
    # derived from refopt.flavors at run time, so a new flavor module shows up without edits
    text = cli.usage()
    for module in flavors.MODULES.values():
        assert module.PREFIX + "*" in text, module.PREFIX
        for name, table in getattr(module, "PERTURBATIONS", {}).items():
            assert f"  {name}: " in text, name
            for attr in table:
                assert module.PREFIX + attr in text, attr
    assert "keras.optimizers.*" in text and "paper-eps: keras.optimizers.Adam" in text
