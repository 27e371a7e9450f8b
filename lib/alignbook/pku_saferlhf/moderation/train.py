"""Training and evaluating the severity-sensitive moderation model, over several seeds."""

from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path
from typing import Annotated, Any, Optional, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ...engine.config import BaseConfig, Count, NonNegative, OneOf, Positive, Range, SeedCount
from ...engine.devices import Device
from ...toyworld.content import HARM_CATEGORIES
from .metrics import majority_baseline, moderation_metrics
from .model import ModerationModel, load_moderation_model, moderation_loss, predict_from_outputs, save_moderation_model

PROMPT_TEMPLATE = "BEGINNING OF CONVERSATION: USER: {input} ASSISTANT:"
"""The safe-rlhf conversation template; the moderation model reads ``template + " " + response``."""

PAPER_RESULTS: dict[str, float] = {
    "binary_accuracy": 0.93,
    "false_positive_rate": 0.0765,
    "severity_accuracy_1": 0.85,
    "severity_accuracy_2": 0.77,
    "severity_accuracy_3": 0.71,
    "category_exact_match": 0.713,
}
"""The paper's moderation results (binary accuracy, false-positive rate, severity accuracy for
minor/moderate/severe, category accuracy), for the real data and a 7B-scale model. The 85/77/71 %
are read as levels 1/2/3 in the order the paper lists them."""

QA_DATASET = "PKU-Alignment/PKU-SafeRLHF-QA"
"""The per-response release the paper's moderation model is trained on."""

NOTEBOOK = "pku-saferlhf/02_moderation"
"""The notebook whose YAML ``launch`` block says how each seed's training runs (``paper``: DeepSpeed, 8 processes)."""
ENTRY = "alignbook.pku_saferlhf.moderation.train:train_launched"
"""What a launched seed runs (the YAML's ``launch`` block names the same)."""


def launch_processes(profile: str, notebook: str = NOTEBOOK) -> int:
    """Processes the notebook's YAML ``launch`` block declares for ``profile`` (1 without a block)."""
    return int(_launch_block(profile, notebook).get("nprocs", 1))


@dataclasses.dataclass(frozen=True)
class ModerationConfig(BaseConfig):
    """Severity-sensitive QA moderation (PKU-SafeRLHF paper, section on moderation)."""

    dataset: Annotated[str, OneOf(("toy",), hub=True)] = "toy"
    """'toy' (the toy world), a hub release name, or a local folder in the hub's layout."""
    dataset_schema: Annotated[str, OneOf(("pku-saferlhf-qa", "pku-saferlhf-v1"))] = "pku-saferlhf-qa"
    """Schema of ``dataset``: 'pku-saferlhf-qa' (per-response rows) or 'pku-saferlhf-v1' (pairs,
    split into per-response rows)."""
    dataset_revision: Optional[str] = None
    """Hub revision; None uses the pin in ``alignbook.data.HUB_DATASETS``."""
    train_size: Count = 3000
    """Training responses (toy: generated; hub: the first ones of the split)."""
    test_size: Count = 1000
    """Held-out responses (toy: a disjoint seed stream; hub: the test split)."""
    backbone: Annotated[str, OneOf(("toy-scratch", "toy-base"), hub=True)] = "toy-scratch"
    """'toy-scratch' (a fresh tiny Llama on the toy tokenizer), 'toy-base' (the toy world's
    pretrained base model) or a hub model name. The paper trains a Llama-family 7-8B model; its
    exact base checkpoint is not pinned here, so the paper profile uses the Safe RLHF chapter's
    PKU-Alignment/alpaca-7b-reproduced (our choice, not the paper's)."""
    preset: Annotated[str, OneOf(("tiny", "small", "base"))] = "tiny"
    """Model shape for toy backbones: tiny, small or base (alignbook.lm.PRESETS)."""
    epochs: Count = 3
    """Passes over the training responses."""
    lr: Positive = 2e-3
    """AdamW learning rate (from-scratch tiny models need ~1e-3; a pretrained 7B ~2e-5)."""
    batch_size: Count = 32
    """Responses per optimiser step (under the launcher: split over the processes, each taking its share)."""
    weight_decay: NonNegative = 0.0
    """AdamW weight decay (matrices only: biases and norm weights never decay, as in Safe RLHF)."""
    zero_stage: Optional[Annotated[int, Range(0, 3)]] = None
    """DeepSpeed ZeRO stage under the launcher (Safe RLHF's 7B scripts: ``--zero_stage 3``); None or in-process:
    plain AdamW."""
    bf16: bool = False
    """bfloat16 training under DeepSpeed (Safe RLHF's 7B scripts: ``--bf16 True``; a hub backbone then loads in
    bf16); in-process runs stay in float32."""
    max_length: Count = 96
    """Longest tokenised prompt+response; longer ones are cut at the end."""
    threshold: Annotated[float, Range(0, 1, min_open=True, max_open=True)] = 0.5
    """Probability above which the unsafe and category heads say yes, in (0, 1)."""
    seeds: SeedCount = 3
    """Independent training runs (metrics reported as mean ± std over them)."""
    device: Device = "cpu"
    """Where the model, its batches and its predictions live: 'cpu', 'cuda', 'cuda:N' or 'auto'."""
    verbose: bool = True
    """Show tqdm progress bars."""

    def work(self):
        """What notebook 2 computes (:mod:`alignbook.engine.estimate`): every seed's epochs over the
        training rows at ``max_length`` tokens (an upper bound), the test rows scored once; making the toy
        data on the CPU is not counted. Under the notebook's ``launch`` block for this profile the work is
        spread over its processes (ZeRO stage ``zero_stage``, bf16 with ``bf16``), each holding its share of a
        batch."""
        import dataclasses as dc

        from ...engine.estimate import lm_work
        from ...lm.sizes import shape_of

        shape = shape_of(self.backbone, self.preset)
        if shape is None:
            return None
        processes = launch_processes(self.profile)
        work = lm_work(shape.params, shape.hidden, shape.layers,
                       train_tokens=self.seeds * self.epochs * self.train_size * self.max_length,
                       forward_tokens=self.seeds * self.test_size * self.max_length,
                       steps=self.seeds * self.epochs * -(-self.train_size // self.batch_size),
                       batch=-(-self.batch_size // processes), seq=self.max_length,
                       precision="bf16" if self.bf16 and processes > 1 else "fp32",
                       zero_stage=self.zero_stage if processes > 1 else None,
                       notes=[f"{self.seeds} seeds × {self.epochs} epochs × {self.train_size} rows at {self.max_length} "
                              "tokens (an upper bound); the toy data's generation on the CPU not counted"])
        return dc.replace(work, devices=processes)


@dataclasses.dataclass
class ModerationResult:
    """What :func:`train_moderation` returns."""

    metrics: dict[str, Any]
    """Held-out metrics (see :func:`alignbook.pku_saferlhf.moderation.metrics.moderation_metrics`)."""
    history: list[dict[str, Any]]
    """Per-step training losses (total and per head)."""
    checkpoint: str | None
    """Folder of the saved model, or None."""
    config: Any
    """The config used (a dict once loaded)."""

    FILE = "moderation_result.json"

    def save(self, directory: str | Path) -> Path:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        config = dataclasses.asdict(self.config) if dataclasses.is_dataclass(self.config) else self.config
        payload = {"metrics": self.metrics, "history": self.history, "checkpoint": self.checkpoint, "config": config}
        path = directory / self.FILE
        path.write_text(json.dumps(payload, indent=1, default=str))
        return path

    @classmethod
    def load(cls, directory: str | Path) -> "ModerationResult":
        path = Path(directory) / cls.FILE
        if not path.exists():
            raise FileNotFoundError(f"no {cls.FILE} in {directory}; run train_moderation with output_dir first")
        return cls(**json.loads(path.read_text()))

    def load_model(self) -> ModerationModel:
        if self.checkpoint is None:
            raise ValueError("this run saved no checkpoint; pass output_dir to train_moderation")
        return load_moderation_model(self.checkpoint)


# ----------------------------------------------------------------------------- data
def labels_of(rows: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    """Severity (int array) and categories (bool matrix, rows x 19) of QA-schema rows."""
    severity = np.array([int(r["severity_level"]) for r in rows], dtype=np.int64)
    categories = np.array([[bool(r["harm_category"][name]) for name in HARM_CATEGORIES] for r in rows],
                          dtype=bool).reshape(len(rows), len(HARM_CATEGORIES))
    return severity, categories


def load_qa_rows(cfg: ModerationConfig, world: Any = None) -> tuple[list[dict], list[dict]]:
    """Training and held-out per-response rows for ``cfg`` (toy or hub/local)."""
    from ...data import load_rows, v1_to_qa

    def get(split: str, n: int) -> list[dict]:
        if cfg.dataset_schema == "pku-saferlhf-v1":
            pairs = load_rows(cfg.dataset, "pku-saferlhf-v1", split, None if cfg.dataset != "toy" else (n + 1) // 2,
                              cfg.seed, world, cfg.dataset_revision)
            return v1_to_qa(pairs)[:n]
        return load_rows(cfg.dataset, "pku-saferlhf-qa", split, n, cfg.seed, world, cfg.dataset_revision)

    return get("train", cfg.train_size), get("test", cfg.test_size)


def encode_rows(tokenizer: Any, rows: Sequence[dict[str, Any]], max_length: int) -> list[list[int]]:
    """``bos template(prompt) response eos`` token ids, cut to ``max_length``."""
    out = []
    for row in rows:
        text = PROMPT_TEMPLATE.format(input=row["prompt"]) + " " + row["response"]
        ids = [tokenizer.bos_token_id, *tokenizer(text, add_special_tokens=False)["input_ids"], tokenizer.eos_token_id]
        out.append(ids[:max_length])
    return out


def _batch(ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(x) for x in ids)
    input_ids = torch.full((len(ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(ids), width), dtype=torch.long)
    for i, x in enumerate(ids):
        input_ids[i, : len(x)] = torch.as_tensor(x)
        mask[i, : len(x)] = 1
    return input_ids, mask


def build_model(cfg: ModerationConfig, seed: int, world: Any = None) -> tuple[ModerationModel, Any]:
    """The moderation model and its tokenizer for ``cfg.backbone``."""
    if cfg.backbone in ("toy-scratch", "toy-base"):
        from ...lm import build_causal_lm
        from ...toyworld import ToyWorld, ToyWorldConfig

        world = world or ToyWorld(ToyWorldConfig())
        tokenizer = world.tokenizer()
        backbone = world.base_model(cfg.preset) if cfg.backbone == "toy-base" else build_causal_lm(cfg.preset, tokenizer, seed)
    else:
        from transformers import AutoModel, AutoTokenizer

        from ...data.hub import model_revision

        try:
            from ...engine.distributed import is_launched

            revision = model_revision(cfg.backbone)
            tokenizer = AutoTokenizer.from_pretrained(cfg.backbone, revision=revision)
            # under the launcher with bf16, DeepSpeed trains in bf16: load it so (half the host memory per rank)
            dtype = torch.bfloat16 if cfg.bf16 and cfg.zero_stage is not None and is_launched() else torch.float32
            backbone = AutoModel.from_pretrained(cfg.backbone, revision=revision, torch_dtype=dtype)
        except OSError as error:
            raise RuntimeError(
                f"backbone={cfg.backbone!r} could not be loaded ({error}); it needs the hub or a local "
                "copy in HF_HOME. Use backbone='toy-scratch' or 'toy-base' offline."
            ) from error
        if tokenizer.pad_token_id is None or tokenizer.pad_token_id == tokenizer.eos_token_id:
            tokenizer.add_special_tokens({"pad_token": "<pad>"})
            backbone.resize_token_embeddings(len(tokenizer))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ModerationModel(backbone)
    return model, tokenizer


# --------------------------------------------------------------------------- training
@torch.no_grad()
def predict(model: Any, tokenizer: Any, rows: Sequence[dict], max_length: int,
            threshold: float = 0.5, batch_size: int = 128) -> dict[str, np.ndarray]:
    """Hard predictions of the three heads on QA-schema rows. ``model``: a :class:`ModerationModel` or the
    :class:`alignbook.engine.distributed.Engine` training one (under ZeRO-3 every rank must call this with
    the same rows: the forward pass gathers the shards)."""
    module = getattr(model, "module", model)
    model.eval()
    device = next(module.parameters()).device
    ids = encode_rows(tokenizer, rows, max_length)
    parts: dict[str, list] = {"unsafe": [], "severity": [], "categories": []}
    for start in range(0, len(ids), batch_size):
        input_ids, mask = _batch(ids[start : start + batch_size], tokenizer.pad_token_id)
        pred = predict_from_outputs(model(input_ids.to(device), mask.to(device)), threshold)
        for key in parts:
            parts[key].append(pred[key].cpu().numpy())
    return {k: np.concatenate(v) for k, v in parts.items()}


def evaluate(model: Any, tokenizer: Any, rows: Sequence[dict], cfg: ModerationConfig) -> dict[str, Any]:
    severity, categories = labels_of(rows)
    pred = predict(model, tokenizer, rows, cfg.max_length, cfg.threshold)
    return moderation_metrics(severity, categories, pred["unsafe"], pred["severity"], pred["categories"])


def train_moderation(
    cfg: ModerationConfig,
    train_rows: Sequence[dict],
    test_rows: Sequence[dict],
    seed: int = 0,
    world: Any = None,
    output_dir: str | Path | None = None,
) -> ModerationResult:
    """Train one moderation model on ``train_rows`` (QA schema) and evaluate it on ``test_rows``.

    Optimisation goes through :func:`alignbook.engine.distributed.wrap`: plain AdamW in one process,
    DeepSpeed (ZeRO ``cfg.zero_stage``, bf16 with ``cfg.bf16``) under the launcher, where each rank trains
    on its share of every batch of ``cfg.batch_size`` responses, losses are averaged over the ranks, and
    rank 0 evaluates, saves and returns the result (the other ranks return theirs unsaved)."""
    from ...engine import devices
    from ...engine.distributed import wrap

    if not train_rows:
        raise ValueError("train_rows is empty; raise train_size")
    device = devices.resolve(cfg.device)  # under the launcher: this rank's own GPU
    model, tokenizer = build_model(cfg, seed, world)
    model.to(device).train()
    ids = encode_rows(tokenizer, train_rows, cfg.max_length)
    severity, categories = labels_of(train_rows)
    steps_per_epoch = math.ceil(len(ids) / cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    engine = wrap(
        model, lr=cfg.lr, betas=(0.9, 0.95), weight_decay=cfg.weight_decay, zero_stage=cfg.zero_stage, bf16=cfg.bf16,
        max_grad_norm=1.0, micro_batch_size=max(1, cfg.batch_size // _world_size()),
        lr_lambda=lambda s: min(1.0, (s + 1) / max(1, total // 20)) * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)),
    )
    rank, world_size = engine.rank, engine.world_size
    order_rng = torch.Generator().manual_seed(seed)
    history: list[dict[str, Any]] = []
    started = time.perf_counter()
    progress = tqdm(total=total, desc=f"moderation seed {seed}", disable=not cfg.verbose or rank != 0, leave=False)
    step = 0
    engine.train()
    for epoch in range(cfg.epochs):
        order = torch.randperm(len(ids), generator=order_rng).tolist()
        for start in range(0, len(order), cfg.batch_size):
            index = order[start : start + cfg.batch_size]
            index = index[rank::world_size] or index[:1]  # one process: all of it; a short last batch still feeds each rank
            input_ids, mask = _batch([ids[i] for i in index], tokenizer.pad_token_id)
            labels = {
                "unsafe": torch.as_tensor(severity[index] > 0, dtype=torch.float32, device=device),
                "severity": torch.as_tensor(severity[index], device=device),
                "categories": torch.as_tensor(categories[index], dtype=torch.float32, device=device),
            }
            losses = moderation_loss(engine(input_ids.to(device), mask.to(device)), labels)
            engine.backward(losses["total"])
            engine.step()
            step += 1
            logged = {k: engine.all_reduce_mean(float(v.detach())) for k, v in losses.items()}
            if not math.isfinite(logged["total"]):  # the mean over ranks: every rank stops alike
                raise FloatingPointError(f"moderation loss became {logged['total']} at step {step}; lower lr")
            history.append({"step": step, "epoch": epoch, **logged})
            progress.update(1)
            progress.set_postfix(loss=f"{logged['total']:.3f}")
    progress.close()
    metrics = evaluate(engine, tokenizer, test_rows, cfg)  # every rank: a ZeRO-3 forward pass needs them all
    metrics["train_seconds"] = time.perf_counter() - started
    metrics["seed"] = seed
    metrics["world_size"] = world_size
    checkpoint = None
    if output_dir is not None:
        state = engine.full_state_dict()  # every rank (ZeRO-3 gathers the shards); rank 0 writes
        if engine.is_main:
            checkpoint = str(save_moderation_model(model, Path(output_dir) / "model", state_dict=state))
            tokenizer.save_pretrained(str(Path(output_dir) / "model" / "tokenizer"))
        else:
            checkpoint = str(Path(output_dir) / "model")
        engine.barrier()
    result = ModerationResult(metrics=metrics, history=history, checkpoint=checkpoint, config=cfg)
    if output_dir is not None and engine.is_main:
        result.save(output_dir)
    return result


def _world_size() -> int:
    import os

    return max(1, int(os.environ.get("WORLD_SIZE", "1")))


def train_launched(cfg: ModerationConfig) -> dict[str, Any]:
    """Entry point for :func:`alignbook.engine.launch.launch` (the ``launch`` block of notebook 2): one seed
    (``cfg.seed``) on every rank, into ``cfg.run_dir`` (that seed's folder), with the rows named by
    ``<run_dir>/unit.json`` (written by :func:`train_seed`). Returns the held-out metrics."""
    unit = json.loads((Path(cfg.run_dir) / "unit.json").read_text())
    rows = json.loads(Path(unit["rows"]).read_text())
    return train_moderation(cfg, rows["train"], rows["test"], cfg.seed, output_dir=cfg.run_dir).metrics


def run_seeds(cfg: ModerationConfig, output_dir: str | Path | None = None, *, workers: int | None = None,
              notebook: str = NOTEBOOK):
    """Train ``cfg.seeds`` models (seeds ``cfg.seed .. cfg.seed + seeds - 1``) on the same data, as units of
    :func:`alignbook.engine.parallel.map_units` (side by side where cores allow; :func:`train_seed`).

    The device is resolved first, so a GPU profile on a machine without one stops before the data are
    generated. The rows are drawn once and written to ``<run_dir>/data/qa_rows.json`` for the units;
    with ``output_dir`` each seed's model and result go to ``output_dir/seed<seed>``. ``workers``: see
    :func:`~alignbook.engine.parallel.map_units` (tests pass 1 to keep the units in this process). Where
    ``notebook``'s YAML has a ``launch`` block for the profile (``paper``: DeepSpeed, 8 processes), each seed
    is launched as it says (:func:`train_launched`), one seed at a time over every device, into
    ``output_dir/seed<seed>`` (``<run_dir>/models/seed<seed>`` without ``output_dir``).

    Returns ``(results, baseline)``: the per-seed :class:`ModerationResult` list and the
    majority-class baseline's metrics on the same held-out rows.
    """
    from ...engine import devices
    from ...engine.parallel import map_units

    devices.resolve(cfg.device)  # fail fast: before the (slow) data generation
    launched = bool(_launch_block(cfg.profile, notebook))
    train_rows, test_rows = load_qa_rows(cfg)
    rows_file = Path(cfg.run_dir) / "data" / "qa_rows.json"
    rows_file.parent.mkdir(parents=True, exist_ok=True)
    rows_file.write_text(json.dumps({"train": train_rows, "test": test_rows}))
    seeds = [cfg.seed + offset for offset in range(cfg.seeds)]
    if launched and output_dir is None:
        output_dir = Path(cfg.run_dir) / "models"
    context = {"rows": str(rows_file), "output_dir": None if output_dir is None else str(output_dir),
               "notebook": notebook if launched else None}
    done = map_units(train_seed, cfg, seeds, name="seeds", context=context, workers=1 if launched else workers,
                     log=print if cfg.verbose else None)
    results = [ModerationResult(metrics=r["metrics"], history=r["history"], checkpoint=r["checkpoint"], config=cfg)
               for r in done]
    train_sev, train_cat = labels_of(train_rows)
    test_sev, test_cat = labels_of(test_rows)
    baseline = majority_baseline(train_sev, train_cat, test_sev, test_cat)
    return results, baseline


def train_seed(unit) -> dict[str, Any]:
    """One seed of :func:`run_seeds` (``unit.value``: the seed; ``unit.context``: the rows file, the output
    folder and, when the profile launches, the notebook whose ``launch`` block says how)."""
    seed = unit.value
    output_dir = unit.context["output_dir"]
    folder = None if output_dir is None else Path(output_dir) / f"seed{seed}"
    if unit.context.get("notebook"):
        from ...engine.launch import launch_as_configured

        folder.mkdir(parents=True, exist_ok=True)
        (folder / "unit.json").write_text(json.dumps({"rows": unit.context["rows"]}))
        run_cfg = dataclasses.replace(unit.cfg, seed=seed, run_dir=str(folder), verbose=False)
        launch_as_configured(unit.context["notebook"], ENTRY, run_cfg)
        result = ModerationResult.load(folder)
        return {"metrics": result.metrics, "history": result.history, "checkpoint": result.checkpoint}
    rows = json.loads(Path(unit.context["rows"]).read_text())
    result = train_moderation(dataclasses.replace(unit.cfg, verbose=False), rows["train"], rows["test"], seed,
                              output_dir=folder)
    return {"metrics": result.metrics, "history": result.history, "checkpoint": result.checkpoint}


def _launch_block(profile: str, notebook: str) -> dict[str, Any]:
    from ...engine.config import load_spec
    from ...engine.notebook import yaml_path

    return (load_spec(yaml_path(notebook)).get("launch") or {}).get(profile) or {}


def summarize(results: Sequence[ModerationResult], baseline: dict[str, Any], keys: Sequence[str]):
    """A table: metric, mean, std over seeds, majority baseline."""
    import pandas as pd

    rows = []
    for key in keys:
        values = np.array([r.metrics[key] for r in results], dtype=float)
        rows.append({"metric": key, "mean": np.nanmean(values), "std": np.nanstd(values),
                     "majority baseline": baseline.get(key, float("nan"))})
    return pd.DataFrame(rows).set_index("metric")
