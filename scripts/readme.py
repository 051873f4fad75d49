"""Regenerate the README's generated sections: the rule table from the registry, the
ledger summary from docs/report/ledger.json (a committed full analysis run), the storage
variants from the bitsandbytes and torchao flavors.

    python scripts/readme.py          # rewrite README.md in place
    python scripts/readme.py --check  # exit 1 if README.md is stale (the tests run this)

A section is the text between ``<!-- begin NAME -->`` and ``<!-- end NAME -->``.
"""
from __future__ import annotations

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import refopt  # noqa: E402
from analysis.ledger import cell  # noqa: E402


def _math(latex: str) -> str:
    """Equations for a table cell. GitHub unescapes ``\\|`` to ``|`` before it renders math, so
    the norm bars are written ``\\Vert`` and absolute-value bars ``\\vert``: no bare ``|``."""
    lines = [line.strip().replace("\\|", "\\Vert ").replace("|", "\\vert ")
             for line in latex.splitlines() if line.strip()]
    return "<br>".join(f"${line}$" for line in lines)


def rules_table() -> str:
    rows = ["| family | rule | paper | hook | update | state buffers | checked against (rtol) |",
            "|---|---|---|---|---|---|---|"]
    for name, info in refopt.RULES.items():
        checked = "<br>".join(f"{impl} ({rtol:g})" for impl, rtol in info.checked_against.items())
        rows.append(f"| {cell(info.family)} | `{name}` | {cell(info.paper)} | {cell(info.hook)} | {_math(info.equations)} "
                    f"| {info.buffers} | {checked or '—'} |")
    return "\n".join(rows)


REPORT = ROOT / "docs" / "report"   # the committed output of a full `python -m analysis --out docs/report`
FIGURES = (("adam_step_bound", "Adam's largest possible step, lr units, vs t: the true supremum and the notes' bound"),
           ("counterexample_trajectories", "Reddi et al.'s online problem: Adam goes to the worst point, AMSGrad to the best"),
           ("gallery", "Every registered rule on a ravine, Rosenbrock and a saddle"))


def ledger_section() -> str:
    sys.path.insert(0, str(ROOT))
    from analysis import ledger
    records = json.loads((REPORT / "ledger.json").read_text())
    lines = [ledger.summary(records) + " Full text: [docs/report/ledger.md](docs/report/ledger.md).",
             "", ledger.table(records), ""]
    for name, caption in FIGURES:
        lines += [f"![{caption}](docs/report/{name}.png)", f"*{caption}.*", ""]
    return "\n".join(lines).rstrip()


def _state_bytes(state, leaf: str) -> tuple[int, list[str]]:
    """(bytes of the state's buffers for ``leaf``, the buffers kept quantized)."""
    from refopt.storage import is_quantized_leaf
    total, quantized = 0, []
    for field in type(state)._fields[1:]:
        x = getattr(state, field)[leaf]
        if is_quantized_leaf(x):
            bits = 8 * x[0].nbytes // STORAGE_SIZE
            quantized.append(f"{field} ({bits}-bit codes, {x[1].size} {x[1].dtype} scales)")
            total += sum(a.nbytes for a in x)
        elif hasattr(x, "nbytes"):
            total += x.nbytes
    return total, quantized


STORAGE_SIZE = 65536   # a leaf above every library's size threshold, a whole number of blocks


def storage_table() -> str:
    """The storage variants: each library class's flavor, its quantized buffers and the state
    bytes per parameter measured on its own state arrays (``refopt.flavors.<library>``)."""
    import numpy as np
    from refopt import flavors
    rows = ["| library class | refopt flavor | buffers stored quantized (65,536 entries) | state bytes per param "
            "| checked against |", "|---|---|---|---|---|"]
    required = {"SGD8bit": {"lr": 0.01, "momentum": 0.9}}
    for key in ("bitsandbytes", "torchao"):
        module = flavors.MODULES.get(key)
        for name in getattr(module, "__all__", ()):
            opt = getattr(module, name)(**required.get(name, {}))
            state = opt.init({"w": np.zeros(STORAGE_SIZE, np.float32)})
            nbytes, quantized = _state_bytes(state, "w")
            if not quantized:  # a library class with full-precision state (bitsandbytes' AdEMAMix)
                continue
            rows.append(f"| `{module.PREFIX}{name}` | `refopt.flavors.{key}.{name}` | {', '.join(quantized)} "
                        f"| {nbytes / STORAGE_SIZE:.4g} | {cell(module.CHECKED)} |")
    return "\n".join(rows)


SECTIONS = {"rules": rules_table, "ledger": ledger_section, "storage": storage_table}


def render(text: str) -> str:
    for name, make in SECTIONS.items():
        pattern = re.compile(rf"(<!-- begin {name} -->\n).*?(<!-- end {name} -->)", re.S)
        if not pattern.search(text):
            raise SystemExit(f"README.md has no section {name!r}")
        text = pattern.sub(lambda m: m.group(1) + make() + "\n" + m.group(2), text)
    return text


def main() -> int:
    path = ROOT / "README.md"
    old = path.read_text()
    new = render(old)
    if "--check" in sys.argv:
        if new != old:
            print("README.md is stale: run python scripts/readme.py")
            return 1
        return 0
    path.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
