"""What ``refopt.oracle.shadow`` costs: time per step and memory, on a small torch MLP with AdamW.

    python scripts/bench_shadow.py [--sizes 1e5,1e6] [--steps 40] [--out docs/bench]

For each size (an MLP ``Linear(100, h), Tanh, Linear(h, 100)`` with h chosen for that many float32
params, a batch of 64) and each mode (torch.optim.AdamW alone; under shadow; under shadow with
``every=10``), a process of its own trains ``--steps`` steps after two warm-up steps, on one thread
(the stable measure on a shared machine), and measures:

* the time of the training step (zero_grad, forward, backward, ``opt.step()``) and of the
  ``opt.step()`` call alone (where the shadow's hooks run), median and mean over the steps: with
  ``every=10`` nine steps in ten are torch's alone, so the mean is the figure there;
* the memory the shadow keeps: ``tracemalloc`` (which NumPy reports to; torch's own tensors are not
  traced) after the steps, over the plain run's, as bytes per parameter (and, between the sizes, the
  slope: what grows with the model), and the peak during them; and the process's peak RSS
  (``ru_maxrss``) over the plain run's.

Prints a table and writes DIR/shadow.json (every row; DIR: docs/bench). The shadow's expectation for
AdamW: float32 w0 and w (8 bytes), float64 w for the flavor and the belief (16), their states m, s
in float32 and twice float64 (8 + 32): 64 bytes per parameter.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

MODES = ("torch", "shadow", "shadow every=10")


def hidden_for(size: int, d: int = 100) -> int:
    """h with 2*d*h + h + d close to ``size``."""
    return max(1, round((size - d) / (2 * d + 1)))


def measure(size: int, mode: str, steps: int) -> dict:
    """One size and mode, in this process (run by ``main`` in a child process each)."""
    import torch

    from refopt.oracle import shadow

    torch.set_num_threads(1)
    torch.manual_seed(0)
    h = hidden_for(size)
    model = torch.nn.Sequential(torch.nn.Linear(100, h), torch.nn.Tanh(), torch.nn.Linear(h, 100))
    x, y = torch.randn(64, 100), torch.randn(64, 100)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    if mode != "torch":
        opt = shadow(opt, model.named_parameters(), every=10 if mode.endswith("10") else 1)
    train, step = [], []
    for k in range(steps + 2):
        t0 = time.perf_counter()
        opt.zero_grad()
        torch.nn.functional.mse_loss(model(x), y).backward()
        t1 = time.perf_counter()
        opt.step()
        t2 = time.perf_counter()
        if k >= 2:   # two warm-up steps: the shadow's first one allocates its runs
            train.append(t2 - t0)
            step.append(t2 - t1)
    kept, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    params = sum(p.numel() for p in model.parameters())
    return {"size": size, "params": params, "mode": mode, "steps": steps,
            "train_step_median_s": statistics.median(train), "train_step_mean_s": statistics.fmean(train),
            "opt_step_median_s": statistics.median(step), "opt_step_mean_s": statistics.fmean(step),
            "traced_kept_bytes": kept - base, "traced_peak_bytes": peak - base,
            "kept_bytes_per_param": (kept - base) / params,
            "max_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}


def table(rows: list[dict]) -> str:
    lines = [f"{'params':>9} {'mode':<16} {'train ms':>9} {'(mean)':>8} {'x torch':>8} {'step ms':>8} "
             f"{'(mean)':>8} {'x torch':>8} {'+B/param':>8} {'peak MB':>8} {'RSS +MB':>8}"]
    for r in rows:
        lines.append(f"{r['params']:>9} {r['mode']:<16} {1e3 * r['train_step_median_s']:>9.2f} "
                     f"{1e3 * r['train_step_mean_s']:>8.2f} {r['train_ratio_mean']:>8.2f} "
                     f"{1e3 * r['opt_step_median_s']:>8.2f} {1e3 * r['opt_step_mean_s']:>8.2f} "
                     f"{r['step_ratio_mean']:>8.2f} {r['extra_bytes_per_param']:>8.1f} "
                     f"{r['traced_peak_bytes'] / 2**20:>8.1f} {r['rss_extra_bytes'] / 2**20:>8.1f}")
    return "\n".join(lines)


def slopes(rows: list[dict]) -> str:
    """Bytes per parameter as the slope of the kept extra memory between the smallest and largest
    size: what grows with the model, without the fixed part (imports, the report's rows)."""
    lines = []
    for mode in MODES[1:]:
        ends = [r for r in rows if r["mode"] == mode]
        if len(ends) > 1:
            a, b = ends[0], ends[-1]
            slope = (b["traced_extra_bytes"] - a["traced_extra_bytes"]) / (b["params"] - a["params"])
            lines.append(f"{mode}: {slope:.1f} bytes kept per parameter "
                         f"(slope {a['params']} -> {b['params']})")
    return "\n" + "\n".join(lines) if lines else ""


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="1e5,1e6")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "bench"))
    ap.add_argument("--one", nargs=3, metavar=("SIZE", "MODE", "FILE"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.one:   # the child process: one size and mode
        Path(args.one[2]).write_text(json.dumps(measure(int(float(args.one[0])), args.one[1], args.steps)))
        return
    rows = []
    for size in (int(float(s)) for s in args.sizes.split(",")):
        plain = None
        for mode in MODES:
            print(f"size {size:.0e}, {mode}", file=sys.stderr, flush=True)
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "row.json"
                child = [sys.executable, __file__, "--steps", str(args.steps),
                         "--one", str(size), mode, str(out)]
                subprocess.run(child, check=True, cwd=Path(__file__).resolve().parents[1])
                row = json.loads(out.read_text())
            plain = plain or row
            row["train_ratio_mean"] = row["train_step_mean_s"] / plain["train_step_mean_s"]
            row["train_ratio_median"] = row["train_step_median_s"] / plain["train_step_median_s"]
            row["step_ratio_mean"] = row["opt_step_mean_s"] / plain["opt_step_mean_s"]
            row["step_ratio_median"] = row["opt_step_median_s"] / plain["opt_step_median_s"]
            row["rss_extra_bytes"] = row["max_rss_bytes"] - plain["max_rss_bytes"]
            row["traced_extra_bytes"] = row["traced_kept_bytes"] - plain["traced_kept_bytes"]
            row["extra_bytes_per_param"] = row["traced_extra_bytes"] / row["params"]
            rows.append(row)
    text = table(rows) + slopes(rows)
    print(text)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    import torch
    meta = {"torch": torch.__version__, "python": platform.python_version(), "machine": platform.machine(),
            "threads": 1, "note": "a shared 2-core machine (other jobs running): times are indicative"}
    (out / "shadow.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=1) + "\n")
    print(f"wrote {out / 'shadow.json'}", file=sys.stderr)


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    main()
