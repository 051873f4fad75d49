"""``python -m analysis [--quick] [--only TEXT] [--out DIR]``: check every claim, print the
ledger and its one-line summary, write DIR/ledger.json, DIR/ledger.md and the figures as
DIR/<name>.png (DIR defaults to report/). ``--only`` keeps the claims and figures whose name
contains TEXT; a TEXT that matches none is a usage error (exit 2) before anything is written."""
from __future__ import annotations

import argparse
from pathlib import Path

from . import ledger


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=(__doc__ or "").replace("``", ""),
                                     allow_abbrev=False)
    parser.add_argument("--quick", action="store_true", help="the CI-sized run")
    parser.add_argument("--only", metavar="TEXT", help="run the claims and figures whose name contains TEXT")
    parser.add_argument("--out", default="report", metavar="DIR", help="output folder (default: report)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        parser.error(f"--out {args.out!r} exists and is not a folder")
    problem = None if args.only is None else ledger.unknown_only(args.only)
    if problem:
        parser.error(problem)
    results = ledger.run(args.quick, args.only)
    records = ledger.as_records(results)
    ledger.write(records, out)
    pngs = ledger.draw_figures(args.quick, out, args.only)
    print(ledger.table(records))
    print(f"\n{ledger.summary(records)}")
    print(f"wrote {args.out}/ledger.json, {args.out}/ledger.md and {len(pngs)} figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
