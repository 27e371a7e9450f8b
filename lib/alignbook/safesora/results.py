"""Notebook 05: the chapter's claims (:mod:`.claims`) judged from the recorded metrics by the book's ledger."""

from __future__ import annotations

import dataclasses

from ..engine.config import BaseConfig


@dataclasses.dataclass(frozen=True)
class SafeSoraResultsConfig(BaseConfig):
    """Notebook 05: each claim beside this chapter's measurement and verdict."""
