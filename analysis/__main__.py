"""``python -m analysis [--quick] [--only TEXT] [--out DIR] [--jobs N | --scheduler ADDRESS]
[--sweep reddi-phase [--grid N]]``: check every claim, print the ledger and its one-line
summary, write DIR/ledger.json, DIR/ledger.md and the figures as DIR/<name>.png (DIR defaults
to report/), and the wall times apart in DIR/timing.json. ``--only`` keeps the claims and
figures whose name contains TEXT; a TEXT that matches none is a usage error (exit 2) before
anything is written. ``--jobs`` runs on N local processes (default: every core);
``--scheduler`` on a dask.distributed cluster (the storage extra). Both give the same files as
``--jobs 1``. ``--sweep reddi-phase`` runs the phase diagram of Adam on Reddi et al.'s problem
instead of the ledger (DIR/reddi_phase.json and .png)."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

from . import ledger, parallel

SWEEPS = ("reddi-phase",)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=(__doc__ or "").replace("``", ""),
                                     allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="the CI-sized run")
    parser.add_argument("--only", metavar="TEXT", help="run the claims and figures whose name contains TEXT")
    parser.add_argument("--out", default="report", metavar="DIR", help="output folder (default: report)")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--jobs", type=int, default=os.cpu_count() or 1, metavar="N",
                       help="local worker processes (default: every core, here %(default)s)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="a dask.distributed scheduler's address")
    parser.add_argument("--sweep", choices=SWEEPS, help="run this sweep instead of the ledger")
    parser.add_argument("--grid", type=int, metavar="N", help="--sweep: N x N (beta1, beta2) cells")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {args.out!r} exists and is not a folder")
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.grid is not None and (args.sweep is None or args.grid < 2):
        parser.error("--grid N needs --sweep and N >= 2")
    if args.sweep is not None and args.only is not None:
        parser.error("--only selects ledger claims; it does not apply to --sweep")
    problem = None if args.only is None else ledger.unknown_only(args.only)
    if problem:
        parser.error(problem)
    ex = parallel.executor(args.jobs, args.scheduler)
    try:
        if args.sweep == "reddi-phase":
            from . import reddi_phase
            print(reddi_phase.run_sweep(args.grid, args.quick, out, ex))
            return 0
        records = ledger.run(args.quick, args.only, out, ex)
    finally:
        ex.close()
    print(ledger.table(records))
    print(f"\n{ledger.summary(records)}")
    n_figures = sum(args.only is None or args.only in n for n in ledger.FIGURES)
    print(f"wrote {args.out}/ledger.json, {args.out}/ledger.md, {n_figures} figures and {ledger.TIMING}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
