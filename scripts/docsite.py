"""The mkdocs hook that builds refopt's site: generated pages and KaTeX, nothing committed.

``mkdocs build --strict`` loads this file (mkdocs.yml ``hooks:``). At ``on_config`` it generates
every page from the code (scripts/docsite_pages.py: a page per rule, the cheat sheet, a page per
ledger claim, the API reference, getting started from README.md) and sets the navigation; at
``on_files`` it hands mkdocs those pages as in-memory files, with KaTeX's distribution, so the
site renders its formulas offline: no CDN at build or view time.

KaTeX comes from the npm registry as the pinned package tarball (``npm pack katex@VERSION``),
checked against the registry's published sha512 and unpacked into ``build/katex/`` (git-ignored)
once; ``REFOPT_KATEX_TGZ=/path/katex-VERSION.tgz`` uses a tarball fetched beforehand (CI).

``python scripts/docsite.py OUT_DIR`` writes the generated pages to OUT_DIR, to read them.
"""
from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the helper modules beside this file
from docsite_pages import nav, pages  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
KATEX_VERSION = "0.19.1"
# the registry's dist.integrity of katex-0.19.1.tgz (`npm view katex@0.19.1 dist.integrity`)
KATEX_SHA512 = "jG8uKntjSEcm2EpQOh0XturpPuuC9r3Sq5HLHdsFdWZT27E672SF19QEi+of0/YeOy15lDgRhKvr5614uRrEfA=="
KATEX_FILES = ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js")

_generated: dict[str, str] = {}


def katex_dist(cache: Path = ROOT / "build" / "katex") -> Path:
    """The unpacked ``dist/`` folder of the pinned KaTeX, fetched and verified if not cached."""
    dist = cache / f"katex-{KATEX_VERSION}" / "dist"
    if all((dist / f).exists() for f in KATEX_FILES):
        return dist
    tgz = Path(os.environ.get("REFOPT_KATEX_TGZ") or cache / f"katex-{KATEX_VERSION}.tgz")
    if not tgz.exists():
        cache.mkdir(parents=True, exist_ok=True)
        try:
            subprocess.run(["npm", "pack", f"katex@{KATEX_VERSION}", "--silent",
                            "--pack-destination", str(cache)], check=True, stdout=subprocess.DEVNULL)
        except FileNotFoundError:
            raise RuntimeError(f"KaTeX {KATEX_VERSION} is not in {cache} and npm is not installed: install "
                               f"npm, or set REFOPT_KATEX_TGZ to a katex-{KATEX_VERSION}.tgz") from None
    digest = base64.b64encode(hashlib.sha512(tgz.read_bytes()).digest()).decode()
    if digest != KATEX_SHA512:
        raise RuntimeError(f"{tgz}: sha512 {digest} is not katex {KATEX_VERSION}'s {KATEX_SHA512}")
    unpack = cache / "unpack"
    shutil.rmtree(unpack, ignore_errors=True)
    with tarfile.open(tgz) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith("package/dist/")]
        tar.extractall(unpack, members=members, filter="data")
    shutil.rmtree(dist.parent, ignore_errors=True)
    (unpack / "package").rename(dist.parent)
    unpack.rmdir()
    return dist


def on_config(config, **kwargs):
    generated, ctx = pages(ROOT)
    _generated.clear()
    _generated.update(generated)
    config["nav"] = nav(generated, ctx)
    return config


def on_files(files, config, **kwargs):
    from mkdocs.structure.files import File
    for path, text in _generated.items():
        files.append(File.generated(config, path, content=text))
    dist = katex_dist()
    for f in sorted(dist.rglob("*")):
        rel = f.relative_to(dist).as_posix()
        if f.is_file() and (rel in KATEX_FILES or rel.startswith("fonts/")):
            files.append(File.generated(config, f"assets/katex/{rel}", abs_src_path=str(f)))
    return files


if __name__ == "__main__":
    out, written = Path(sys.argv[1]), pages(ROOT)[0]
    for path, text in written.items():
        (out / path).parent.mkdir(parents=True, exist_ok=True)
        (out / path).write_text(text)
    print(f"wrote {len(written)} files into {out}")
