"""Batched sampling from a causal LM: left-padded prompts, KV cache, seeded, stops at eos."""

from __future__ import annotations

from typing import Sequence

import torch
from tqdm.auto import tqdm

from .runtime import auto_threads, torch_threads


def generate(
    model,
    tokenizer,
    prompts: Sequence[str],
    max_new_tokens: int,
    temperature: float = 1.0,
    top_p: float = 1.0,
    do_sample: bool = True,
    batch_size: int = 64,
    seed: int | None = None,
    verbose: bool = False,
    threads: int | None = None,
) -> list[str]:
    """Continue each prompt and return only the new text (special tokens removed), in order.

    Prompts are encoded like training prompts (``bos`` + text), grouped by length into batches
    and left-padded, so every row's last prompt token sits at the same position. A row
    stops at ``eos``; ``temperature=0`` or ``do_sample=False`` decodes greedily. With ``seed``
    the samples are reproducible (for the same ``batch_size``) and the global torch RNG is left
    as it was. ``threads``: CPU threads (None: 1 for tiny models, see :mod:`alignbook.lm.runtime`).
    """
    with torch_threads(auto_threads(model, threads)):
        return _generate(
            model, tokenizer, prompts, max_new_tokens, temperature, top_p, do_sample, batch_size, seed, verbose
        )


@torch.no_grad()
def _generate(model, tokenizer, prompts, max_new_tokens, temperature, top_p, do_sample, batch_size, seed, verbose):
    if isinstance(prompts, str):
        raise TypeError("prompts must be a list of strings, not one string; wrap it: [prompt]")
    prompts = list(prompts)
    if not isinstance(max_new_tokens, int) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens={max_new_tokens!r} must be a positive integer")
    if temperature < 0:
        raise ValueError(f"temperature={temperature!r} must be >= 0 (0 means greedy)")
    if not 0 < top_p <= 1:
        raise ValueError(f"top_p={top_p!r} must be in (0, 1]")
    if batch_size < 1:
        raise ValueError(f"batch_size={batch_size!r} must be >= 1")
    if not prompts:
        return []
    sample = do_sample and temperature > 0
    device = next(model.parameters()).device
    limit = getattr(model.config, "max_position_embeddings", None)
    was_training = model.training
    model.eval()
    encoded_all = [[tokenizer.bos_token_id, *tokenizer(p, add_special_tokens=False)["input_ids"]] for p in prompts]
    # batch prompts of similar length together (less left padding to attend over), then put the
    # answers back in the caller's order
    by_length = sorted(range(len(prompts)), key=lambda i: len(encoded_all[i]))
    outputs: list[str] = [""] * len(prompts)
    rng = torch.random.fork_rng(devices=[device] if device.type == "cuda" else []) if seed is not None else None
    try:
        if rng is not None:
            rng.__enter__()
            torch.manual_seed(seed)
        for start in tqdm(range(0, len(prompts), batch_size), desc="generate", disable=not verbose, leave=False):
            chunk = by_length[start : start + batch_size]
            encoded = [encoded_all[i] for i in chunk]
            width = max(len(ids) for ids in encoded)
            if limit is not None and width + max_new_tokens > limit:
                raise ValueError(
                    f"prompt length {width} + max_new_tokens={max_new_tokens} exceeds the model's "
                    f"max_position_embeddings={limit}; shorten prompts or lower max_new_tokens"
                )
            input_ids = torch.full((len(chunk), width), tokenizer.pad_token_id, dtype=torch.long)
            attention_mask = torch.zeros((len(chunk), width), dtype=torch.long)
            for row, ids in enumerate(encoded):  # left padding
                input_ids[row, width - len(ids):] = torch.as_tensor(ids)
                attention_mask[row, width - len(ids):] = 1
            # top_k=0 switches off transformers' default top-50 cut: plain temperature / top-p sampling
            kwargs = (
                dict(do_sample=True, temperature=temperature, top_p=top_p, top_k=0) if sample else dict(do_sample=False)
            )
            generated = model.generate(
                input_ids=input_ids.to(device),
                attention_mask=attention_mask.to(device),
                max_new_tokens=max_new_tokens,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
                bos_token_id=tokenizer.bos_token_id,
                use_cache=True,
                **kwargs,
            )
            new_tokens = generated[:, width:].cpu().tolist()  # token ids, for Python: one copy off the device
            for index, ids in zip(chunk, new_tokens):
                if tokenizer.eos_token_id in ids:
                    ids = ids[: ids.index(tokenizer.eos_token_id)]
                outputs[index] = tokenizer.decode(ids, skip_special_tokens=True)
    finally:
        if rng is not None:
            rng.__exit__(None, None, None)
        model.train(was_training)
    return outputs
