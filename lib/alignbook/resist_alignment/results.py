"""Notebook 05: the chapter's claims (:mod:`.claims`) judged from the recorded metrics by the book's ledger
(:mod:`alignbook.engine.claims`)."""

from __future__ import annotations

import dataclasses

from ..engine.config import BaseConfig


@dataclasses.dataclass(frozen=True)
class ResistResultsConfig(BaseConfig):
    """Notebook 05: each claim of the paper beside this chapter's measurement and verdict."""
