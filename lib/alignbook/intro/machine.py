"""The book machine's own demonstration: a tiny causal LM trained for a few steps.

It is what the introduction notebook runs and what the multi-process test launches under DeepSpeed
ZeRO-3 on two CPU processes: small enough for seconds, real enough to exercise every layer
(config, seeding, the :mod:`alignbook.engine.distributed` engine, metrics, checkpoints).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import torch
from tqdm.auto import tqdm

from ..engine.config import BaseConfig, ConfigError, Count, Positive, Range, SeedCount
from ..engine.devices import Device
from ..engine.distributed import wrap
from ..engine.repro import seed_everything
from ..engine.results import TrainResult


@dataclasses.dataclass(frozen=True)
class MachineConfig(BaseConfig):
    """A tiny Llama trained to continue a fixed pattern of tokens."""

    steps: Count = 30
    """Optimiser steps."""
    batch_size: Count = 8
    """Sequences per step per process."""
    seq_len: Annotated[int, Range(4, 4096)] = 32
    """Tokens per sequence (at least one 4-token motif)."""
    vocab_size: Annotated[int, Range(4, 262144)] = 64
    """Size of the made-up vocabulary (3 special tokens plus at least one motif token)."""
    hidden_size: Annotated[int, Range(4, 8192)] = 32
    """Width of the model (a multiple of its 4 attention heads)."""
    layers: Annotated[int, Range(1, 256)] = 2
    """Decoder layers."""
    lr: Positive = 1e-2
    """AdamW learning rate."""
    zero_stage: Annotated[int, Range(0, 3)] | None = None
    """DeepSpeed ZeRO stage when started by a launcher; ignored in one process."""
    seeds: SeedCount = 1
    """How many seeds the notebook trains (the spread it reports)."""
    threads: Annotated[int, Range(1, 256)] = 1
    """CPU threads for torch: one is fastest for a model this small, and immune to a busy machine."""
    device: Device = "cpu"
    """Where the model and its batches live (:mod:`alignbook.engine.devices`); ``gpu`` and ``paper`` ask
    for ``cuda`` (under the launcher each rank takes its own GPU)."""
    verbose: bool = True
    """Show a progress bar."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden_size % 4:
            raise ConfigError(f"hidden_size={self.hidden_size} must be a multiple of 4 (the model has 4 attention heads)")

    def work(self):
        """What the run computes (:mod:`alignbook.engine.estimate`): every seed's steps, fp32."""
        from ..engine.estimate import lm_work
        from ..lm.sizes import llama_params

        params = llama_params(self.vocab_size, self.hidden_size, self.layers, 2 * self.hidden_size, 4, 4, tied=False)
        tokens = self.seeds * self.steps * self.batch_size * self.seq_len
        return lm_work(params, self.hidden_size, self.layers, train_tokens=tokens, steps=self.seeds * self.steps,
                       batch=self.batch_size, seq=self.seq_len, zero_stage=self.zero_stage,
                       notes=[f"{self.seeds} seeds × {self.steps} steps × {self.batch_size} × {self.seq_len} tokens"])


def _model(cfg: MachineConfig) -> torch.nn.Module:
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=cfg.vocab_size, hidden_size=cfg.hidden_size, intermediate_size=cfg.hidden_size * 2,
        num_hidden_layers=cfg.layers, num_attention_heads=4, num_key_value_heads=4,
        max_position_embeddings=cfg.seq_len, pad_token_id=0, bos_token_id=1, eos_token_id=2,
    )
    return LlamaForCausalLM(config)


def pattern_batch(cfg: MachineConfig, generator: torch.Generator) -> torch.Tensor:
    """Sequences that repeat a short random motif: learnable in a few dozen steps."""
    motif = torch.randint(3, cfg.vocab_size, (cfg.batch_size, 4), generator=generator)
    return motif.repeat(1, cfg.seq_len // 4 + 1)[:, : cfg.seq_len]


def train_tiny_lm(cfg: MachineConfig) -> TrainResult:
    """Train the tiny LM for ``cfg.steps`` steps; save the result and the weights on rank 0."""
    from ..engine import devices

    seed_everything(cfg.seed)
    device = devices.resolve(cfg.device)
    if device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    model = _model(cfg).to(device)
    engine = wrap(model, lr=cfg.lr, zero_stage=cfg.zero_stage, micro_batch_size=cfg.batch_size)
    generator = torch.Generator().manual_seed(cfg.seed * 1000 + engine.rank)  # each rank its own data
    history = []
    engine.train()
    bar = tqdm(range(cfg.steps), desc=f"tiny LM (rank {engine.rank})", disable=not (cfg.verbose and engine.is_main))
    for step in bar:
        ids = pattern_batch(cfg, generator).to(device)  # drawn on the CPU: the same data on every device
        loss = engine(input_ids=ids, labels=ids).loss
        engine.backward(loss)
        engine.step()
        mean_loss = engine.all_reduce_mean(loss.item())
        history.append({"step": step, "loss": mean_loss})
        bar.set_postfix(loss=f"{mean_loss:.3f}")
    run_dir = Path(cfg.run_dir)
    checkpoint = engine.save(run_dir / "checkpoint")
    result = TrainResult(
        metrics={
            "initial_loss": history[0]["loss"],
            "final_loss": history[-1]["loss"],
            "world_size": engine.world_size,
            "deepspeed": engine.uses_deepspeed,
        },
        history=history,
        checkpoint=str(checkpoint),
        config=dataclasses.asdict(cfg),
    )
    if engine.is_main:
        result.save(run_dir)
    engine.barrier()
    return result


def train_over_seeds(cfg: MachineConfig, notebook: str | None = None) -> list[TrainResult]:
    """Train ``cfg.seeds`` runs with seeds ``cfg.seed, cfg.seed + 1, ...``, each in its own folder,
    as units of :func:`alignbook.engine.parallel.map_units` (side by side where cores allow).

    With ``notebook``, each run is launched as that notebook's YAML says for the profile (in-process,
    or under DeepSpeed for ``paper``: then one seed at a time, each over every device), and the result
    is read back from its folder.
    """
    from ..engine.config import load_spec
    from ..engine.notebook import yaml_path
    from ..engine.parallel import map_units

    launched = notebook is not None and bool((load_spec(yaml_path(notebook)).get("launch") or {}).get(cfg.profile))
    from ..engine import devices

    devices.resolve(cfg.device)  # a GPU that is not there is refused before any unit starts
    seeds = [cfg.seed + offset for offset in range(cfg.seeds)]
    map_units(train_seed, cfg, seeds, name="seeds", context=notebook, workers=1 if launched else None,
              log=None if not cfg.verbose else print)
    return [TrainResult.load(Path(cfg.run_dir) / f"seed{seed}") for seed in seeds]


def train_seed(unit) -> dict:
    """One seed of :func:`train_over_seeds` (``unit.value``: the seed; ``unit.context``: the notebook)."""
    from ..engine.launch import launch_as_configured

    seed = unit.value
    run_cfg = dataclasses.replace(unit.cfg, seed=seed, run_dir=str(Path(unit.cfg.run_dir) / f"seed{seed}"),
                                  verbose=False)
    Path(run_cfg.run_dir).mkdir(parents=True, exist_ok=True)
    if unit.context is None:
        return train_tiny_lm(run_cfg).metrics
    return launch_as_configured(unit.context, "alignbook.intro.machine:train_tiny_lm", run_cfg)


def seeds_markdown(results: list[TrainResult]) -> str:
    """One row per seed: loss at the first and the last step (nats), and how many processes trained it."""
    from ..engine.metrics import format_number

    lines = ["| seed | loss at step 0 (nats) | final loss (nats) | processes |", "|---|---|---|---|"]
    for r in results:
        m = r.metrics
        lines.append(f"| {r.config['seed']} | {format_number(m['initial_loss'])} | {format_number(m['final_loss'])} | "
                     f"{m['world_size']}{' (DeepSpeed)' if m['deepspeed'] else ''} |")
    return "\n".join(lines)
