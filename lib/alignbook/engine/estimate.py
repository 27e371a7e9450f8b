"""How long a `gpu` or `paper` notebook will take, and how much device memory it needs, before it runs.

A config that knows its work defines ``work(self) -> Work``: the FLOPs of its matrix products (the
standard dense-transformer counts: 6·N per trained token, 2·N per inferred token, :func:`train_flops`,
:func:`infer_flops`), the parameters it keeps on the device, those it trains (with gradients and Adam
state), its peak activations, and any time that is not matrix work (environment steps, data
generation) at a rate it states. :func:`estimate` turns that into seconds and GiB on a target device
(:data:`TARGETS`) under stated assumptions, and ``alignbook run --dry-run`` prints the line::

    estimated: 7 min, 11 GiB on one H100-80GB (9.6e15 FLOPs at 35 % of 989 TFLOP/s bf16; ...)

The numbers are estimates, not measurements: the device check (``tools/device/check.sh``) measures
what a run really does, and the two are compared in the notes that quote them.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

GIB = 2**30


@dataclasses.dataclass(frozen=True)
class Target:
    """A device a profile is sized for."""

    name: str
    peak_tflops: dict[str, float]
    """Dense data-sheet peak by precision."""
    memory_gib: float
    mfu: float
    """The share of the peak a well-fed training step reaches (assumed, stated on every estimate)."""
    decode_tflops: float
    """What small-batch generation reaches (bound by memory bandwidth, far below the peak)."""


TARGETS = {
    "gpu": Target("H100-80GB", {"bf16": 989.0, "fp32": 66.9, "tf32": 494.5}, 80.0, 0.35, 20.0),
    "paper": Target("H100-80GB", {"bf16": 989.0, "fp32": 66.9, "tf32": 494.5}, 80.0, 0.35, 20.0),
}
"""What each profile is sized for: ``gpu`` one 80 GB H100, ``paper`` a node of eight (the node the
official Safe RLHF scripts name). MFU 35 % and 20 TFLOP/s for generation are assumptions."""


@dataclasses.dataclass
class Work:
    """What a run computes (see the module docstring); every field defaults to none of it."""

    train_flops: float = 0.0
    infer_flops: float = 0.0
    resident_params: float = 0.0
    """Parameters held on one device at once (every model, frozen ones included)."""
    trainable_params: float = 0.0
    """Parameters trained at once on one device (gradients and Adam's two moments)."""
    activation_bytes: float = 0.0
    other_seconds: float = 0.0
    """Time not spent in matrix products (environment steps, CPU data work), at the rate in ``notes``."""
    precision: str = "bf16"
    devices: int = 1
    """Devices the work is spread over (ZeRO shards states; FLOPs run in parallel)."""
    zero_stage: int = 0
    notes: list[str] = dataclasses.field(default_factory=list)


def train_flops(params: float, tokens: float) -> float:
    """Forward and backward of a dense transformer: 6 FLOPs per parameter and token."""
    return 6.0 * params * tokens


def infer_flops(params: float, tokens: float) -> float:
    """A forward pass (scoring, or generating one token): 2 FLOPs per parameter and token."""
    return 2.0 * params * tokens


def activation_bytes(batch: int, seq: int, hidden: int, layers: int, precision: str = "bf16",
                     checkpointing: bool = False) -> float:
    """A transformer's peak activations: about 34·s·b·h bytes per layer in 16-bit (Korthikanti et al.
    2022, without attention's s² term, which flash attention does not keep), 2·s·b·h with
    gradient checkpointing; doubled in fp32."""
    per_layer = (2 if checkpointing else 34) * seq * batch * hidden
    return per_layer * layers * (2 if precision == "fp32" else 1)


def state_bytes(work: Work) -> float:
    """Weights, gradients and Adam states on one device: 2 bytes per resident 16-bit weight (4 in fp32),
    plus 4 (fp32 master) + 4 (gradient) + 8 (Adam) per trained parameter, each divided over the devices
    by the ZeRO stage that shards it."""
    weight = 4 if work.precision == "fp32" else 2
    n = max(1, work.devices)
    master = 0 if work.precision == "fp32" else 4
    weights = work.resident_params * weight / (n if work.zero_stage >= 3 else 1)
    grads = work.trainable_params * 4 / (n if work.zero_stage >= 2 else 1)
    optimiser = work.trainable_params * (8 + master) / (n if work.zero_stage >= 1 else 1)
    return weights + grads + optimiser


@dataclasses.dataclass(frozen=True)
class Estimate:
    seconds: float
    gib: float
    """Per device."""
    target: Target
    assumptions: str
    devices: int = 1

    @property
    def where(self) -> str:
        """``one H100-80GB``, or ``each of 8 × H100-80GB`` for work spread over a launch's processes."""
        return f"one {self.target.name}" if self.devices == 1 else f"each of {self.devices} × {self.target.name}"

    @property
    def fits(self) -> bool:
        return self.gib <= self.target.memory_gib

    def text(self) -> str:
        minutes = self.seconds / 60
        when = f"{minutes:.0f} min" if minutes >= 1.5 else f"{self.seconds:.0f} s" if self.seconds >= 1 else "under 1 s"
        if minutes >= 90:
            when = f"{minutes / 60:.1f} h"
        gib = f"{self.gib:.0f}" if self.gib >= 10 else f"{self.gib:.1f}" if self.gib >= 0.1 else "under 0.1"
        return f"estimated: {when}, {gib} GiB on {self.where} ({self.assumptions})"


def _millions(n: float) -> str:
    return f"{n / 1e6:.0f}M" if n >= 1e7 else f"{n / 1e6:.2g}M"


def estimate(work: Work, profile: str) -> Estimate:
    """Seconds and GiB of ``work`` on the device ``profile`` is sized for (:data:`TARGETS`)."""
    target = TARGETS[profile]
    # fp32 at the fp32 peak: the book leaves torch's TF32 matmuls off (torch's default), so TF32 is never used
    peak = target.peak_tflops["bf16" if work.precision in ("bf16", "fp16") else "fp32"]
    devices = max(1, work.devices)
    train_s = work.train_flops / (peak * 1e12 * target.mfu * devices)
    infer_s = work.infer_flops / (target.decode_tflops * 1e12 * devices)
    seconds = train_s + infer_s + work.other_seconds
    gib = (state_bytes(work) + work.activation_bytes) / GIB * 1.15  # +15 %: allocator and buffers
    parts = [f"{work.train_flops:.1e} training FLOPs at {target.mfu:.0%} of {peak:g} TFLOP/s",
             f"{work.infer_flops:.1e} inference FLOPs at {target.decode_tflops:g} TFLOP/s"]
    if work.other_seconds:
        parts.append(f"{work.other_seconds:.0f} s of other work")
    parts.append(f"{_millions(work.resident_params)} parameters resident, {_millions(work.trainable_params)} trained"
                 + (f", ZeRO-{work.zero_stage} over {devices}" if devices > 1 else ""))
    return Estimate(seconds, gib, target, "; ".join(parts + work.notes), devices)


STEP_OVERHEAD_S = 0.005
"""Seconds per optimiser step that are not matrix work (kernel launches, the optimiser, Python): what
bounds a small model on a GPU. An assumption, stated on every estimate that counts steps."""


def lm_work(params: float, hidden: int, layers: int, *, train_tokens: float = 0.0, forward_tokens: float = 0.0,
            decode_tokens: float = 0.0, steps: int = 0, batch: int = 1, seq: int = 1, precision: str = "fp32",
            trainable: float | None = None, resident: float | None = None, checkpointing: bool = False,
            zero_stage: int | None = None, notes: tuple[str, ...] | list[str] = ()) -> Work:
    """The :class:`Work` of a decoder with ``params`` weights: ``train_tokens`` trained (6·N each),
    ``forward_tokens`` scored in batches (2·N each, at the training rate: a batched forward pass),
    ``decode_tokens`` generated one at a time (2·N each, at the generation rate); ``steps`` optimiser
    steps at :data:`STEP_OVERHEAD_S` each; activations of one ``batch`` × ``seq`` micro-batch.
    ``trainable`` and ``resident`` default to ``params``."""
    notes = list(notes) + ([f"{steps} steps at {STEP_OVERHEAD_S * 1000:g} ms of overhead each"] if steps else [])
    return Work(
        train_flops=train_flops(params, train_tokens) + infer_flops(params, forward_tokens),
        infer_flops=infer_flops(params, decode_tokens),
        resident_params=params if resident is None else resident,
        trainable_params=params if trainable is None else trainable,
        activation_bytes=activation_bytes(batch, seq, hidden, layers, precision, checkpointing) if train_tokens else 0.0,
        other_seconds=steps * STEP_OVERHEAD_S, precision=precision, zero_stage=zero_stage or 0, notes=notes,
    )


def of_config(cfg: Any, devices: int = 1) -> Estimate | None:
    """The estimate of a config that defines ``work()`` on a profile with a target, over ``devices``
    processes (the launch block's ``nprocs``); None when there is no target, no ``work()``, or
    ``work()`` returns None (a model whose size the book does not know)."""
    if cfg.profile not in TARGETS or not callable(getattr(cfg, "work", None)):
        return None
    work = cfg.work()
    if work is None:
        return None
    if devices > 1 and work.devices == 1:
        work = dataclasses.replace(work, devices=devices)
    return estimate(work, cfg.profile)


def minutes(seconds: float) -> int:
    return math.ceil(seconds / 60)
