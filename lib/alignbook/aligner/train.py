"""Training an Aligner: supervised NLL on correction tokens, with the identity warm-up first.

:func:`train_correction_model` runs a list of *stages* back to back on one model and one
optimiser. The Aligner schedule is two stages (paper §3, "residual correction"):

1. ``warmup``: Q-A-A rows (correction := answer) for a fraction of the data, teaching the
   identity mapping, so that the model starts from "copy the answer" and then learns the
   residual between answer and correction;
2. ``main``: every Q-A-C row.

The same function trains the Q→C baseline (``template=None``: the same correction targets
without the upstream answer in the prompt), so the two learning curves differ only in what the
model reads. Optimisation goes through :func:`alignbook.engine.distributed.wrap`: plain AdamW in one
process, DeepSpeed ZeRO under the ``deepspeed`` launcher; each rank trains on its own shard of
every batch order.
"""

from __future__ import annotations

import dataclasses
import json
import random
import re
from pathlib import Path
from typing import Any, Sequence

import torch
from tqdm.auto import tqdm

from ..engine.config import ConfigError
from .data import encode_example
from .losses import masked_nll
from .templates import get_template
from ..engine.results import TrainResult


@dataclasses.dataclass
class CorrectionTrainResult(TrainResult):
    """What a correction-model training run produced (the book's result contract).

    ``metrics``: ``final_train_loss``, ``final_eval_loss`` (when eval rows were given), ``steps``;
    ``history``: one record per optimiser step (``kind="train"``) and per evaluation
    (``kind="eval"``); ``checkpoint``: weights (``save_pretrained``) and ``aligner.json``.
    """

    missing_hint = "train the model first (or check run_dir)"


def _batches(n: int, batch_size: int, rng: random.Random) -> list[list[int]]:
    order = list(range(n))
    rng.shuffle(order)
    return [order[i : i + batch_size] for i in range(0, n, batch_size)]


@torch.no_grad()
def evaluate_nll(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], template: str | None,
    max_length: int, batch_size: int = 32,
) -> float:
    """Mean NLL per correction token of ``rows`` (the held-out learning-curve measure)."""
    from ..lm.data import collate

    was_training = model.training
    model.eval()
    total, tokens = 0.0, 0
    examples = [encode_example(tokenizer, template, r, max_length) for r in rows]
    device = next(model.parameters()).device
    for start in range(0, len(examples), batch_size):
        batch = {k: v.to(device) for k, v in collate(examples[start : start + batch_size], tokenizer.pad_token_id).items()}
        logits = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
        count = int((batch["labels"][:, 1:] != -100).sum())
        total += float(masked_nll(logits, batch["labels"])) * count
        tokens += count
    model.train(was_training)
    return total / max(tokens, 1)


def train_correction_model(
    model: Any,
    tokenizer: Any,
    stages: Sequence[tuple[str, Sequence[dict[str, Any]], int]],
    *,
    template: str | None,
    lr: float,
    batch_size: int,
    max_length: int,
    seed: int,
    grad_accum: int = 1,
    zero_stage: int | None = None,
    bf16: bool = False,
    weight_decay: float = 0.0,
    max_grad_norm: float | None = None,
    eval_rows: Sequence[dict[str, Any]] | None = None,
    eval_every: int = 0,
    checkpoint_dir: str | Path | None = None,
    extra_config: dict[str, Any] | None = None,
    verbose: bool = True,
) -> CorrectionTrainResult:
    """Train ``model`` through ``stages`` (``(name, rows, epochs)`` each) with masked NLL.

    ``template`` names the Aligner template (``"released"`` / ``"repository"``) or is None for
    the Q→C baseline. ``batch_size`` is per process and per micro-step; the effective batch is
    ``batch_size * grad_accum * world_size``. With ``eval_rows`` and ``eval_every > 0`` the
    held-out NLL of the corrections is logged every ``eval_every`` optimiser steps and at the end
    of each stage, against ``examples_seen`` (main-stage examples only, so a warm-up shifts no
    curve sideways). The returned result records the template name; stacking checks it.
    """
    from ..engine import distributed
    from ..lm.data import collate

    if template is not None:
        template = get_template(template).name
    for name, value in (("lr", lr), ("batch_size", batch_size), ("max_length", max_length), ("grad_accum", grad_accum)):
        if not value or value <= 0:
            raise ConfigError(f"{name}={value!r} must be positive")
    engine = distributed.wrap(
        model, lr=lr, betas=(0.9, 0.95), weight_decay=weight_decay, zero_stage=zero_stage,
        bf16=bf16, grad_accum=grad_accum, max_grad_norm=max_grad_norm, micro_batch_size=batch_size,
    )
    rank, world = engine.rank, engine.world_size
    device = next(engine.module.parameters()).device
    rng = random.Random(seed)
    history: list[dict[str, Any]] = []
    examples_seen = 0
    last_loss = float("nan")

    def log_eval(stage: str) -> None:
        if eval_rows:
            loss = evaluate_nll(engine.module, tokenizer, eval_rows, template, max_length)
            history.append({"kind": "eval", "stage": stage, "step": engine.global_step,
                            "examples_seen": examples_seen, "eval_loss": engine.all_reduce_mean(loss)})

    engine.train()
    log_eval("start")
    for stage, rows, epochs in stages:
        if not rows:
            continue
        encoded = [encode_example(tokenizer, template, r, max_length) for r in rows]
        global_batch = batch_size * world
        plan = [b for _ in range(epochs) for b in _batches(len(encoded), global_batch, rng)]
        micro_losses: list[float] = []
        for micro, indices in enumerate(tqdm(plan, desc=f"{stage} (seed {seed})", disable=not verbose or rank != 0)):
            shard = indices[rank::world] or indices[:1]  # a short last batch still gives each rank a row
            batch = {k: v.to(device) for k, v in collate([encoded[i] for i in shard], tokenizer.pad_token_id).items()}
            logits = engine(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits
            loss = masked_nll(logits, batch["labels"])
            engine.backward(loss)
            micro_losses.append(float(loss.detach()))
            if stage != "warmup":
                examples_seen += len(indices)
            if engine.step():
                last_loss = engine.all_reduce_mean(sum(micro_losses) / len(micro_losses))
                micro_losses = []
                history.append({"kind": "train", "stage": stage, "step": engine.global_step,
                                "examples_seen": examples_seen, "loss": last_loss})
                if eval_every and engine.global_step % eval_every == 0:
                    log_eval(stage)
        if not eval_every or engine.global_step % eval_every:
            log_eval(stage)
    engine.eval()
    config = {
        "template": template, "lr": lr, "batch_size": batch_size, "grad_accum": grad_accum,
        "world_size": world, "max_length": max_length, "seed": seed, "zero_stage": zero_stage,
        "bf16": bf16, "device": str(device), "stages": [(name, len(rows), epochs) for name, rows, epochs in stages],
        **(extra_config or {}),
    }
    evals = [h["eval_loss"] for h in history if h["kind"] == "eval"]
    metrics = {"final_train_loss": last_loss, "steps": engine.global_step}
    if evals:
        metrics["final_eval_loss"] = evals[-1]
    checkpoint = None
    if checkpoint_dir is not None:
        checkpoint = str(engine.save(checkpoint_dir))
    result = CorrectionTrainResult(metrics=metrics, history=history, checkpoint=checkpoint, config=config)
    if checkpoint is not None and engine.is_main:
        (Path(checkpoint) / "aligner.json").write_text(json.dumps(config, indent=1))
        if hasattr(tokenizer, "save_pretrained"):
            tokenizer.save_pretrained(checkpoint)
        result.save(checkpoint)
    return result


def load_checkpoint(directory: str | Path, device: Any = "cpu") -> tuple[Any, Any, CorrectionTrainResult]:
    """``(model, tokenizer, result)`` saved by a training run with ``checkpoint_dir=directory``, the model
    on ``device`` (a ``torch.device`` or a name; resolve a config's field with
    :func:`alignbook.engine.devices.resolve` first) in eval mode."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    directory = Path(directory)
    result = CorrectionTrainResult.load(directory)
    model = AutoModelForCausalLM.from_pretrained(directory).to(device)
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model.eval()
    return model, tokenizer, result


# ------------------------------------------------------------------------------ checkpoint names
DIRECT = "direct"
"""The variant name of the Q→C baseline (an Aligner's variant is its warm-up share)."""
_NAME = re.compile(r"(?:aligner-w(?P<warmup>[0-9]+(?:\.[0-9]+)?)|direct)-s(?P<seed>[0-9]+)")


def checkpoint_name(warmup: float | None, seed: int) -> str:
    """The one name of a trained model's folder in notebook 2's run folder, in every profile and
    whether it ran in-process or under a launcher: ``aligner-w<share>-s<seed>`` for an Aligner
    (``aligner-w0.2-s0``), ``direct-s<seed>`` for the Q→C baseline (``warmup=None``). Notebooks 3 and 4
    find the checkpoints by it (:func:`find_checkpoints`)."""
    if warmup is None:
        return f"{DIRECT}-s{int(seed)}"
    return f"aligner-w{float(warmup):g}-s{int(seed)}"


def parse_checkpoint_name(name: str) -> tuple[float | None, int] | None:
    """``(warm-up share or None for the Q→C baseline, seed)`` of a :func:`checkpoint_name`; None for any
    other name."""
    match = _NAME.fullmatch(name)
    if match is None:
        return None
    warmup = match.group("warmup")
    return (None if warmup is None else float(warmup)), int(match.group("seed"))


def find_checkpoints(folder: str | Path, warmup: float | None = ...) -> list[tuple[float, int, Path]]:
    """The Aligner checkpoints in ``folder`` (notebook 2's run folder) as ``(warm-up share, seed, path)``,
    ordered by share then seed; with ``warmup``, only that share's. Refuses a folder that holds none, naming
    what it looked for and what it found."""
    folder = Path(folder)
    found = []
    for path in sorted(p for p in folder.iterdir() if p.is_dir()) if folder.is_dir() else []:
        parsed = parse_checkpoint_name(path.name)
        if parsed is not None and parsed[0] is not None and (warmup is ... or parsed[0] == float(warmup)):
            found.append((parsed[0], parsed[1], path))
    if not found:
        wanted = "aligner-w<share>-s<seed>" if warmup is ... else checkpoint_name(warmup, 0).replace("-s0", "-s<seed>")
        others = sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
        raise FileNotFoundError(f"no Aligner checkpoint named {wanted} in notebook aligner/02_train's run folder "
                                f"(it holds: {', '.join(others) or 'nothing'}); train that warm-up share there first")
    return sorted(found, key=lambda item: (item[0], item[1]))


def train_aligner(
    model: Any,
    tokenizer: Any,
    rows: Sequence[dict[str, Any]],
    *,
    template: str,
    warmup_fraction: float,
    epochs: int,
    warmup_epochs: int = 1,
    **kwargs: Any,
) -> CorrectionTrainResult:
    """The Aligner schedule: identity warm-up on ``warmup_fraction`` of ``rows``, then Q-A-C.

    ``warmup_fraction=0`` trains on Q-A-C only. Other keyword arguments go to
    :func:`train_correction_model` (``lr``, ``batch_size``, ``max_length``, ``seed``...).
    """
    from .data import warmup_split

    warmup_rows, main_rows = warmup_split(rows, warmup_fraction, seed=kwargs["seed"])
    extra = {"warmup_fraction": warmup_fraction, "epochs": epochs, "warmup_epochs": warmup_epochs,
             **kwargs.pop("extra_config", {})}
    return train_correction_model(
        model, tokenizer, [("warmup", warmup_rows, warmup_epochs), ("main", main_rows, epochs)],
        template=template, extra_config=extra, **kwargs,
    )


def train_direct(
    model: Any, tokenizer: Any, rows: Sequence[dict[str, Any]], *, epochs: int, **kwargs: Any
) -> CorrectionTrainResult:
    """The Q→C baseline: the same corrections as targets, the question alone as prompt."""
    extra = {"epochs": epochs, "direct": True, **kwargs.pop("extra_config", {})}
    return train_correction_model(
        model, tokenizer, [("main", rows, epochs)], template=None, extra_config=extra, **kwargs
    )
