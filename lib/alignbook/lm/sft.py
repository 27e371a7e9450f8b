"""Supervised fine-tuning (and plain pretraining) of a causal LM, plus sequence log-probabilities.

The loss is the mean negative log-likelihood over the tokens whose label is not
:data:`~alignbook.lm.data.IGNORE_INDEX` (completion tokens and their ``eos``)::

    L(theta) = - (1 / |C|) * sum_{t in C} log p_theta(x_t | x_<t)

as in ``safe_rlhf/finetune/trainer.py`` upstream. The learning rate warms up linearly and then
follows a cosine decay to zero, the ``cosine`` schedule of safe-rlhf's SFT scripts
(``scripts/sft*.sh``: lr 2e-5, warm-up ratio 0.03, weight decay 0).
The optimiser step goes through :func:`alignbook.engine.distributed.wrap`, so the same loop runs in
one process or under the DeepSpeed launcher.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import shutil
import time
from pathlib import Path
from typing import Annotated, Any, Iterable, Literal, Mapping

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..engine import devices, distributed
from ..engine.devices import Device
from ..engine.config import ConfigError, Count, Natural, NonNegative, OneOf, Positive, Range, Seed, check_fields
from .data import IGNORE_INDEX, collate, encode_pairs, encode_texts
from .runtime import auto_threads, torch_threads

RESULT_FILE = "sft_result.json"
RESUME_DIR = "resume"


@dataclasses.dataclass(frozen=True)
class SFTConfig:
    """Hyperparameters of :func:`train_sft`. Defaults suit the tiny from-scratch models on CPU."""

    epochs: Count = 3
    """Passes over the training data (safe-rlhf scripts/sft.sh: 3)."""
    lr: Positive = 1e-3
    """Peak AdamW learning rate. safe-rlhf uses 2e-5 for a pretrained 7B model; models of a few
    million parameters trained from scratch need about 1e-3."""
    batch_size: Count = 16
    """Sequences per micro-batch (per process)."""
    grad_accum: Count = 1
    """Micro-batches per optimiser step (safe-rlhf: 8 with 4 sequences per GPU)."""
    max_length: Count = 256
    """Longest tokenised sequence; longer pairs lose the end of their completion first
    (safe-rlhf: 512)."""
    lr_scheduler: Annotated[Literal["cosine", "linear", "constant"], OneOf(("cosine", "linear", "constant"))] = "cosine"
    """Decay after warm-up (safe-rlhf scripts/sft.sh: cosine)."""
    warmup_ratio: Annotated[float, Range(0, 1, max_open=True)] = 0.03
    """Fraction of optimiser steps with linear warm-up, in [0, 1) (safe-rlhf scripts/sft.sh: 0.03)."""
    weight_decay: NonNegative = 0.0
    """AdamW weight decay (safe-rlhf scripts/sft.sh: 0.0)."""
    betas: Annotated[tuple[float, float], Range(0, 1, max_open=True)] = (0.9, 0.95)
    """AdamW betas, each in [0, 1) (safe-rlhf's DeepSpeed config: 0.9, 0.95)."""
    max_grad_norm: Positive | None = 1.0
    """Clip the gradient norm to this value; None disables clipping (safe-rlhf: 1.0)."""
    max_steps: Count | None = None
    """Stop after this many optimiser steps (None: run all epochs). The schedule spans it."""
    eval_every: Natural = 0
    """Evaluate every this many optimiser steps; 0 evaluates at the end of each epoch only."""
    eval_batch_size: Count = 64
    """Sequences per batch when evaluating."""
    log_every: Count = 1
    """Record the training loss in ``history`` every this many optimiser steps."""
    seed: Seed = 0
    """Seeds the data order (the model's initialisation has its own seed)."""
    zero_stage: Annotated[int, Range(0, 3)] | None = None
    """DeepSpeed ZeRO stage when started under the launcher; None (or one process): plain AdamW."""
    bf16: bool = False
    """bfloat16 mixed precision: DeepSpeed's bf16 mode under the launcher, else ``torch.autocast``
    on a GPU (float32 master weights either way). Ignored on CPU, where bf16 is slower."""
    device: Device = "cpu"
    """Where to train (:mod:`alignbook.engine.devices`): ``cpu``, ``cuda``, ``cuda:N``, or ``auto`` (a GPU when
    one is visible). The CPU unless asked: a smoke run on a GPU machine must not change device silently."""
    save_every: Natural = 0
    """With ``output_dir``: save a resumable state every this many optimiser steps (0: never).
    A later call with the same config, data and ``output_dir`` continues from it."""
    threads: Count | None = None
    """CPU threads for torch while training; None: 1 for models under 5M parameters on CPU (much
    faster for tiny models, see :mod:`alignbook.lm.runtime`), else torch's setting."""

    def __post_init__(self) -> None:
        check_fields(self)  # the declared ranges (ConfigError, a ValueError); also when used alone
        for name in ("epochs", "batch_size", "grad_accum", "max_length", "eval_batch_size", "log_every"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name}={value!r} must be an integer, e.g. {name}=1")

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> "SFTConfig":
        values = dict(values)
        if "betas" in values:
            values["betas"] = tuple(values["betas"])
        return cls(**values)


@dataclasses.dataclass
class SFTResult:
    """What :func:`train_sft` returns and saves."""

    metrics: dict[str, float]
    """Final numbers: train_loss, eval_loss, initial_eval_loss, steps, tokens, tokens_per_s, ..."""
    history: list[dict[str, Any]]
    """One record per logged optimiser step: step, epoch, loss, lr (the rate that step used),
    tokens, eval_loss (or None)."""
    checkpoint: str | None
    """Folder of the trained model and tokenizer (``save_pretrained``), or None if not saved."""
    config: SFTConfig
    """The hyperparameters used."""

    def save(self, directory: str | Path) -> Path:
        """Write ``sft_result.json`` into ``directory`` (the model is saved by :func:`train_sft`)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        payload = {
            "metrics": self.metrics,
            "history": self.history,
            "checkpoint": self.checkpoint,
            "config": dataclasses.asdict(self.config),
        }
        path = directory / RESULT_FILE
        path.write_text(json.dumps(payload, indent=1) + "\n")
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "SFTResult":
        path = Path(directory) / RESULT_FILE
        if not path.exists():
            raise FileNotFoundError(f"{path} does not exist; pass the output_dir given to train_sft")
        payload = json.loads(path.read_text())
        return cls(
            metrics=payload["metrics"],
            history=payload["history"],
            checkpoint=payload["checkpoint"],
            config=SFTConfig.from_dict(payload["config"]),
        )

    def load_model(self, device: str = "cpu"):
        """The trained model from :attr:`checkpoint`, in eval mode."""
        from transformers import AutoModelForCausalLM

        if self.checkpoint is None:
            raise ValueError("this run saved no checkpoint; call train_sft with output_dir=...")
        return AutoModelForCausalLM.from_pretrained(self.checkpoint).to(device).eval()

    def load_tokenizer(self):
        from .tokenizer import load_tokenizer

        if self.checkpoint is None:
            raise ValueError("this run saved no checkpoint; call train_sft with output_dir=...")
        return load_tokenizer(self.checkpoint)


# -- the pieces, each small enough to show in the book ---------------------------------------------


def causal_lm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean next-token NLL over positions whose label is not ``IGNORE_INDEX``.

    Position ``t`` of ``logits`` predicts token ``t + 1``, hence the shift by one.
    """
    shifted_logits = logits[:, :-1].reshape(-1, logits.size(-1)).float()
    shifted_labels = labels[:, 1:].reshape(-1)
    return F.cross_entropy(shifted_logits, shifted_labels, ignore_index=IGNORE_INDEX)


def token_logprobs(logits: torch.Tensor, input_ids: torch.Tensor) -> torch.Tensor:
    """``log p(x_{t+1} | x_<=t)`` for every position ``t`` (shape ``[batch, length - 1]``)."""
    logp = torch.log_softmax(logits[:, :-1].float(), dim=-1)
    return logp.gather(-1, input_ids[:, 1:].unsqueeze(-1)).squeeze(-1)


_LOGITS_MASK_MODELS = {"llama"}
"""Model types whose forward takes a boolean ``logits_to_keep`` mask (checked for Llama)."""

_mask_refused = False
"""Set once the installed transformers refuses a 2-D boolean ``logits_to_keep`` (it accepts one from
5.24, the lock's version; 5.17 raises ``IndexError``): from then on the full logits are sliced."""


def labelled_logits(model, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Logits only at the positions that predict a labelled token, their targets, and where they are.

    Returns ``(logits [N, vocab], targets [N], predicts [batch, length - 1])`` where ``predicts``
    marks position ``t`` when label ``t + 1`` counts. The same numbers as slicing the full logits,
    but for Llama models the vocabulary projection (the largest matrix of a tiny model) skips the
    prompt and padding positions: about a third less compute per SFT step on CPU.
    """
    for key in ("input_ids", "attention_mask", "labels"):
        if key not in batch:
            raise KeyError(f"batch has no {key!r}; build it with alignbook.lm.collate(encode_pairs(...))")
    inner = getattr(model, "module", model)  # an alignbook.engine.distributed engine wraps the model
    device = next(inner.parameters()).device
    input_ids, attention_mask = batch["input_ids"].to(device), batch["attention_mask"].to(device)
    labels = batch["labels"].to(device)
    predicts = labels[:, 1:] != IGNORE_INDEX
    global _mask_refused
    logits = None
    if not _mask_refused and getattr(getattr(inner, "config", None), "model_type", None) in _LOGITS_MASK_MODELS:
        keep = F.pad(predicts, (0, 1), value=False)
        try:
            logits = model(input_ids=input_ids, attention_mask=attention_mask, logits_to_keep=keep).logits
        except IndexError:  # an older transformers indexes hidden_states[:, keep, :] and fails
            _mask_refused = True
    if logits is None:
        logits = model(input_ids=input_ids, attention_mask=attention_mask).logits[:, :-1][predicts]
    return logits, labels[:, 1:][predicts], predicts


def completion_nll(model, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    """:func:`causal_lm_loss` of ``model`` on ``batch``, computing logits only where labels are."""
    logits, targets, _ = labelled_logits(model, batch)
    if targets.numel() == 0:
        raise ValueError("the batch has no labelled token; every completion was cut or empty")
    return F.cross_entropy(logits.float(), targets)


def sequence_logprobs(model, batch: Mapping[str, torch.Tensor], average: bool = False) -> torch.Tensor:
    """Per-sequence ``sum_t log p(completion_t | prompt, completion_<t)`` (shape ``[batch]``).

    Sums over the positions with a label (completion tokens and ``eos``; see
    :func:`alignbook.lm.data.encode_pair`); with ``average`` divides by their number. Gradients
    flow, so DPO-style losses can use it directly; wrap in ``torch.no_grad()`` for a reference
    model.
    """
    logits, targets, predicts = labelled_logits(model, batch)
    picked = torch.log_softmax(logits.float(), dim=-1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
    per_token = torch.zeros(predicts.shape, dtype=picked.dtype, device=picked.device)
    per_token = per_token.masked_scatter(predicts, picked)
    total = per_token.sum(-1)
    return total / predicts.sum(-1).clamp(min=1) if average else total


def lr_factor(step: int, total_steps: int, warmup_steps: int, kind: str = "cosine") -> float:
    """Multiplier of the peak learning rate at optimiser step ``step`` (0-based).

    Linear warm-up ``step / warmup_steps``, then ``cosine``: ``0.5 * (1 + cos(pi * progress))``,
    ``linear``: ``1 - progress``, or ``constant``: 1; ``progress`` runs from 0 to 1 over the steps
    after warm-up. This is ``transformers.get_scheduler``'s formula, which safe-rlhf uses
    (including its first warm-up step at rate 0).
    """
    if step < warmup_steps:
        return step / max(1, warmup_steps)
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    progress = min(1.0, progress)
    if kind == "cosine":
        return 0.5 * (1.0 + math.cos(math.pi * progress))
    if kind == "linear":
        return 1.0 - progress
    if kind == "constant":
        return 1.0
    raise ValueError(f"lr_scheduler={kind!r} must be cosine, linear or constant")


def _make_engine(model, cfg: SFTConfig, total_steps: int):
    warmup = int(math.ceil(cfg.warmup_ratio * total_steps))

    def lr_lambda(step: int) -> float:
        return lr_factor(step, total_steps, warmup, cfg.lr_scheduler)

    kwargs = dict(
        lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=cfg.weight_decay,
        grad_accum=cfg.grad_accum, max_grad_norm=cfg.max_grad_norm, lr_lambda=lr_lambda,
    )
    return distributed.wrap(
        model, zero_stage=cfg.zero_stage, bf16=cfg.bf16, micro_batch_size=cfg.batch_size, **kwargs
    )


def _planned_world(cfg: SFTConfig) -> tuple[int, int]:
    """(world size, rank) the engine will have: several processes only under a launcher with a
    ZeRO stage (``alignbook.engine.distributed.wrap`` builds a DeepSpeed engine only then)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world > 1 and cfg.zero_stage is None:
        raise ValueError(
            f"train_sft runs under a launcher ({world} processes) but SFTConfig.zero_stage is None, "
            "so the processes would not share gradients; set zero_stage=0, 1, 2 or 3"
        )
    if torch.distributed.is_initialized():
        return torch.distributed.get_world_size(), torch.distributed.get_rank()
    return world, int(os.environ.get("RANK", "0")) if world > 1 else 0


def _to_examples(tokenizer, data, max_length: int, what: str) -> list[dict[str, list[int]]]:
    """Accept texts (pretraining), (prompt, completion) pairs or already-encoded examples."""
    if isinstance(data, (str, bytes)):
        raise TypeError(f"{what} must be a list, not one string; wrap it: [text]")
    data = list(data)
    if not data:
        raise ValueError(f"{what} is empty; nothing to train or evaluate on")
    first = data[0]
    if isinstance(first, str):
        return encode_texts(tokenizer, data, max_length=max_length)
    if isinstance(first, Mapping) and "input_ids" in first:
        if any(len(e["input_ids"]) > max_length for e in data):
            raise ValueError(f"{what} holds encoded examples longer than max_length={max_length}; "
                             "encode them with the same max_length")
        return [{"labels": list(e["input_ids"]), **e} for e in data]
    return encode_pairs(tokenizer, data, max_length=max_length)


def _batches(examples, batch_size: int, pad_token_id: int):
    for start in range(0, len(examples), batch_size):
        yield collate(examples[start : start + batch_size], pad_token_id)


def evaluate_loss(model, tokenizer, data, batch_size: int = 64, max_length: int = 256) -> float:
    """Token-weighted mean NLL of ``data`` (texts, pairs or encoded examples) under ``model``."""
    with torch_threads(auto_threads(model)):
        return _evaluate_loss(model, tokenizer, data, batch_size, max_length)


@torch.no_grad()
def _evaluate_loss(model, tokenizer, data, batch_size: int, max_length: int) -> float:
    examples = _to_examples(tokenizer, data, max_length, "eval data")
    was_training = model.training
    model.eval()
    total, count = 0.0, 0
    for batch in _batches(examples, batch_size, tokenizer.pad_token_id):
        logits, targets, _ = labelled_logits(model, batch)
        total += float(F.cross_entropy(logits.float(), targets, reduction="sum"))
        count += targets.numel()
    model.train(was_training)
    if count == 0:
        raise ValueError("eval data has no labelled tokens (all completions empty and cut?)")
    return total / count


# -- the trainer ------------------------------------------------------------------------------------


def train_sft(
    model,
    tokenizer,
    data: Iterable[Any],
    cfg: SFTConfig = SFTConfig(),
    eval_pairs: Iterable[Any] | None = None,
    verbose: bool = True,
    output_dir: str | Path | None = None,
) -> SFTResult:
    """Fine-tune ``model`` on ``data`` and return an :class:`SFTResult`.

    ``data`` is a list of ``(prompt, completion)`` pairs (or dicts with those keys), of plain
    texts (pretraining: every token counts), or of examples already encoded by
    :mod:`alignbook.lm.data`. ``eval_pairs`` takes the same forms and is scored before training,
    every ``cfg.eval_every`` steps (or each epoch) and at the end. With ``output_dir`` the model
    and tokenizer are saved to ``output_dir/model`` and the result to ``output_dir``; with
    ``cfg.save_every`` a resumable state is kept in ``output_dir/resume`` until the run ends, and
    calling again after an interruption continues it (the same numbers as an uninterrupted run).

    The model is trained in place and left in eval mode.
    """
    if not isinstance(cfg, SFTConfig):
        raise TypeError(f"cfg must be an SFTConfig, not {type(cfg).__name__}; build one: SFTConfig(lr=...)")
    model.to(devices.resolve(cfg.device))
    with torch_threads(auto_threads(model, cfg.threads)):
        return _train_sft(model, tokenizer, data, cfg, eval_pairs, verbose, output_dir)


def _train_sft(model, tokenizer, data, cfg, eval_pairs, verbose, output_dir) -> SFTResult:
    examples = _to_examples(tokenizer, data, cfg.max_length, "data")
    eval_examples = None if eval_pairs is None else _to_examples(tokenizer, eval_pairs, cfg.max_length, "eval_pairs")
    if not any(any(label != IGNORE_INDEX for label in e["labels"][1:]) for e in examples):
        raise ValueError("no training example has a labelled token; are all completions empty?")
    device = devices.resolve(cfg.device)  # train_sft has moved the model there

    world_size, rank = _planned_world(cfg)
    # every process gets the same number of examples (the few left over are skipped that epoch),
    # or one would wait forever in a collective the others never reach
    local_count = len(examples) // world_size
    if local_count == 0:
        raise ValueError(f"{len(examples)} examples cannot be split over {world_size} processes")
    batches_per_epoch = math.ceil(local_count / cfg.batch_size)
    # the engine steps every grad_accum micro-batches; a remainder at the very end is dropped
    total_steps = max(1, batches_per_epoch * cfg.epochs // cfg.grad_accum)
    if cfg.max_steps is not None:
        total_steps = min(total_steps, cfg.max_steps)
    engine = _make_engine(model, cfg, total_steps)
    if (engine.world_size, engine.rank) != (world_size, rank):
        raise RuntimeError(
            f"expected rank {rank} of {world_size} processes but the engine reports rank "
            f"{engine.rank} of {engine.world_size}; check the launcher's WORLD_SIZE and RANK"
        )

    use_autocast = cfg.bf16 and device.startswith("cuda") and not getattr(engine, "uses_deepspeed", False)
    autocast = torch.autocast("cuda", dtype=torch.bfloat16) if use_autocast else contextlib.nullcontext()

    def evaluate() -> float:
        return engine.all_reduce_mean(
            evaluate_loss(engine.module, tokenizer, eval_examples, cfg.eval_batch_size, cfg.max_length)
        )

    # Everything a resumed run needs to continue exactly where an interrupted one stopped.
    state: dict[str, Any] = {
        "step": 0, "micro": 0, "tokens": 0, "train_seconds": 0.0, "train_cpu_seconds": 0.0,
        "epoch": 0, "batch_index": -1, "history": [], "initial_eval": None, "last_eval": None,
        "losses_since_log": [],
    }
    resume_dir = Path(output_dir) / RESUME_DIR if output_dir is not None else None
    resumable = resume_dir is not None and world_size == 1 and not getattr(engine, "uses_deepspeed", False)
    if resumable and (resume_dir / "state.pt").exists():
        state = _load_resume_state(resume_dir, engine, cfg, len(examples))
    elif eval_examples is not None:
        state["initial_eval"] = state["last_eval"] = evaluate()
    history = state["history"]
    losses_since_log = state["losses_since_log"]
    step, micro, tokens = state["step"], state["micro"], state["tokens"]
    train_seconds, train_cpu_seconds = state["train_seconds"], state["train_cpu_seconds"]
    last_eval, initial_eval = state["last_eval"], state["initial_eval"]
    order_rng = torch.Generator().manual_seed(cfg.seed)
    window: list[float] = []
    engine.train()
    progress = tqdm(total=total_steps, initial=step, desc="sft", disable=not verbose or rank != 0, leave=False)
    done = step >= total_steps
    for epoch in range(cfg.epochs):
        if done:
            break
        # drawn for every epoch, also the ones a resumed run skips, so the order matches
        order = torch.randperm(len(examples), generator=order_rng).tolist()[rank::world_size][:local_count]
        if epoch < state["epoch"]:
            continue
        shard = [examples[i] for i in order]
        for batch_index, batch in enumerate(_batches(shard, cfg.batch_size, tokenizer.pad_token_id)):
            if epoch == state["epoch"] and batch_index <= state["batch_index"]:
                continue  # done before the interruption
            started, cpu_started = time.perf_counter(), time.process_time()
            batch = {k: v.to(device) for k, v in batch.items()}
            with autocast:
                loss = completion_nll(engine, batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"loss became {loss.item()} at step {step}; lower SFTConfig.lr")
            engine.backward(loss)
            step_lr = engine.lr  # the rate this optimiser step uses (the schedule advances in step())
            stepped = engine.step()
            train_seconds += time.perf_counter() - started
            train_cpu_seconds += time.process_time() - cpu_started
            tokens += int(batch["attention_mask"].sum())
            micro += 1
            window.append(loss.item())
            if not stepped:
                continue
            step += 1
            step_loss = sum(window) / len(window)
            window.clear()
            losses_since_log.append(step_loss)
            epoch_end = batch_index == batches_per_epoch - 1
            eval_now = eval_examples is not None and (
                (cfg.eval_every and step % cfg.eval_every == 0)
                or (not cfg.eval_every and epoch_end)
                or step == total_steps
            )
            if eval_now:
                last_eval = evaluate()
                engine.train()
            if step % cfg.log_every == 0 or eval_now or step == total_steps:
                history.append({
                    "step": step,
                    "epoch": round(epoch + (batch_index + 1) / batches_per_epoch, 4),
                    "loss": engine.all_reduce_mean(sum(losses_since_log) / len(losses_since_log)),
                    "lr": step_lr,
                    "tokens": tokens,
                    "eval_loss": last_eval if eval_now else None,
                })
                losses_since_log.clear()
            progress.update(1)
            progress.set_postfix(loss=f"{step_loss:.3f}")
            if step >= total_steps:
                done = True
                break
            if resumable and cfg.save_every and step % cfg.save_every == 0 and not window:
                state.update(step=step, micro=micro, tokens=tokens, train_seconds=train_seconds,
                             train_cpu_seconds=train_cpu_seconds, epoch=epoch,
                             batch_index=batch_index, last_eval=last_eval)
                _save_resume_state(resume_dir, engine, cfg, len(examples), state)
            _after_step(step)
    progress.close()
    engine.eval()
    model = engine.module

    from .models import count_parameters

    tail = [h["loss"] for h in history[-max(1, len(history) // 10):]]
    metrics: dict[str, Any] = {
        "train_loss": sum(tail) / len(tail) if tail else float("nan"),
        "eval_loss": last_eval,
        "initial_eval_loss": initial_eval,
        "steps": step,
        "epochs": cfg.epochs,
        "examples": len(examples),
        "tokens": tokens,
        "train_seconds": train_seconds,
        "tokens_per_s": tokens * world_size / train_seconds if train_seconds else float("nan"),
        # per process and CPU-second: on a shared CPU, what an idle core would roughly do
        "tokens_per_cpu_s": tokens / train_cpu_seconds if train_cpu_seconds else float("nan"),
        "parameters": count_parameters(model),
        "world_size": world_size,
        "threads": torch.get_num_threads(),
        "device": str(device),
    }
    checkpoint = None
    if output_dir is not None:
        model_dir = Path(output_dir) / "model"
        if hasattr(engine, "save"):
            engine.save(model_dir)
        elif rank == 0:
            model.save_pretrained(model_dir)
        if rank == 0:
            tokenizer.save_pretrained(str(model_dir))
        checkpoint = str(model_dir)
    result = SFTResult(metrics=metrics, history=history, checkpoint=checkpoint, config=cfg)
    if output_dir is not None and rank == 0:
        result.save(output_dir)
    if resumable and resume_dir.exists():
        shutil.rmtree(resume_dir)  # finished: the optimiser state is no longer needed
    return result


def _after_step(step: int) -> None:
    """Called after every optimiser step; tests replace it to simulate an interruption."""


def _save_resume_state(directory: Path, engine, cfg: SFTConfig, n_examples: int, state: dict) -> None:
    """Write model, optimiser, schedule and loop state atomically (temp file, then rename).

    Only tensors, state dicts and plain data, so that it loads with ``weights_only=True``.
    """
    from ..engine import checkpoints
    from ..engine.results import config_fingerprint

    scheduler = engine.scheduler
    payload = {
        "config": config_fingerprint(cfg),
        "examples": n_examples,
        "model": engine.module.state_dict(),
        "optimizer": engine.optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "loop": {k: v for k, v in state.items()},
    }
    checkpoints.save(directory / "state.pt", payload)


def _load_resume_state(directory: Path, engine, cfg: SFTConfig, n_examples: int) -> dict:
    from ..engine import checkpoints
    from ..engine.results import config_fingerprint

    payload = checkpoints.load(directory / "state.pt")  # a damaged file raises CheckpointError
    if payload.get("config") != config_fingerprint(cfg) or payload.get("examples") != n_examples:
        raise ValueError(
            f"{directory} holds an interrupted run with a different config or dataset; "
            "delete that folder to start afresh, or resume with the same SFTConfig and data"
        )
    engine.module.load_state_dict(payload["model"])
    engine.optimizer.load_state_dict(payload["optimizer"])
    scheduler = engine.scheduler
    if scheduler is not None and payload["scheduler"] is not None:
        scheduler.load_state_dict(payload["scheduler"])
        for group, lr in zip(engine.optimizer.param_groups, scheduler.get_last_lr()):
            group["lr"] = lr
    return payload["loop"]
