"""Assemble and render the book from executed notebooks (Jupyter Book 1.x, offline, strict).

``prepare(profile)`` copies ``build/<profile>/notebooks`` to ``book/_executed`` (the paths
``book/_toc.yml`` names) and writes the Results page from every run's ``metrics.json``;
``build()`` runs ``jupyter-book build book -W -n --keep-going``. Jupyter Book never executes
anything (``execute_notebooks: "off"``): papermill already did, in the chosen profile.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import paths
from .config import ConfigError
from .metrics import METRICS_FILE, format_value
from .runner import book_order, load_manifest


def book_dir() -> Path:
    return paths.repo_root() / "book"


def collect_metrics(profile: str) -> list[dict[str, Any]]:
    """Every recorded metric of ``profile``, with the notebook that recorded it, in book order."""
    runs = paths.build_dir(profile) / "runs"
    order = {name: i for i, name in enumerate(book_order())}
    rows = []
    for file in sorted(runs.rglob(METRICS_FILE)):
        notebook = str(file.parent.relative_to(runs))
        if notebook not in order:  # trainers' own files deeper in a run folder are not headline numbers
            continue
        for name, entry in json.loads(file.read_text()).items():
            if isinstance(entry, dict) and "value" in entry:
                rows.append({"notebook": notebook, "name": name, **entry})
    rows.sort(key=lambda r: (order[r["notebook"]], r["name"]))
    return rows


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def results_page(profile: str) -> str:
    rows = collect_metrics(profile)
    lines = [
        "# Results",
        "",
        "Every headline number the notebooks recorded, with the profile that produced it. The "
        "paper's number, where one exists, stands in its own column: a number from the `test` or "
        "`smoke` profile is a small-scale reproduction on the toy world or a short run, not a "
        "replication of the paper's figure.",
        "",
    ]
    if not rows:
        return "\n".join(lines + ["No notebook has recorded a metric yet."]) + "\n"
    chapter = None
    for row in rows:
        this_chapter = row["notebook"].split("/")[0]
        if this_chapter != chapter:
            chapter = this_chapter
            lines += ["", f"## {chapter}", "", "| notebook | metric | ours | profile | paper | meaning |",
                      "|---|---|---|---|---|---|"]
        paper = row.get("paper")
        lines.append(
            f"| {_cell(row['notebook'].split('/')[1])} | `{_cell(row['name'])}` | {_cell(format_value(row))} "
            f"| {row.get('profile', '?')} | {_cell(paper) if paper is not None else '—'} "
            f"| {_cell(row.get('description', ''))} |"
        )
    return "\n".join(lines) + "\n"


def prepare(profile: str) -> Path:
    """Copy the executed notebooks of ``profile`` into ``book/_executed`` and write the Results page."""
    source = paths.build_dir(profile) / "notebooks"
    target = book_dir() / "_executed"
    missing = [n for n in book_order() if not (source / f"{n}.ipynb").exists()]
    if missing:
        raise ConfigError(
            f"not executed in profile {profile!r}: {', '.join(missing)}; run "
            f"`alignbook run --profile {profile}` first (make book does)"
        )
    failed = [n for n, r in load_manifest(profile).items() if r.get("status") not in ("ok", None) and n in book_order()]
    if failed:
        raise ConfigError(f"these notebooks failed in profile {profile!r}: {', '.join(failed)}; see build/{profile}/manifest.json")
    wanted = {f"{n}.ipynb": for_the_page((source / f"{n}.ipynb").read_bytes()) for n in book_order()}
    wanted["results.md"] = results_page(profile).encode()
    wanted["PROFILE"] = f"{profile}\n".encode()
    _sync(target, wanted)
    return target


def for_the_page(notebook: bytes) -> bytes:
    """The executed notebook as the book shows it: the notebook's default ``parameters`` cell is
    tagged ``remove-cell``, because papermill's injected cell right after it holds the values that ran,
    and paths in that injected cell are shown relative to the repository (where this machine keeps
    the checkout is no part of the result). The executed copy under ``build/`` keeps everything."""
    nb = json.loads(notebook)
    root = f"{paths.repo_root()}/"
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if "injected-parameters" in tags:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = source.replace(root, "")
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode()


def _sync(target: Path, files: dict[str, bytes]) -> None:
    """Make ``target`` hold exactly ``files``, touching only what changed.

    Sphinx rebuilds a page only when its file changed, so an unchanged book re-renders in seconds.
    """
    for rel, data in files.items():
        path = target / rel
        if not path.exists() or path.read_bytes() != data:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    if target.exists():
        for path in sorted(target.rglob("*"), reverse=True):
            rel = str(path.relative_to(target))
            if path.is_file() and rel not in files:
                path.unlink()
            elif path.is_dir() and not any(path.iterdir()):
                path.rmdir()


MATHJAX_PACKAGE = "jupyter_server_mathjax"
"""A PyPI package whose ``static/`` folder is MathJax 2.7 (BSD-3; the Jupyter server extension itself is
never used). Installed with ``--no-deps`` from ``requirements-nodeps.txt``."""


def vendor_mathjax() -> Path:
    """Copy MathJax into ``book/_extra/mathjax`` (gitignored) so pages render math offline.

    Sphinx copies ``_extra`` (``html_extra_path``) to the site's root as it is, and ``_config.yml``
    points ``mathjax_path`` there; without it, math would render only where the reader's browser
    can reach a CDN. (Not ``_static``: Jupyter Book adds every ``.js`` file under ``_static`` to
    every page, and MathJax has hundreds.)
    """
    spec = importlib.util.find_spec(MATHJAX_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"{MATHJAX_PACKAGE} is not installed, so the book has no offline MathJax: run "
                          "`make install` (it installs requirements-nodeps.txt)")
    source = Path(spec.submodule_search_locations[0]) / "static"
    target = book_dir() / "_extra" / "mathjax"
    if not (target / "MathJax.js").exists() or (target / "MathJax.js").read_bytes() != (source / "MathJax.js").read_bytes():
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target)
    return target


def build(strict: bool = True) -> Path:
    """Render ``book/`` to HTML; with ``strict``, any Sphinx warning fails the build."""
    vendor_mathjax()
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book_dir())]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    proc = subprocess.run(cmd)
    if proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(cmd)}` failed with exit code {proc.returncode}")
    return book_dir() / "_build" / "html" / "index.html"
