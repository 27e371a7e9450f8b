"""Safe, atomic checkpoint files: tensors and plain data only, never code.

``save(path, payload)`` writes a temporary file beside ``path`` and renames it over ``path``,
so a kill mid-save leaves the previous checkpoint intact, and records the file's SHA-256 beside it
(``.<name>.sha256``): ``load`` refuses a checkpoint changed since (a resumed run never continues from
an edited or damaged file). ``load(path)`` reads with
``torch.load(weights_only=True)``: a file that would run code on loading (a copied-in build
folder from elsewhere) is refused, and a damaged one raises :class:`CheckpointError` with a fix.

A payload may hold tensors, state dicts (model, optimiser, scheduler) and plain Python data:
dict, list, tuple, str, int, float, bool, None. Convert anything else (numpy arrays, numpy RNG
states, dataclasses) to plain data first; ``save`` refuses it rather than write an unloadable file.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from . import paths

_LEAVES = (str, int, float, bool, type(None), torch.Tensor, torch.dtype, torch.device, torch.Size)
FIX = "delete it to start this run afresh, or rerun the notebook with `alignbook run <notebook> --force`"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be loaded safely (damaged, truncated, or carrying code)."""


def _check_plain(value: Any, where: str = "payload") -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            _check_plain(key, f"{where} key {key!r}")
            _check_plain(item, f"{where}[{key!r}]")
    elif isinstance(value, (list, tuple)) and not isinstance(value, torch.Size):
        for i, item in enumerate(value):
            _check_plain(item, f"{where}[{i}]")
    elif not isinstance(value, _LEAVES):
        raise TypeError(f"{where} is a {type(value).__name__}; a checkpoint holds only tensors and plain data "
                        "(dict, list, tuple, str, int, float, bool, None): convert it first")


def save(path: str | Path, payload: Any) -> Path:
    """Write ``payload`` to ``path`` atomically (temporary file in the same folder, then rename)."""
    path = Path(path)
    _check_plain(payload)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        digest_tmp = _digest_file(tmp)
        digest_tmp.write_text(_sha256(tmp) + "\n")
        os.replace(tmp, path)  # a kill between these two leaves a digest that refuses, never one that lies
        os.replace(digest_tmp, _digest_file(path))
    finally:
        tmp.unlink(missing_ok=True)
        _digest_file(tmp).unlink(missing_ok=True)
    return path


def _digest_file(path: Path) -> Path:
    """Where :func:`save` records a checkpoint's SHA-256 (checked by :func:`load`)."""
    return path.with_name(f".{path.name}.sha256")


def _sha256(path: Path) -> str:
    from .store import digest

    return digest(path).removeprefix("sha256:")


def fix_for(path: Path) -> str:
    """What to do about a damaged checkpoint: a cache entry is deleted whole (it is rebuilt on next use);
    a run folder's checkpoint is deleted, or the notebook rerun with ``--force``."""
    cache = paths.cache_root()
    absolute = Path(os.path.abspath(path))
    if cache in absolute.parents:
        entry = cache / absolute.relative_to(cache).parts[0]
        return f"delete its cache entry (`rm -r {paths.display(entry)}`): it is rebuilt on the next run"
    return FIX


def _reason(exc: BaseException) -> str:
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    # torch's weights-only refusal opens with advice to load unsafely; report the refusal itself
    pick = next((line for line in lines if "nsupported" in line), lines[0] if lines else "")
    pick = pick.replace("WeightsUnpickler error: ", "").split(". Please use")[0]
    text = f"{type(exc).__name__}: {pick}" if pick else f"{type(exc).__name__} (file ends early or is empty)"
    return text if len(text) <= 200 else text[:197] + "..."


def load(path: str | Path) -> Any:
    """Read a checkpoint written by :func:`save` (or any ``torch.save`` of tensors and plain data)."""
    path = Path(path)
    recorded = _digest_file(path)
    if recorded.exists() and path.exists() and recorded.read_text().strip() != _sha256(path):
        raise CheckpointError(f"cannot load checkpoint {paths.display(path)}: it changed since it was saved "
                              f"(its SHA-256 is not the one recorded beside it); {fix_for(path)}")
    try:
        return torch.load(path, weights_only=True, map_location="cpu")
    except FileNotFoundError:
        raise
    except Exception as exc:
        why = ("it is damaged or holds objects other than tensors and plain data (refused: they could run code)"
               if isinstance(exc, pickle.UnpicklingError) else "it is damaged or truncated")
        raise CheckpointError(f"cannot load checkpoint {paths.display(path)}: {why} ({_reason(exc)}); "
                              f"{fix_for(path)}") from exc
