"""The two Aligner prompt templates: the released model's and the current repository's.

An Aligner reads a question ``x`` and an upstream answer ``y_o`` formatted by a template and
writes the correction ``y_c`` right after it. The two templates below are *not* interchangeable:
a model trained with one sees a different prefix at inference if given the other, and its
corrections degrade. So every trained Aligner records the template's name, and stacking refuses
a template that differs from the one it was trained with (:func:`check_same_template`).
"""

from __future__ import annotations

import dataclasses

from ..engine.config import ConfigError


@dataclasses.dataclass(frozen=True)
class AlignerTemplate:
    """A prompt that places ``question`` and ``answer`` before the correction the model writes."""

    name: str
    """Short name used in configs and checkpoints."""
    prompt: str
    """Format string with ``{question}`` and ``{answer}``; the correction follows it directly."""
    correction_prefix: str
    """Text put between the prompt and the correction (part of the target, e.g. a space)."""
    origin: str
    """Where the template comes from."""

    def format(self, question: str, answer: str) -> str:
        """The prompt the Aligner conditions on: the question and the answer to correct."""
        if not isinstance(question, str) or not isinstance(answer, str):
            raise TypeError(
                f"template {self.name!r}: question and answer must be strings, got "
                f"{type(question).__name__} and {type(answer).__name__}"
            )
        return self.prompt.format(question=question, answer=answer)


RELEASED = AlignerTemplate(
    name="released",
    prompt=(
        "BEGINNING OF CONVERSATION: USER: Edit the following Question-Answer pair to make it "
        "more helpful and harmless: {question} | {answer} ASSISTANT:"
    ),
    correction_prefix="",
    origin="the released aligner/aligner-7b-v1.0 model card (the template it was trained with)",
)
"""The template of the released Aligner checkpoints (safe-rlhf style conversation prompt). The
correction follows ``ASSISTANT:`` directly, as the safe-rlhf-style trainers join ``prompt + answer``."""

REPOSITORY = AlignerTemplate(
    name="repository",
    prompt=(
        "BEGINNING OF CONVERSATION: USER: ##Question: {question}\n##Answer: {answer}\n##Correction:  "
        "ASSISTANT:"
    ),
    correction_prefix="",
    origin="PKU-Alignment/aligner at 724d22b: CORRECTION_INSTRUCTION of training/datasets/raw/correction.py "
           "inside format_prompt's conversation (training/configs/constants.py)",
)
"""The template of the current official training code (PKU-Alignment/aligner at 724d22b):
``CORRECTION_INSTRUCTION = '##Question: {question}\\n##Answer: {answer}\\n##Correction: '``
(``aligner/training/datasets/raw/correction.py``) is the user turn of ``format_prompt``:
``'BEGINNING OF CONVERSATION: ' + 'USER: {input} ' + 'ASSISTANT:'`` (``training/configs/constants.py``),
hence two spaces before ``ASSISTANT:``; ``SupervisedDataset`` appends the correction with no space
(``prompt + answer + eos``)."""

TEMPLATES: dict[str, AlignerTemplate] = {t.name: t for t in (RELEASED, REPOSITORY)}
"""Every supported template by name."""


def get_template(name: str | AlignerTemplate) -> AlignerTemplate:
    """Look a template up by name (``"released"`` or ``"repository"``); templates pass through."""
    if isinstance(name, AlignerTemplate):
        return name
    if name not in TEMPLATES:
        raise ConfigError(
            f"template={name!r} is not an Aligner template; choose one of {sorted(TEMPLATES)}"
        )
    return TEMPLATES[name]


def check_same_template(trained_with: str, used_now: str) -> None:
    """Refuse to run an Aligner with a template other than the one it was trained with."""
    if get_template(trained_with).name != get_template(used_now).name:
        raise ConfigError(
            f"template={used_now!r} differs from the template this Aligner was trained with "
            f"({trained_with!r}); the two are not interchangeable, use template={trained_with!r}"
        )
