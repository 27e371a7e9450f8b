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

    def work(self):
        """What notebook 2 computes (:mod:`alignbook.engine.estimate`): for every seed, each Aligner (its
        identity warm-up on that share of the rows for ``warmup_epochs``, then every row for ``epochs``) and the
        Q→C baseline (every row for ``epochs``), every example at ``max_length`` tokens (an upper bound: the
        collator pads to a batch's longest row), and the held-out rows scored at every evaluation. The rows
        are ``train_size``, else notebook aligner/01_data's in the same profile (:data:`UPSTREAM_SIZES`)."""
        from ..engine.estimate import lm_work

        shape = self._shape()
        if shape is None:
            return None
        rows, held, where = training_rows(self)
        if rows is None:
            return None
        per_variant = [(round(f * rows) * self.warmup_epochs + rows * self.epochs, f"{f:g}")
                       for f in self.warmup_fractions] + ([(rows * self.epochs, "Q→C")] if self.direct_baseline else [])
        examples = self.seeds * sum(n for n, _ in per_variant)
        batch = self.per_device_batch_size * max(1, self.nprocs)
        steps = self.seeds * sum(-(-n // batch) // self.grad_accum for n, _ in per_variant)
        # held-out scoring every eval_every steps, and (at most) at the start and after each of the two stages
        evals = (steps // self.eval_every if self.eval_every else 0) + self.seeds * len(per_variant) * 3
        return lm_work(shape.params, shape.hidden, shape.layers, train_tokens=examples * self.max_length,
                       forward_tokens=evals * held * self.max_length, steps=steps, batch=self.per_device_batch_size,
                       seq=self.max_length, precision="bf16" if self.bf16 and self.nprocs > 1 else "fp32",
                       zero_stage=self.zero_stage if self.nprocs > 1 else 0,
                       notes=[f"{self.seeds} seeds × {len(per_variant)} variants over {rows} training rows ({where}) at "
                              f"{self.max_length} tokens (an upper bound), {held} held-out rows scored {evals} times"]
                       + ([] if self.nprocs > 1 else ["in one process the trainer runs fp32 (bf16 is DeepSpeed's)"]))

    def _shape(self):
        """The model's shape: a preset at this config's vocabulary, or a hub model ``shape_of`` knows."""
        return model_shape(self.model, self.vocab_size)


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

    def work(self):
        """What notebook 3 computes (:mod:`alignbook.engine.estimate`): every checkpoint notebook 2 trained in
        this profile (:data:`UPSTREAM_SIZES`: each warm-up share × each seed) corrects every upstream's held-out
        answers, greedily, ``max_new_tokens`` tokens in batches of 64 (an upper bound: a batch stops when all
        its rows end); the toy world's judge runs on the CPU and is not counted."""
        from ..engine.estimate import lm_work
        from ..lm.sizes import decode_note, decode_seconds

        if self.profile not in UPSTREAM_SIZES:
            return None
        sizes = UPSTREAM_SIZES[self.profile]
        shape = model_shape(sizes["model"], AlignerTrainConfig.vocab_size)
        checkpoints = sizes["warmup_fractions"] * sizes["seeds"]
        per_upstream = min(self.eval_size or sizes["eval_prompts"], sizes["eval_prompts"])
        steps = checkpoints * UPSTREAMS * -(-per_upstream // 64) * self.max_new_tokens
        tokens = checkpoints * UPSTREAMS * per_upstream * self.max_new_tokens
        work = lm_work(shape.params, shape.hidden, shape.layers, decode_tokens=tokens, trainable=0.0,
                       notes=[f"{checkpoints} checkpoints of notebook aligner/02_train ({sizes['model']}) × {UPSTREAMS} "
                              f"upstreams × {per_upstream} held-out answers × {self.max_new_tokens} new tokens, fp32",
                              decode_note(steps, shape.layers)])
        work.other_seconds += decode_seconds(steps, shape.layers)
        return work


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

    def work(self):
        """What notebook 4 computes (:mod:`alignbook.engine.estimate`), for each seed of notebook 2's Aligner at
        ``warmup_fraction`` (:data:`UPSTREAM_SIZES`): the strong model trained twice (imitation, then on the
        corrections) for ``strong_epochs`` over ``strong_sft_prompts`` rows at ``max_length`` tokens (an upper
        bound), fp32; greedy generation in batches of 64 (``max_new_tokens`` steps each): the strong model
        answers the training questions and, before and after, the held-out ones; the Aligner corrects the
        training answers and the held-out ones once. The toy world's judge (CPU) is not counted."""
        from ..engine.estimate import lm_work
        from ..lm.sizes import decode_note, decode_seconds

        if self.profile not in UPSTREAM_SIZES:
            return None
        sizes = UPSTREAM_SIZES[self.profile]
        vocab = AlignerTrainConfig.vocab_size
        strong, weak = model_shape(self.strong_model, vocab), model_shape(sizes["model"], vocab)
        seeds, n, held = sizes["seeds"], self.strong_sft_prompts, sizes["eval_prompts"]
        batches = lambda rows: -(-rows // 64)  # noqa: E731  (complete() generates in batches of 64)
        strong_steps = seeds * (batches(n) + 2 * batches(held)) * self.max_new_tokens
        weak_steps = seeds * (batches(n) + batches(held)) * self.max_new_tokens
        work = lm_work(strong.params, strong.hidden, strong.layers,
                       train_tokens=seeds * 2 * self.strong_epochs * n * self.max_length,
                       decode_tokens=seeds * (n + 2 * held) * self.max_new_tokens,
                       steps=seeds * 2 * self.strong_epochs * batches_of(n, self.batch_size),
                       batch=self.batch_size, seq=self.max_length, resident=strong.params + weak.params,
                       notes=[f"{seeds} seeds × 2 stages × {self.strong_epochs} epochs × {n} rows at {self.max_length} "
                              f"tokens (an upper bound), fp32; {held} held-out questions (notebook aligner/01_data's "
                              f"{self.profile} profile)",
                              decode_note(strong_steps, strong.layers), decode_note(weak_steps, weak.layers)])
        work.infer_flops += 2.0 * weak.params * seeds * (n + held) * self.max_new_tokens
        work.other_seconds += decode_seconds(strong_steps, strong.layers) + decode_seconds(weak_steps, weak.layers)
        return work


@dataclasses.dataclass(frozen=True)
class AlignerResultsConfig(BaseConfig):
    """Notebook 05: the paper's Table 1 averages beside this chapter's ω."""


UPSTREAM_SIZES: dict[str, dict[str, Any]] = {
    "gpu": {"train_prompts": 4000, "eval_prompts": 300, "model": "small", "warmup_fractions": 5, "seeds": 3},
    "paper": {"train_prompts": 400, "eval_prompts": 60, "model": "meta-llama/Llama-2-7b-hf", "warmup_fractions": 1,
              "seeds": 1},
}
"""What notebooks aligner/01_data and aligner/02_train make in the profiles with an estimate (their YAML
profiles, which a config's ``work()`` may not read from the disk; a test checks the two agree): the toy
world's questions per split (every one answered by each of :data:`UPSTREAMS` upstreams), the trained model,
how many warm-up shares and seeds it trains."""

UPSTREAMS = 3
"""Upstreams that answer every toy-world question (:class:`AlignerDataConfig`'s default)."""

ALIGNER_20K_ROWS = 20_000
"""Rows of ``aligner/aligner-20K`` (its name; 1 % of them held out by :func:`load_training_rows`)."""


def batches_of(rows: int, batch: int) -> int:
    """Batches of ``batch`` rows that ``rows`` rows make (the last one short)."""
    return -(-rows // batch)


def model_shape(model: str, vocab: int):
    """The :class:`alignbook.lm.sizes.Shape` of ``model``: a tiny preset at the chapter tokenizer's ``vocab``, or a
    hub model :func:`alignbook.lm.sizes.shape_of` knows (None otherwise)."""
    from ..lm.models import PRESETS
    from ..lm.sizes import Shape, llama_params, shape_of

    if model in PRESETS:
        p = PRESETS[model]
        return Shape(llama_params(vocab, p.hidden_size, p.layers, p.intermediate_size, p.heads, p.kv_heads,
                                  p.tie_word_embeddings), p.hidden_size, p.layers)
    return shape_of(model)


def training_rows(cfg: AlignerTrainConfig) -> tuple[int | None, int, str]:
    """``(training rows, held-out rows, where they come from)`` of notebook 2 without reading them: the
    toy world's triples in ``cfg``'s profile (:data:`UPSTREAM_SIZES`), aligner-20K's split, or ``train_size``."""
    if cfg.dataset == ALIGNER_20K:
        held = ALIGNER_20K_ROWS // 100
        rows, where = ALIGNER_20K_ROWS - held, "aligner-20K less its 1 % held out"
    elif cfg.dataset == "toyworld" and cfg.profile in UPSTREAM_SIZES:
        sizes = UPSTREAM_SIZES[cfg.profile]
        rows, held = UPSTREAMS * sizes["train_prompts"], UPSTREAMS * sizes["eval_prompts"]
        where = (f"notebook aligner/01_data's {cfg.profile} profile: {sizes['train_prompts']} questions × "
                 f"{UPSTREAMS} upstreams")
    elif cfg.train_size:
        rows, held, where = cfg.train_size, max(1, cfg.train_size // 10), "train_size; held-out rows assumed a tenth"
    else:
        return None, 0, "unknown"
    if cfg.train_size and cfg.train_size < rows:
        rows, where = cfg.train_size, f"train_size of {where}"
    return rows, held, where


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
