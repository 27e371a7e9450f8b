"""Where the book keeps its sources, executed notebooks, runs and caches.

Layout (all under the repository root unless ``ALIGNBOOK_BUILD`` / ``ALIGNBOOK_CACHE`` say otherwise)::

    notebooks/<chapter>/<name>.ipynb + <name>.yaml    sources (never written by the runner)
    build/<profile>/notebooks/<chapter>/<name>.ipynb  executed copies
    build/<profile>/runs/<chapter>/<name>/            metrics.json, figures, checkpoints
    build/<profile>/manifest.json                     what ran, how long, cache keys
    build/cache/                                      models reused across chapters, keyed by config
"""

from __future__ import annotations

import os
from pathlib import Path


def repo_root() -> Path:
    """The repository root: ``ALIGNBOOK_ROOT`` or three levels above this module (``lib/alignbook/engine``)."""
    env = os.environ.get("ALIGNBOOK_ROOT")
    if env:
        return Path(env).resolve()
    return Path(__file__).resolve().parents[3]


def notebooks_dir() -> Path:
    return repo_root() / "notebooks"


def build_dir(profile: str) -> Path:
    base = os.environ.get("ALIGNBOOK_BUILD")
    return (Path(base) if base else repo_root() / "build") / profile


def run_dir(profile: str, notebook: str) -> Path:
    """The run folder of ``notebook`` (``chapter/name``) in ``profile``."""
    return build_dir(profile) / "runs" / notebook


def executed_path(profile: str, notebook: str) -> Path:
    return build_dir(profile) / "notebooks" / f"{notebook}.ipynb"


def cache_dir() -> Path:
    """Models and data reused across notebooks and chapters (e.g. the toy world's base model)."""
    env = os.environ.get("ALIGNBOOK_CACHE")
    path = Path(env) if env else repo_root() / "build" / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path
