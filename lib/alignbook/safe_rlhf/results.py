"""The chapter's result object: the book's :class:`alignbook.engine.results.TrainResult` plus ``extra``."""

from __future__ import annotations

import dataclasses
from typing import Any

from alignbook.engine.results import RESULT_FILE
from alignbook.engine.results import TrainResult as BookTrainResult


@dataclasses.dataclass
class TrainResult(BookTrainResult):
    """metrics, history, checkpoint, config (as everywhere in the book), and ``extra``."""

    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    """What figures need beyond the history (e.g. held-out scores and signs for distributions)."""

    FILE = RESULT_FILE
