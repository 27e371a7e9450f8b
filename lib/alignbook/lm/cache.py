"""Build-once directories for artefacts that later notebooks and chapters reuse.

The toy world's pretrained base model and its SFT model take minutes to train; every chapter
that needs them calls :func:`cached` with the same ``key`` (the config that determines them) and
gets the same folder back. Building is atomic: ``build`` fills a private temporary folder that
is renamed into place only when it returns, so a crash never leaves a half-written model
behind. A file lock makes concurrent callers (two notebooks, two test processes) wait for the
first builder instead of training the same model twice.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

from ..engine.paths import cache_dir

KEY_FILE = "cache_key.json"
"""Written into every cache folder: the key it was built from, for humans and for checking."""

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"__dataclass__": type(value).__name__, **_jsonable(dataclasses.asdict(value))}
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise TypeError(
        f"cache key value {value!r} of type {type(value).__name__} is not JSON-like; "
        "use numbers, strings, lists, dicts or dataclasses of those"
    )


def cache_key_hash(key: Mapping[str, Any]) -> str:
    """A short, stable hash of ``key`` (key order does not matter)."""
    text = json.dumps(_jsonable(key), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def cached(name: str, key: Mapping[str, Any], build: Callable[[Path], None]) -> Path:
    """Return ``cache_dir()/<name>-<hash(key)>``, calling ``build(dir)`` to fill it the first time.

    ``key`` must hold everything the contents depend on (config, seed, data version, code
    version if it matters): a different key gives a different folder. ``build`` receives an
    empty temporary folder and writes into it; if it raises, nothing is cached and the error
    propagates. Delete the folder to force a rebuild.
    """
    if not isinstance(name, str) or not _NAME.match(name):
        raise ValueError(
            f"name={name!r} must be a plain folder name (letters, digits, '-', '_', '.'), "
            "e.g. 'toy-world-base-lm'"
        )
    if not isinstance(key, Mapping):
        raise TypeError(f"key must be a dict of what the contents depend on, not {type(key).__name__}")
    if not callable(build):
        raise TypeError("build must be a function taking the folder to fill")
    root = cache_dir()
    digest = cache_key_hash(key)
    final = root / f"{name}-{digest}"
    if (final / KEY_FILE).exists():
        return final
    with open(root / f".{name}-{digest}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # later callers wait here until the first build is done
        try:
            if (final / KEY_FILE).exists():
                return final
            if final.exists():  # a folder without its key file is debris from a foreign writer
                shutil.rmtree(final)
            for debris in root.glob(f".tmp-{name}-{digest}-*"):  # left by a builder that was killed
                shutil.rmtree(debris, ignore_errors=True)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-{digest}-", dir=root))
            try:
                build(tmp)
                (tmp / KEY_FILE).write_text(json.dumps(_jsonable(key), indent=2, sort_keys=True) + "\n")
                os.rename(tmp, final)
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return final
