"""One optimiser interface for in-process and DeepSpeed training.

Trainers call :func:`wrap` and then only ``engine.module``, ``engine.backward(loss)`` and
``engine.step()``. It delegates to :mod:`alignbook.distributed` (the book's wrapper: plain torch
AdamW in one process, DeepSpeed under its launcher) and falls back to a local AdamW engine with
the same interface when that module is not importable, so the math can be tested on its own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn


class LocalEngine:
    """AdamW in one process, with gradient accumulation and clipping; the ``wrap`` interface."""

    rank = 0
    world_size = 1
    is_main = True

    def __init__(self, model: nn.Module, *, lr: float, betas=(0.9, 0.95), weight_decay: float = 0.0,
                 grad_accum: int = 1, max_grad_norm: float | None = None, **_: Any) -> None:
        self.module = model
        params = [p for p in model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=lr, betas=tuple(betas), weight_decay=weight_decay)
        self.grad_accum = grad_accum
        self.max_grad_norm = max_grad_norm
        self._micro_steps = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    def backward(self, loss: torch.Tensor) -> None:
        (loss / self.grad_accum).backward()

    def step(self) -> None:
        self._micro_steps += 1
        if self._micro_steps % self.grad_accum:
            return
        if self.max_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.max_grad_norm)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def save(self, directory: str | Path) -> None:
        Path(directory).mkdir(parents=True, exist_ok=True)
        torch.save(self.module.state_dict(), Path(directory) / "model.pt")

    def state_dict(self) -> dict[str, Any]:
        return {"optimizer": self.optimizer.state_dict(), "micro_steps": self._micro_steps}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.optimizer.load_state_dict(state["optimizer"])
        self._micro_steps = state["micro_steps"]


def wrap(model: nn.Module, *, lr: float, betas=(0.9, 0.95), weight_decay: float = 0.0,
         zero_stage: int | None = None, bf16: bool = False, grad_accum: int = 1,
         max_grad_norm: float | None = None) -> Any:
    """``alignbook.distributed.wrap`` when available, else a :class:`LocalEngine`."""
    try:
        from alignbook import distributed
    except ImportError:
        distributed = None
    if distributed is not None and hasattr(distributed, "wrap"):
        return distributed.wrap(model, lr=lr, betas=tuple(betas), weight_decay=weight_decay,
                                zero_stage=zero_stage, bf16=bf16, grad_accum=grad_accum,
                                max_grad_norm=max_grad_norm)
    if zero_stage is not None:
        raise RuntimeError(
            f"zero_stage={zero_stage} needs alignbook.distributed (DeepSpeed); it is not importable "
            "here, so use zero_stage=None for an in-process run"
        )
    return LocalEngine(model, lr=lr, betas=betas, weight_decay=weight_decay,
                       grad_accum=grad_accum, max_grad_norm=max_grad_norm)


def forward(engine: Any, *args: Any, **kwargs: Any) -> Any:
    """Call the engine (DeepSpeed hooks) when it is callable, else its module."""
    return engine(*args, **kwargs) if callable(engine) else engine.module(*args, **kwargs)


def set_lr(engine: Any, lr: float) -> None:
    """Set the learning rate of every parameter group (the schedule is computed by the trainer)."""
    optimizer = getattr(engine, "optimizer", None)
    for group in getattr(optimizer, "param_groups", []):
        group["lr"] = lr


def lr_at(step: int, total: int, base_lr: float, schedule: str, warmup_ratio: float) -> float:
    """Linear warm-up over ``warmup_ratio·total`` steps, then constant or cosine to 0."""
    import math

    warmup = int(math.ceil(warmup_ratio * total))
    if step < warmup:
        return base_lr * (step + 1) / warmup
    if schedule == "constant":
        return base_lr
    if schedule == "cosine":
        progress = (step - warmup) / max(1, total - warmup)
        return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))
    raise ValueError(f"lr_scheduler={schedule!r} must be 'constant' or 'cosine'")


def all_reduce_mean(value: torch.Tensor, world_size: int) -> torch.Tensor:
    """Mean over processes (identity in one process)."""
    if world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized():
        value = value.clone()
        torch.distributed.all_reduce(value)
        value = value / world_size
    return value
