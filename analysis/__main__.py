"""``python -m analysis [--quick] [--only TEXT] [--out DIR]``: check every claim, print the
ledger, write DIR/ledger.json, DIR/ledger.md and the figures as DIR/<name>.png (DIR defaults
to report/). ``--only`` keeps the claims and figures whose name contains TEXT."""
import argparse
from pathlib import Path

from . import ledger


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m analysis", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the CI-sized run")
    parser.add_argument("--only", help="run the claims whose id contains this text")
    parser.add_argument("--out", default="report", help="output folder (default: report)")
    args = parser.parse_args()
    results = ledger.run(args.quick, args.only)
    records = ledger.as_records(results)
    ledger.write(records, Path(args.out))
    pngs = ledger.draw_figures(args.quick, Path(args.out), args.only)
    print(ledger.table(records))
    print(f"\nwrote {args.out}/ledger.json, {args.out}/ledger.md and {len(pngs)} figures")


if __name__ == "__main__":
    main()
