"""Batched chat generation for a real instruction-tuned model: its chat template, left padding, KV cache."""

from __future__ import annotations

import dataclasses
import time
from typing import Any, Sequence

from ..lm.runtime import torch_threads


@dataclasses.dataclass
class Generation:
    """What :func:`generate_chat` produced, with how long it took."""

    texts: list[str]
    """The answers, in the prompts' order, special tokens removed."""
    new_tokens: int
    """Tokens generated (up to and including each row's end-of-turn token)."""
    seconds: float
    """Wall-clock time of the generation."""
    threads: int
    """torch CPU threads it ran with."""

    @property
    def tokens_per_s(self) -> float:
        return self.new_tokens / self.seconds if self.seconds > 0 else float("nan")


def chat_texts(tokenizer: Any, prompts: Sequence[str], system: str | None = None) -> list[str]:
    """Each prompt as one user turn in the model's chat template, ready for the assistant's answer."""
    texts = []
    for prompt in prompts:
        messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
        texts.append(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
    return texts


def generate_chat(model: Any, tokenizer: Any, prompts: Sequence[str], max_new_tokens: int = 48,
                  batch_size: int = 16, threads: int = 1, do_sample: bool = False, temperature: float = 1.0,
                  seed: int = 0, system: str | None = None) -> Generation:
    """Answer ``prompts`` in batches (greedy unless ``do_sample``); see :class:`Generation`."""
    import torch

    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings; wrap one prompt as [prompt]")
    tokenizer.padding_side = "left"
    texts = chat_texts(tokenizer, prompts, system)
    answers: list[str] = []
    new_tokens = 0
    start = time.perf_counter()
    with torch_threads(threads), torch.no_grad():
        torch.manual_seed(seed)
        for i in range(0, len(texts), batch_size):
            batch = tokenizer(texts[i:i + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            batch = {k: v.to(model.device) for k, v in batch.items()}
            out = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=do_sample,
                                 temperature=temperature if do_sample else None, top_p=None, top_k=None,
                                 pad_token_id=tokenizer.pad_token_id)
            generated = out[:, batch["input_ids"].shape[1]:].cpu()  # token ids, for Python: one copy off the device
            for row in generated:
                ids = row.tolist()
                end = next((j + 1 for j, t in enumerate(ids) if t == tokenizer.eos_token_id), len(ids))
                new_tokens += end
                answers.append(tokenizer.decode(ids[:end], skip_special_tokens=True).strip())
    return Generation(answers, new_tokens, time.perf_counter() - start, threads)


def one_line(text: str, limit: int = 220) -> str:
    """A generated text for a page's example list: whitespace collapsed to single spaces, cut at a word
    boundary within ``limit`` characters (then `` …``); an empty text reads ``(empty)``."""
    text = " ".join(text.split()) or "(empty)"
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"

