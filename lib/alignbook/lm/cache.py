"""Build-once directories for artefacts that later notebooks and chapters reuse.

The toy world's pretrained base model and its SFT model take minutes to train; every chapter
that needs them calls :func:`cached` with the same ``key`` (the config that determines them) and
gets the same folder back. Building is atomic: ``build`` fills a private temporary folder that
is renamed into place only when it returns, so a crash never leaves a half-written model
behind. A file lock makes concurrent callers (two notebooks, two test processes) wait for the
first builder instead of training the same model twice.

Every byte is checked: when an entry is built, the SHA-256 of each of its files is recorded
(:data:`DIGESTS_FILE`), and every later use reads the files again and compares (SmolLM2's 540 MB
fp32 copy takes about 0.4 s on this project's 2-core machine; a file already checked by this
process and not written since is not read twice). An entry whose files were edited, replaced,
added or removed is reported on stderr, deleted and built again; it is never used. The builder's
own code (its module and everything that imports, :func:`builder_code_hash`) is part of every key,
so editing how an artefact is made rebuilds it even where the caller's key forgot the code.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Mapping

from ..engine import fsguard
from ..engine.paths import cache_dir, display

KEY_FILE = "cache_key.json"
"""Written into every cache folder: the key it was built from, for humans and for checking."""

DIGESTS_FILE = "cache_digests.json"
"""Written into every cache folder: the SHA-256 of every other file in it, checked on every use."""

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


def builder_code_hash(build: Callable[[Path], None] | None) -> str:
    """The library code a builder can execute: its module and what that imports (empty for a builder
    defined outside ``alignbook``, e.g. in a test)."""
    module = getattr(build, "__module__", None) or ""
    if not module.startswith("alignbook."):
        return ""
    from ..engine.deps import code_hash

    return code_hash(module)


def _digests(folder: Path) -> dict[str, str]:
    """``{relative path: sha256:hex}`` of every file in ``folder`` except :data:`DIGESTS_FILE`."""
    from ..engine.store import digest

    return {str(p.relative_to(folder)): digest(p) for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.is_symlink() and p.name != DIGESTS_FILE}


def damage(folder: Path) -> str | None:
    """What is wrong with a built entry (None when every file is the one recorded at build time)."""
    try:
        recorded = json.loads((folder / DIGESTS_FILE).read_text())
    except (OSError, ValueError):
        return f"it has no readable {DIGESTS_FILE} (built before files were checked, or damaged)"
    links = [str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_symlink()]
    if links:
        return f"{links[0]} is a symbolic link"
    found = _digests(folder)
    for label, names in (("changed", [n for n in recorded if n in found and found[n] != recorded[n]]),
                         ("missing", [n for n in recorded if n not in found]),
                         ("added", [n for n in found if n not in recorded])):
        if names:
            return f"{', '.join(names[:3])} {'was' if len(names) == 1 else 'were'} {label} since it was built"
    return None


def cached(name: str, key: Mapping[str, Any], build: Callable[[Path], None]) -> Path:
    """Return ``cache_dir()/<name>-<hash(key, builder code)>``, calling ``build(dir)`` to fill it the first time.

    ``key`` must hold everything the contents depend on besides the builder's code (config, seed, data
    version): a different key gives a different folder. ``build`` receives an empty temporary folder
    and writes into it; if it raises, nothing is cached and the error propagates. An entry whose
    files no longer match their digests is rebuilt (and says so on stderr).
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
    full_key = {**key, "__code__": builder_code_hash(build)}
    root = cache_dir()
    digest = cache_key_hash(full_key)
    final = fsguard.check(root / f"{name}-{digest}")
    if (final / DIGESTS_FILE).exists() and damage(final) is None:
        return final
    fd = fsguard.open_lock(root / f".{name}-{digest}.lock")
    with os.fdopen(fd, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # later callers wait here until the first build is done
        try:
            if final.exists():
                problem = damage(final)
                if problem is None:
                    return final
                if (final / DIGESTS_FILE).exists():  # an entry that was once whole: say what broke
                    print(f"alignbook: the cached {display(final)} cannot be used: {problem}; "
                          "rebuilding it", file=sys.stderr)
                fsguard.rmtree(final)
            for debris in root.glob(f".tmp-{name}-{digest}-*"):  # left by a builder that was killed
                fsguard.rmtree(debris)
            tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{name}-{digest}-", dir=root))
            try:
                build(tmp)
                (tmp / KEY_FILE).write_text(json.dumps(_jsonable(full_key), indent=2, sort_keys=True) + "\n")
                (tmp / DIGESTS_FILE).write_text(json.dumps(_digests(tmp), indent=1, sort_keys=True) + "\n")
                os.rename(tmp, fsguard.check(final))
            except BaseException:
                shutil.rmtree(tmp, ignore_errors=True)
                raise
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
    return final
