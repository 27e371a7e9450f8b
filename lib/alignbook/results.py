"""The result object every trainer returns: metrics, history, checkpoint, config."""

from __future__ import annotations

import dataclasses
import json
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
        path = directory / RESULT_FILE
        path.write_text(json.dumps(dataclasses.asdict(self), indent=2, default=str))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "TrainResult":
        path = Path(directory) / RESULT_FILE
        if not path.exists():
            raise FileNotFoundError(f"no {RESULT_FILE} in {directory}; has the training notebook run?")
        return cls(**json.loads(path.read_text()))

    def column(self, key: str) -> list[Any]:
        """One metric over the history, e.g. ``result.column("loss")``."""
        return [row[key] for row in self.history if key in row]
