"""Assemble and render the book from executed notebooks (Jupyter Book 1.x, offline, strict).

``prepare(profile)`` copies each *valid* executed notebook of ``build/<profile>/notebooks`` to
``book/_executed`` (the paths ``book/_toc.yml`` names) and writes the Results page from those
notebooks' verified ``metrics.json``. A notebook without a valid result (it failed, timed out, was
interrupted, is out of date or was never run) gets a page that says so, with the error and the
command that reproduces it, and none of its numbers reach the Results page; ``prepare`` returns
those notebooks so the command can exit non-zero after rendering everything else.
``build()`` runs ``jupyter-book build book -W -n --keep-going``. Jupyter Book never executes
anything (``execute_notebooks: "off"``): papermill already did, in the chosen profile.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from . import claims, fsguard, paths, store
from .config import PROFILES, ConfigError
from .metrics import METRICS_FILE, format_number, format_value
from .runner import book_order, current_hashes, status_of


class BuildError(RuntimeError):
    """The HTML build failed; the message says how to see what went wrong."""


def relative(path: Path) -> str:
    """``path`` relative to the repository when it is inside it (never this machine's checkout path)."""
    try:
        return str(path.resolve().relative_to(paths.repo_root()))
    except ValueError:
        return str(path)


def book_dir() -> Path:
    return paths.repo_root() / "book"


def collect_metrics(profile: str, valid: list[str] | None = None) -> list[dict[str, Any]]:
    """Every recorded metric of the notebooks in ``valid`` (default: those whose stored result is
    valid), in book order; a ``metrics.json`` whose bytes differ from the run's record is skipped."""
    order = {name: i for i, name in enumerate(book_order())}
    manifest = store.load_manifest(profile)
    if valid is None:
        current = current_hashes()
        valid = [n for n in order if store.verify(profile, n, manifest, current) is None]
    rows = []
    for notebook in valid:
        data = store.read_verified(profile, notebook, METRICS_FILE, manifest.get(notebook, {}))
        if data is None:
            continue
        for name, entry in json.loads(data).items():
            if isinstance(entry, dict) and "value" in entry:
                rows.append({"notebook": notebook, "name": name, **entry})
    rows.sort(key=lambda r: (order[r["notebook"]], r["name"]))
    return rows


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def metrics_by_notebook(profile: str, valid: list[str] | None = None) -> dict[str, dict[str, dict[str, Any]]]:
    """``{notebook: {metric: entry}}`` of the valid results (see :func:`collect_metrics`)."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for row in collect_metrics(profile, valid):
        entry = {k: v for k, v in row.items() if k not in ("notebook", "name")}
        out.setdefault(row["notebook"], {})[row["name"]] = entry
    return out


def chapters() -> list[str]:
    """Notebook folders in book order."""
    return list(dict.fromkeys(name.split("/")[0] for name in book_order()))


def _chapter_title(chapter: str) -> str:
    """The chapter page's first heading (``book/<chapter>/index.md``), else the folder name."""
    page = book_dir() / chapter / "index.md"
    if page.exists():
        for line in page.read_text().splitlines():
            if line.startswith("# "):
                return line[2:].strip()
    return chapter


def _page_link(notebook: str, here: str = "_executed") -> str:
    """A MyST link to a notebook's page from a page in ``here``."""
    number = notebook.split("/")[1].split("_")[0]
    target = f"{notebook}.ipynb" if here == "_executed" else f"_executed/{notebook}.ipynb"
    return f"[notebook {number.lstrip('0') or '0'}]({target})"


def ledger(profile: str, valid: list[str] | None = None) -> dict[str, list[dict[str, str]]]:
    """``{chapter: claim rows}`` for every chapter that declares claims, judged on ``profile``'s
    valid results only (a claim whose notebook has none is ``not run``)."""
    metrics = metrics_by_notebook(profile, valid)
    return {chapter: claims.evaluate(module, metrics) for chapter, module in claims.declared(chapters()).items()}


def results_page(profile: str, valid: list[str] | None = None) -> str:
    """The Results page: the claims ledger in full, then every recorded metric, compactly."""
    lines = [
        "# Results",
        "",
        f"This site was built from the **{profile}** profile. Each chapter declares the claims it tests, "
        "with the criterion for *shown*, in `lib/alignbook/<chapter>/claims.py`; the verdicts below are "
        "computed from the metrics the notebooks recorded in this profile, and a notebook without a valid "
        "result gives *not run*, never an older number. *Not shown*, *partly shown*, *contrary* and "
        "*not testable* are outcomes of a reproduction, explained on the notebook's page.",
        "",
    ]
    if profile == "test":
        lines += ["```{warning}", "The `test` profile runs each notebook for seconds to check the plumbing: "
                  "its verdicts say nothing about the papers. The book to read is built from `smoke` or larger.",
                  "```", ""]
    rows_by_chapter = ledger(profile, valid)
    lines += ["## Claims", ""]
    if not rows_by_chapter:
        lines += ["No chapter declares claims yet.", ""]
    for chapter, rows in rows_by_chapter.items():
        module = claims.chapter_module(chapter)
        lines += [f"### {_chapter_title(chapter)}", "", getattr(module, "PAPER", ""), "", f"Verdicts: {claims.tally(rows)}.", "",
                  claims.markdown_table(rows, link=_page_link), ""]
    metrics = collect_metrics(profile, valid)
    lines += ["## Every recorded metric", "",
              "Each notebook's headline numbers, as recorded by the run (± is the spread over seeds; "
              "the paper's number, where there is one, is the paper's, from its own setting).", ""]
    if not metrics:
        return "\n".join(lines + ["No notebook has recorded a metric yet."]) + "\n"
    chapter = None
    for row in metrics:
        this_chapter = row["notebook"].split("/")[0]
        if this_chapter != chapter:
            if chapter is not None:
                lines += ["", ":::"]
            chapter = this_chapter
            count = sum(r["notebook"].split("/")[0] == chapter for r in metrics)
            lines += ["", f":::{{dropdown}} {_chapter_title(chapter)}: {count} metrics", "",
                      "| quantity | ours | paper | notebook |", "|---|---|---|---|"]
        paper = row.get("paper")
        paper_text = format_number(paper) if isinstance(paper, (int, float)) else (_cell(paper) if paper is not None else "–")
        words = row.get("description") or row["name"]
        lines.append(f"| {_cell(words)} | {_cell(format_value(row))} | {paper_text} | {_page_link(row['notebook'])} |")
    lines += ["", ":::"]
    return "\n".join(lines) + "\n"


def front_ledger(site_profile: str, valid: list[str]) -> str:
    """The front page's summary: per paper, the verdicts in each profile that has run (included by
    ``book/index.md``)."""
    shown = [p for p in PROFILES if p != "test"]
    by_profile = {p: ledger(p, valid if p == site_profile else None) for p in shown}
    lines = [f"This site was built from the **{site_profile}** profile. Verdicts per paper and profile, "
             "from the claims each chapter declares (details and criteria on the [Results](_executed/results.md) page):",
             "", "| paper | claims | " + " | ".join(f"`{p}`" for p in shown) + " |", "|---|---|" + "---|" * len(shown)]
    for chapter in by_profile[shown[0]]:
        n = len(by_profile[shown[0]][chapter])
        cells = [claims.tally(by_profile[p][chapter]) for p in shown]
        lines.append(f"| [{_chapter_title(chapter)}]({chapter}/index.md) | {n} | " + " | ".join(cells) + " |")
    if site_profile == "test":
        lines += ["", "The `test` profile (seconds per notebook, for CI) is not counted: it checks plumbing, not papers."]
    return "\n".join(lines) + "\n"


def _title(name: str) -> str:
    """The first Markdown heading of the source notebook (the page's title in the book)."""
    try:
        for cell in json.loads((paths.notebooks_dir() / f"{name}.ipynb").read_text())["cells"]:
            text = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "markdown" and text.lstrip().startswith("# "):
                return text.lstrip()[2:].splitlines()[0].strip()
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return name


def missing_page(profile: str, name: str, status: str, reason: str, record: dict[str, Any]) -> bytes:
    """A page (a notebook of Markdown cells) saying plainly that ``name`` has no valid result."""
    import nbformat

    command = f"alignbook run {name} --profile {profile}"
    words = {"never run": "not run yet", "stale": "out of date", "failed": "the run failed",
             "timeout": "the run timed out", "interrupted": "the run was interrupted",
             "invalid": "its outputs changed after the run", "running": "being executed right now"}
    lines = [f"# {_title(name)}", "",
             f"```{{admonition}} No result in the {profile} profile: {words.get(status, status)}",
             ":class: error",
             f"This page has no valid result in the **{profile}** profile: {reason}.",
             "", "Nothing from this notebook is shown in the book or counted on the Results page.", "```", "",
             "Reproduce it with:", "", "```bash", f".venv/bin/{command}", "```"]
    if record.get("status") in ("failed", "timeout") and record.get("error"):
        where = f"cell {record['cell']}: " if record.get("cell") is not None else ""
        lines += ["", "The error it stopped with:", "", "```text", f"{where}{record['error']}", "```"]
        if record.get("cell_source"):
            lines += ["", "in the cell:", "", "```python", record["cell_source"], "```"]
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("\n".join(lines), metadata={"tags": ["no-result"]})]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return (nbformat.writes(nb) + "\n").encode()


def prepare(profile: str) -> dict[str, str]:
    """Write ``book/_executed`` for ``profile``; return ``{notebook: why it has no page}`` (empty: all valid).

    Every valid executed notebook becomes its page (:func:`for_the_page`); every other notebook in
    the table of contents gets :func:`missing_page`. The executed copy is read once and its digest
    checked against the record, so a run finishing meanwhile cannot mix two results on one page.
    """
    target = book_dir() / "_executed"
    manifest = store.load_manifest(profile)
    current = current_hashes()
    wanted: dict[str, bytes] = {}
    problems: dict[str, str] = {}
    valid: list[str] = []
    for name in book_order():
        status, reason = status_of(profile, name, manifest, current)
        record = manifest.get(name, {})
        if record.get("rehearsal"):  # a rehearsal's numbers come from stand-ins: never a page's result
            status, reason = "invalid", "its result is a rehearsal of the paper run, not a paper result"
        data = None
        if status == "ok":
            data = paths.executed_path(profile, name).read_bytes()
            if "sha256:" + store.sha256_bytes(data) != record.get("notebook"):
                status, reason, data = "invalid", "its executed notebook changed while the book was prepared", None
        if data is None:
            problems[name] = f"{status}: {reason}" if reason else status
            wanted[f"{name}.ipynb"] = missing_page(profile, name, status, reason or "it has not run", record)
        else:
            valid.append(name)
            wanted[f"{name}.ipynb"] = for_the_page(data)
    wanted["results.md"] = results_page(profile, valid).encode()
    wanted["ledger.md"] = front_ledger(profile, valid).encode()
    wanted["PROFILE"] = f"{profile}\n".encode()
    _sync(target, wanted)
    return problems


_PROGRESS = re.compile(r"\d+%\|.*\||\d+/\d+ \[\d+:\d+|\bit/s\]|s/it\]")
"""A tqdm progress bar's line: what a page and a downloaded notebook should not carry."""


def _clean_text(text: str, prefixes: list[tuple[str, str]]) -> str:
    """``text`` without machine paths (checkout, build and cache folders: :func:`paths.machine_prefixes`)
    and without ``PosixPath(...)`` reprs."""
    text = re.sub(r"(?:Posix|Windows)?Path\('([^']*)'\)", r"'\1'", text)
    for prefix, replacement in prefixes:
        text = text.replace(prefix, replacement)
    return text


def _without_progress(text: str) -> str:
    kept = []
    for line in text.replace("\r\n", "\n").split("\n"):
        last = line.split("\r")[-1]  # a carriage return redraws the line: only the last state counts
        if not _PROGRESS.search(last):
            kept.append(last)
    return "\n".join(kept)


def for_the_page(notebook: bytes) -> bytes:
    """The executed notebook as the book shows it (and as a reader downloads it).

    - the notebook's default ``parameters`` cell is tagged ``remove-cell``, because papermill's
      injected cell right after it holds the values that ran;
    - no output or injected cell carries this machine's paths: the checkout and build folders are
      shown relative to the repository, ``PosixPath('…')`` reprs as plain strings;
    - progress bars (tqdm lines on stderr) are dropped; other stderr text, warnings, stays;
    - a figure's alt text (set by :func:`alignbook.plotting.save_figure` on its output) becomes the
      image's alt attribute on the page, instead of the image's file name.

    The executed copy under ``build/`` keeps everything.
    """
    nb = json.loads(notebook)
    prefixes = paths.machine_prefixes()

    def clean(value: Any) -> Any:
        if isinstance(value, list):
            return [clean(v) for v in value] if all(isinstance(v, str) for v in value) else value
        return _clean_text(value, prefixes) if isinstance(value, str) else value

    def clean_all(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: clean_all(v) for k, v in value.items()}
        if isinstance(value, list):
            return [clean_all(v) for v in value]
        return _clean_text(value, prefixes) if isinstance(value, str) else value

    nb["metadata"] = clean_all(nb.get("metadata", {}))  # papermill records where it read, wrote and ran
    for cell in nb["cells"]:
        tags = cell.setdefault("metadata", {}).setdefault("tags", [])
        if "parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if "injected-parameters" in tags:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            cell["source"] = _clean_text(source, prefixes)
        outputs = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream":
                text = "".join(out["text"]) if isinstance(out["text"], list) else out["text"]
                if out.get("name") == "stderr":
                    text = _without_progress(text)
                text = _clean_text(text, prefixes)
                if not text.strip():
                    continue
                out["text"] = text
            for kind, value in (out.get("data") or {}).items():
                if kind.startswith("text/") or kind in ("application/json",):
                    out["data"][kind] = clean(value)
            if out.get("output_type") == "error":
                out["traceback"] = [_clean_text(line, prefixes) for line in out.get("traceback", [])]
                out["evalue"] = _clean_text(out.get("evalue", ""), prefixes)
            alt = ((out.get("metadata") or {}).get("image/png") or {}).get("alt")
            if alt:
                image = cell["metadata"].setdefault("mystnb", {}).setdefault("image", {})
                image.setdefault("alt", alt)
            outputs.append(out)
        if "outputs" in cell:
            cell["outputs"] = outputs
    return (json.dumps(nb, indent=1, ensure_ascii=False) + "\n").encode()


def _sync(target: Path, files: dict[str, bytes]) -> None:
    """Make ``target`` hold exactly ``files``, touching only what changed, never through a link.

    Sphinx rebuilds a page only when its file changed, so an unchanged book re-renders in seconds.
    A link anywhere in ``target`` (or ``target`` itself) is refused before anything is written.
    """
    fsguard.check(target)
    if target.exists():
        for folder, dirs, names in os.walk(target):
            for entry in dirs + names:
                if (Path(folder) / entry).is_symlink():
                    fsguard.check(Path(folder) / entry)
    for rel, data in files.items():
        path = fsguard.check(target / rel)
        if not path.exists() or path.read_bytes() != data:
            fsguard.write_bytes(path, data)
    if target.exists():
        for path in sorted(target.rglob("*"), reverse=True):
            rel = str(path.relative_to(target))
            if path.is_file() and rel not in files:
                fsguard.unlink(path)
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
    target = fsguard.check(book_dir() / "_extra" / "mathjax")
    if not (target / "MathJax.js").exists() or (target / "MathJax.js").read_bytes() != (source / "MathJax.js").read_bytes():
        fsguard.rmtree(target)
        fsguard.mkdir(target.parent)
        shutil.copytree(source, target)
    return target


NEXT = ".next"
"""``book/_build/.next``: where Sphinx builds (and keeps its doctrees, so an unchanged book re-renders
in seconds); the finished HTML is copied from there and swapped into ``book/_build/html`` whole."""

COMPLETE = "COMPLETE"
"""Marks a ``.next`` folder whose last build finished; without it the next build starts from nothing."""


def build(strict: bool = True) -> Path:
    """Render ``book/`` to HTML; with ``strict``, any Sphinx warning fails the build.

    Sphinx writes into ``book/_build/.next``; only a build that finished replaces ``book/_build/html``,
    as a whole (the old site is renamed away, the new one renamed in), so a build stopped at any
    point (Ctrl-C, a failure) leaves the previous site exactly as it was, never a mix of two builds.
    Call it through :func:`render`, which holds the book's lock.
    """
    vendor_mathjax()
    out = fsguard.mkdir(book_dir() / "_build")
    nxt = fsguard.check(out / NEXT)
    if nxt.exists() and not (nxt / COMPLETE).exists():
        fsguard.rmtree(nxt)  # an interrupted build: its doctrees may not match its pages
    fsguard.mkdir(nxt)
    fsguard.unlink(nxt / COMPLETE)
    cmd = [str(Path(sys.executable).with_name("jupyter-book")), "build", str(book_dir()), "--path-output", str(nxt)]
    if strict:
        cmd += ["-W", "-n", "--keep-going"]
    try:
        proc = subprocess.run(cmd)
    except OSError as err:
        raise BuildError(f"cannot start jupyter-book ({err}); run `make install` to create the environment") from None
    if proc.returncode != 0:
        hint = ("the warnings above are errors in strict mode; fix them, or look at the pages anyway with "
                "`alignbook book --no-strict`") if strict else "see the errors above"
        raise BuildError(f"the book build failed (jupyter-book exit code {proc.returncode}): {hint}")
    (nxt / COMPLETE).write_text("")
    staging = fsguard.check(out / f".staging-{os.getpid()}")
    retired = fsguard.check(out / f".retired-{os.getpid()}")
    site = fsguard.check(out / "html")
    try:
        fsguard.rmtree(staging)
        shutil.copytree(nxt / "_build" / "html", staging)
        prune_images(staging)
        if site.exists():
            os.rename(site, retired)
        os.rename(staging, site)
    finally:
        fsguard.rmtree(staging)
        fsguard.rmtree(retired)
    return site / "index.html"


def render(profile: str, strict: bool = True) -> tuple[Path, dict[str, str]]:
    """Prepare the pages of ``profile`` and build the site, holding the book's lock: a second ``alignbook
    book`` waits for the first (and says so) instead of both writing the same folders.
    Returns the site's index and :func:`prepare`'s problems."""
    lock = fsguard.mkdir(book_dir() / "_build") / ".lock"
    with store.file_lock(lock, log=lambda line: print(line, file=sys.stderr), what="the book build"):
        problems = prepare(profile)
        return build(strict=strict), problems


def prune_images(site: Path) -> list[str]:
    """Delete the images in ``site/_images`` that no page shows (Sphinx keeps those of earlier builds,
    e.g. a figure from a run since replaced); return their names."""
    from .pages import pages

    images = site / "_images"
    if not images.is_dir():
        return []
    shown = set()
    for page in pages(site):
        for src in re.findall(r'<img\b[^>]*\bsrc="([^"]+)"', page.read_text(errors="replace")):
            shown.add((page.parent / src.split("#")[0].split("?")[0]).resolve())
    removed = []
    for image in sorted(images.iterdir()):
        if image.is_file() and image.resolve() not in shown:
            image.unlink()
            removed.append(image.name)
    return removed
