"""One optimiser interface for in-process and DeepSpeed training.

Trainers call :func:`wrap` (the book's :mod:`alignbook.engine.distributed`: plain torch AdamW in one
process, DeepSpeed under its launcher) and then only ``engine(...)``, ``engine.backward(loss)``
and ``engine.step()``; the helpers here set the learning-rate schedule and average metrics.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def wrap(model: nn.Module, *, lr: float, betas=(0.9, 0.95), weight_decay: float = 0.0,
         zero_stage: int | None = None, bf16: bool = False, grad_accum: int = 1,
         max_grad_norm: float | None = None, micro_batch_size: int = 1) -> Any:
    """:func:`alignbook.engine.distributed.wrap`: AdamW in one process, DeepSpeed ZeRO under a launcher."""
    from alignbook.engine import distributed

    return distributed.wrap(model, lr=lr, betas=tuple(betas), weight_decay=weight_decay,
                            zero_stage=zero_stage, bf16=bf16, grad_accum=grad_accum,
                            max_grad_norm=max_grad_norm, micro_batch_size=micro_batch_size)


def forward(engine: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the engine (DeepSpeed hooks) when it is callable, else its module."""
    return engine(*args, **kwargs) if callable(engine) else engine.module(*args, **kwargs)


def set_lr(engine: Any, lr: float) -> None:
    """Set the learning rate of every parameter group (the schedule is computed by the trainer)."""
    optimizer = getattr(engine, "optimizer", None)
    for group in getattr(optimizer, "param_groups", []):
        group["lr"] = lr


def lr_at(step: int, total: int, base_lr: float, schedule: str, warmup_ratio: float) -> float:
    """The learning rate of optimiser step ``step`` (0-based) of ``total``, as safe-rlhf schedules it.

    safe-rlhf builds ``transformers.get_scheduler(name, num_warmup_steps=int(ratio·total), ...)``
    (``safe_rlhf/trainers/rl_trainer.py``, ``supervised_trainer.py``), stepped once per optimiser
    step: ``cosine`` warms up linearly from 0 (the first step runs at lr 0 when there is a warm-up),
    ``base·step/warmup``, then ``base·½(1 + cos(π·progress))``; ``constant`` is
    ``get_constant_schedule``, which has **no** warm-up whatever the ratio.
    """
    import math

    if schedule == "constant":
        return base_lr
    if schedule != "cosine":
        raise ValueError(f"lr_scheduler={schedule!r} must be 'constant' or 'cosine'")
    warmup = int(warmup_ratio * total)
    if step < warmup:
        return base_lr * step / max(1, warmup)
    progress = (step - warmup) / max(1, total - warmup)
    return base_lr * max(0.0, 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress))))


def all_reduce_mean(value: torch.Tensor, world_size: int) -> torch.Tensor:
    """Mean over processes (identity in one process)."""
    if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        value = value.clone()
        torch.distributed.all_reduce(value)
        value = value / world_size
    return value
