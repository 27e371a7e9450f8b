"""The result object every trainer of this chapter returns (metrics, history, checkpoint, config)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any


def _config_dict(config: Any) -> Any:
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    return config


@dataclasses.dataclass
class TrainResult:
    """What a trainer returns; ``save``/``load`` round-trip it through ``result.json``."""

    metrics: dict[str, float]
    """Final numbers (e.g. eval accuracy), plain floats."""
    history: list[dict[str, Any]]
    """One record per step (or per evaluation), in order."""
    checkpoint: str | None
    """Folder with the trained weights, or None when nothing was saved."""
    config: Any
    """The config that produced it (a dataclass, or its dict once loaded)."""
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """Anything figures need beyond history (e.g. held-out score distributions)."""

    FILE = "result.json"

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "metrics": self.metrics,
            "history": self.history,
            "checkpoint": self.checkpoint,
            "config": _config_dict(self.config),
            "extra": self.extra,
        }
        path = directory / self.FILE
        path.write_text(json.dumps(payload, indent=1))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "TrainResult":
        path = Path(directory) / cls.FILE
        if not path.exists():
            raise FileNotFoundError(f"no {cls.FILE} in {directory}; run the trainer (or its notebook) first")
        payload = json.loads(path.read_text())
        return cls(**payload)
