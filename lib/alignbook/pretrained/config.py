"""The configuration every real-model page shares: which model, which real prompts, how the judges are fitted."""

from __future__ import annotations

import dataclasses
from typing import Annotated

from ..engine.config import BaseConfig, ConfigError, Count, Natural, OneOf, Range
from .models import MODELS

HARMFUL_SETS = ("harmbench", "donotanswer", "advbench")
"""The harmful-request sets of :data:`alignbook.data.prompts.PROMPT_SETS`."""
BENIGN_SETS = ("mtbench", "freshqa")
"""The benign-request sets."""


@dataclasses.dataclass(frozen=True)
class RealPromptsConfig(BaseConfig):
    """A real pretrained model on real harmful and benign prompts, judged by proxies fitted on human labels.

    Training prompts come from the sets' train halves, evaluation prompts from their held-out halves
    (:func:`alignbook.data.prompts.split_of`), the same for every seed. A chapter's config adds its
    trainer's fields (and may redeclare a field here with its own default and meaning).
    """

    model: Annotated[str, OneOf(tuple(MODELS))] = "smollm2-135m-instruct"
    """The pretrained model the page starts from (:data:`alignbook.pretrained.MODELS`)."""
    harmful_sets: Annotated[tuple[str, ...], OneOf(HARMFUL_SETS)] = HARMFUL_SETS
    """Harmful prompt sets (training prompts from their train halves, evaluation from the held-out halves)."""
    benign_sets: Annotated[tuple[str, ...], OneOf(BENIGN_SETS)] = BENIGN_SETS
    """Benign prompt sets."""
    train_harmful: Count = 48
    """Harmful training prompts."""
    train_benign: Count = 16
    """Benign training prompts."""
    eval_harmful: Count = 32
    """Held-out harmful prompts judged before and after training (the same for every seed)."""
    eval_benign: Count = 32
    """Held-out benign prompts judged before and after training."""
    max_prompt_tokens: Annotated[int, Range(16, 1024)] = 96
    """Prompts longer than this many tokens in the model's chat template are not drawn (none is cut)."""
    judge_rows: Natural = 0
    """Human-labelled rows each judge is fitted and tested on (0: all of them)."""
    judge_eval_fraction: Annotated[float, Range(0.1, 0.9)] = 0.3
    """Share of the human-labelled prompts held out to test the judges."""
    bootstrap: Count = 200
    """Bootstrap resamples for the judges' confidence intervals."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.harmful_sets or not self.benign_sets:
            raise ConfigError("harmful_sets=... and benign_sets=... must each name at least one prompt set")


__all__ = ["BENIGN_SETS", "HARMFUL_SETS", "RealPromptsConfig"]
