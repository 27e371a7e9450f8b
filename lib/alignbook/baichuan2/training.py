"""One training recipe for every small model of the chapter.

The optimiser follows Baichuan 2's optimisations section: AdamW with β = (0.9, 0.95), weight decay 0.1,
gradients clipped to norm 0.5, a linear warm-up (2,000 steps for the 7B model, scaled down here)
and then a cosine decay to ``min_lr_ratio`` of the peak. The 7B peak learning rate is 2e-4; the
small models here use larger ones (small models train stably at higher rates), set per notebook.
The loss is the cross-entropy plus, when ``z_weight`` > 0, the max-z loss of :mod:`.model`.
Seeded and single-threaded, so a CPU run reproduces exactly.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..engine import devices
from ..lm.runtime import torch_threads
from .data import eval_windows, random_windows
from .model import TinyDecoder, max_z_loss, parameter_counts, penalty_kl

BETAS = (0.9, 0.95)
"""AdamW betas (Baichuan 2, optimisations section)."""
WEIGHT_DECAY = 0.1
"""AdamW weight decay (optimisations section)."""
CLIP = 0.5
"""Gradient-norm clip (optimisations section)."""


def lr_at(step: int, peak: float, warmup: int, total: int, min_ratio: float = 0.1) -> float:
    """Linear warm-up to ``peak`` over ``warmup`` steps, then cosine decay to ``min_ratio`` · peak."""
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return peak * (min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


def _autocast(device: torch.device, bf16: bool):
    """bfloat16 autocast on ``device`` when ``bf16`` (weights and optimiser state stay fp32)."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=bf16)


@torch.no_grad()
def evaluate(model: TinyDecoder, windows: np.ndarray, batch: int = 32, penalty: float | None = None,
             bf16: bool = False) -> dict[str, float]:
    """Mean cross-entropy (nats/token), mean and largest max-logit on ``windows``; with ``penalty``
    also the mean KL between next-token distributions without and with the repetition penalty.
    Runs on the model's device; logits are compared in fp32."""
    model.eval()
    device = next(model.parameters()).device
    ce, zs, zmax, kls, n = 0.0, 0.0, -math.inf, 0.0, 0
    for i in range(0, len(windows), batch):
        w = torch.from_numpy(windows[i:i + batch]).to(device)
        with _autocast(device, bf16):
            logits = model(w[:, :-1])
        logits = logits.float()
        ce += F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten(), reduction="sum").item()
        z = logits.max(-1).values
        zs += z.sum().item()
        zmax = max(zmax, z.max().item())
        if penalty is not None:
            kls += penalty_kl(logits, w[:, :-1], penalty).sum().item()
        n += z.numel()
    model.train()
    out = {"loss": ce / n, "max_logit_mean": zs / n, "max_logit_max": zmax}
    if penalty is not None:
        out["penalty_kl"] = kls / n
    return out


def train_lm(train: np.ndarray, val: np.ndarray, *, vocab: int, hidden: int, layers: int, heads: int, ffn: int,
             steps: int, batch: int, seq_len: int, lr: float, warmup: int, seed: int, norm_head: bool = False,
             z_weight: float = 0.0, eval_windows_n: int = 64, penalty: float | None = None, min_lr_ratio: float = 0.1,
             log_every: int = 1, device: str = "cpu", bf16: bool = False) -> dict[str, Any]:
    """Train one :class:`~.model.TinyDecoder` and return ``metrics`` (final validation numbers,
    parameter counts, tokens, FLOPs C = 6·N·D with N the non-embedding parameters, wall time) and
    ``history`` (per-step training cross-entropy, max logit, gradient norm, learning rate).

    ``device`` is a :data:`alignbook.engine.devices.Device` (the model, every batch and the evaluation
    live there; the initial weights are drawn on the CPU, so they are the same on every device); ``bf16``
    trains under bfloat16 autocast (the logits and the losses are computed in fp32). Seeded CPU runs
    reproduce exactly; GPU runs need not."""
    dev = devices.resolve(device)
    start = time.perf_counter()
    with torch_threads(1):
        torch.manual_seed(seed)
        rng = np.random.default_rng(seed)
        model = TinyDecoder(vocab, hidden, layers, heads, ffn, norm_head=norm_head).to(dev)
        decay = [p for p in model.parameters() if p.dim() >= 2]
        no_decay = [p for p in model.parameters() if p.dim() < 2]
        opt = torch.optim.AdamW([{"params": decay, "weight_decay": WEIGHT_DECAY},
                                 {"params": no_decay, "weight_decay": 0.0}], lr=lr, betas=BETAS)
        history = []
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = lr_at(step, lr, warmup, steps, min_lr_ratio)
            w = torch.from_numpy(random_windows(train, batch, seq_len, rng)).to(dev)
            with _autocast(dev, bf16):
                logits = model(w[:, :-1])
            logits = logits.float()
            ce = F.cross_entropy(logits.flatten(0, 1), w[:, 1:].flatten())
            loss = ce + (max_z_loss(logits, z_weight) if z_weight > 0 else 0.0)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            grad = torch.nn.utils.clip_grad_norm_(model.parameters(), CLIP).item()
            opt.step()
            if step % log_every == 0 or step == steps - 1:
                history.append({"step": step, "loss": ce.item(), "max_logit": logits.detach().max(-1).values.mean().item(),
                                "grad_norm": grad, "lr": opt.param_groups[0]["lr"]})
        metrics = evaluate(model, eval_windows(val, seq_len, eval_windows_n), penalty=penalty, bf16=bf16)
    counts = parameter_counts(model)
    tokens = steps * batch * seq_len
    metrics.update(params=counts["total"], non_embedding=counts["non_embedding"], tokens=tokens,
                   flops=6.0 * counts["non_embedding"] * tokens, wall_s=time.perf_counter() - start,
                   finite=bool(all(math.isfinite(h["loss"]) for h in history)))
    return {"metrics": metrics, "history": history, "model": model}
