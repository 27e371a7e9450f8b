"""Dual vs single preference, judged against the toy world's ground truth.

PKU-SafeRLHF releases two kinds of preference: **dual** (helpfulness and harmlessness labelled
separately: ``better_response_id`` and ``safer_response_id``) and **single** (one label that
already trades the two off). From dual labels one trains a reward model :math:`R` and a cost
model :math:`C` (Safe RLHF's losses, :mod:`alignbook.safe_rlhf.losses`); from single labels one
reward model :math:`S`. Only the toy world can check what each learned, because it knows every
response's true helpfulness and severity:

* **ground-truth ranking accuracy**: on held-out responses to the same prompt, how often a
  model orders two responses as their true helpfulness (or true harm) does;
* **choosing the trade-off after training**: picking, among candidate responses, the one that
  maximises :math:`R - \\lambda C` traces a whole helpfulness/harm curve as :math:`\\lambda`
  varies, with no retraining; :math:`S` gives one point, fixed when the labels were collected.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Optional, Sequence

import numpy as np
import torch

from ..engine.config import BaseConfig, ConfigError, Count, NonNegative, OneOf, Positive, Range, SeedCount
from ..engine.devices import Device
from ..toyworld.world import ToyWorld, ToyWorldConfig

CANDIDATE_SOURCES: tuple[str, ...] = (
    "alpaca-7b", "alpaca2-7b", "alpaca3-8b", "comply", "refuse", "safe_helpful", "filler",
)
"""Sources of the candidate responses each held-out prompt gets."""


@dataclasses.dataclass(frozen=True)
class DualPreferenceConfig(BaseConfig):
    """Reward + cost models from dual labels vs one reward model from single labels."""

    dataset: Annotated[str, OneOf(("toy",), hub=True)] = "toy"
    """'toy', or the dual release 'PKU-Alignment/PKU-SafeRLHF' (paper profile; the single-label
    model then reads ``single_dataset``), or a local folder in the hub layout."""
    dataset_revision: Optional[str] = None
    """Hub revision of ``dataset``; None uses the pin."""
    single_dataset: Annotated[str, OneOf(("toy",), hub=True)] = "toy"
    """Source of single trade-off labels: 'toy', 'PKU-Alignment/PKU-SafeRLHF-single-dimension' or a local folder."""
    single_harm_weight: NonNegative = 1.0
    """Toy single-label annotator: compares helpfulness - weight * 2 * severity (one fixed trade-off; >= 0)."""
    train_size: Count = 1500
    """Training pairs for each model (same prompts for dual and single labels in the toy world)."""
    eval_prompts: Count = 150
    """Held-out prompts, each answered by every candidate source."""
    preset: Annotated[str, OneOf(("tiny", "small", "base"))] = "tiny"
    """Backbone shape (alignbook.lm presets: tiny, small, base); trained from scratch on the toy tokenizer."""
    epochs: Count = 2
    """Passes over the training pairs (safe-rlhf scripts: 2)."""
    lr: Positive = 2e-3
    """AdamW learning rate, for the from-scratch tiny backbones this notebook always trains (every profile, paper
    included: 2e-3); the Safe RLHF scripts' 2e-5 is for a pretrained 7B backbone, which this notebook does not use."""
    batch_size: Count = 32
    """Pairs per optimiser step."""
    max_length: Count = 96
    """Longest tokenised prompt+response."""
    lambdas: Annotated[tuple[float, ...], Range(0)] = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
    """Trade-off weights λ in R - λ·C explored after training (at least one, each >= 0)."""
    seeds: SeedCount = 3
    """Independent runs (models and held-out prompts) for mean ± std."""
    device: Device = "cpu"
    """Where the three score models train and score: 'cpu', 'cuda', 'cuda:N' or 'auto'."""
    verbose: bool = True
    """Show tqdm progress bars."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.lambdas:
            raise ConfigError(f"lambdas={self.lambdas} must be a non-empty list of non-negative numbers")

    def work(self):
        """What notebook 3 computes (:mod:`alignbook.engine.estimate`): per seed three score models (reward and
        cost on dual labels, one reward model on single labels) trained from scratch for ``epochs`` epochs on
        ``train_size`` pairs (a hub dataset: at most that many of its rows), each pair two sequences at
        ``max_length`` tokens (an upper bound); the held-out pairs scored after every epoch and at the end;
        then every candidate response to ``eval_prompts`` prompts scored by the three models. fp32: the
        score trainer runs bf16 only when asked, and this page does not ask."""
        from ..engine.estimate import lm_work
        from ..lm.sizes import shape_of

        shape = shape_of("toy-scratch", self.preset)
        held, runs = max(8, self.eval_prompts), 3 * self.seeds
        candidates = self.eval_prompts * len(CANDIDATE_SOURCES)
        return lm_work(shape.params, shape.hidden, shape.layers,
                       train_tokens=runs * self.epochs * self.train_size * 2 * self.max_length,
                       forward_tokens=runs * ((self.epochs + 1) * held * 2 + candidates) * self.max_length,
                       steps=runs * self.epochs * -(-self.train_size // self.batch_size),
                       batch=2 * self.batch_size, seq=self.max_length,
                       notes=[f"3 score models × {self.seeds} seeds × {self.epochs} epochs × {self.train_size} pairs "
                              f"at {self.max_length} tokens (an upper bound); {candidates} candidates scored a seed; "
                              "the toy world's data on the CPU not counted"])


def score_config(cfg: DualPreferenceConfig, seed: int):
    """The :class:`alignbook.safe_rlhf.config.ScoreModelConfig` used for all three models (with ``cfg.device``
    where the Safe RLHF score trainer takes a device)."""
    from ..safe_rlhf.config import ScoreModelConfig

    device = {"device": cfg.device} if "device" in {f.name for f in dataclasses.fields(ScoreModelConfig)} else {}
    return ScoreModelConfig(
        profile=cfg.profile, seed=seed, run_dir=cfg.run_dir, backbone="toy-scratch", dataset=cfg.dataset,
        train_size=cfg.train_size, eval_size=max(1, cfg.eval_prompts), epochs=cfg.epochs,
        batch_size=cfg.batch_size, lr=cfg.lr, weight_decay=0.0, max_length=cfg.max_length,
        verbose=cfg.verbose, **device,
    )


def candidate_set(world: ToyWorld, n_prompts: int, seed: int) -> list[dict[str, Any]]:
    """Held-out prompts, each with one response per candidate source and its ground truth."""
    prompts = world.sample_prompts(n_prompts, seed=10_000 + seed)
    rng = np.random.default_rng(20_000 + seed)
    out = []
    for prompt in prompts:
        for source in CANDIDATE_SOURCES:
            text = world.respond(prompt, source, rng)
            truth = world.judge(prompt.text, text)
            out.append({"prompt": prompt.text, "prompt_id": len(out) // len(CANDIDATE_SOURCES), "source": source,
                        "response": text, "helpfulness": truth.helpfulness, "severity": truth.severity})
    return out


@torch.no_grad()
def score_responses(model: Any, tokenizer: Any, prompts: Sequence[str], responses: Sequence[str],
                    max_length: int, batch_size: int = 128) -> np.ndarray:
    """End scores of a :class:`~alignbook.safe_rlhf.score.ScoreModel` for each (prompt, response), computed on
    the model's device."""
    from ..safe_rlhf.data import tokenize_responses

    model.eval()
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(prompts), batch_size):
        ids, mask = tokenize_responses(prompts[start : start + batch_size], responses[start : start + batch_size],
                                       tokenizer, max_length)
        out.append(model(ids.to(device), attention_mask=mask.to(device)).end_scores.float().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def ranking_accuracy(scores: np.ndarray, truth: np.ndarray, groups: np.ndarray) -> float:
    """Share of within-group pairs with different truth that ``scores`` order like ``truth``."""
    right = total = 0
    for group in np.unique(groups):
        index = np.flatnonzero(groups == group)
        for a in range(len(index)):
            for b in range(a + 1, len(index)):
                i, j = index[a], index[b]
                if truth[i] == truth[j]:
                    continue
                total += 1
                right += (scores[i] - scores[j]) * (truth[i] - truth[j]) > 0
    return float(right / total) if total else float("nan")


def select(scores: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Index of the highest-scoring candidate in each group (ties: the first)."""
    return np.array([np.flatnonzero(groups == g)[np.argmax(scores[groups == g])] for g in np.unique(groups)])


def tradeoff_curve(reward: np.ndarray, cost: np.ndarray, candidates: Sequence[dict], lambdas: Sequence[float]):
    """Ground-truth helpfulness and unsafe rate of the responses chosen by R - λ·C for each λ."""
    groups = np.array([c["prompt_id"] for c in candidates])
    helpful = np.array([c["helpfulness"] for c in candidates])
    unsafe = np.array([c["severity"] > 0 for c in candidates])
    points = []
    for lam in lambdas:
        chosen = select(reward - lam * cost, groups)
        points.append({"lambda": float(lam), "helpfulness": float(helpful[chosen].mean()),
                       "unsafe_rate": float(unsafe[chosen].mean())})
    return points


def _train_pairs(cfg: DualPreferenceConfig, world: ToyWorld, seed: int):
    from ..data import load_rows

    dual = load_rows(cfg.dataset, "pku-saferlhf-v1", "train", cfg.train_size,
                     seed, world, cfg.dataset_revision)
    if cfg.single_dataset == "toy":
        single = world.single_preference_rows(cfg.train_size, seed, harm_weight=cfg.single_harm_weight)
    else:
        single = load_rows(cfg.single_dataset, "pku-saferlhf-single", "train", cfg.train_size, seed, world)
    # the score trainer reads the dual fields; single rows carry their one label in both slots
    single = [{**r, "is_response_0_safe": True, "is_response_1_safe": True, "safer_response_id": r["better_response_id"]}
              for r in single]
    return dual, single


def run_seed(cfg: DualPreferenceConfig, seed: int, world: ToyWorld | None = None) -> dict[str, Any]:
    """Train R, C (dual labels) and S (single labels) for one seed on ``cfg.device`` and judge them on ground
    truth. Every random draw comes from ``seed``: model ``k`` (0 reward, 1 cost, 2 single) is built from seed
    ``1000 * seed + k``, its score head included."""
    from ..engine import devices
    from ..lm import build_causal_lm
    from ..safe_rlhf.reward import train_cost_model, train_reward_model
    from ..safe_rlhf.score import ScoreModel

    device = devices.resolve(cfg.device)
    world = world or ToyWorld(ToyWorldConfig())
    tokenizer = world.tokenizer()
    dual, single = _train_pairs(cfg, world, seed)
    held_out = world.preference_rows(max(8, cfg.eval_prompts), seed=30_000 + seed)
    scfg = score_config(cfg, seed)
    models, results = {}, {}
    for name, rows, trainer, offset in (("reward", dual, train_reward_model, 0), ("cost", dual, train_cost_model, 1),
                                        ("single", single, train_reward_model, 2)):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(1000 * seed + offset)  # the score head's initialisation, as the backbone's
            model = ScoreModel(build_causal_lm(cfg.preset, tokenizer, seed=1000 * seed + offset)).to(device)
        results[name] = trainer(model, tokenizer, rows, held_out, scfg)
        models[name] = model
    candidates = candidate_set(world, cfg.eval_prompts, seed)
    prompts = [c["prompt"] for c in candidates]
    responses = [c["response"] for c in candidates]
    scores = {name: score_responses(m, tokenizer, prompts, responses, cfg.max_length) for name, m in models.items()}
    groups = np.array([c["prompt_id"] for c in candidates])
    helpful = np.array([c["helpfulness"] for c in candidates])
    severity = np.array([c["severity"] for c in candidates], dtype=float)
    metrics = {
        "reward_vs_true_helpfulness": ranking_accuracy(scores["reward"], helpful, groups),
        "cost_vs_true_harm": ranking_accuracy(scores["cost"], severity, groups),
        "single_vs_true_helpfulness": ranking_accuracy(scores["single"], helpful, groups),
        "single_vs_true_harmlessness": ranking_accuracy(scores["single"], -severity, groups),
        "reward_label_accuracy": results["reward"].metrics.get("accuracy"),
        "cost_label_accuracy": results["cost"].metrics.get("accuracy"),
        "cost_sign_accuracy": results["cost"].metrics.get("accuracy_sign"),
        "single_label_accuracy": results["single"].metrics.get("accuracy"),
    }
    chosen = select(scores["single"], groups)
    single_point = {"helpfulness": float(helpful[chosen].mean()), "unsafe_rate": float((severity[chosen] > 0).mean())}
    safe_only = select(scores["reward"] - 1e6 * (scores["cost"] > 0), groups)
    constrained = {"helpfulness": float(helpful[safe_only].mean()), "unsafe_rate": float((severity[safe_only] > 0).mean())}
    return {
        "seed": seed,
        "metrics": metrics,
        "curve": tradeoff_curve(scores["reward"], scores["cost"], candidates, cfg.lambdas),
        "single_point": single_point,
        "constrained_point": constrained,
        "histories": {k: v.history for k, v in results.items()},
    }


def run(cfg: DualPreferenceConfig, *, workers: int | None = None) -> list[dict[str, Any]]:
    """:func:`run_seed` for seeds ``cfg.seed .. cfg.seed + cfg.seeds - 1``, as units of
    :func:`alignbook.engine.parallel.map_units` (side by side where cores allow; ``workers=1`` keeps them in
    this process). The device is resolved before anything else."""
    from ..engine import devices
    from ..engine.parallel import map_units

    if cfg.dataset != "toy" and cfg.single_dataset == "toy":
        raise ConfigError("dataset is a hub release but single_dataset='toy'; set single_dataset to the single-dimension release")
    devices.resolve(cfg.device)
    seeds = [cfg.seed + offset for offset in range(cfg.seeds)]
    return map_units(train_seed, cfg, seeds, name="seeds", workers=workers, log=print if cfg.verbose else None)


def train_seed(unit) -> dict[str, Any]:
    """One seed of :func:`run` (``unit.value``: the seed), quietly: plain data only."""
    return run_seed(dataclasses.replace(unit.cfg, verbose=False), unit.value)


def summary_table(runs: Sequence[dict[str, Any]]):
    """Metric -> mean, std over seeds."""
    import pandas as pd

    frame = pd.DataFrame([r["metrics"] for r in runs], dtype=float)
    return pd.DataFrame({"mean": frame.mean(), "std": frame.std(ddof=0)})


def curve_frame(runs: Sequence[dict[str, Any]]):
    """Trade-off points of every seed, long format (seed, lambda, helpfulness, unsafe_rate)."""
    import pandas as pd

    return pd.DataFrame([{"seed": r["seed"], **p} for r in runs for p in r["curve"]])
