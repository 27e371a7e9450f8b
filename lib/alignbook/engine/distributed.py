"""One optimiser interface for one process (plain PyTorch) and many (DeepSpeed ZeRO).

Trainers are written once against :class:`Engine`::

    engine = wrap(model, lr=1e-5, betas=(0.9, 0.95), zero_stage=3, grad_accum=2)
    for batch in loader:
        loss = engine(**batch).loss       # or engine.module(...) outside ZeRO-3
        engine.backward(loss)
        engine.step()                     # steps the optimiser at accumulation boundaries
    engine.save(out_dir)                  # full weights on rank 0, whatever the ZeRO stage

Run in-process, ``zero_stage`` is ignored (there is nothing to shard across) and the engine is a
thin AdamW loop. Started by the ``deepspeed`` launcher (``WORLD_SIZE`` set), the same call builds a
DeepSpeed engine with the requested ZeRO stage; ``DS_ACCELERATOR=cpu`` makes that work on CPUs.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Callable

import torch


def is_launched() -> bool:
    """True when started by a multi-process launcher (deepspeed, torchrun, accelerate)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def cosine_schedule(warmup_steps: int, total_steps: int, min_ratio: float = 0.0) -> Callable[[int], float]:
    """Linear warm-up from 0, then cosine decay to ``min_ratio`` of the peak.

    The same factors as transformers' ``get_cosine_schedule_with_warmup`` (used by safe-rlhf).
    """

    def factor(step: int) -> float:
        if step < warmup_steps:
            return step / max(1, warmup_steps)
        progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
        return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


class Engine:
    """Backward, step, save: the same calls for plain PyTorch and DeepSpeed."""

    def __init__(
        self,
        model: torch.nn.Module,
        optimizer: torch.optim.Optimizer,
        *,
        grad_accum: int,
        max_grad_norm: float | None,
        lr_lambda: Callable[[int], float] | None,
        ds_engine: Any = None,
        zero_stage: int | None = None,
    ) -> None:
        self.module = model
        self.optimizer = optimizer
        self.grad_accum = grad_accum
        self.max_grad_norm = max_grad_norm
        self.zero_stage = zero_stage
        self._ds = ds_engine
        self._micro_steps = 0
        self.global_step = 0
        """Optimiser steps taken (accumulation boundaries)."""
        self.scheduler = (
            torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda) if lr_lambda and ds_engine is None else None
        )
        """The learning-rate scheduler in one process (DeepSpeed owns its own); saved when resuming."""

    # -- who am I --------------------------------------------------------------------------------
    @property
    def rank(self) -> int:
        return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0

    @property
    def world_size(self) -> int:
        return torch.distributed.get_world_size() if torch.distributed.is_initialized() else 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def uses_deepspeed(self) -> bool:
        return self._ds is not None

    @property
    def device(self) -> torch.device:
        """Where the model's parameters are (what every batch and collective tensor must be on)."""
        param = next(self.module.parameters(), None)
        return param.device if param is not None else torch.device("cpu")

    @property
    def lr(self) -> float:
        return self.optimizer.param_groups[0]["lr"]

    # -- training --------------------------------------------------------------------------------
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return (self._ds or self.module)(*args, **kwargs)

    def train(self, mode: bool = True) -> "Engine":
        self.module.train(mode)
        return self

    def eval(self) -> "Engine":
        return self.train(False)

    def backward(self, loss: torch.Tensor) -> None:
        if self._ds is not None:
            self._ds.backward(loss)  # DeepSpeed scales by 1/grad_accum itself
        else:
            (loss / self.grad_accum).backward()

    def step(self) -> bool:
        """Count a micro-step; at an accumulation boundary, step the optimiser. Returns whether it did."""
        self._micro_steps += 1
        boundary = self._micro_steps % self.grad_accum == 0
        if self._ds is not None:
            self._ds.step()
        elif boundary:
            if self.max_grad_norm:
                torch.nn.utils.clip_grad_norm_(self.module.parameters(), self.max_grad_norm)
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
            if self.scheduler is not None:
                self.scheduler.step()
        if boundary:
            self.global_step += 1
        return boundary

    # -- collective helpers ----------------------------------------------------------------------
    def barrier(self) -> None:
        if torch.distributed.is_initialized():
            torch.distributed.barrier()

    def all_reduce_mean(self, value: float) -> float:
        """Average a python number over ranks (metrics that every rank computed on its own shard)."""
        if not torch.distributed.is_initialized():
            return float(value)
        # on the model's device: NCCL rejects a CPU tensor on a GPU node (gloo takes the CPU one)
        tensor = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return float(tensor.item()) / self.world_size

    # -- saving ----------------------------------------------------------------------------------
    def full_state_dict(self) -> dict[str, torch.Tensor]:
        """The whole model's weights; under ZeRO-3 every rank must call this (it gathers shards)."""
        if self._ds is not None and self.zero_stage == 3:
            return self._ds._zero3_consolidated_16bit_state_dict()
        return self.module.state_dict()

    def save(self, directory: str | Path) -> Path:
        """Save full weights on rank 0 (``save_pretrained`` for Hugging Face models)."""
        directory = Path(directory)
        state = self.full_state_dict()
        if self.is_main:
            directory.mkdir(parents=True, exist_ok=True)
            if hasattr(self.module, "save_pretrained"):
                self.module.save_pretrained(directory, state_dict=state)
            else:
                from .checkpoints import save as save_checkpoint

                save_checkpoint(directory / "model.pt", state)  # atomic: temp file, then rename
        self.barrier()
        return directory


def deepspeed_config(
    *, zero_stage: int, bf16: bool, grad_accum: int, micro_batch_size: int, max_grad_norm: float | None
) -> dict[str, Any]:
    """The DeepSpeed config the trainers use (mirrors safe-rlhf's ``configs/ds_train_config_template``)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    config: dict[str, Any] = {
        "train_micro_batch_size_per_gpu": micro_batch_size,
        "gradient_accumulation_steps": grad_accum,
        "train_batch_size": micro_batch_size * grad_accum * world,
        "zero_optimization": {
            "stage": zero_stage,
            "overlap_comm": True,
            "contiguous_gradients": True,
            "stage3_gather_16bit_weights_on_model_save": True,
        },
        "bf16": {"enabled": bool(bf16)},
        "zero_allow_untested_optimizer": True,
        "steps_per_print": 10**9,
        "wall_clock_breakdown": False,
    }
    if max_grad_norm:
        config["gradient_clipping"] = max_grad_norm
    return config


def wrap(
    model: torch.nn.Module,
    *,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.95),
    weight_decay: float = 0.0,
    eps: float = 1e-8,
    zero_stage: int | None = None,
    bf16: bool = False,
    grad_accum: int = 1,
    max_grad_norm: float | None = None,
    lr_lambda: Callable[[int], float] | None = None,
    micro_batch_size: int = 1,
    parameters: Any = None,
) -> Engine:
    """Wrap ``model`` with AdamW (plain, one process) or a DeepSpeed ZeRO engine (under a launcher).

    ``lr_lambda(step)`` multiplies ``lr`` per optimiser step (see :func:`cosine_schedule`).
    ``parameters`` restricts what is optimised (default: every parameter that requires grad).
    """
    if grad_accum < 1:
        raise ValueError(f"grad_accum={grad_accum} must be >= 1")
    if zero_stage not in (None, 0, 1, 2, 3):
        raise ValueError(f"zero_stage={zero_stage!r} must be None, 0, 1, 2 or 3")
    params = [p for p in (parameters if parameters is not None else model.parameters()) if p.requires_grad]
    # Like safe-rlhf (and most LM trainers): no weight decay on biases and norm weights (1-D tensors).
    groups = [
        {"params": [p for p in params if p.ndim >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.ndim < 2], "weight_decay": 0.0},
    ]
    optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=lr, betas=betas, eps=eps)
    if zero_stage is None or not is_launched():
        return Engine(model, optimizer, grad_accum=grad_accum, max_grad_norm=max_grad_norm, lr_lambda=lr_lambda)

    import deepspeed

    deepspeed.init_distributed(dist_backend="gloo" if not torch.cuda.is_available() else None)
    config = deepspeed_config(
        zero_stage=zero_stage, bf16=bf16, grad_accum=grad_accum,
        micro_batch_size=micro_batch_size, max_grad_norm=max_grad_norm,
    )
    scheduler = (lambda opt: torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda)) if lr_lambda else None
    ds_engine, ds_optimizer, _, _ = deepspeed.initialize(
        model=model, optimizer=optimizer, config=config, lr_scheduler=scheduler
    )
    return Engine(
        ds_engine.module, ds_optimizer, grad_accum=grad_accum, max_grad_norm=max_grad_norm,
        lr_lambda=None, ds_engine=ds_engine, zero_stage=zero_stage,
    )
