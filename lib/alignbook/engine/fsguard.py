"""Never write, truncate or delete through a symbolic link out of the project's own folders.

alignbook writes under a few roots only (:func:`roots`): the build folder (``build/`` or
``$ALIGNBOOK_BUILD``), the model cache, and ``book/`` (its generated folders ``_executed``, ``_build``
and ``_extra``). A root itself may be a link (a build folder on a bigger disk is the user's choice),
but nothing *below* a root may be: a link planted there (``build/test/locks/x.lock
-> ~/.bashrc``, ``book/_executed -> ~/Documents``) would otherwise have an ordinary command truncate,
overwrite or empty a file elsewhere. :func:`check` refuses such a path with an :class:`UnsafePath`
that names the link and the fix; the write helpers here call it, and open with ``O_NOFOLLOW`` where
they open at all, so a link planted between the check and the open is refused too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from . import paths
from .config import ConfigError


class UnsafePath(ConfigError):
    """A path alignbook was about to write, truncate or delete runs through a symbolic link."""


def roots() -> list[Path]:
    """The folders alignbook writes into, as absolute paths (links not resolved)."""
    found = [paths.build_root(), paths.cache_root(), paths.repo_root() / "book"]
    return list(dict.fromkeys(Path(os.path.abspath(p)) for p in found))


def _root_of(path: Path) -> Path | None:
    """The deepest root that contains ``path`` (None when none does)."""
    inside = [r for r in roots() if path == r or r in path.parents]
    return max(inside, key=lambda r: len(r.parts)) if inside else None


def _link_message(link: Path) -> str:
    try:
        target = os.readlink(link)
    except OSError:
        target = "?"
    where = paths.display(link)
    return (f"{where} is a symbolic link (to {target}): alignbook never writes, truncates or deletes through a "
            f"link out of its own folders. Remove the link (`rm {where}`) and run again")


def check(path: str | Path, root: str | Path | None = None) -> Path:
    """``path`` as an absolute path, if no component between ``root`` and it (itself included) is a link.

    ``root`` defaults to the deepest of :func:`roots` holding ``path``; a path under none of them is
    checked only for being a link itself. A path outside an explicit ``root`` is refused.
    """
    path = Path(os.path.abspath(path))
    base = Path(os.path.abspath(root)) if root is not None else _root_of(path)
    if base is None:
        if path.is_symlink():
            raise UnsafePath(_link_message(path))
        return path
    if path != base and base not in path.parents:
        raise UnsafePath(f"{paths.display(path)} is outside {paths.display(base)}, the only folder this step writes to")
    current = base
    for part in path.relative_to(base).parts:
        current = current / part
        if current.is_symlink():
            raise UnsafePath(_link_message(current))
        if not current.exists():
            break  # nothing below a missing folder exists yet
    return path


def mkdir(path: str | Path) -> Path:
    """``mkdir -p`` after :func:`check`."""
    path = check(path)
    path.mkdir(parents=True, exist_ok=True)
    return check(path)


def unlink(path: str | Path) -> None:
    """Remove a file (a missing one is fine) after :func:`check`."""
    check(path).unlink(missing_ok=True)


def rmtree(path: str | Path) -> None:
    """Remove a folder (a missing one is fine) after :func:`check`; links inside are removed, never followed."""
    path = check(path)
    if path.is_dir():
        shutil.rmtree(path)
    elif path.exists():
        path.unlink()


def replace(source: str | Path, target: str | Path) -> None:
    """``os.replace`` after checking both ends."""
    os.replace(check(source), check(target))


def write_bytes(path: str | Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file beside it and ``os.replace`` (atomic)."""
    path = check(path)
    mkdir(path.parent)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(check(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, check(path))
    finally:
        if tmp.exists() and not tmp.is_symlink():
            tmp.unlink()
    return path


def open_lock(path: str | Path) -> int:
    """A descriptor for a lock file (created if missing), never through a link."""
    path = check(path)
    mkdir(path.parent)
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o644)
    except OSError as err:
        if path.is_symlink():  # planted between the check and the open
            raise UnsafePath(_link_message(path)) from None
        raise err
