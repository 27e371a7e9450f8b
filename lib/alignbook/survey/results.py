"""Notebook 07: the chapter's claims (:mod:`.claims`) judged from the recorded metrics by the book's ledger
(:mod:`alignbook.engine.claims`)."""

from __future__ import annotations

import dataclasses

from ..engine.config import BaseConfig


@dataclasses.dataclass(frozen=True)
class SurveyResultsConfig(BaseConfig):
    """Notebook 07: each claim beside this chapter's measurement and verdict."""
