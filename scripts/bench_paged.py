"""One paged Adam step (refopt.storage.paged) against the in-memory NumPy step: peak memory, throughput.

    python scripts/bench_paged.py [--n 1e8] [--chunk-mb 16] [--mem-n 1e8] [--threads 1] [--dir DIR]

Fresh processes, so each peak resident set (``ru_maxrss``) is that phase's alone:

1. setup: params and gradients (N(0, 1) float32, dask's generator) written to Zarr stores in a
   temporary directory, chunked by ``--chunk-mb``, with Adam's zero state (``paged.create``);
2. paged: open the store and run ONE ``paged.step`` into a new store; prints the process's RSS
   after its imports and its peak RSS after the step (the target: peak below 300 MB). Run twice:
   with glibc's default allocator settings, and with ``MALLOC_MMAP_THRESHOLD_`` fixed at 1 MiB.
   By default glibc raises its mmap threshold each time a large block is freed (up to 32 MiB), so
   after the first chunk the 16 MiB buffers come from the heap, which fragments and is not given
   back; a fixed threshold keeps every chunk-sized buffer in its own mapping, returned on free.
   Each Dask thread holds the 4 chunks of its task (params, gradient, m, s), zarr's I/O buffer
   and one block's temporaries: one thread (``--threads``) keeps 16 MiB chunks below 300 MB;
3. in memory: read the same params and gradients into NumPy (``--mem-n`` of them; if smaller than
   ``--n`` the time is scaled per parameter, and said so), time ``refopt.adam().step`` on them,
   and, at the full size, check the paged result against it bit for bit, chunk by chunk.

The data were just written, so the paged step reads from the page cache: this measures the
chunked pass and zarr's I/O path, not a disk. Throughput is params per second; the step moves
4 arrays in and 3 out (7 x 4 bytes per parameter).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MB = 2**20
FIXED_MMAP = {"MALLOC_MMAP_THRESHOLD_": str(MB)}


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def _current_rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / MB


def setup(d: Path, n: int, chunk_mb: int) -> dict:
    import dask.array as da
    import refopt
    from refopt.storage import paged
    chunks = chunk_mb * MB // 4
    rng = da.random.default_rng(0)
    w = rng.standard_normal(n, chunks=chunks, dtype="float32")
    ps = paged.create(d / "state", refopt.adam(), {"w": w}, chunk_bytes=chunk_mb * MB)
    paged.write_like(d / "grads", ps, {"w": rng.standard_normal(n, chunks=chunks, dtype="float32")})
    return {"chunks": ps.group["params/0"].chunks[0]}


def paged_step(d: Path, threads: int) -> dict:
    import dask
    import dask.array  # noqa: F401 (imported before the baseline RSS is read)
    import zarr
    import refopt
    from refopt.storage import paged
    ps = paged.open_paged(d / "state")
    grads = {"w": zarr.open_array(d / "grads/0", mode="r")}
    opt, after_imports = refopt.adam(), _current_rss_mb()
    with dask.config.set(scheduler="threads", num_workers=threads):
        start = time.perf_counter()
        paged.step(opt, ps, grads, out=d / "stepped")
        seconds = time.perf_counter() - start
    return {"seconds": seconds, "rss_after_imports_mb": after_imports, "peak_rss_mb": _rss_mb()}


def memory_step(d: Path, n: int, full: bool) -> dict:
    import numpy as np
    import zarr
    import refopt
    w = zarr.open_array(d / "state/params/0", mode="r")[:n]
    g = zarr.open_array(d / "grads/0", mode="r")[:n]
    opt = refopt.adam()
    state = opt.init(w)
    seconds = []
    for _ in range(2):  # the faster of two: the machine is shared
        start = time.perf_counter()
        new_w, new_state = opt.step(w, g, state)
        seconds.append(time.perf_counter() - start)
    out = {"seconds": min(seconds), "peak_rss_mb": _rss_mb()}
    if full:  # the paged result, read chunk by chunk, against the in-memory one
        got = {name: zarr.open_array(d / f"stepped/{name}", mode="r")
               for name in ("params/0", "state/m/0", "state/s/0")}
        want = {"params/0": new_w, "state/m/0": new_state.m, "state/s/0": new_state.s}
        c = got["params/0"].chunks[0]
        out["bit_equal"] = all(np.array_equal(got[k][i:i + c], want[k][i:i + c])
                               for k in got for i in range(0, n, c))
    return out


def _phase(*args: str, env: dict | None = None) -> dict:
    done = subprocess.run([sys.executable, __file__, "--phase", *args], check=True, capture_output=True,
                          text=True, env=None if env is None else {**os.environ, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=float, default=1e8)
    ap.add_argument("--chunk-mb", type=int, default=16)
    ap.add_argument("--mem-n", type=float, default=None, help="params for the in-memory step (default --n)")
    ap.add_argument("--threads", type=int, default=1, help="dask threads for the paged step")
    ap.add_argument("--dir", default=None, help="where the stores go (default: a temporary directory)")
    ap.add_argument("--phase", nargs="+", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.phase:  # a child process: one phase, one JSON line
        kind, d, *rest = a.phase
        result = {"setup": lambda: setup(Path(d), int(rest[0]), int(rest[1])),
                  "paged": lambda: paged_step(Path(d), int(rest[0])),
                  "memory": lambda: memory_step(Path(d), int(rest[0]), rest[1] == "full")}[kind]()
        print(json.dumps(result))
        return
    n, mem_n = int(a.n), int(a.mem_n or a.n)
    with tempfile.TemporaryDirectory(dir=a.dir) as tmp:
        info = _phase("setup", tmp, str(n), str(a.chunk_mb))
        runs = {}
        for label, env in (("glibc default", None), ("MALLOC_MMAP_THRESHOLD_=1MiB", FIXED_MMAP)):
            shutil.rmtree(Path(tmp) / "stepped", ignore_errors=True)
            runs[label] = _phase("paged", tmp, str(a.threads), env=env)
        m = _phase("memory", tmp, str(mem_n), "full" if mem_n == n else "part")
    mem_rate = mem_n / m["seconds"]
    print(f"paged Adam step, {n:.0e} float32 params ({n * 4 / 1e6:.0f} MB per array, {n * 12 / 1e9:.1f} GB "
          f"with state), chunks of {info['chunks']} entries ({a.chunk_mb} MiB), {a.threads} dask thread(s)")
    for label, p in runs.items():
        rate = n / p["seconds"]
        met = "met" if p["peak_rss_mb"] < 300 else "MISSED"
        print(f"  [{label}] time {p['seconds']:.2f} s, {rate / 1e6:.1f} M params/s, "
              f"{rate * 28 / 1e9:.2f} GB/s moved (7 arrays); "
              f"RSS after imports {p['rss_after_imports_mb']:.0f} MB, "
              f"peak {p['peak_rss_mb']:.0f} MB (target < 300 MB: {met})")
    scaled = "" if mem_n == n else f", scaled per parameter from {mem_n:.0e}"
    print(f"in-memory NumPy step at {mem_n:.0e}: {m['seconds']:.2f} s, {mem_rate / 1e6:.1f} M params/s, "
          f"peak RSS {m['peak_rss_mb']:.0f} MB{scaled}")
    best = min(p["seconds"] for p in runs.values())
    print(f"  paged (faster run) / in-memory time per parameter: {mem_rate * best / n:.2f}x")
    if "bit_equal" in m:
        print(f"  paged result equals the in-memory step bit for bit: {m['bit_equal']}")


if __name__ == "__main__":
    main()
