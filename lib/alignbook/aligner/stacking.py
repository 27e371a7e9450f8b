"""Inference: stack a trained Aligner after any frozen upstream model.

``y_o = upstream(x)``; ``y_c = Aligner(x, y_o)``. The upstream is only *called*: it is a
function from questions to answers (a toy-world response source, a tiny LM's ``generate``, an API)
and nothing here can change it, which is the paper's point: one Aligner, trained once, serves
every upstream model without touching its weights.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from .templates import check_same_template, get_template


def trained_template(checkpoint: str | Path) -> str:
    """The template name an Aligner checkpoint was trained with (from its ``aligner.json``)."""
    meta = Path(checkpoint) / "aligner.json"
    if not meta.exists():
        raise FileNotFoundError(f"{meta} is missing; this folder is not an Aligner checkpoint")
    template = json.loads(meta.read_text()).get("template")
    if template is None:
        raise ValueError(f"{checkpoint} holds a Q→C model (no template); it cannot correct answers")
    return template


@torch.no_grad()
def complete(
    model: Any, tokenizer: Any, prompts: Sequence[str], *, max_new_tokens: int, batch_size: int = 64,
) -> list[str]:
    """Greedy continuations of ``prompts`` (``bos`` + prompt, left-padded), decoded without specials.

    Greedy decoding keeps evaluation deterministic, so a seed's ω depends only on the trained
    weights, not on sampling noise.
    """
    model.eval()
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    outputs: list[str] = []
    for start in range(0, len(prompts), batch_size):
        chunk = prompts[start : start + batch_size]
        encoded = [[tokenizer.bos_token_id, *tokenizer(p, add_special_tokens=False)["input_ids"]] for p in chunk]
        width = max(len(e) for e in encoded)
        ids = torch.full((len(encoded), width), pad, dtype=torch.long)
        mask = torch.zeros((len(encoded), width), dtype=torch.long)
        for i, e in enumerate(encoded):
            ids[i, width - len(e):] = torch.tensor(e)
            mask[i, width - len(e):] = 1
        device = next(model.parameters()).device
        generated = model.generate(
            input_ids=ids.to(device), attention_mask=mask.to(device), max_new_tokens=max_new_tokens, do_sample=False,
            pad_token_id=pad, eos_token_id=tokenizer.eos_token_id,
        )
        for row in generated[:, width:].cpu():
            outputs.append(tokenizer.decode(row, skip_special_tokens=True).strip())
    return outputs


def correct(
    aligner: Any,
    tokenizer: Any,
    questions: Sequence[str],
    answers: Sequence[str],
    *,
    template: str,
    trained_with: str | None = None,
    max_new_tokens: int = 64,
    batch_size: int = 64,
) -> list[str]:
    """The Aligner's corrections of ``answers`` to ``questions`` under ``template``.

    Pass ``trained_with`` (the template recorded at training) to have a mismatch refused.
    """
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers; pass one answer per question")
    if trained_with is not None:
        check_same_template(trained_with, template)
    tpl = get_template(template)
    prompts = [tpl.format(q, a) for q, a in zip(questions, answers)]
    return complete(aligner, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)


def stack(
    upstream: Callable[[Sequence[str]], list[str]],
    aligner: Any,
    tokenizer: Any,
    questions: Sequence[str],
    **kwargs: Any,
) -> tuple[list[str], list[str]]:
    """Answer ``questions`` with the frozen ``upstream``, then correct them: ``(originals, corrected)``."""
    originals = list(upstream(questions))
    return originals, correct(aligner, tokenizer, questions, originals, **kwargs)
