"""Configs of the Aligner chapter's notebooks, and the trainer entry point the launcher calls."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any, Optional

from ..engine.config import BaseConfig, ConfigError, Count, Fraction, Natural, OneOf, Positive, Range, Seed, SeedCount
from ..engine.devices import Device
from ..toyworld.world import MODEL_SOURCES, STYLE_SOURCES
from .data import ALIGNER_20K
from .templates import TEMPLATES

PRESET_NAMES = ("tiny", "small", "base")
"""The tiny-LM presets (the keys of ``alignbook.lm.PRESETS``)."""
SOURCES = MODEL_SOURCES + STYLE_SOURCES
"""The toy-world response sources (``ToyWorld.respond``)."""


@dataclasses.dataclass(frozen=True)
class AlignerDataConfig(BaseConfig):
    """Notebook 01: question-answer-correction triples from the toy world."""

    world_seed: Seed = 0
    """Seed of the toy world (its content tables and annotators)."""
    harmful_fraction: Fraction = 0.5
    """Share of harmful requests among the sampled questions."""
    train_prompts: Count = 64
    """Questions in the training split; every upstream answers each one."""
    eval_prompts: Count = 32
    """Held-out questions for learning curves and ω (disjoint sampling seed)."""
    upstreams: Annotated[tuple[str, ...], OneOf(SOURCES)] = ("alpaca-7b", "over_refuse", "safe_helpful")
    """Toy-world sources acting as frozen upstream models (unaligned, over-refusing, already good)."""
    correction_facts: Natural = 3
    """Useful facts a corrected answer to a benign question holds (0: none added)."""
    correction_alternatives: Natural = 2
    """Safe alternatives a corrected answer to a harmful question holds (after a refusal; 0: none)."""


@dataclasses.dataclass(frozen=True)
class AlignerTrainConfig(BaseConfig):
    """Notebook 02 and the multi-process entry point: train Aligners and the Q→C baseline."""

    dataset: str = "toyworld"
    """``toyworld`` (notebook 01's triples), ``aligner/aligner-20K`` (the paper's set, from the hub), a local
    folder in that set's hub layout (a rehearsal's stand-in) or the path of a JSON file of triples (``.json``);
    anything else is refused."""
    dataset_revision: Optional[str] = None
    """Hub revision of ``dataset`` (None: unpinned, the latest; pass a commit hash to pin a paper run)."""
    train_size: Natural = 0
    """Use at most this many training rows (0: all)."""
    template: Annotated[str, OneOf(tuple(TEMPLATES))] = "repository"
    """Aligner prompt template: ``repository`` (##Question/##Answer/##Correction) or ``released``."""
    model: Annotated[str, OneOf(PRESET_NAMES, hub=True)] = "tiny"
    """A tiny-LM preset (tiny, small, base) trained from scratch, a hub id (paper: Llama-2-7B) or a local folder."""
    vocab_size: Annotated[int, Range(260, 262144)] = 1000
    """BPE vocabulary of the chapter tokenizer (tiny presets only; 1000 covers every toy-world word; at
    least 260: 256 bytes and 4 special tokens)."""
    epochs: Count = 3
    """Epochs of the Q-A-C stage (aligner sft-correction.sh: 3)."""
    warmup_epochs: Natural = 1
    """Epochs of the identity (Q-A-A) warm-up stage (0: none)."""
    warmup_fractions: Annotated[tuple[float, ...], Range(0, 1)] = (0.0, 0.2)
    """Identity warm-up fractions to train, each in [0, 1] (paper Figure 3 sweeps 0.02, 0.1, 0.2, 0.5; 0.2 is
    best)."""
    lr: Positive = 2e-5
    """AdamW learning rate (aligner sft-correction.sh: 2e-5)."""
    max_length: Count = 2048
    """Token cap per example (aligner sft-correction.sh: 2048)."""
    per_device_batch_size: Count = 4
    """Micro-batch per process (aligner sft-correction.sh: 4)."""
    grad_accum: Count = 8
    """Gradient accumulation steps (aligner sft-correction.sh: 8)."""
    zero_stage: Annotated[int, Range(0, 3)] = 3
    """DeepSpeed ZeRO stage under the launcher (aligner sft-correction.sh: 3); ignored in one process."""
    bf16: bool = True
    """bf16 training under DeepSpeed (aligner sft-correction.sh: bf16); CPU in-process runs use fp32."""
    seeds: SeedCount = 1
    """Seeds per variant in the notebook's sweep (seed, seed+1, ...)."""
    direct_baseline: bool = True
    """Also train a same-size model on Q→C (answer the question directly) for the learning curves."""
    eval_every: Natural = 10
    """Log held-out correction NLL every this many optimiser steps (0: once per stage)."""
    nprocs: Count = 1
    """Processes for the ``paper`` profile's launch (deepspeed launcher)."""
    device: Device = "cpu"
    """Where the Aligners and the Q→C baseline train and are evaluated (:mod:`alignbook.engine.devices`): ``cpu``, ``cuda`` (under the launcher: each process's own
    GPU), ``cuda:N`` or ``auto``; the ``gpu`` and ``paper`` profiles ask for ``cuda``."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.dataset not in ("toyworld", ALIGNER_20K) and Path(self.dataset).suffix != ".json"
                and not Path(self.dataset).expanduser().is_dir()):
            raise ConfigError(
                f"dataset={self.dataset!r} is not a dataset this trainer reads: use 'toyworld', "
                f"'{ALIGNER_20K}', a local folder in its hub layout or the path of a JSON file of triples (ending in .json)"
            )


@dataclasses.dataclass(frozen=True)
class AlignerEvalConfig(BaseConfig):
    """Notebook 03: stack the trained Aligners after each upstream and score with the judge."""

    warmup_fraction: Fraction = 0.2
    """Which trained Aligner variant (its identity warm-up fraction) to evaluate."""
    max_new_tokens: Count = 64
    """Generation cap for a correction."""
    eval_size: Natural = 0
    """Evaluate on at most this many held-out questions (0: all)."""
    device: Device = "cpu"
    """Where the trained Aligners are loaded and generate their corrections (:mod:`alignbook.engine.devices`): ``cpu``, ``cuda`` (under the launcher: each process's own
    GPU), ``cuda:N`` or ``auto``; the ``gpu`` and ``paper`` profiles ask for ``cuda``."""


@dataclasses.dataclass(frozen=True)
class WeakToStrongConfig(BaseConfig):
    """Notebook 04: a small Aligner supervises a larger model."""

    strong_model: Annotated[str, OneOf(PRESET_NAMES)] = "small"
    """Preset of the larger ("strong") model: tiny, small or base."""
    strong_source: Annotated[str, OneOf(SOURCES)] = "alpaca-7b"
    """Toy-world source whose answers the strong model first imitates (its unaligned pre-training)."""
    strong_sft_prompts: Count = 256
    """Questions in the strong model's initial imitation set."""
    strong_epochs: Count = 3
    """Epochs of each strong-model fine-tuning stage."""
    strong_lr: Positive = 3e-3
    """Learning rate of the strong model's fine-tuning stages."""
    batch_size: Count = 16
    """Micro-batch for the strong model."""
    max_length: Count = 256
    """Token cap per example."""
    max_new_tokens: Count = 48
    """Generation cap for answers and corrections."""
    warmup_fraction: Fraction = 0.2
    """Which trained Aligner (identity warm-up fraction) acts as the weak supervisor."""
    device: Device = "cpu"
    """Where the weak Aligner is loaded and the strong model trains and generates (:mod:`alignbook.engine.devices`): ``cpu``, ``cuda`` (under the launcher: each process's own
    GPU), ``cuda:N`` or ``auto``; the ``gpu`` and ``paper`` profiles ask for ``cuda``."""


@dataclasses.dataclass(frozen=True)
class AlignerResultsConfig(BaseConfig):
    """Notebook 05: the paper's Table 1 averages beside this chapter's ω."""


def load_training_rows(cfg: AlignerTrainConfig, data_dir: str | Path | None = None
                       ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train_rows, eval_rows)`` for ``cfg.dataset``: toy-world triples (from ``data_dir``, notebook
    aligner/01_data's run folder, found with :func:`alignbook.upstream_run` when not given), a hub set or a
    JSON file."""
    from . import data

    if cfg.dataset == "toyworld":
        splits = data.load_triples(Path(data_dir or _data_run(cfg)) / "triples.json")
        train, held_out = splits["train"], splits["eval"]
    elif Path(cfg.dataset).suffix == ".json":
        rows = data.load_json_triples(cfg.dataset)
        cut = max(1, len(rows) // 10)
        train, held_out = rows[cut:], rows[:cut]
    else:
        rows = data.load_aligner_20k(revision=cfg.dataset_revision, source=cfg.dataset)
        cut = max(1, len(rows) // 100)
        train, held_out = rows[cut:], rows[:cut]
    if cfg.train_size:
        train = train[: cfg.train_size]
    return train, held_out


def _data_run(cfg: Any) -> Path:
    from ..engine.notebook import upstream_run

    return upstream_run(cfg, "aligner/01_data")


def build_model_and_tokenizer(cfg: AlignerTrainConfig, texts: list[str], seed: int,
                              data_dir: str | Path | None = None) -> tuple[Any, Any]:
    """A tiny preset trained from scratch (with a BPE tokenizer) or a pretrained hub model, on the CPU
    (the caller moves it). For the toy-world data the tokenizer is the chapter's, built from the world that
    notebook aligner/01_data (``data_dir``) drew the triples from."""
    from ..lm.models import PRESETS, build_causal_lm

    if cfg.model in PRESETS:
        if cfg.dataset == "toyworld":
            from .toy import chapter_tokenizer, load_world

            tokenizer = chapter_tokenizer(load_world(data_dir or _data_run(cfg)), cfg.vocab_size)
        else:
            from ..lm.tokenizer import train_bpe_tokenizer
            from .templates import TEMPLATES

            tokenizer = train_bpe_tokenizer(texts + [t.prompt for t in TEMPLATES.values()], vocab_size=cfg.vocab_size)
        return build_causal_lm(cfg.model, tokenizer, seed=seed), tokenizer
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..data.hub import model_revision

    revision = model_revision(cfg.model)
    tokenizer = AutoTokenizer.from_pretrained(cfg.model, revision=revision)
    if tokenizer.pad_token_id is None:
        tokenizer.add_special_tokens({"pad_token": "<pad>"})
    model = AutoModelForCausalLM.from_pretrained(cfg.model, revision=revision, torch_dtype=torch.bfloat16 if cfg.bf16 else torch.float32)
    model.resize_token_embeddings(len(tokenizer))
    return model, tokenizer


def variants(cfg: AlignerTrainConfig) -> list[float | None]:
    """What one seed of ``cfg`` trains: an Aligner per warm-up share, then (``direct_baseline``) the Q→C
    baseline (``None``)."""
    return [float(f) for f in cfg.warmup_fractions] + ([None] if cfg.direct_baseline else [])


def train_variants(cfg: AlignerTrainConfig, data_dir: str | Path | None = None,
                   verbose: bool = False) -> dict[float | None, Any]:
    """Train every variant of seed ``cfg.seed`` (:func:`variants`) on ``cfg.device``, each into
    ``<run_dir>/<checkpoint_name>`` (:func:`alignbook.aligner.train.checkpoint_name`: ``aligner-w0.2-s0``,
    ``direct-s0``); ``{warm-up share or None: result}``. Runs in one process or on every rank under the
    launcher (ZeRO splits the model; each rank trains on its shard of every batch)."""
    import torch

    from ..engine import devices
    from .train import checkpoint_name, train_aligner, train_direct

    device = devices.resolve(cfg.device)  # under the launcher: this rank's own GPU
    train_rows, eval_rows = load_training_rows(cfg, data_dir)
    texts = [r[c] for r in train_rows for c in ("question", "answer", "correction")]
    common = dict(lr=cfg.lr, batch_size=cfg.per_device_batch_size, grad_accum=cfg.grad_accum, max_length=cfg.max_length,
                  seed=cfg.seed, zero_stage=cfg.zero_stage, bf16=cfg.bf16, eval_rows=eval_rows,
                  eval_every=cfg.eval_every, verbose=verbose,
                  extra_config={"train_rows": len(train_rows), "eval_rows": len(eval_rows)})
    results: dict[float | None, Any] = {}
    for warmup in variants(cfg):
        torch.manual_seed(cfg.seed)
        model, tokenizer = build_model_and_tokenizer(cfg, texts, seed=cfg.seed, data_dir=data_dir)
        out = Path(cfg.run_dir) / checkpoint_name(warmup, cfg.seed)
        if warmup is None:
            results[warmup] = train_direct(model.to(device), tokenizer, train_rows, epochs=cfg.epochs,
                                           checkpoint_dir=out, **common)
        else:
            results[warmup] = train_aligner(
                model.to(device), tokenizer, train_rows, template=cfg.template, warmup_fraction=warmup,
                epochs=cfg.epochs, warmup_epochs=cfg.warmup_epochs, checkpoint_dir=out, **common)
    return results


def train_from_config(cfg: AlignerTrainConfig) -> dict[str, Any]:
    """Entry point for ``alignbook.engine.launch.launch``: :func:`train_variants` for seed ``cfg.seed``.

    Writes ``<run_dir>/aligner-w<share>-s<seed>/`` per warm-up share (and ``direct-s<seed>/`` with
    ``direct_baseline``: weights, ``aligner.json``, ``result.json``), records ``final_eval_loss_w<share>``
    (``final_eval_loss_direct``) in ``<run_dir>/metrics.json`` on rank 0, and returns the flat metrics
    (``final_eval_loss_w0.2``, ``steps_w0.2``..., ``world_size``) that :func:`alignbook.engine.launch.launch`
    hands back.
    """
    from ..engine import metrics as metrics_mod

    results = {}
    for warmup, result in train_variants(cfg).items():
        tag = "direct" if warmup is None else f"w{warmup:g}"
        what = ("the Q→C baseline" if warmup is None else f"Aligner with {warmup:.0%} identity warm-up")
        if _rank() == 0:
            metrics_mod.record(
                cfg, f"final_eval_loss_{tag}", result.metrics.get("final_eval_loss"),
                f"held-out correction NLL per token, {what} ({result.config['world_size']} process(es))", seeds=1,
            )
        for key, value in result.metrics.items():
            results[f"{key}_{tag}"] = value
        results["world_size"] = result.config["world_size"]
    return results


def _rank() -> int:
    import torch

    return torch.distributed.get_rank() if torch.distributed.is_initialized() else 0
