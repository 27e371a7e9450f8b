"""The result store: an executed notebook, its metrics and its run folder are valid only together.

Per profile, under ``build/<profile>/``::

    manifest.json           one record per notebook: status, cache key, and a digest of every output
    notebooks/<nb>.ipynb    executed copies; replaced whole (``os.replace``) only after a run succeeded
    runs/<nb>/              run folders; ``runs/<nb>/.alignbook-run.json`` (the *stamp*) names the key
                            that made the folder's contents and whether that run finished
    failed/<nb>.ipynb       the executed copy of the last failed run (for its error page)
    locks/                  ``fcntl`` locks: exclusive while a notebook executes, shared while a
                            notebook that depends on it executes, one for the manifest itself

A notebook's result is *valid for key K* only when all of these hold (:func:`verify`):

- its record says ``ok`` with key K;
- the executed notebook exists and its SHA-256 is the one recorded when the run finished;
- the run folder's stamp says it finished with key K;
- the run folder holds exactly the files recorded, with the recorded SHA-256 of every byte: a
  deleted run folder, an injected ``metrics.json`` or an edited result file (same size, modification
  time put back) all make the result invalid;
- its key is the one computed *today* from the notebook, its YAML (defaults, profile block, launch
  block, dependencies), the library code and data files it can read, the pins and the installed
  environment (``current``, from :mod:`alignbook.engine.runner`): an edited profile block or data
  file makes a stored result out of date, not valid;
- every notebook it depends on is valid too, with the keys this one was computed from.

Nothing is written, truncated or deleted through a symbolic link below the build folder
(:mod:`alignbook.engine.fsguard`): a planted link is refused with a message naming it.

The record is written last (the commit point), so a run killed at any moment leaves nothing that
counts as finished: the next run sees a record that is not ``ok`` and executes again. A run folder
is reused only by a run of the same key that did not finish (resuming an interrupted run), never
across keys, and never with ``--force``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import errno
import fcntl
import hashlib
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterator

from . import fsguard, paths
from .config import ConfigError

STAMP = ".alignbook-run.json"
"""The run folder's stamp: ``{"key": ..., "state": "running" | "finished" | "failed" | "interrupted"}``."""

NOTEBOOK_OUTPUTS = ("metrics.json", "figures")
"""What a notebook's own cells write into its run folder: removed before every execution, so a
resumed run can never keep a metric or figure of an earlier attempt."""


class StoreError(ConfigError):
    """The build folder cannot be read or written as it should; the message names the file and the fix."""


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_DIGESTS: dict[tuple[str, int, int, int, int, int], str] = {}
"""SHA-256 of files already read by this process, keyed by path, device, inode, size and modification
and change times: any write changes the change time (which no user call can set back), so a file
is read again exactly when it may have changed."""


def digest(path: Path) -> str:
    """``sha256:<hex>`` of every byte of ``path`` (remembered per process while the file is unchanged)."""
    stat = path.stat()
    memo = (str(path), stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)
    if memo not in _DIGESTS:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        _DIGESTS[memo] = "sha256:" + h.hexdigest()
    return _DIGESTS[memo]


def run_files(run_dir: Path) -> dict[str, str]:
    """Every file under ``run_dir`` (the stamp excluded) with its digest."""
    if not run_dir.is_dir():
        return {}
    found = {}
    for path in sorted(run_dir.rglob("*")):
        if path.is_file() and path.name != STAMP and "__pycache__" not in path.parts:
            found[str(path.relative_to(run_dir))] = digest(path)
    return found


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` through a temporary file and ``os.replace`` (never through a link)."""
    fsguard.write_bytes(path, json.dumps(data, indent=2, sort_keys=True, default=str).encode())


# -- locks ---------------------------------------------------------------------------------------


def lock_path(profile: str, name: str) -> Path:
    return paths.build_dir(profile) / "locks" / (name.replace("/", "__") + ".lock")


@contextlib.contextmanager
def file_lock(path: Path, shared: bool = False, log: Callable[[str], None] | None = None,
              what: str = "") -> Iterator[None]:
    """Hold an ``fcntl`` lock on ``path`` (exclusive, or shared); say so if it has to wait."""
    fd = fsguard.open_lock(path)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except OSError as err:
            if err.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip()
            if log is not None:
                log(f"  waiting: another alignbook run{f' (pid {holder})' if holder else ''} is using {what or path.stem}")
            fcntl.flock(fd, mode)
        if not shared:
            os.ftruncate(fd, 0)
            os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


@contextlib.contextmanager
def notebook_locks(profile: str, own: str, upstream: list[str], order: list[str],
                   log: Callable[[str], None] | None = None) -> Iterator[None]:
    """Exclusive on ``own``, shared on each of ``upstream``, taken in book order (no deadlock)."""
    rank = {name: i for i, name in enumerate(order)}
    wanted = sorted({own, *upstream}, key=lambda n: (rank.get(n, len(rank)), n))
    with contextlib.ExitStack() as stack:
        for name in wanted:
            stack.enter_context(file_lock(lock_path(profile, name), shared=name != own, log=log, what=name))
        yield


def is_locked(profile: str, name: str) -> bool:
    """Whether some process holds ``name``'s lock exclusively right now (it is executing)."""
    path = lock_path(profile, name)
    if not path.exists() or path.is_symlink():
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


# -- the manifest --------------------------------------------------------------------------------


def manifest_path(profile: str) -> Path:
    return paths.build_dir(profile) / "manifest.json"


def load_manifest(profile: str) -> dict[str, Any]:
    """All records of ``profile`` (empty when nothing has run). A damaged file is a named error."""
    path = manifest_path(profile)
    if not path.exists() and not path.is_symlink():
        return {}
    fsguard.check(path)
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise StoreError(
            f"{path} cannot be read ({type(err).__name__}: {err}); delete it and run again "
            "(every notebook whose result can no longer be verified executes again)"
        ) from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise StoreError(f"{path} is not a manifest (a mapping of notebook: record); delete it and run again")
    return data


def update_record(profile: str, name: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> dict:
    """Read-modify-write one notebook's record under the manifest lock (safe across processes).

    ``change`` gets the current record (``{}`` if none) and returns the new one (None deletes it).
    """
    with file_lock(paths.build_dir(profile) / "locks" / "manifest.lock"):
        manifest = load_manifest(profile)
        new = change(dict(manifest.get(name, {})))
        if new is None:
            manifest.pop(name, None)
        else:
            manifest[name] = new
        write_json_atomic(manifest_path(profile), manifest)
        return new or {}


# -- run folders ---------------------------------------------------------------------------------


def read_stamp(run_dir: Path) -> dict[str, Any]:
    if (run_dir / STAMP).is_symlink():
        return {}  # a planted link is never a stamp
    try:
        data = json.loads((run_dir / STAMP).read_text())
        return data if isinstance(data, dict) else {}
    except (OSError, ValueError):
        return {}


def write_stamp(run_dir: Path, key: str, state: str) -> None:
    write_json_atomic(run_dir / STAMP, {"key": key, "state": state, "pid": os.getpid(), "time": now()})


def prepare_run_dir(run_dir: Path, key: str, force: bool) -> str:
    """Make ``run_dir`` ready for a run of ``key``; return what was done (for the log).

    The folder's earlier contents are kept only to resume a run of the *same* key that did not
    finish (the trainers inside then continue from their own checkpoints); otherwise, and always
    with ``force``, the folder is emptied. The notebook's own outputs (:data:`NOTEBOOK_OUTPUTS`)
    are removed either way: the execution writes them anew.
    """
    fsguard.check(run_dir)
    stamp = read_stamp(run_dir)
    resume = (not force and stamp.get("key") == key and stamp.get("state") in ("running", "interrupted", "failed"))
    if resume:  # the trainers will write into what is kept: no link may lead them out of the folder
        for found in sorted(run_dir.rglob("*")):
            if found.is_symlink():
                fsguard.check(found)
    if run_dir.exists() and not resume:
        fsguard.rmtree(run_dir)
    fsguard.mkdir(run_dir)
    for name in NOTEBOOK_OUTPUTS:
        fsguard.rmtree(run_dir / name)
    write_stamp(run_dir, key, "running")
    return "resuming the unfinished run of the same key" if resume else "fresh run folder"


# -- verification --------------------------------------------------------------------------------


def verify(profile: str, name: str, manifest: dict[str, Any] | None,
           current: Callable[[str, dict[str, Any]], tuple[dict[str, str], list[str]] | None],
           _seen: frozenset = frozenset()) -> str | None:
    """Why ``name``'s stored result is not valid (None when it is); see the module docstring.

    ``current(name, record)``, when given, returns the notebook's key parts computed today for the
    record's seed and overrides, and its dependencies (:func:`alignbook.engine.runner.current_hashes`),
    or raises :class:`ConfigError` when its YAML no longer resolves: a result made from other inputs is
    *out of date* and not valid either. It is required: no caller can ask for validity without today's
    key (:func:`alignbook.engine.runner.status_of` computes it).
    """
    manifest = load_manifest(profile) if manifest is None else manifest
    record = manifest.get(name)
    if not record:
        return "it has not run in this profile"
    status = record.get("status")
    if status == "running":
        return ("another alignbook run is executing it right now" if is_locked(profile, name)
                else "its last run was interrupted before it finished")
    if status != "ok":
        return f"its last run {'timed out' if status == 'timeout' else status}: {record.get('error', '')}".rstrip(": ")
    if record.get("key") != job_key(record.get("hashes") or {}, record.get("upstream") or {}):
        return "its record was edited: its key is not the one its recorded inputs give"
    try:
        now_ = current(name, record)
    except ConfigError as err:
        return f"it is out of date: its parameters no longer resolve ({err})"
    if now_ is not None:
        hashes, depends_on = now_
        recorded = record.get("hashes", {})
        changed = [k for k in hashes if recorded.get(k) != hashes[k]]
        if sorted(depends_on) != sorted(record.get("upstream") or {}):
            changed.append("depends_on")
        if changed:
            return "it is out of date: " + ", ".join(dict.fromkeys(describe_change(c, name) for c in changed)) \
                + " changed since it ran"
    problem = outputs_problem(profile, name, record)
    if problem:
        return problem
    for dep, dep_key in (record.get("upstream") or {}).items():
        if dep in _seen:
            continue
        if manifest.get(dep, {}).get("key") != dep_key:
            return f"{dep}, whose results it read, has run again since"
        reason = verify(profile, dep, manifest, current, _seen | {name})
        if reason:
            return f"{dep}, whose results it read, is not valid: {reason}"
    return None


def job_key(hashes: dict[str, str], upstream: dict[str, str]) -> str:
    """A notebook's key: its own inputs' hashes and the keys of the notebooks it reads."""
    return sha256_bytes(json.dumps([hashes, sorted(upstream.items())], sort_keys=True).encode())


def outputs_problem(profile: str, name: str, record: dict[str, Any]) -> str | None:
    """Why the outputs of ``name``'s finished run no longer match its record (None when every byte
    does): the executed notebook, the run folder's stamp and every file of the run folder."""
    executed = paths.executed_path(profile, name)
    if not executed.is_file():
        return "its executed notebook is missing"
    if digest(executed) != record.get("notebook"):
        return "its executed notebook was changed after the run"
    run_dir = paths.run_dir(profile, name)
    stamp = read_stamp(run_dir)
    if stamp.get("key") != record.get("key") or stamp.get("state") != "finished":
        return "its run folder is missing or belongs to another run"
    files = run_files(run_dir)
    recorded = record.get("files", {})
    if files != recorded:
        extra = sorted(set(files) - set(recorded))
        missing = sorted(set(recorded) - set(files))
        changed = sorted(f for f in set(files) & set(recorded) if files[f] != recorded[f])
        parts = [f"{label} {', '.join(items[:3])}{' …' if len(items) > 3 else ''}"
                 for label, items in (("added", extra), ("missing", missing), ("changed", changed)) if items]
        return f"its run folder changed after the run ({'; '.join(parts)})"
    return None


KEY_PARTS = {
    "source": "the notebook",
    "parameters": "notebooks/{name}.yaml (its parameters or launch block)",
    "depends_on": "notebooks/{name}.yaml (its depends_on)",
    "library": "the library code or data files it reads",
    "lock": "the pinned environment (requirements.lock, requirements-*.txt)",
    "environment": "the installed environment (package versions, Python, the npm corpus)",
}
"""What each part of a notebook's key stands for, in the words :func:`verify` reports a change with."""


def describe_change(part: str, name: str) -> str:
    return KEY_PARTS.get(part, part).format(name=name)


def read_verified(profile: str, name: str, rel: str, record: dict[str, Any]) -> bytes | None:
    """The bytes of ``runs/<name>/<rel>`` if they match the record's digest (else None)."""
    path = paths.run_dir(profile, name) / rel
    try:
        data = path.read_bytes()
    except OSError:
        return None
    expected = record.get("files", {}).get(rel, "")
    return data if expected == "sha256:" + sha256_bytes(data) else None


def wait_for(predicate: Callable[[], bool], seconds: float, step: float = 0.05) -> bool:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(step)
    return predicate()
