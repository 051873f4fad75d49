"""The README's examples of shadow mode and of the drop-ins ("Shadow a real training run") run as
written, and do what the text around them says."""
import re
from pathlib import Path

import numpy as np
import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]


def blocks():
    text = (ROOT / "README.md").read_text()
    section = text[text.index("### Shadow a real training run"):text.index("### Same math, different storage")]
    return re.findall(r"```python\n(.*?)```", section, flags=re.S)


def run(i, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)   # the drop-in example writes opt.pt
    torch.manual_seed(0)
    namespace: dict = {}
    exec(compile(blocks()[i], f"README.md block {i}", "exec"), namespace)
    return namespace


def test_there_are_four_examples():
    assert len(blocks()) == 4


def test_torch_shadow_example(tmp_path, monkeypatch):
    ns = run(0, tmp_path, monkeypatch)
    report = ns["watch"].report()
    assert isinstance(ns["watch"], torch.optim.AdamW) and len(report.rows) == 200 * 4
    assert report.worst("framework_vs_flavor") < 1e-4 and report.first("framework_vs_flavor", report.rtol) is None
    assert "parts at step 1" in str(report) and "multiplies weight_decay by lr" in str(report)


def test_optax_shadow_example(tmp_path, monkeypatch):
    ns = run(1, tmp_path, monkeypatch)
    report = ns["sh"].report(ns["state"])
    assert len(report.rows) == 100 * 2 and report.worst("framework_vs_flavor") < 1e-4
    assert "parts at step 1" in str(report)


def test_torch_drop_in_example(tmp_path, monkeypatch):
    ns = run(2, tmp_path, monkeypatch)
    saved = torch.load(tmp_path / "opt.pt", weights_only=True)
    assert saved["state"] and len(saved["param_groups"]) == 1
    with torch.no_grad():
        loss = torch.nn.functional.mse_loss(ns["model"](ns["x"]), ns["y"])
    assert float(loss) < float(ns["y"].pow(2).mean())   # it trained


def test_optax_drop_in_example(tmp_path, monkeypatch):
    ns = run(3, tmp_path, monkeypatch)
    assert float(ns["loss"](ns["params"])) < 0.9 * float(np.mean(np.asarray(ns["Y"]) ** 2))
