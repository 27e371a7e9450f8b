"""The result object every trainer returns: metrics, history, checkpoint, config."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path
from typing import Any

RESULT_FILE = "result.json"


@dataclasses.dataclass
class TrainResult:
    """What a training run produced; notebooks, tests and figures all read this."""

    metrics: dict[str, Any]
    """Final numbers (e.g. ``final_loss``), JSON-serialisable."""
    history: list[dict[str, Any]]
    """One record per logged step or epoch, in order."""
    checkpoint: str | None
    """Folder holding the trained weights, or None when nothing was saved."""
    config: dict[str, Any]
    """The resolved config that produced this result (``dataclasses.asdict``)."""

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        (directory / RESULT_FILE).write_text(json.dumps(dataclasses.asdict(self), indent=1, default=str))
        return directory

    missing_hint = "has the training notebook run?"
    """What :meth:`load` suggests when there is no result yet (subclasses name their trainer)."""

    @classmethod
    def load(cls, directory: str | Path) -> "TrainResult":
        path = Path(directory) / RESULT_FILE
        if not path.exists():
            raise FileNotFoundError(f"no {RESULT_FILE} in {directory}; {cls.missing_hint}")
        return cls(**json.loads(path.read_text()))

    def column(self, key: str) -> list[Any]:
        """One metric over the history, e.g. ``result.column("loss")``."""
        return [row[key] for row in self.history if key in row]


def config_fingerprint(cfg: Any) -> Any:
    """A config as plain JSON data (tuples → lists), for comparing a saved run with a new request."""
    data = dataclasses.asdict(cfg) if dataclasses.is_dataclass(cfg) else cfg
    return json.loads(json.dumps(data, default=str, sort_keys=True))


def reusable(saved_config: Any, cfg: Any) -> bool:
    """Whether a finished run saved with ``saved_config`` can stand for a run of ``cfg``.

    Resuming must never hand back a run made with other parameters: a notebook rerun with
    ``-p lr=...`` would otherwise show the old numbers under the new settings.
    """
    return config_fingerprint(saved_config) == config_fingerprint(cfg)


def load_finished(path: str | Path, fingerprint: Any) -> dict[str, Any] | None:
    """A finished part of a run saved by :func:`save_finished` (a seed of a multi-seed trainer), if it was
    made with ``fingerprint`` and is byte for byte what was saved (its digest is stored with it); a part
    made with anything else, or edited since, is deleted (its whole folder) and None returned, so it is
    run again and never shown under other settings."""
    path = Path(path)
    if not path.exists():
        return None
    try:
        saved = json.loads(path.read_text())
    except (OSError, ValueError):
        saved = {}
    if isinstance(saved, dict) and saved.pop("_digest", None) == _summary_digest(saved) \
            and reusable(saved.get("config"), fingerprint):
        return saved
    shutil.rmtree(path.parent)  # made with other settings, or changed since it was written: run it again
    return None


def _summary_digest(summary: dict[str, Any]) -> str:
    import hashlib

    return hashlib.sha256(json.dumps(summary, sort_keys=True, default=str).encode()).hexdigest()


def save_finished(path: str | Path, summary: dict[str, Any]) -> None:
    """Write a finished part's ``summary`` (with its ``config`` fingerprint) atomically: a kill mid-write
    leaves no half file for :func:`load_finished` to trust."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    plain = json.loads(json.dumps(summary))
    tmp.write_text(json.dumps({**plain, "_digest": _summary_digest(plain)}, indent=1))
    tmp.replace(path)

