"""``python -m refopt.oracle bitsandbytes.optim.Adam8bit --perturb bnb-0.41-map``: the reference given
bitsandbytes 0.36-0.41's unsigned map (refopt.storage.maps.bnb041_dynamic_map) for its second moment,
run as a user runs it, must DISAGREE with bitsandbytes 0.50.2 and name the first step it parts at."""
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from refopt.storage import maps

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "refopt.oracle", *argv], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=300)


def test_the_041_map_is_caught_at_step_two():
    done = _run("bitsandbytes.optim.Adam8bit", "--perturb", "bnb-0.41-map")
    assert done.returncode == 1, done.stdout + done.stderr     # 1: the two part
    assert "Traceback" not in done.stderr
    out = done.stdout
    assert "PERTURBED: bnb-0.41-map" in out
    # Step 1 moves the params with the unrounded s_1 (the state is rounded only when stored), so
    # the wrong map cannot show before step 2, which reads s_1 back. By then it must: the bad map
    # ends at 0.0933 (checked here by hand below), so every entry of s_1 above 0.0933 of its
    # block's absmax (a dense N(0,1) gradient at step 1: most of them) reads back at most 0.0933 N,
    # up to 10.7x too small, and the step through 1/sqrt(s) up to 3.3x too large: far past the
    # flavor's rtol 0.05 (RTOL["Adam8bit"], measured gap 0.014). (The analysis, storage-map-bug,
    # reports step 4 on its own stream: a 4096-vector, seed 3, a params-relative 1e-3; not this run.)
    bad = maps.bnb041_dynamic_map(False)
    assert bad.size == 256 and 0.09 < bad[-1] < 0.1
    # the per-step rows: "step  update |err|  update rel  ..." (the "25 steps, ..." line is not one)
    rows = [line.split() for line in out.splitlines() if re.match(r"\s*\d+\s+\d\.\d+e[-+]\d+", line)]
    assert [r[0] for r in rows[:2]] == ["1", "2"], out
    assert "<- parts" not in " ".join(rows[0]), out         # step 1 agrees
    assert "PART at step 2, leaf ['w']" in out               # the 4,196-entry leaf, stored 8-bit
    assert float(rows[1][2]) > 0.3, out                       # update relative error at step 2


def test_the_unperturbed_flavor_agrees_on_the_same_run():
    # the same command without --perturb: the catch above is the map, not the flavor
    done = _run("bitsandbytes.optim.Adam8bit")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "AGREE" in done.stdout


def test_the_perturbation_changes_only_the_second_moments_map():
    from refopt.flavors import bitsandbytes as B
    assert B.BNB041_UNSIGNED.lut_bins == B.UNSIGNED.lut_bins == 65536
    np.testing.assert_array_equal(np.asarray(B.BNB041_UNSIGNED.table, dtype=np.float32), maps.bnb041_dynamic_map(False))
    assert set(B.PERTURBATIONS["bnb-0.41-map"]) == {"Adam8bit", "AdamW8bit"}
    with pytest.raises(ValueError, match="amsgrad"):    # the flavor's own checks still apply
        B.PERTURBATIONS["bnb-0.41-map"]["Adam8bit"](amsgrad=True)
