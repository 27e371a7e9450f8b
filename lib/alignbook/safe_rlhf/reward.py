"""Training the reward and the cost model (``safe_rlhf.values.reward`` / ``.cost``).

Both train a :class:`~alignbook.safe_rlhf.score.ScoreModel` on preference pairs; they differ only
in which response of a pair should score higher and in the loss. One forward pass scores both
responses of every pair (they are stacked along the batch).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from tqdm.auto import tqdm

from alignbook.engine import devices

from . import engine as engine_mod
from .config import ScoreModelConfig, trainer_precision
from .data import ScorePairs, special_ids, tokenize_pairs
from .losses import accuracy, accuracy_sign, cost_loss, reward_loss
from .results import TrainResult
from .score import ScoreModel, save_score_model


def score_pairs(model: Any, batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """End scores of the ``high`` and ``low`` responses, from one stacked forward pass."""
    ids, mask = _stack(batch)
    end = engine_mod.forward(model, ids, attention_mask=mask).end_scores
    return end.chunk(2)


def _stack(batch: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    length = max(batch["high_ids"].size(1), batch["low_ids"].size(1))

    def widen(t: torch.Tensor, fill: int) -> torch.Tensor:
        return torch.nn.functional.pad(t, (0, length - t.size(1)), value=fill)

    pad = int(batch["pad_id"])
    ids = torch.cat([widen(batch["high_ids"], pad), widen(batch["low_ids"], pad)])
    mask = torch.cat([widen(batch["high_mask"], 0), widen(batch["low_mask"], 0)])
    return ids, mask


def pair_loss(kind: str, high: torch.Tensor, low: torch.Tensor, batch: Mapping[str, torch.Tensor],
              cfg: ScoreModelConfig) -> torch.Tensor:
    if kind == "reward":
        return reward_loss(high, low, cfg.regularization)
    return cost_loss(high, low, batch["high_sign"].to(high.dtype), batch["low_sign"].to(low.dtype),
                     cfg.regularization, use_sign_term=cfg.use_sign_term)


@torch.no_grad()
def evaluate_pairs(model: Any, pairs: ScorePairs, pad_id: int, batch_size: int = 64,
                   precision: str = "fp32") -> dict[str, Any]:
    """Held-out ``accuracy``, ``accuracy_sign`` and the scores of every response with its sign.

    ``accuracy_mixed`` / ``accuracy_same``: pairwise accuracy on the pairs whose two responses differ
    in safety (one safe, one unsafe) and on those whose two responses agree (both safe or both
    unsafe), with ``share_mixed`` the share of mixed pairs (NaN where a group is empty). The sign
    term of the cost loss speaks to the mixed pairs only; on the others it pulls both costs the same
    way, which is where a ranking cost of the sign term would show. Batches go where the model is;
    ``precision`` 'bf16' scores them under autocast (:func:`autocast_precision`) and reads the scores in fp32."""
    module = model.module if hasattr(model, "module") else model
    device = next(module.parameters()).device
    was_training = module.training
    module.eval()
    highs, lows = [], []
    for start in range(0, len(pairs), batch_size):
        batch = devices.to(pairs.batch(range(start, min(start + batch_size, len(pairs))), pad_id), device)
        batch["pad_id"] = torch.tensor(pad_id)
        with devices.autocast(device, precision):
            high, low = score_pairs(model, batch)
        highs.append(high)
        lows.append(low)
    module.train(was_training)
    high, low = in_fp32(torch.cat(highs), precision), in_fp32(torch.cat(lows), precision)
    scores = torch.cat([high, low])
    signs = torch.cat([pairs.high_sign, pairs.low_sign]).to(device=scores.device, dtype=scores.dtype)
    mixed = (pairs.high_sign != pairs.low_sign).to(high.device)
    nan = float("nan")
    return {
        "accuracy": accuracy(high, low).item(),
        "accuracy_sign": accuracy_sign(scores, signs).item(),
        "accuracy_mixed": accuracy(high[mixed], low[mixed]).item() if bool(mixed.any()) else nan,
        "accuracy_same": accuracy(high[~mixed], low[~mixed]).item() if bool((~mixed).any()) else nan,
        "share_mixed": mixed.float().mean().item(),
        "score_mean": scores.mean().item(),
        "score_std": scores.std().item() if scores.numel() > 1 else 0.0,
        "scores": scores.cpu().tolist(),
        "signs": signs.cpu().tolist(),
    }


def train_score_model(
    kind: str,
    model: ScoreModel,
    tokenizer: Any,
    train_rows: Sequence[Mapping[str, Any]],
    eval_rows: Sequence[Mapping[str, Any]],
    cfg: ScoreModelConfig,
    *,
    save_dir: str | Path | None = None,
) -> TrainResult:
    """Train ``model`` as a reward (``kind="reward"``) or cost (``kind="cost"``) model.

    The model moves to ``cfg.device`` (:func:`alignbook.engine.devices.resolve`), every batch with it.
    Pairs are sharded across processes by rank; the held-out evaluation runs on every rank over
    all eval pairs (ZeRO-3 needs every rank in each forward). Returns a :class:`TrainResult` whose
    ``history`` has one record per optimiser step plus ``eval/*`` records, and whose ``extra``
    holds the final held-out scores (for the safe-vs-unsafe distributions).
    """
    from alignbook.lm import auto_threads, torch_threads

    if kind not in ("reward", "cost"):
        raise ValueError(f"kind={kind!r} must be 'reward' or 'cost'")
    if not isinstance(model, ScoreModel):
        raise TypeError(f"model must be an alignbook.safe_rlhf.ScoreModel, got {type(model).__name__}")
    # tiny models run faster on one thread, especially on a shared CPU (alignbook.lm.runtime)
    with torch_threads(auto_threads(model)):
        return _train_score_model(kind, model, tokenizer, train_rows, eval_rows, cfg, save_dir)


def autocast_precision(cfg: Any, device: Any, engine: Any) -> str:
    """What the in-process forward passes run under (:func:`alignbook.engine.devices.autocast`): 'bf16' when
    ``cfg.bf16`` is set and ``device`` is a GPU (:func:`~alignbook.safe_rlhf.config.trainer_precision`), else
    'fp32'. Under DeepSpeed the engine's own bf16 applies instead, so 'fp32' (no autocast) there."""
    return "fp32" if getattr(engine, "uses_deepspeed", False) else trainer_precision(cfg.bf16, torch.device(device))


def in_fp32(t: torch.Tensor, precision: str) -> torch.Tensor:
    """``t`` in float32 after a forward pass under bf16 autocast (losses and log-probabilities are computed in
    fp32); unchanged otherwise (fp32 runs and DeepSpeed's own bf16 keep their dtype)."""
    return t.float() if precision == "bf16" else t


def _train_score_model(kind, model, tokenizer, train_rows, eval_rows, cfg, save_dir) -> TrainResult:
    device = devices.resolve(cfg.device)
    model.to(device)
    pad_id, _ = special_ids(tokenizer)
    train = tokenize_pairs(train_rows, tokenizer, kind, cfg.max_length, cfg.prompt_template)
    held_out = tokenize_pairs(eval_rows, tokenizer, kind, cfg.max_length, cfg.prompt_template)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    engine = engine_mod.wrap(model, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay,
                             zero_stage=cfg.zero_stage, bf16=cfg.bf16, grad_accum=cfg.grad_accum,
                             max_grad_norm=cfg.max_grad_norm or None)
    device = engine.device  # under DeepSpeed, where its engine put the model (this rank's GPU): batches follow
    precision = autocast_precision(cfg, device, engine)
    rank, world = engine.rank, engine.world_size
    steps_per_epoch = math.ceil((len(train) // world) / cfg.batch_size)
    total_steps = steps_per_epoch * cfg.epochs
    order = torch.Generator().manual_seed(cfg.seed)
    history: list[dict[str, Any]] = []
    step = 0
    bar = tqdm(total=total_steps, desc=f"{kind} model", disable=not (cfg.verbose and engine.is_main))
    for epoch in range(cfg.epochs):
        perm = torch.randperm(len(train), generator=order)
        # every rank takes the same number of pairs, or the collective ops of one step would hang
        per_rank = len(perm) // world
        shard = perm[rank::world][:per_rank].tolist()
        for start in range(0, len(shard), cfg.batch_size):
            index = shard[start : start + cfg.batch_size]
            batch = devices.to(train.batch(index, pad_id), device)
            batch["pad_id"] = torch.tensor(pad_id)
            lr = engine_mod.lr_at(step // cfg.grad_accum, math.ceil(total_steps / cfg.grad_accum), cfg.lr,
                                  cfg.lr_scheduler, cfg.warmup_ratio)
            engine_mod.set_lr(engine, lr)
            with devices.autocast(device, precision):
                high, low = score_pairs(engine, batch)
            high, low = in_fp32(high, precision), in_fp32(low, precision)
            loss = pair_loss(kind, high, low, batch, cfg)
            engine.backward(loss)
            engine.step()
            record = {
                "step": step,
                "epoch": epoch + start / max(1, len(shard)),
                "loss": engine_mod.all_reduce_mean(loss.detach(), world).item(),
                "accuracy": engine_mod.all_reduce_mean(accuracy(high, low).detach(), world).item(),
                "lr": lr,
            }
            if kind == "cost":
                both = torch.cat([high, low]).detach()
                signs = torch.cat([batch["high_sign"], batch["low_sign"]]).to(both.dtype)
                record["accuracy_sign"] = engine_mod.all_reduce_mean(accuracy_sign(both, signs), world).item()
            history.append(record)
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['accuracy']:.2f}")
            if cfg.eval_every and step % cfg.eval_every == 0:
                held = evaluate_pairs(engine, held_out, pad_id, precision=precision)
                history.append({"step": step, "epoch": epoch + 1, **{f"eval/{k}": v for k, v in held.items()
                                                                      if k not in ("scores", "signs")}})
        if not cfg.eval_every:
            held = evaluate_pairs(engine, held_out, pad_id, precision=precision)
            history.append({"step": step, "epoch": epoch + 1, **{f"eval/{k}": v for k, v in held.items()
                                                                  if k not in ("scores", "signs")}})
    bar.close()
    final = evaluate_pairs(engine, held_out, pad_id, precision=precision)
    metrics = {k: float(v) for k, v in final.items() if k not in ("scores", "signs")}
    metrics["train_loss_last"] = [r for r in history if "loss" in r][-1]["loss"]
    checkpoint = None
    if save_dir is not None:
        save_dir = Path(save_dir)
        # under ZeRO-3 every rank must take part in gathering the full weights
        state = engine.full_state_dict() if hasattr(engine, "full_state_dict") else None
        if engine.is_main:
            save_score_model(engine.module, save_dir / "model", state_dict=state)
        if hasattr(engine, "barrier"):
            engine.barrier()
        checkpoint = str(save_dir / "model")
    result = TrainResult(metrics=metrics, history=history, checkpoint=checkpoint, config=cfg,
                         extra={"kind": kind, "eval_scores": final["scores"], "eval_signs": final["signs"]})
    if save_dir is not None and engine.is_main:
        result.save(save_dir)
    return result


def train_reward_model(model: ScoreModel, tokenizer: Any, train_rows, eval_rows, cfg: ScoreModelConfig,
                       *, save_dir: str | Path | None = None) -> TrainResult:
    """Reward model: pairs ordered by ``better_response_id``, loss :func:`~.losses.reward_loss`."""
    return train_score_model("reward", model, tokenizer, train_rows, eval_rows, cfg, save_dir=save_dir)


def train_cost_model(model: ScoreModel, tokenizer: Any, train_rows, eval_rows, cfg: ScoreModelConfig,
                     *, save_dir: str | Path | None = None) -> TrainResult:
    """Cost model: pairs ordered by ``safer_response_id``, loss :func:`~.losses.cost_loss`."""
    return train_score_model("cost", model, tokenizer, train_rows, eval_rows, cfg, save_dir=save_dir)
