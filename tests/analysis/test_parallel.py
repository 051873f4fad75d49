"""The analysis on local processes and on a dask cluster writes the same bytes as the serial run."""
import json
import os
import sys
from pathlib import Path

import pytest

from analysis import ledger, parallel
from analysis.__main__ import main
from analysis.claim import FIGURES

# "limit" selects 2 claims in 2 groups (adam_limits, adamax) and 1 figure: 0.5 s quick
ONLY = "limit"


def report(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(path.iterdir()) if p.name != ledger.TIMING}


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    out = tmp_path_factory.mktemp("serial")
    assert main(["--quick", "--only", ONLY, "--jobs", "1", "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def cluster():
    from distributed import LocalCluster   # the storage extra
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  dashboard_address=None) as c:
        yield c


def test_serial_report_has_the_selected_claims_and_figures_and_no_timings(serial):
    files = report(serial)
    records = json.loads(files["ledger.json"])
    assert [r["id"] for r in records] == [c.id for c in ledger.load_topics() if ONLY in c.id]
    assert len(records) == 2 and all("seconds" not in r for r in records)
    assert {f"{n}.png" for n in FIGURES if ONLY in n} == {n for n in files if n.endswith(".png")}
    timing = json.loads((serial / ledger.TIMING).read_text())
    figures = {f"figure {n}" for n in FIGURES if ONLY in n}
    assert set(timing["seconds"]) == {r["id"] for r in records} | figures
    assert timing["workers"] == 1 and all(s > 0 for s in timing["seconds"].values())


def test_two_processes_write_the_same_bytes_and_count_claims(serial, tmp_path, capsys):
    assert main(["--quick", "--only", ONLY, "--jobs", "2", "--out", str(tmp_path)]) == 0
    assert report(tmp_path) == report(serial)
    assert "2/2 claims, 1/1 figures" in capsys.readouterr().err
    assert json.loads((tmp_path / ledger.TIMING).read_text())["workers"] == 2


def test_dask_cluster_writes_the_same_bytes(serial, cluster, tmp_path):
    assert main(["--quick", "--only", ONLY, "--scheduler", cluster.scheduler_address,
                 "--out", str(tmp_path)]) == 0
    assert report(tmp_path) == report(serial)


def test_groups_keep_cached_runs_together_and_cover_everything_once():
    claims = ledger.load_topics()
    work = parallel.groups(claims, FIGURES)
    ids = [i for g in work for i in g[0]]
    names = [n for g in work for n in g[1]]
    assert sorted(ids) == sorted(c.id for c in claims) and sorted(names) == sorted(FIGURES)
    # regret_rates takes reddi() from regret, whose runs are in an lru_cache
    together = next(g for g in work if "reddi-counterexample" in g[0])
    assert {"regret-exponents", "regret-table"} <= set(together[0])
    assert {"counterexample_trajectories", "regret_curves"} <= set(together[1])
    # reddi_phase calls regret's uncached functions only: it runs apart
    assert "reddi-phase" not in together[0]


def test_workers_get_their_share_of_the_cores_for_blas_and_this_process_keeps_its_own(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    for v in parallel.THREAD_VARIABLES:
        monkeypatch.delenv(v, raising=False)
    monkeypatch.setenv("MKL_NUM_THREADS", "3")   # a user's own setting wins
    ex = parallel.executor(2)
    try:
        seen = [ex.submit(os.getenv, v).result() for v in parallel.THREAD_VARIABLES]
    finally:
        ex.close()
    assert seen == ["4", "4", "3"]
    assert [os.environ.get(v) for v in parallel.THREAD_VARIABLES] == [None, None, "3"]


def test_the_first_run_order_names_real_claims_and_figures():
    # a renamed claim would silently drop out of the order a fresh clone's first run uses
    names = {c.id for c in ledger.load_topics()} | {f"figure {n}" for n in FIGURES}
    assert set(ledger.FIRST_RUN_SECONDS) <= names


def test_scheduler_without_distributed_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(SystemExit, match=r"pip install \.\[storage\]"):
        parallel.executor(1, "tcp://127.0.0.1:1")


def test_bad_jobs_is_a_usage_error(capsys):
    with pytest.raises(SystemExit) as err:
        main(["--jobs", "0", "--only", ONLY])
    assert err.value.code == 2 and "--jobs must be at least 1" in capsys.readouterr().err
