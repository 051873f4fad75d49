"""Where the analysis runs: in this process, on local worker processes, or on a dask cluster.

The unit of work is a *group*: the claims and figures of one topic module together with the
topics whose caches it reads (``regret_rates`` takes ``reddi`` from ``regret``, whose runs are
in an ``lru_cache``), so that a cache a claim fills is still there for the figure drawn from it
and no run is made twice. A group returns plain data (records
without timings, figure files as bytes), never writes: the caller writes, in the ledger's
order, so the ledger and the figures are the same bytes whichever way the groups ran and
in whichever order they finished.

``executor(jobs, scheduler)`` gives the thing that runs them: ``jobs = 1`` runs in this
process; ``jobs > 1`` uses the standard library's process pool (spawned workers, so nothing
of the parent's state leaks in); ``scheduler`` is the address of a ``dask.distributed``
scheduler, and needs the ``storage`` extra (``pip install .[storage]``).
"""
from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterable


@dataclass
class Outcome:
    """What one group sends back: ``records`` (claim id -> ledger record without its
    seconds), ``pngs`` (figure name -> the file's bytes), ``parts`` (the files a figure writes
    in folders of its own, such as the gallery's one panel per rule: path relative to the output
    folder -> bytes) and ``seconds`` (name -> wall time)."""
    records: dict[str, dict] = field(default_factory=dict)
    pngs: dict[str, bytes] = field(default_factory=dict)
    parts: dict[str, bytes] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


_PYPLOT = threading.Lock()   # pyplot's state is global: threaded dask workers draw one at a time


def run_group(quick: bool, claim_ids: tuple[str, ...], figure_names: tuple[str, ...]) -> Outcome:
    """Check the claims, then draw the figures, in this process (a worker's entry point)."""
    import matplotlib
    matplotlib.use("Agg")
    from . import ledger
    from .claim import FIGURES
    claims = {c.id: c for c in ledger.load_topics()}
    out = Outcome()
    for cid in claim_ids:
        start = time.perf_counter()
        verdict = claims[cid].check(quick)
        out.seconds[cid] = time.perf_counter() - start
        out.records[cid] = ledger.record(claims[cid], verdict)
    for name in figure_names:
        with _PYPLOT, tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            FIGURES[name](quick, Path(tmp))
            out.seconds[f"figure {name}"] = time.perf_counter() - start
            out.pngs[name] = (Path(tmp) / f"{name}.png").read_bytes()
            out.parts.update({p.relative_to(tmp).as_posix(): p.read_bytes()
                              for p in sorted(Path(tmp).glob("*/*.png"))})
    return out


class Serial:
    """Runs each call at once, in this process: the reference the others must equal."""
    workers = 1

    def submit(self, fn: Callable, *args):
        return _Done(fn(*args))

    def as_completed(self, futures: Iterable):
        return iter(futures)

    def map(self, fn: Callable, items: list) -> list:
        return [fn(x) for x in items]

    def close(self) -> None:
        pass


class _Done:
    def __init__(self, value):
        self.value = value

    def result(self):
        return self.value


# A worker's BLAS and OpenMP pools get its share of the cores (unless the user set them): each
# worker starting OpenBLAS at full width made 2 workers on 2 cores take 137 s, against 103 s with
# one thread each and 188 s serially (2026-12-08). The workers read these when they start.
THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


class Processes:
    """A pool of ``jobs`` spawned worker processes (standard library only)."""

    def __init__(self, jobs: int):
        self.workers = jobs
        self.saved = {v: os.environ.get(v) for v in THREAD_VARIABLES}
        for v in THREAD_VARIABLES:
            os.environ.setdefault(v, str(max(1, (os.cpu_count() or 1) // jobs)))
        self.pool = ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"))

    def submit(self, fn: Callable, *args):
        return self.pool.submit(fn, *args)

    def as_completed(self, futures: Iterable):
        return as_completed(list(futures))

    def map(self, fn: Callable, items: list) -> list:
        chunk = max(1, len(items) // (8 * self.workers))
        return list(self.pool.map(fn, items, chunksize=chunk))

    def close(self) -> None:
        self.pool.shutdown()
        for v, value in self.saved.items():  # this process's pools started long before: unchanged
            if value is None:
                os.environ.pop(v, None)
            else:
                os.environ[v] = value


class Cluster:
    """The same calls on a ``dask.distributed`` cluster at ``address``."""

    def __init__(self, address: str):
        try:
            from distributed import Client
        except ImportError as err:
            raise SystemExit("--scheduler needs dask.distributed: pip install .[storage]") from err
        self.client = Client(address)
        self.workers = max(1, sum(self.client.nthreads().values()))

    def submit(self, fn: Callable, *args):
        return self.client.submit(fn, *args, pure=False)

    def as_completed(self, futures: Iterable):
        from distributed import as_completed as dask_completed
        return dask_completed(list(futures))

    def map(self, fn: Callable, items: list) -> list:
        # cells are ~0.1 s each: one task per few cells keeps the scheduler's overhead small
        size = max(1, len(items) // (8 * self.workers))
        batches = [items[i:i + size] for i in range(0, len(items), size)]
        futures = self.client.map(_run_batch, [fn] * len(batches), batches, pure=False)
        return [y for batch in self.client.gather(futures) for y in batch]

    def close(self) -> None:
        self.client.close()


def _run_batch(fn: Callable, items: list) -> list:
    return [fn(x) for x in items]


def executor(jobs: int, scheduler: str | None = None):
    if scheduler is not None:
        return Cluster(scheduler)
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    return Serial() if jobs == 1 else Processes(jobs)


def groups(claims: list, figures: dict) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """(claim ids, figure names) per group, the groups in ledger order. Topics that import
    one another (their caches are shared) are one group."""
    root = {}

    def find(topic: str) -> str:
        while root.setdefault(topic, topic) != topic:
            topic = root[topic]
        return topic

    topics = [c.topic for c in claims] + [f.__module__.rsplit(".", 1)[-1] for f in figures.values()]
    for topic in topics:
        for used in _imports(topic):
            root[find(used)] = find(topic)
    order: dict[str, tuple[list, list]] = {}
    for c in claims:
        order.setdefault(find(c.topic), ([], []))[0].append(c.id)
    for name, f in figures.items():
        order.setdefault(find(f.__module__.rsplit(".", 1)[-1]), ([], []))[1].append(name)
    return [(tuple(ids), tuple(names)) for ids, names in order.values()]


def _imports(topic: str) -> list[str]:
    """The analysis topics with a cache (an ``lru_cache``) that ``analysis.<topic>`` took names
    from: its runs may be in that cache. Taking the module itself (``from . import regret``)
    does not count: a topic that calls another's uncached functions runs apart from it."""
    module = sys.modules[f"analysis.{topic}"]
    used = {getattr(v, "__module__", None) for v in vars(module).values() if not isinstance(v, ModuleType)}
    return [m.rsplit(".", 1)[-1] for m in used
            if isinstance(m, str) and m.startswith("analysis.") and m != module.__name__
            and any(hasattr(v, "cache_info") for v in vars(sys.modules[m]).values())]


def progress(done: int, n: int, figures_done: int, n_figures: int, label: str) -> None:
    width = 30
    bar = int(width * done / max(n, 1))
    sys.stderr.write(f"\r[{'#' * bar}{'.' * (width - bar)}] {done}/{n} claims, "
                     f"{figures_done}/{n_figures} figures {label:<32}")
    sys.stderr.flush()
