"""The experiments of notebooks 2-4, one call each, their independent runs as units of
:func:`alignbook.engine.parallel.map_units`.

* :func:`train_sweep` (notebook 2): for every seed, an Aligner per identity warm-up share and the Q→C
  baseline; one unit per (variant, seed). In a profile whose YAML ``launch`` block names a launcher
  (``paper``: DeepSpeed, ZeRO-3, 8 processes) each unit launches
  :func:`alignbook.aligner.config.train_from_config` over every device, one unit at a time.
* :func:`evaluate_stacking` (notebook 3): every trained Aligner corrects the held-out answers of every
  upstream; one unit per checkpoint (warm-up share, seed).
* :func:`weak_to_strong` (notebook 4): one weak-to-strong run per seed of the chosen warm-up share.

Every checkpoint is named by :func:`alignbook.aligner.train.checkpoint_name` (``aligner-w0.2-s0``,
``direct-s0``) in every profile, in-process or launched, and found by
:func:`alignbook.aligner.train.find_checkpoints`. Units rebuild what they need from the config and the
paths in ``unit.context`` (notebook 1's and 2's run folders), return plain data, and leave weights and
results in files under the run folder, which the experiment reads back.
"""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path
from typing import Any, Iterator

from .train import CorrectionTrainResult, checkpoint_name, find_checkpoints

TRAIN_NOTEBOOK = "aligner/02_train"
TRAIN_ENTRY = "alignbook.aligner.config:train_from_config"
"""What a launched unit of :func:`train_sweep` runs (the YAML's ``launch`` block names the same)."""
DIRECT_LABEL = "answer directly (Q→C)"

TOY_UNIT_MB = 800
"""Peak memory of one unit on the tiny presets (a worker with torch and a few-million-parameter model)."""


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    """No Hugging Face progress bars (loading and writing weights) for the block: a unit in a worker process
    would draw them on the runner's terminal; :func:`alignbook.engine.parallel.map_units` reports progress."""
    from transformers.utils import logging as hf_logging

    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            hf_logging.enable_progress_bar()


def variant_label(warmup: float | None) -> str:
    """How the page names a variant: ``aligner, 20% warm-up`` or ``answer directly (Q→C)``."""
    return DIRECT_LABEL if warmup is None else f"aligner, {warmup:.0%} warm-up"


def metric_key(label: str) -> str:
    """The recorded metric's suffix for a variant label (``aligner_20pct``, ``answer_directly_QtoC``)."""
    return (label.replace(", ", "_").replace("% warm-up", "pct").replace(" ", "_").replace("(", "").replace(")", "")
            .replace("→", "to"))


# ------------------------------------------------------------------------------ notebook 2
@dataclasses.dataclass
class Sweep:
    """What :func:`train_sweep` trained: ``results[(label, seed)]`` for every variant and seed."""

    results: dict[tuple[str, int], CorrectionTrainResult]
    seeds: list[int]
    labels: list[str]
    """The variants' labels: Aligners by warm-up share, then the Q→C baseline."""
    launched: bool

    @property
    def train_rows(self) -> int:
        return next(iter(self.results.values())).config["train_rows"]

    @property
    def eval_rows(self) -> int:
        return next(iter(self.results.values())).config["eval_rows"]

    def histories(self) -> dict[str, list[list[dict[str, Any]]]]:
        """``{label: [history of each seed]}`` for the learning curves."""
        return {label: [self.results[(label, s)].history for s in self.seeds] for label in self.labels}

    def final_losses(self) -> dict[str, list[float]]:
        """``{label: [final held-out NLL per correction token of each seed]}``."""
        return {label: [self.results[(label, s)].metrics["final_eval_loss"] for s in self.seeds]
                for label in self.labels}


def _launched(notebook: str, profile: str) -> bool:
    from ..engine.config import load_spec
    from ..engine.notebook import yaml_path

    return bool((load_spec(yaml_path(notebook)).get("launch") or {}).get(profile))


def train_sweep(cfg: Any, notebook: str = TRAIN_NOTEBOOK) -> Sweep:
    """Notebook 2: seeds ``cfg.seed, cfg.seed + 1, ...`` × (each warm-up share, then the Q→C baseline with
    ``direct_baseline``), one :func:`train_unit` each, on ``cfg.device``; checkpoints in the run folder."""
    from ..engine.notebook import upstream_run
    from ..engine.parallel import map_units
    from .config import variants

    launched = _launched(notebook, cfg.profile)
    data = str(upstream_run(cfg, "aligner/01_data")) if cfg.dataset == "toyworld" else None
    seeds = [cfg.seed + k for k in range(cfg.seeds)]
    units = [{"seed": s, "warmup": w} if w is not None else {"seed": s, "variant": "direct"}
             for s in seeds for w in variants(cfg)]
    out = map_units(train_unit, cfg, units, name="variants", memory_mb=TOY_UNIT_MB,
                    context={"notebook": notebook, "launched": launched, "data": data},
                    workers=1 if launched else None)
    results = {(variant_label(o["warmup"]), o["seed"]): CorrectionTrainResult.load(Path(cfg.run_dir) / o["checkpoint"])
               for o in out}
    labels = [variant_label(w) for w in variants(cfg)]
    return Sweep(results, seeds, labels, launched)


def train_unit(unit: Any) -> dict[str, Any]:
    """One variant of one seed of :func:`train_sweep` (``unit.value``: ``{"seed", "warmup"}`` or ``{"seed",
    "variant": "direct"}``): in-process, or launched as the notebook's YAML says; the checkpoint goes to
    ``<run_dir>/<checkpoint_name>``."""
    with quiet():
        return _train_unit(unit)


def _train_unit(unit: Any) -> dict[str, Any]:
    from .config import train_variants

    cfg, value, context = unit.cfg, unit.value, unit.context
    warmup = None if value.get("variant") == "direct" else float(value["warmup"])
    seed = int(value["seed"])
    one = dataclasses.replace(cfg, seed=seed, warmup_fractions=() if warmup is None else (warmup,),
                              direct_baseline=warmup is None)
    if context["launched"]:
        from ..engine.launch import launch_as_configured

        launch_as_configured(context["notebook"], TRAIN_ENTRY, one)
    else:
        train_variants(one, data_dir=context["data"], verbose=False)
    name = checkpoint_name(warmup, seed)
    result = CorrectionTrainResult.load(Path(cfg.run_dir) / name)
    return {"warmup": warmup, "seed": seed, "checkpoint": name, "metrics": result.metrics}


# ------------------------------------------------------------------------------ notebook 3
@dataclasses.dataclass
class Stacking:
    """What :func:`evaluate_stacking` measured."""

    scores: Any
    """One row per (warm-up share, seed, upstream): ω per dimension and the judge's scores before and after
    (:func:`alignbook.aligner.toy.evaluate_upstream`), a pandas DataFrame."""
    checkpoints: list[str]
    upstreams: list[str]
    questions: int
    """Held-out questions per upstream."""
    examples: dict[tuple[float, str], list[list[str]]]
    """``{(warm-up share, upstream): [[question, original, corrected], ...]}``, the first seed's first three."""

    @property
    def seeds(self) -> int:
        return int(self.scores["seed"].nunique())


def evaluate_stacking(cfg: Any) -> Stacking:
    """Notebook 3: every Aligner checkpoint of notebook 2 (one :func:`stacking_unit` each, on ``cfg.device``)
    corrects the held-out answers of every upstream; the toy world's ground truth judges before and after."""
    import pandas as pd

    from ..engine.notebook import upstream_run
    from ..engine.parallel import map_units

    data, trained = upstream_run(cfg, "aligner/01_data"), upstream_run(cfg, "aligner/02_train")
    found = find_checkpoints(trained)
    units = [{"warmup": w, "seed": s} for w, s, _ in found]
    out = map_units(stacking_unit, cfg, units, name="checkpoints", memory_mb=TOY_UNIT_MB,
                    context={"data": str(data), "trained": str(trained)})
    examples: dict[tuple[float, str], list[list[str]]] = {}
    for o in out:
        for source, rows in o["examples"].items():
            examples.setdefault((o["warmup"], source), rows)  # the first seed's
    return Stacking(scores=pd.DataFrame([row for o in out for row in o["rows"]]),
                    checkpoints=[path.name for _, _, path in found], upstreams=out[0]["upstreams"],
                    questions=out[0]["questions"], examples=examples)


def stacking_unit(unit: Any) -> dict[str, Any]:
    """One Aligner checkpoint (``unit.value``: ``{"warmup", "seed"}``) stacked on every upstream of the
    held-out triples: its rows of :attr:`Stacking.scores` and a few examples."""
    with quiet():
        return _stacking_unit(unit)


def _stacking_unit(unit: Any) -> dict[str, Any]:
    from ..engine import devices
    from . import data, stacking, toy
    from .train import load_checkpoint

    cfg, value, context = unit.cfg, unit.value, unit.context
    device = devices.resolve(cfg.device)
    triples = data.load_triples(Path(context["data"]) / "triples.json")
    world = toy.load_world(context["data"])
    warmup, seed = float(value["warmup"]), int(value["seed"])
    checkpoint = Path(context["trained"]) / checkpoint_name(warmup, seed)
    model, tokenizer, result = load_checkpoint(checkpoint, device)
    upstreams = list(dict.fromkeys(r["source"] for r in triples["eval"]))
    rows, examples, questions = [], {}, 0
    for source in upstreams:
        subset = [r for r in triples["eval"] if r["source"] == source][: cfg.eval_size or None]
        questions, originals = [r["question"] for r in subset], [r["answer"] for r in subset]
        corrected = stacking.correct(model, tokenizer, questions, originals, template=result.config["template"],
                                     trained_with=stacking.trained_template(checkpoint),
                                     max_new_tokens=cfg.max_new_tokens)
        rows.append({"warm-up": warmup, "seed": seed, "upstream": source,
                     **toy.evaluate_upstream(world, questions, originals, corrected)})
        examples[source] = [list(t) for t in zip(questions[:3], originals[:3], corrected[:3])]
    return {"warmup": warmup, "seed": seed, "rows": rows, "examples": examples, "upstreams": upstreams,
            "questions": len(questions)}


# ------------------------------------------------------------------------------ notebook 4
@dataclasses.dataclass
class WeakToStrong:
    """What :func:`weak_to_strong` ran: one result per seed (its weak supervisor's seed)."""

    results: list[Any]
    """:class:`alignbook.aligner.weak_to_strong.WeakToStrongResult` per seed, in seed order."""
    train_questions: int
    eval_questions: int

    @property
    def per_seed(self) -> list[dict[str, Any]]:
        return [r.metrics for r in self.results]


def _w2s_questions(cfg: Any, world: Any, triples: dict[str, list[dict[str, Any]]]) -> tuple[list[Any], list[Any]]:
    """The strong model's imitation prompts and the held-out prompts (the same for every seed)."""
    train_prompts = world.sample_prompts(cfg.strong_sft_prompts, seed=3000 + cfg.seed, harmful_fraction=0.5)
    eval_questions = list(dict.fromkeys(r["question"] for r in triples["eval"]))
    return train_prompts, [world.parse_prompt(q) for q in eval_questions]


def weak_to_strong(cfg: Any) -> WeakToStrong:
    """Notebook 4: for each seed of notebook 2's ``cfg.warmup_fraction`` Aligner, one :func:`weak_to_strong_unit`
    on ``cfg.device``; each result is saved under ``<run_dir>/seed<k>`` and read back."""
    from ..engine.notebook import upstream_run
    from ..engine.parallel import map_units
    from .weak_to_strong import WeakToStrongResult

    data, trained = upstream_run(cfg, "aligner/01_data"), upstream_run(cfg, "aligner/02_train")
    seeds = [s for _, s, _ in find_checkpoints(trained, cfg.warmup_fraction)]
    out = map_units(weak_to_strong_unit, cfg, seeds, name="seeds", memory_mb=TOY_UNIT_MB,
                    context={"data": str(data), "trained": str(trained)})
    results = [WeakToStrongResult.load(Path(cfg.run_dir) / o["folder"]) for o in out]
    return WeakToStrong(results, out[0]["train_questions"], out[0]["eval_questions"])


def weak_to_strong_unit(unit: Any) -> dict[str, Any]:
    """One seed of :func:`weak_to_strong` (``unit.value``: the weak supervisor's seed): the Aligner and the
    strong model on ``cfg.device``; the result saved under ``<run_dir>/seed<k>``."""
    with quiet():
        return _weak_to_strong_unit(unit)


def _weak_to_strong_unit(unit: Any) -> dict[str, Any]:
    from ..engine import devices
    from . import data, toy
    from .train import load_checkpoint
    from .weak_to_strong import run_weak_to_strong

    cfg, seed, context = unit.cfg, int(unit.value), unit.context
    device = devices.resolve(cfg.device)
    world = toy.load_world(context["data"])
    triples = data.load_triples(Path(context["data"]) / "triples.json")
    train_prompts, eval_prompts = _w2s_questions(cfg, world, triples)
    aligner, tokenizer, aligner_result = load_checkpoint(
        Path(context["trained"]) / checkpoint_name(cfg.warmup_fraction, seed), device)
    result = run_weak_to_strong(
        world, aligner, tokenizer, aligner_result.config["template"], train_prompts, eval_prompts,
        strong_model=cfg.strong_model, strong_source=cfg.strong_source, epochs=cfg.strong_epochs,
        lr=cfg.strong_lr, batch_size=cfg.batch_size, max_length=cfg.max_length,
        max_new_tokens=cfg.max_new_tokens, seed=seed, device=device, verbose=False)
    folder = f"seed{seed}"
    result.save(Path(cfg.run_dir) / folder)
    return {"seed": seed, "folder": folder, "train_questions": len(train_prompts),
            "eval_questions": len(eval_prompts)}
