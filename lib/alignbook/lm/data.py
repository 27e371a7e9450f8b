"""Tokenising prompt/completion pairs and plain text for causal-LM training.

Supervised fine-tuning trains on ``prompt + completion + eos`` but scores only the completion:
prompt positions get the label ``-100`` (:data:`IGNORE_INDEX`), which the loss skips, so the
model learns to answer, not to write prompts. This mirrors ``safe_rlhf/datasets/supervised.py``
upstream, where the labels of the prompt tokens are set to ``IGNORE_INDEX``.

Prompt and completion are tokenised separately and concatenated, so the boundary between them
is exact (a BPE merge across the boundary would otherwise blur which token is the first
completion token).
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping, Sequence

import torch

IGNORE_INDEX = -100
"""Label of positions that do not count in the loss (PyTorch's cross-entropy default)."""

Example = dict[str, list[int]]


def _ids(tokenizer, text: str, add_bos: bool) -> list[int]:
    if not isinstance(text, str):
        raise TypeError(f"expected a str to tokenise, got {type(text).__name__}: {text!r}")
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    return [tokenizer.bos_token_id, *ids] if add_bos else list(ids)


def _check_max_length(max_length: int) -> None:
    if not isinstance(max_length, int) or max_length < 3:
        raise ValueError(f"max_length={max_length!r} must be an integer >= 3 (bos, one prompt and one answer token)")


def encode_pair(tokenizer, prompt: str, completion: str, max_length: int = 512) -> Example:
    """Token ids, attention mask and labels of one ``(prompt, completion)`` pair.

    Layout: ``bos prompt completion eos``; ``labels`` equals ``input_ids`` on the completion
    and the ``eos``, and :data:`IGNORE_INDEX` on ``bos`` and the prompt.

    The length cap truncates the completion first: when ``prompt + completion + eos`` does not
    fit in ``max_length``, the completion is cut from its end and **no eos is appended** (the
    model should not learn to stop mid-answer). Only a prompt that leaves no room for a single
    completion token is cut as well, from its start (after ``bos``), so the text right before
    the answer (the ``ASSISTANT:`` cue of the chat template) survives.
    """
    _check_max_length(max_length)
    prompt_ids = _ids(tokenizer, prompt, add_bos=True)
    completion_ids = _ids(tokenizer, completion, add_bos=False) + [tokenizer.eos_token_id]
    room = max_length - len(prompt_ids)
    if room < 1:  # keep bos and the last max_length - 2 prompt tokens, leaving one answer slot
        prompt_ids = prompt_ids[:1] + prompt_ids[len(prompt_ids) - (max_length - 2):]
        room = 1
    if len(completion_ids) > room:
        completion_ids = completion_ids[:room]  # the cut drops eos as well
    input_ids = prompt_ids + completion_ids
    labels = [IGNORE_INDEX] * len(prompt_ids) + completion_ids
    return {"input_ids": input_ids, "attention_mask": [1] * len(input_ids), "labels": labels}


def _as_pair(item: Any, index: int) -> tuple[str, str]:
    if isinstance(item, Mapping):
        try:
            return item["prompt"], item["completion"]
        except KeyError as err:
            raise KeyError(
                f"pairs[{index}] has keys {sorted(item)}; it needs 'prompt' and 'completion'"
            ) from err
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1]
    raise TypeError(
        f"pairs[{index}]={item!r} must be a (prompt, completion) tuple or a dict with "
        "'prompt' and 'completion'"
    )


def encode_pairs(tokenizer, pairs: Iterable[Any], max_length: int = 512) -> list[Example]:
    """:func:`encode_pair` for each item: ``(prompt, completion)`` tuples or dicts with those keys."""
    return [encode_pair(tokenizer, *_as_pair(item, i), max_length=max_length) for i, item in enumerate(pairs)]


def encode_text(tokenizer, text: str, max_length: int = 512, add_eos: bool = True) -> Example:
    """``bos text eos`` with every token in the loss (pretraining); cut to ``max_length`` from the
    end, dropping ``eos`` when the text does not fit."""
    _check_max_length(max_length)
    ids = _ids(tokenizer, text, add_bos=True) + ([tokenizer.eos_token_id] if add_eos else [])
    ids = ids[:max_length]
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": list(ids)}


def encode_texts(tokenizer, texts: Iterable[str], max_length: int = 512, add_eos: bool = True) -> list[Example]:
    """:func:`encode_text` for each text."""
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string; wrap it: [text]")
    return [encode_text(tokenizer, t, max_length=max_length, add_eos=add_eos) for t in texts]


def pack_texts(tokenizer, texts: Iterable[str], block_size: int) -> list[Example]:
    """Concatenate ``bos text eos`` documents and cut the stream into ``block_size`` blocks.

    Pretraining on packed blocks wastes no compute on padding. A block may start mid-document;
    the trailing remainder shorter than ``block_size`` is dropped.
    """
    _check_max_length(block_size)
    if isinstance(texts, str):
        raise TypeError("texts must be a list of strings, not one string; wrap it: [text]")
    stream: list[int] = []
    for text in texts:
        stream += _ids(tokenizer, text, add_bos=True) + [tokenizer.eos_token_id]
    blocks = []
    for start in range(0, len(stream) - block_size + 1, block_size):
        ids = stream[start : start + block_size]
        blocks.append({"input_ids": ids, "attention_mask": [1] * block_size, "labels": list(ids)})
    return blocks


def collate(
    examples: Sequence[Mapping[str, Sequence[int]]],
    pad_token_id: int,
    pad_to_multiple_of: int | None = None,
) -> dict[str, torch.Tensor]:
    """Right-pad a list of examples into ``input_ids``, ``attention_mask`` and ``labels`` tensors.

    Padding gets ``pad_token_id``, attention 0 and label :data:`IGNORE_INDEX`. Examples without
    ``labels`` (e.g. prompts only) produce no ``labels`` tensor.
    """
    if not examples:
        raise ValueError("collate got no examples; check batch_size and the dataset length")
    if pad_token_id is None:
        raise ValueError("pad_token_id is None; pass tokenizer.pad_token_id")
    width = max(len(e["input_ids"]) for e in examples)
    if pad_to_multiple_of:
        width = -(-width // pad_to_multiple_of) * pad_to_multiple_of
    has_labels = all("labels" in e for e in examples)
    batch = {
        "input_ids": torch.full((len(examples), width), pad_token_id, dtype=torch.long),
        "attention_mask": torch.zeros((len(examples), width), dtype=torch.long),
    }
    if has_labels:
        batch["labels"] = torch.full((len(examples), width), IGNORE_INDEX, dtype=torch.long)
    for row, example in enumerate(examples):
        n = len(example["input_ids"])
        batch["input_ids"][row, :n] = torch.as_tensor(example["input_ids"], dtype=torch.long)
        batch["attention_mask"][row, :n] = torch.as_tensor(
            example.get("attention_mask", [1] * n), dtype=torch.long
        )
        if has_labels:
            batch["labels"][row, :n] = torch.as_tensor(example["labels"], dtype=torch.long)
    return batch
