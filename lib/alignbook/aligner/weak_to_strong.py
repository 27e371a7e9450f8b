"""Weak-to-strong: a small Aligner's corrections supervise a larger model (paper §4).

The steps, all on the toy world:

1. the *strong* model (a larger preset than the Aligner) first imitates an unaligned source's
   answers (Q→A), standing in for a capable but unaligned pretrained model;
2. it answers the training questions; the *weak* Aligner corrects those answers;
3. the strong model is fine-tuned on (question, corrected answer) pairs;
4. on held-out questions, the ground truth scores the strong model before and after, and the
   weak supervisor itself (the Aligner stacked on the strong model's former answers).

"Weak-to-strong generalisation" holds when the fine-tuned strong model beats both its former
self and the supervisor that produced its labels; :func:`alignbook.aligner.verdicts.weak_to_strong_verdict`
decides it by ω, as the paper does.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

import numpy as np

from .losses import omega_by_dimension
from .stacking import complete, correct
from .train import train_direct
from ..engine.results import TrainResult


@dataclasses.dataclass
class WeakToStrongResult(TrainResult):
    """Scores of one weak-to-strong run (one seed), in the book's result contract.

    ``metrics``: mean helpfulness, mean harmlessness (minus severity), unsafe share of each system on
    held-out questions, and ω of the fine-tuned model against each reference with its win, lose and
    tie counts (``omega_<dim>_after_vs_<reference>[_win|_lose|_tie]``);
    ``history``: the strong model's two training stages; ``checkpoint``: None (the strong model is
    rebuilt from the seed).
    """

    missing_hint = "run the weak-to-strong notebook first"


def _scores(world: Any, questions: Sequence[str], answers: Sequence[str]) -> list[Any]:
    return [world.judge(q, a) for q, a in zip(questions, answers)]


def run_weak_to_strong(
    world: Any,
    aligner: Any,
    tokenizer: Any,
    template: str,
    train_prompts: Sequence[Any],
    eval_prompts: Sequence[Any],
    *,
    strong_model: str,
    strong_source: str,
    epochs: int,
    lr: float,
    batch_size: int,
    max_length: int,
    max_new_tokens: int,
    seed: int,
    device: Any = None,
    verbose: bool = False,
) -> WeakToStrongResult:
    """Steps 1-4 of the module docstring for one seed; returns the held-out scores. The strong model
    trains and generates on ``device`` (default: where the Aligner is), and the Aligner is moved there."""
    from ..lm.models import build_causal_lm
    from .toy import upstream_answers

    device = next(aligner.parameters()).device if device is None else device
    aligner.to(device)
    strong = build_causal_lm(strong_model, tokenizer, seed=seed).to(device)
    questions = [p.text for p in train_prompts]
    imitation = [{"question": q, "correction": a} for q, a in
                 zip(questions, upstream_answers(world, train_prompts, strong_source, seed))]
    common = dict(lr=lr, batch_size=batch_size, max_length=max_length, seed=seed, verbose=verbose)
    first = train_direct(strong, tokenizer, imitation, epochs=epochs, **common)

    direct_prompt = "{question}"
    strong_answers = complete(strong, tokenizer, [direct_prompt.format(question=q) for q in questions],
                              max_new_tokens=max_new_tokens)
    corrected = correct(aligner, tokenizer, questions, strong_answers, template=template,
                        max_new_tokens=max_new_tokens)
    eval_questions = [p.text for p in eval_prompts]
    before = complete(strong, tokenizer, eval_questions, max_new_tokens=max_new_tokens)
    supervisor = correct(aligner, tokenizer, eval_questions, before, template=template, max_new_tokens=max_new_tokens)

    labels = [{"question": q, "correction": c} for q, c in zip(questions, corrected)]
    second = train_direct(strong, tokenizer, labels, epochs=epochs, **common)
    after = complete(strong, tokenizer, eval_questions, max_new_tokens=max_new_tokens)

    judged = {name: _scores(world, eval_questions, answers)
              for name, answers in (("strong_before", before), ("weak_supervisor", supervisor), ("strong_after", after))}
    metrics: dict[str, float] = {}
    for name, judgements in judged.items():
        metrics[f"{name}_helpfulness"] = float(np.mean([j.helpfulness for j in judgements]))
        metrics[f"{name}_harmlessness"] = float(np.mean([-j.severity for j in judgements]))
        metrics[f"{name}_unsafe"] = float(np.mean([not j.is_safe for j in judgements]))
    for reference in ("strong_before", "weak_supervisor"):
        table = omega_by_dimension(judged["strong_after"], judged[reference])
        for dim, row in table.items():
            metrics[f"omega_{dim}_after_vs_{reference}"] = row["omega"]
            for count in ("win", "lose", "tie"):
                metrics[f"omega_{dim}_after_vs_{reference}_{count}"] = int(row[count])
    label_scores = _scores(world, questions, corrected)
    metrics["label_helpfulness"] = float(np.mean([j.helpfulness for j in label_scores]))
    metrics["label_unsafe"] = float(np.mean([not j.is_safe for j in label_scores]))
    history = [{**h, "phase": "imitation"} for h in first.history] + [{**h, "phase": "corrections"} for h in second.history]
    config = {"strong_model": strong_model, "strong_source": strong_source, "epochs": epochs, "lr": lr,
              "batch_size": batch_size, "seed": seed, "template": template}
    examples = list(zip(eval_questions[:3], before[:3], supervisor[:3], after[:3]))
    config["examples"] = examples
    return WeakToStrongResult(metrics=metrics, history=history, checkpoint=None, config=config)
