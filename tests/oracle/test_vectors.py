"""``python -m refopt.vectors``: byte-identical regeneration, exact replay by the rules,
the loader's refusals, and a vector's content checked by hand."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import refopt
from refopt import flavors, vectors

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    first, second = tmp_path_factory.mktemp("a"), tmp_path_factory.mktemp("b")
    done = subprocess.run([sys.executable, "-m", "refopt.vectors", str(first)], cwd=ROOT, capture_output=True,
                          text=True, env={"PYTHONPATH": str(ROOT), "PATH": ""}, timeout=300)
    assert done.returncode == 0, done.stderr
    vectors.write_all(second)
    return first, second


def test_regenerates_byte_identically(written):
    first, second = written
    names = sorted(p.name for p in first.iterdir())
    assert names == sorted(p.name for p in second.iterdir())
    for name in names:
        if (first / name).read_bytes() != (second / name).read_bytes():  # LAPACK's last bits only
            a, b = vectors.load(first / name), vectors.load(second / name)
            assert vectors.difference(a, b) <= vectors.REPLAY_RTOL.get(a["optimizer"], 0.0), name


def test_every_rule_and_flavor_has_a_vector(written):
    names = {p.name for p in written[0].iterdir()}
    for rule in refopt.RULES:
        assert f"rule-{rule}-example.json" in names or rule in vectors.NOT_RECORDED, rule
    for qualname in flavors.EXAMPLES:
        assert f"flavor-{qualname}.json" in names, qualname
    assert len(names) > len(refopt.RULES) + len(flavors.EXAMPLES)  # and non-default settings


def test_every_vector_replays_exactly(written):
    # decimals written by repr read back as the same doubles and the rules are
    # deterministic, so replaying a vector must give the stored params and state bit for bit
    for path in sorted(written[0].iterdir()):
        v = vectors.load(path)
        assert vectors.recheck(v) <= vectors.REPLAY_RTOL.get(v["optimizer"], 0.0), path.name


def test_momentum_vector_by_hand(written):
    v = vectors.load(written[0] / "rule-momentum-example.json")
    lr, mu = v["arguments"]["lr"], v["arguments"]["beta1"]
    g1, g2 = v["grads"][0]["w"], v["grads"][1]["w"]
    assert v["steps"][0]["state"]["t"] == 1
    np.testing.assert_array_equal(v["steps"][0]["state"]["m"]["w"], g1)           # m_1 = g_1
    np.testing.assert_array_equal(v["steps"][0]["params"]["w"], v["params"]["w"] - lr * g1)
    np.testing.assert_array_equal(v["steps"][1]["params"]["w"],
                                  v["steps"][0]["params"]["w"] - lr * (mu * g1 + g2))


def test_a_changed_vector_fails_its_recheck(written):
    v = vectors.load(written[0] / "rule-adam-example.json")
    v["steps"][4]["params"]["w"] = v["steps"][4]["params"]["w"] * (1 + 1e-9)
    assert 5e-10 < vectors.recheck(v) < 2e-9
    v["steps"][0]["state"]["__state__"] = "OtherState"
    with pytest.raises(AssertionError, match="OtherState"):
        vectors.recheck(v)


def test_loader_refuses_other_formats_and_newer_versions(tmp_path):
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"format": vectors.FORMAT, "version": vectors.VERSION + 1}))
    with pytest.raises(ValueError, match="version"):
        vectors.load(path)
    path.write_text(json.dumps({"format": "other", "version": 1}))
    with pytest.raises(ValueError, match="format"):
        vectors.load(path)


def test_non_finite_numbers_are_written_as_strings():
    enc = vectors.encode(np.array([1.5, np.nan, -np.inf, -0.0]))
    assert enc["data"] == [1.5, "nan", "-inf", -0.0]
    back = vectors.decode(json.loads(json.dumps(enc)))
    assert np.isnan(back[1]) and back[2] == -np.inf and np.signbit(back[3])
