"""A real chat model's parts the LLM chapters share: its prompt template, its padding, which weights train."""

from __future__ import annotations

from typing import Any

import torch

from ..engine.config import ConfigError
from .generate import chat_texts

PAD_TOKEN = "<|endoftext|>"
"""SmolLM2's tokenizer pads with its end-of-turn token; the score is read at the last real token, so
padding must differ from eos: its document-end token pads instead (never generated in a chat turn)."""
INPUT_MARK = "\x00INPUT\x00"


def chat_prompt_template(tokenizer: Any) -> str:
    """The model's chat template around one user turn, with ``{input}`` where the prompt goes (braces of
    the template itself doubled, for ``str.format(input=...)``, as ``safe_rlhf.data.format_prompt`` fills it)."""
    text = chat_texts(tokenizer, [INPUT_MARK])[0]
    if text.count(INPUT_MARK) != 1:
        raise ValueError("the chat template did not place the user's prompt exactly once")
    return text.replace("{", "{{").replace("}", "}}").replace(INPUT_MARK, "{input}")


def prepare_tokenizer(tokenizer: Any) -> Any:
    """Pad with :data:`PAD_TOKEN` (a token distinct from eos, as the score models need)."""
    if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
        tokenizer.pad_token = PAD_TOKEN
    if tokenizer.pad_token_id == tokenizer.eos_token_id:
        raise ValueError(f"{PAD_TOKEN!r} is the eos token of this tokenizer; choose another padding token")
    return tokenizer


def freeze_but_last(model: torch.nn.Module, layers: int) -> int:
    """Freeze every weight but the last ``layers`` blocks and the final norm; return the trainable count."""
    for p in model.parameters():
        p.requires_grad_(False)
    blocks = model.model.layers
    if layers > len(blocks):
        raise ConfigError(f"train_layers={layers}, but the model has {len(blocks)} blocks; ask for at most that")
    for p in [*blocks[-layers:].parameters(), *model.model.norm.parameters()]:
        p.requires_grad_(True)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


__all__ = ["PAD_TOKEN", "chat_prompt_template", "freeze_but_last", "prepare_tokenizer"]
