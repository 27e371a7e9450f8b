"""Preference rows (PKU-SafeRLHF schema) to padded token tensors, and prompt formatting.

A row has the PKU-SafeRLHF fields ``prompt``, ``response_0``, ``response_1``,
``is_response_0_safe``, ``is_response_1_safe``, ``better_response_id``, ``safer_response_id``.
The reward model sees pairs ordered by ``better_response_id``, the cost model pairs ordered by
``safer_response_id`` plus each response's safety sign.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Mapping, Sequence

import torch

PROMPT_TEMPLATE = "BEGINNING OF CONVERSATION: USER: {input} ASSISTANT:"
"""The official conversation template (``safe_rlhf/configs/constants.py``)."""

REQUIRED_FIELDS = (
    "prompt",
    "response_0",
    "response_1",
    "is_response_0_safe",
    "is_response_1_safe",
    "better_response_id",
    "safer_response_id",
)


def format_prompt(prompt: str, template: str = PROMPT_TEMPLATE) -> str:
    if "{input}" not in template:
        raise ValueError(f"prompt_template={template!r} must contain '{{input}}'")
    return template.format(input=prompt)


def special_ids(tokenizer: Any) -> tuple[int, int]:
    """``(pad_id, eos_id)``; they must differ, or the score would be read at a padding token."""
    pad, eos = getattr(tokenizer, "pad_token_id", None), getattr(tokenizer, "eos_token_id", None)
    if pad is None or eos is None:
        raise ValueError(
            "the tokenizer needs pad_token_id and eos_token_id; add '<pad>' and '</s>' special tokens"
        )
    if pad == eos:
        raise ValueError(
            f"pad_token_id == eos_token_id == {pad}: the score model reads the score at the last "
            "non-padding token, so padding must be a distinct token (add a '<pad>' token)"
        )
    return int(pad), int(eos)


def encode(tokenizer: Any, text: str) -> list[int]:
    """Token ids of ``text`` without special tokens (HF tokenizers and ``tokenizers.Tokenizer``)."""
    try:
        ids = tokenizer.encode(text, add_special_tokens=False)
    except TypeError:
        ids = tokenizer.encode(text)
    return list(getattr(ids, "ids", ids))


def pad_right(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest sequence: ``(input_ids, attention_mask)``."""
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, seq in enumerate(sequences):
        ids[i, : len(seq)] = torch.tensor(seq, dtype=torch.long)
        mask[i, : len(seq)] = 1
    return ids, mask


def pad_left(sequences: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Left-pad (prompts for generation): ``(input_ids, attention_mask)``."""
    length = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), length), dtype=torch.long)
    for i, seq in enumerate(sequences):
        if len(seq):
            ids[i, length - len(seq) :] = torch.tensor(seq, dtype=torch.long)
            mask[i, length - len(seq) :] = 1
    return ids, mask


def prompt_ids(tokenizer: Any, prompt: str, template: str = PROMPT_TEMPLATE) -> list[int]:
    """``bos`` (when the tokenizer has one) + the formatted prompt, as the SFT model was trained.

    A chat template that already opens with the ``bos`` token (SmolLM2's ``<|im_start|>``) gets no
    second one: the model saw one in its own training, not two.
    """
    bos = getattr(tokenizer, "bos_token_id", None)
    ids = encode(tokenizer, format_prompt(prompt, template))
    if bos is None or (ids and ids[0] == int(bos)):
        return ids
    return [int(bos)] + ids


def check_rows(rows: Sequence[Mapping[str, Any]], where: str = "rows") -> None:
    if len(rows) == 0:
        raise ValueError(f"{where} is empty; pass at least one preference row")
    missing = [f for f in REQUIRED_FIELDS if f not in rows[0]]
    if missing:
        raise ValueError(f"{where} lack the PKU-SafeRLHF fields {missing}; rows need {list(REQUIRED_FIELDS)}")


@dataclasses.dataclass
class ScorePairs:
    """Tokenised pairs: ``high`` should score above ``low`` (better > worse; unsafer > safer).

    ``*_sign`` is the cost sign of each response: +1 unsafe, -1 safe.
    """

    high: list[list[int]]
    low: list[list[int]]
    high_sign: torch.Tensor
    low_sign: torch.Tensor

    def __len__(self) -> int:
        return len(self.high)

    def batch(self, index: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
        high_ids, high_mask = pad_right([self.high[i] for i in index], pad_id)
        low_ids, low_mask = pad_right([self.low[i] for i in index], pad_id)
        idx = torch.as_tensor(list(index), dtype=torch.long)
        return {
            "high_ids": high_ids,
            "high_mask": high_mask,
            "low_ids": low_ids,
            "low_mask": low_mask,
            "high_sign": self.high_sign[idx],
            "low_sign": self.low_sign[idx],
        }


def tokenize_pairs(
    rows: Sequence[Mapping[str, Any]],
    tokenizer: Any,
    kind: str,
    max_length: int,
    prompt_template: str = PROMPT_TEMPLATE,
) -> ScorePairs:
    """Tokenise ``bos + prompt + " " + response + eos`` for both responses, ordered for ``kind``.

    ``kind="reward"`` orders by ``better_response_id``, ``kind="cost"`` by ``safer_response_id``
    (the unsafer response goes first, it should cost more). Sequences longer than ``max_length``
    keep their first ``max_length - 1`` tokens and end with ``eos``, so every sequence is scored
    at an ``eos`` as in training.
    """
    if kind not in ("reward", "cost"):
        raise ValueError(f"kind={kind!r} must be 'reward' or 'cost'")
    if max_length < 2:
        raise ValueError(f"max_length={max_length} must be >= 2 (a token and eos)")
    check_rows(rows)
    _, eos = special_ids(tokenizer)
    high, low, high_sign, low_sign = [], [], [], []
    for row in rows:
        head = prompt_ids(tokenizer, row["prompt"], prompt_template)
        seqs, signs = [], []
        for r in (0, 1):
            ids = (head + encode(tokenizer, " " + str(row[f"response_{r}"])))[: max_length - 1]
            seqs.append(ids + [eos])
            signs.append(-1 if bool(row[f"is_response_{r}_safe"]) else 1)
        first = int(row["better_response_id"] if kind == "reward" else 1 - int(row["safer_response_id"]))
        if first not in (0, 1):
            raise ValueError(f"better/safer_response_id must be 0 or 1, got {first} in row {row}")
        high.append(seqs[first])
        low.append(seqs[1 - first])
        high_sign.append(signs[first])
        low_sign.append(signs[1 - first])
    return ScorePairs(high, low, torch.tensor(high_sign), torch.tensor(low_sign))


def tokenize_responses(
    prompts: Iterable[str],
    responses: Iterable[str],
    tokenizer: Any,
    max_length: int,
    prompt_template: str = PROMPT_TEMPLATE,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-padded ``prompt + response + eos`` for scoring arbitrary responses."""
    pad, eos = special_ids(tokenizer)
    seqs = []
    for prompt, response in zip(prompts, responses):
        ids = prompt_ids(tokenizer, prompt, prompt_template) + encode(tokenizer, " " + response)
        seqs.append(ids[: max_length - 1] + [eos])
    return pad_right(seqs, pad)
