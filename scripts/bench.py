"""One optimizer step of refopt (canonical and refopt.fast), torch.optim (foreach, fused) and
optax (jit, donated buffers) in the same process, as ratios against torch on one thread.

    python scripts/bench.py [--sizes 1e4,1e5,1e6,1e7] [--rules adam,sgd,...] [--out DIR]

Each size runs in a process of its own (``scripts/bench_impls.py``: what is timed and how), so one
size's memory and thread pools never reach the next. Per rule, layout (one flat float32 tensor, or
100 tensors) and implementation this prints the median step time, the ratio against torch foreach
and against torch fused, both on one thread (the stable denominators on a shared machine; "-"
where torch has no such class or no fused form of it), the
achieved bandwidth (the rule's bytes per parameter times the size over the time) as a fraction of
the roofline measured in the same run, and the peak extra memory of one step. Then the targets at
the largest size, flat, one thread, each met or missed. Writes DIR/bench.json (every row) and
DIR/bench.png (time per parameter against size, one line per implementation) and the printed
table as DIR/bench.txt (DIR: docs/bench).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_impls import RULES  # noqa: E402  (the one table of what is timed)


def run_sizes(sizes: list[int], rules: str) -> list[dict]:
    rows = []
    for k, size in enumerate(sizes):
        print(f"[{k + 1}/{len(sizes)}] size {size:.0e}", file=sys.stderr, flush=True)
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rows.json"
            subprocess.run([sys.executable, str(HERE / "bench_impls.py"), str(size), str(out), "--rules", rules],
                           check=True)
            rows += json.loads(out.read_text())
    return rows


def _find(rows: list[dict], **match) -> dict | None:
    return next((r for r in rows if all(r[k] == v for k, v in match.items())), None)


def _ratio(row: dict, denominator: dict | None) -> str:
    return f"{row['median_s'] / denominator['median_s']:.2f}" if denominator else "-"


def table(rows: list[dict]) -> str:
    head = (f"{'rule':<22}{'size':>7} {'layout':<12}{'implementation':<15}{'thr':>4}{'us/step':>11}"
            f"{'/foreach1':>10}{'/fused1':>9}{'roofline':>9}{'peak MB':>9}")
    lines = [head, "-" * len(head)]
    for r in rows:
        key = dict(rule=r["rule"], size=r["size"], layout=r["layout"], threads=1)
        foreach, fused = _find(rows, impl="torch foreach", **key), _find(rows, impl="torch fused", **key)
        roof = _find(rows, impl="roofline", rule=r["rule"], size=r["size"], layout="flat", threads=r["threads"] or 1)
        bandwidth = r["bytes_per_param"] * r["size"] / r["median_s"]
        roof_bw = roof and roof["bytes_per_param"] * roof["size"] / roof["median_s"]
        peak = max(r["traced_peak_bytes"], r["rss_peak_bytes"]) / 2**20
        lines.append(f"{r['rule']:<22}{r['size']:>7.0e} {r['layout']:<12}{r['impl']:<15}{r['threads'] or 'xla':>4}"
                     f"{r['median_s'] * 1e6:>11.1f}{_ratio(r, foreach):>10}{_ratio(r, fused):>9}"
                     f"{(f'{bandwidth / roof_bw:.0%}' if roof_bw else '-'):>9}{peak:>9.1f}")
    return "\n".join(lines)


def targets(rows: list[dict]) -> list[tuple[str, float, str, float, bool]]:
    """(what, measured, ">=" or "<=", bound, met) at the largest size, flat, one thread."""
    size = max(r["size"] for r in rows)

    def row(impl, rule):
        return _find(rows, impl=impl, rule=rule, size=size, layout="flat", threads=1)

    def t(impl, rule):
        return row(impl, rule)["median_s"]

    out = []
    present = {r["rule"] for r in rows}
    for rule in ("adam", "sgd", "momentum"):
        if rule in present:
            out.append((f"fast {rule} / torch fused {rule}", t("refopt.fast", rule) / t("torch fused", rule),
                        "<=", 1.0))
    if "adam" in present:
        fast = row("refopt.fast", "adam")
        out += [("fast adam bandwidth / roofline", t("roofline", "adam") / fast["median_s"], ">=", 0.8),
                ("fast adam peak extra MB per step",
                 max(fast["traced_peak_bytes"], fast["rss_peak_bytes"]) / 2**20, "<=", 1.0),
                ("canonical adam / torch foreach adam", t("refopt", "adam") / t("torch foreach", "adam"), "<=", 3.0)]
    return [(w, m, op, b, m >= b if op == ">=" else m <= b) for w, m, op, b in out]


def summary(rows: list[dict]) -> list[str]:
    """Per rule at the largest size, one thread: fast against torch (flat), its share of the
    roofline, canonical against torch foreach, and fast against canonical on 100 tensors."""
    size = max(r["size"] for r in rows)
    lines = [f"{'rule':<22}{'fast/foreach':>13}{'fast/fused':>11}{'roofline':>9}{'canon/foreach':>14}"
             f"{'fast/canon 100t':>16}"]
    for rule in dict.fromkeys(r["rule"] for r in rows):
        def t(impl, layout="flat"):
            row = _find(rows, impl=impl, rule=rule, size=size, layout=layout, threads=1)
            return row["median_s"] if row else None

        def ratio(a, b, fmt="{:.2f}"):
            return fmt.format(a / b) if a and b else "-"
        fast = t("refopt.fast")
        lines.append(f"{rule:<22}{ratio(fast, t('torch foreach')):>13}{ratio(fast, t('torch fused')):>11}"
                     f"{ratio(t('roofline'), fast, '{:.0%}'):>9}{ratio(t('refopt'), t('torch foreach')):>14}"
                     f"{ratio(t('refopt.fast', '100 tensors'), t('refopt', '100 tensors')):>16}")
    return lines


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rules = list(dict.fromkeys(r["rule"] for r in rows))
    cols = min(4, len(rules))
    nrows = -(-len(rules) // cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 3.6 * nrows), sharey=True, squeeze=False)
    # one colour per implementation across panels: a panel without torch's class must not shift the rest
    keys = list(dict.fromkeys((r["impl"], r["threads"]) for r in rows))
    colour = {key: f"C{k % 10}" for k, key in enumerate(keys)}
    for ax, rule in zip(axes.flat, rules):
        mine = [r for r in rows if r["rule"] == rule and r["layout"] == "flat"]
        for impl, threads in dict.fromkeys((r["impl"], r["threads"]) for r in mine):
            pts = sorted((r["size"], r["median_s"] / r["size"] * 1e9) for r in mine
                         if (r["impl"], r["threads"]) == (impl, threads))
            label = f"{impl} ({threads} thr)" if threads else f"{impl} (XLA threads)"
            ax.plot(*zip(*pts), marker="o", label=label, color=colour[impl, threads],
                    linestyle="--" if impl == "roofline" else "-")
        ax.set(xscale="log", yscale="log", title=f"{rule}, one float32 tensor", xlabel="parameters")
    for ax in list(axes.flat)[len(rules):]:
        ax.axis("off")
    for row in axes:
        row[0].set_ylabel("ns per parameter per step")
    handles, labels = max((ax.get_legend_handles_labels() for ax in axes.flat), key=lambda hl: len(hl[1]))
    fig.legend(handles, labels, fontsize=9, loc="center right")
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    fig.savefig(path, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1e4,1e5,1e6,1e7", help="comma-separated (default: %(default)s)")
    parser.add_argument("--rules", default=",".join(RULES), help="default: %(default)s")
    parser.add_argument("--out", default="docs/bench", help="folder for bench.json and bench.png")
    args = parser.parse_args()
    sizes = [int(float(s)) for s in args.sizes.split(",")]
    unknown = set(args.rules.split(",")) - set(RULES)
    if unknown:
        parser.error(f"--rules: unknown {sorted(unknown)}; known: {', '.join(RULES)}")
    rows = run_sizes(sizes, args.rules)
    lines = [table(rows), "", f"at {max(sizes):.0e}, one thread:", *summary(rows), "",
             f"targets at {max(sizes):.0e}, flat, one thread:"]
    lines += [f"  {what:<40} {measured:8.2f}  (target {op} {bound:g}: {'met' if met else 'MISSED'})"
              for what, measured, op, bound, met in targets(rows)]
    print("\n".join(lines))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.txt").write_text("\n".join(lines) + "\n")
    (out / "bench.json").write_text(json.dumps(rows, indent=1) + "\n")
    plot(rows, out / "bench.png")
    print(f"wrote {out / 'bench.json'} and {out / 'bench.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
