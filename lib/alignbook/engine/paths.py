"""Where the book keeps its sources, executed notebooks, runs and caches.

Layout (all under the repository root unless ``ALIGNBOOK_BUILD`` / ``ALIGNBOOK_CACHE`` say otherwise)::

    notebooks/<chapter>/<name>.ipynb + <name>.yaml    sources (never written by the runner)
    build/<profile>/notebooks/<chapter>/<name>.ipynb  executed copies
    build/<profile>/runs/<chapter>/<name>/            metrics.json, figures, checkpoints
    build/<profile>/manifest.json                     what ran, how long, cache keys
    build/cache/                                      models reused across chapters, keyed by config

Every path here is absolute: a relative ``ALIGNBOOK_BUILD`` is taken relative to the directory the
command was started in (the command line also rewrites the variable to that absolute path, so the
notebooks it starts, whose working directory is their run folder, mean the same folder).
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VARS = ("ALIGNBOOK_ROOT", "ALIGNBOOK_BUILD", "ALIGNBOOK_CACHE")
"""Environment variables naming folders; :func:`absolutise_environment` makes them absolute."""


def _absolute(text: str) -> Path:
    return Path(os.path.abspath(os.path.expanduser(text)))


def absolutise_environment() -> None:
    """Rewrite :data:`ENV_VARS` that hold relative paths as absolute ones (before starting children)."""
    for name in ENV_VARS:
        value = os.environ.get(name)
        if value:
            os.environ[name] = str(_absolute(value))


def repo_root() -> Path:
    """The repository root: ``ALIGNBOOK_ROOT`` or three levels above this module (``lib/alignbook/engine``)."""
    env = os.environ.get("ALIGNBOOK_ROOT")
    if env:
        return _absolute(env)
    return Path(__file__).resolve().parents[3]


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def build_root() -> Path:
    """The build folder holding every profile: ``$ALIGNBOOK_BUILD`` or ``build/`` in the repository."""
    base = os.environ.get("ALIGNBOOK_BUILD")
    return _absolute(base) if base else repo_root() / "build"


def build_dir(profile: str) -> Path:
    return build_root() / profile


def run_dir(profile: str, notebook: str) -> Path:
    """The run folder of ``notebook`` (``chapter/name``) in ``profile``."""
    return build_dir(profile) / "runs" / notebook


def executed_path(profile: str, notebook: str) -> Path:
    return build_dir(profile) / "notebooks" / f"{notebook}.ipynb"


def cache_root() -> Path:
    """The model cache's folder (not created): ``$ALIGNBOOK_CACHE`` or ``build/cache`` in the repository."""
    env = os.environ.get("ALIGNBOOK_CACHE")
    return _absolute(env) if env else repo_root() / "build" / "cache"


def cache_dir() -> Path:
    """Models and data reused across notebooks and chapters (e.g. the toy world's base model)."""
    from . import fsguard

    return fsguard.mkdir(cache_root())


def display(path: str | Path) -> str:
    """``path`` as a page or a message may show it, never with this machine's folders: relative to the
    repository inside it, else ``$ALIGNBOOK_BUILD/...`` or ``$ALIGNBOOK_CACHE/...`` under those."""
    path = _absolute(str(path))
    bases = [(repo_root(), ""), (build_root(), "$ALIGNBOOK_BUILD"), (cache_root(), "$ALIGNBOOK_CACHE")]
    for base, name in sorted(bases, key=lambda b: len(b[0].parts), reverse=True):
        if name and not os.environ.get(name[1:]):
            continue  # the default folders are inside the repository
        if path == base or base in path.parents:
            rel = path.relative_to(base)
            return str(Path(name) / rel) if name else str(rel)
    return str(path)


def machine_prefixes() -> list[tuple[str, str]]:
    """``(prefix, replacement)`` pairs that turn this machine's folders into :func:`display` form in text,
    longest first: the repository (as given and resolved), and the build and cache folders when moved."""
    pairs = []
    for base, name in ((build_root(), "ALIGNBOOK_BUILD"), (cache_root(), "ALIGNBOOK_CACHE")):
        if os.environ.get(name):
            for form in {str(base), str(base.resolve())}:
                pairs.append((form + "/", f"${name}/"))
    for form in {str(repo_root()), str(repo_root().resolve())}:
        pairs.append((form + "/", ""))
    return sorted(pairs, key=lambda p: len(p[0]), reverse=True)
