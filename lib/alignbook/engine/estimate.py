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
    "gpu": Target("one H100-80GB", {"bf16": 989.0, "fp32": 66.9, "tf32": 494.5}, 80.0, 0.35, 20.0),
    "paper": Target("8 × H100-80GB (per GPU)", {"bf16": 989.0, "fp32": 66.9, "tf32": 494.5}, 80.0, 0.35, 20.0),
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
    target: Target
    assumptions: str

    @property
    def fits(self) -> bool:
        return self.gib <= self.target.memory_gib

    def text(self) -> str:
        minutes = self.seconds / 60
        when = f"{minutes:.0f} min" if minutes >= 1.5 else f"{self.seconds:.0f} s"
        if minutes >= 90:
            when = f"{minutes / 60:.1f} h"
        return f"estimated: {when}, {self.gib:.0f} GiB on {self.target.name} ({self.assumptions})"


def estimate(work: Work, profile: str) -> Estimate:
    """Seconds and GiB of ``work`` on the device ``profile`` is sized for (:data:`TARGETS`)."""
    target = TARGETS[profile]
    peak = target.peak_tflops["bf16" if work.precision in ("bf16", "fp16") else "tf32"]
    devices = max(1, work.devices)
    train_s = work.train_flops / (peak * 1e12 * target.mfu * devices)
    infer_s = work.infer_flops / (target.decode_tflops * 1e12 * devices)
    seconds = train_s + infer_s + work.other_seconds
    gib = (state_bytes(work) + work.activation_bytes) / GIB * 1.15  # +15 %: allocator and buffers
    parts = [f"{work.train_flops:.1e} training FLOPs at {target.mfu:.0%} of {peak:g} TFLOP/s",
             f"{work.infer_flops:.1e} inference FLOPs at {target.decode_tflops:g} TFLOP/s"]
    if work.other_seconds:
        parts.append(f"{work.other_seconds:.0f} s of other work")
    parts.append(f"{work.resident_params / 1e6:.0f}M parameters resident, {work.trainable_params / 1e6:.0f}M trained"
                 + (f", ZeRO-{work.zero_stage} over {devices}" if devices > 1 else ""))
    return Estimate(seconds, gib, target, "; ".join(parts + work.notes))


def of_config(cfg: Any) -> Estimate | None:
    """The estimate of a config that defines ``work()`` on a profile with a target (else None)."""
    if cfg.profile not in TARGETS or not callable(getattr(cfg, "work", None)):
        return None
    return estimate(cfg.work(), cfg.profile)


def minutes(seconds: float) -> int:
    return math.ceil(seconds / 60)
