"""What the chapter's notebooks call: load models and data for a profile, run a stage, save it.

Each function takes a resolved config, so notebooks stay a list of calls. ``toy-*`` names use
the toy world (:mod:`alignbook.toyworld`); any other name is a hub model or dataset, loaded at
its pinned revision (the ``paper`` profile). Every model goes to the config's ``device``
(:func:`alignbook.engine.devices.resolve`); the seeds and variants of a stage are units of
:func:`alignbook.engine.parallel.map_units`, each rebuilt from the config in its own process.
"""

from __future__ import annotations

import dataclasses
import json
import math
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from .config import AblationConfig, PPOLagConfig, ResultsConfig, ScoreModelConfig, SFTStageConfig
from .ppo_lag import evaluate_policy, train_ppo_lag
from .ptx import PTX_SEED_OFFSET, alpaca_prompt
from .results import TrainResult
from .reward import train_cost_model, train_reward_model
from .score import ScoreModel, load_score_model
from .verdicts import Stat, lambda_verdict
from alignbook.engine import devices
from alignbook.engine.results import config_fingerprint, reusable

EVAL_SEED_OFFSET = 1_000_003
"""Evaluation prompts come from a seed stream disjoint from training prompts."""


def world(cfg: Any):
    from alignbook.toyworld import ToyWorld, ToyWorldConfig

    return ToyWorld(ToyWorldConfig(seed=cfg.world_seed))


def tokenizer(cfg: Any, name: str = "toy-sft", revision: str | None = None):
    if name == "tiny-random":
        from . import tiny

        return tiny.char_tokenizer()
    if name.startswith("toy-"):
        return world(cfg).tokenizer()
    from transformers import AutoTokenizer

    from ..data.hub import model_revision

    tok = AutoTokenizer.from_pretrained(name, revision=model_revision(name, revision))
    if tok.pad_token_id is None or tok.pad_token_id == tok.eos_token_id:
        tok.add_special_tokens({"pad_token": "<pad>"})  # the score is read at the last non-pad token
    return tok


def load_causal_lm(cfg: Any, name: str, preset: str, revision: str | None = None, device: Any = "cpu"):
    """The toy world's base/SFT model (``toy-base``/``toy-sft``) or a hub causal LM, on ``device``
    (the toy world's cached models are trained on the CPU, whatever the device, and loaded onto it)."""
    if name == "tiny-random":  # a random tiny Llama for tests of the multi-process plumbing
        from . import tiny

        return tiny.tiny_llama(len(tiny.char_tokenizer()), seed=cfg.seed).to(device)
    if name in ("toy-sft", "toy-base"):
        from alignbook.toyworld.models import base_model_path, load_model, sft_model_path

        return load_model((sft_model_path if name == "toy-sft" else base_model_path)(world(cfg), preset), device)
    from transformers import AutoModelForCausalLM

    from ..data.hub import model_revision

    return AutoModelForCausalLM.from_pretrained(name, revision=model_revision(name, revision)).to(device)


def eval_prompts(cfg: Any, n: int) -> list[str]:
    """Held-out toy-world prompts, a share ``cfg.eval_harmful_fraction`` of them harmful (the world's
    own mix where the config has no such field)."""
    fraction = getattr(cfg, "eval_harmful_fraction", None)
    return [p.text for p in world(cfg).sample_prompts(n, seed=cfg.world_seed + EVAL_SEED_OFFSET, harmful_fraction=fraction)]


def train_prompts(cfg: Any, n: int) -> list[str]:
    """Training prompts: the toy world's, or the unique prompts of the hub dataset's train split."""
    if getattr(cfg, "prompt_dataset", "toy") == "synthetic":
        from . import tiny

        return [r["prompt"] for r in tiny.synthetic_rows(n, cfg.world_seed)]
    if getattr(cfg, "prompt_dataset", "toy") != "toy":
        from alignbook.data import load_rows

        rows = load_rows(cfg.prompt_dataset, "pku-saferlhf-v1", "train", None, cfg.seed, None,
                         cfg.prompt_dataset_revision)
        return list(dict.fromkeys(r["prompt"] for r in rows))
    return [p.text for p in world(cfg).sample_prompts(n, seed=cfg.world_seed + 7)]


def ptx_demonstrations(cfg: PPOLagConfig) -> list[tuple[str, str]]:
    """(prompt, response) demonstrations of the PTX step, read through the Alpaca schema: none when
    ``ptx_coeff`` is 0, the toy world's demonstrations for benign requests (``alignbook.data.toy``),
    or the rows of the hub release or a local folder."""
    if cfg.ptx_coeff == 0:
        return []
    from alignbook.data import load_rows

    toy = cfg.ptx_dataset == "toy"
    rows = load_rows(cfg.ptx_dataset, "alpaca", "train", cfg.ptx_demonstrations if toy else None,
                     cfg.world_seed + PTX_SEED_OFFSET if toy else cfg.seed, world(cfg) if toy else None,
                     cfg.ptx_dataset_revision)
    return [(alpaca_prompt(r), str(r["output"])) for r in rows]


# ---------------------------------------------------------------------------------- SFT stage
def sft_stage(cfg: SFTStageConfig) -> dict[str, Any]:
    """Ground truth of the base and SFT models on held-out prompts, and of the dataset's sources."""
    device = devices.resolve(cfg.device)
    w, tok = world(cfg), tokenizer(cfg, cfg.model, cfg.model_revision)
    prompts = eval_prompts(cfg, cfg.eval_prompts)
    gen_cfg = PPOLagConfig(max_new_tokens=cfg.max_new_tokens, temperature=cfg.temperature,
                           prompt_template=cfg.prompt_template, verbose=False)
    out: dict[str, Any] = {}
    models = {"base": "toy-base", "sft": cfg.model} if cfg.model == "toy-sft" else {"sft": cfg.model}
    for label, name in models.items():
        model = load_causal_lm(cfg, name, cfg.preset, cfg.model_revision, device)
        out[label] = evaluate_policy(model, tok, prompts, gen_cfg, w.judge, seed=cfg.seed)
        out[label].update(ground_truth_breakdown(w, prompts, out[label]["responses"]))
    for source in ("alpaca-7b", "alpaca3-8b", "safe_helpful"):
        parsed = [w.parse_prompt(p) for p in prompts]
        texts = [w.respond(p, source, i) for i, p in enumerate(parsed)]
        verdicts = [w.judge(p, t) for p, t in zip(prompts, texts)]
        out[f"source:{source}"] = {
            "helpfulness": float(np.mean([v.helpfulness for v in verdicts])),
            "harm_rate": float(np.mean([not v.is_safe for v in verdicts])),
            "responses": texts,
        }
    out["prompts"] = prompts
    return out


# ------------------------------------------------------------------------ reward / cost models
def preference_rows(cfg: ScoreModelConfig) -> tuple[list[dict], list[dict]]:
    """Training and held-out rows in the PKU-SafeRLHF v1 schema (toy world or the hub release)."""
    from alignbook.data import load_rows

    if cfg.dataset == "synthetic":
        from . import tiny

        return tiny.synthetic_rows(cfg.train_size, cfg.world_seed), tiny.synthetic_rows(cfg.eval_size, cfg.world_seed + 1)
    w = world(cfg) if cfg.dataset == "toy" else None
    train = load_rows(cfg.dataset, "pku-saferlhf-v1", "train", cfg.train_size if cfg.dataset == "toy" else None,
                      cfg.world_seed, w, cfg.dataset_revision)
    held = load_rows(cfg.dataset, "pku-saferlhf-v1", "test", cfg.eval_size, cfg.world_seed, w,
                     cfg.dataset_revision)
    return train, held


SCORE_VARIANTS = ("reward", "cost", "cost_no_sign")
"""What notebook 02 trains per seed: the reward model, the cost model, and the cost model without
its sign term (the ablation)."""


def launched(cfg: Any, notebook: str | None) -> bool:
    """Whether ``notebook``'s YAML has a ``launch:`` block for ``cfg.profile`` (the ``paper`` profile's
    DeepSpeed launcher): then its training goes through
    :func:`alignbook.engine.launch.launch_as_configured`, one launch per unit."""
    if notebook is None:
        return False
    from alignbook.engine.config import load_spec
    from alignbook.engine.notebook import yaml_path

    return bool((load_spec(yaml_path(notebook)).get("launch") or {}).get(cfg.profile))


def train_score_models(cfg: ScoreModelConfig, variants: Sequence[str] = SCORE_VARIANTS,
                       notebook: str | None = None) -> dict[str, list[TrainResult]]:
    """Train each variant for ``cfg.seeds`` seeds; saved under ``<run_dir>/seed<k>/<variant>``.

    Each (seed, variant) is a unit of :func:`alignbook.engine.parallel.map_units`
    (:func:`train_score_unit`), side by side where cores allow; the variants of one seed share that
    seed (paired). A finished unit is reused when the run resumes.

    With ``notebook`` and a ``launch:`` block for the profile in its YAML, each seed is one unit instead
    (:func:`launch_score_seed`): the block's launcher runs :func:`score_models_from_config` over its
    processes (DeepSpeed ZeRO, bf16 as the config says), which trains every variant of
    :data:`SCORE_VARIANTS` into ``<run_dir>/seed<k>/<variant>``; the results are read back from there.
    """
    from alignbook.engine.parallel import map_units

    devices.resolve(cfg.device)  # a GPU that is not there is refused before any unit starts
    if launched(cfg, notebook):
        if set(variants) - set(SCORE_VARIANTS):
            raise ValueError(f"variants={list(variants)!r}: a launched run trains {list(SCORE_VARIANTS)}")
        map_units(launch_score_seed, cfg, list(range(cfg.seeds)), name="score_models", context=notebook,
                  workers=1, log=print if cfg.verbose else None)
    else:
        units = [[k, variant] for k in range(cfg.seeds) for variant in variants]
        map_units(train_score_unit, cfg, units, name="score_models", log=print if cfg.verbose else None)
    results: dict[str, list[TrainResult]] = {v: [] for v in variants}
    for k, variant in ([k, variant] for k in range(cfg.seeds) for variant in variants):
        results[variant].append(TrainResult.load(Path(cfg.run_dir) / f"seed{k}" / variant))
    return results


def train_score_unit(unit) -> dict[str, Any]:
    """One unit of :func:`train_score_models`: ``unit.value`` is ``[k, variant]``; trains the variant with
    seed ``cfg.seed + k`` on ``cfg.device`` into ``<run_dir>/seed<k>/<variant>`` (read back by the caller)
    and returns its metrics. A result already there with the same config is kept."""
    from alignbook.engine.repro import seed_everything

    cfg = unit.cfg
    k, variant = unit.value
    device = devices.resolve(cfg.device)
    seed = cfg.seed + k
    out = Path(cfg.run_dir) / f"seed{k}" / variant
    run_cfg = dataclasses.replace(cfg, seed=seed, use_sign_term=variant != "cost_no_sign", verbose=False)
    if (out / TrainResult.FILE).exists():
        saved = TrainResult.load(out)
        if reusable(saved.config, run_cfg):
            return saved.metrics
        shutil.rmtree(out)  # made with other parameters: retrain
    tok = tokenizer(cfg, cfg.backbone, cfg.backbone_revision)
    train, held = preference_rows(cfg)
    seed_everything(seed)
    model = ScoreModel(load_causal_lm(cfg, cfg.backbone, cfg.preset, cfg.backbone_revision, device))
    trainer = train_reward_model if variant == "reward" else train_cost_model
    return trainer(model, tok, train, held, run_cfg, save_dir=out).metrics


def launch_score_seed(unit) -> dict[str, Any]:
    """One seed of a launched :func:`train_score_models` (``unit.value``: ``k``; ``unit.context``: the
    notebook): :func:`score_models_from_config` with seed ``cfg.seed + k`` into ``<run_dir>/seed<k>``,
    launched as the notebook's YAML says; its ranks leave ``<run_dir>/seed<k>/launch/rank<R>.json``."""
    from alignbook.engine.launch import launch_as_configured

    k = unit.value
    run_cfg = dataclasses.replace(unit.cfg, seed=unit.cfg.seed + k, run_dir=str(Path(unit.cfg.run_dir) / f"seed{k}"),
                                  verbose=False)
    Path(run_cfg.run_dir).mkdir(parents=True, exist_ok=True)
    return launch_as_configured(unit.context, "alignbook.safe_rlhf.pipeline:score_models_from_config", run_cfg)


def score_models_from_config(cfg: ScoreModelConfig) -> TrainResult:
    """Launch entry (``alignbook.engine.launch``): the reward model, the cost model and the cost model
    without its sign term (:data:`SCORE_VARIANTS`) for ``cfg.seed``, each into ``<run_dir>/<variant>``, any
    number of processes. Each variant starts from ``seed_everything(cfg.seed)`` as
    :func:`train_score_unit` does; one already there with the same config is kept. Metrics are
    ``<variant>/<name>``."""
    from alignbook.engine.repro import seed_everything

    device = devices.resolve(cfg.device)  # under a launcher: this process's own GPU
    tok = tokenizer(cfg, cfg.backbone, cfg.backbone_revision)
    train, held = preference_rows(cfg)
    metrics: dict[str, float] = {}
    history: list[dict] = []
    for variant in SCORE_VARIANTS:
        out = Path(cfg.run_dir) / variant
        run_cfg = dataclasses.replace(cfg, use_sign_term=variant != "cost_no_sign")
        saved = TrainResult.load(out) if (out / TrainResult.FILE).exists() else None
        if saved is not None and reusable(saved.config, run_cfg):
            result = saved  # every rank reads the same file, so all of them skip it
        else:
            seed_everything(cfg.seed)
            model = ScoreModel(load_causal_lm(cfg, cfg.backbone, cfg.preset, cfg.backbone_revision, device))
            trainer = train_reward_model if variant == "reward" else train_cost_model
            result = trainer(model, tok, train, held, run_cfg, save_dir=out)
            del model
        metrics.update({f"{variant}/{k}": v for k, v in result.metrics.items()})
        history += [{"model": variant, **r} for r in result.history]
    return TrainResult(metrics=metrics, history=history, checkpoint=cfg.run_dir, config=cfg)


# ------------------------------------------------------------------------------ RL stage
def load_score_pair(score_dir: str | Path, seed_index: int = 0, device: Any = "cpu") -> tuple[ScoreModel, ScoreModel]:
    """The reward and cost models notebook 02 trained for seed ``seed_index``, on ``device``."""
    base = Path(score_dir) / f"seed{seed_index}"
    return load_score_model(base / "reward" / "model", device), load_score_model(base / "cost" / "model", device)


def run_policy_optimisation(cfg: PPOLagConfig, score_dir: str | Path, name: str, *, seed_index: int = 0,
                            score_seed_index: int = 0, notebook: str | None = None) -> dict[str, Any]:
    """Train one policy (``cfg.algorithm``) from the SFT model and judge it before and after.

    Saved under ``<run_dir>/<name>/seed<k>``; a finished run with the same config is loaded, one
    with another config is retrained, an interrupted one resumes from its last checkpoint.

    With ``notebook`` and a ``launch:`` block for the profile in its YAML, the training is
    :func:`ppo_from_config` launched as the block says (DeepSpeed ZeRO over its processes) into
    ``<run_dir>/<name>/seed<k>/policy``: this process frees its models while the launched ranks train,
    then judges the saved actor. The judging before and after stays here, on ``cfg.device``.
    """
    from alignbook.engine.repro import seed_everything

    device = devices.resolve(cfg.device)
    out = Path(cfg.run_dir) / name / f"seed{seed_index}"
    summary_path = out / "summary.json"
    if summary_path.exists():
        summary = json.loads(summary_path.read_text())
        if reusable(summary.get("config"), cfg):
            return summary
        shutil.rmtree(out)  # made with other parameters: retrain from scratch
    w = world(cfg)
    tok = tokenizer(cfg, cfg.actor, cfg.actor_revision)
    reward_model, cost_model = load_score_pair(score_dir, score_seed_index, device)
    seed_everything(cfg.seed)
    actor = load_causal_lm(cfg, cfg.actor, cfg.preset, cfg.actor_revision, device)
    prompts, held = train_prompts(cfg, cfg.train_prompts), eval_prompts(cfg, cfg.eval_prompts)
    # evaluate_policy and train_ppo_lag each pick the torch thread count for this actor
    before = evaluate_policy(actor, tok, held, cfg, w.judge, reward_model=reward_model, cost_model=cost_model)
    if launched(cfg, notebook):
        del actor, reward_model, cost_model  # the launched ranks need every device's memory
        _empty_device_cache(device)
        result = _launch_policy(cfg, score_dir, score_seed_index, out, notebook)
        reward_model, cost_model = load_score_pair(score_dir, score_seed_index, device)
        actor = _load_trained_actor(result.checkpoint, device)
    else:
        result = train_ppo_lag(actor, tok, reward_model, cost_model if cfg.algorithm != "ppo" else None, prompts,
                               cfg, judge=w.judge, demonstrations=ptx_demonstrations(cfg), save_dir=out)
    after = evaluate_policy(actor, tok, held, cfg, w.judge, reward_model=reward_model, cost_model=cost_model)
    before.update(ground_truth_breakdown(w, held, before["responses"]))
    after.update(ground_truth_breakdown(w, held, after["responses"]))
    keep = ("helpfulness", "harm_rate", "reward", "cost") + BREAKDOWN_KEYS
    summary = {
        "config": config_fingerprint(cfg),
        "name": name,
        "algorithm": cfg.algorithm,
        "shaping_nu": cfg.shaping_nu if cfg.algorithm == "ppo_shaped" else None,
        "seed": cfg.seed,
        "before": {k: before[k] for k in keep if k in before},
        "after": {k: after[k] for k in keep if k in after},
        "examples": [{"prompt": p, "before": b, "after": a}
                     for p, b, a in list(zip(held, before["responses"], after["responses"]))[:8]],
        "history": result.history,
        "metrics": result.metrics,
    }
    summary_path.write_text(json.dumps(summary, indent=1))
    return summary


def _empty_device_cache(device: Any) -> None:
    import gc

    gc.collect()
    if torch.device(device).type == "cuda":
        torch.cuda.empty_cache()


def _launch_policy(cfg: PPOLagConfig, score_dir: str | Path, score_seed_index: int, out: Path,
                   notebook: str) -> TrainResult:
    """:func:`ppo_from_config` launched as ``notebook``'s YAML says, with the score models of seed
    ``score_seed_index`` of ``score_dir``, into ``<out>/policy``; its saved result, read back (metrics,
    history, the actor's folder). The ranks leave ``<out>/launch/rank<R>.json``."""
    from alignbook.engine.launch import launch_as_configured

    run_cfg = dataclasses.replace(cfg, run_dir=str(out), verbose=False,
                                  score_dir=str(Path(score_dir) / f"seed{score_seed_index}"))
    out.mkdir(parents=True, exist_ok=True)
    launch_as_configured(notebook, "alignbook.safe_rlhf.pipeline:ppo_from_config", run_cfg)
    return TrainResult.load(out / "policy")


def _load_trained_actor(checkpoint: str | Path, device: Any) -> torch.nn.Module:
    """The actor a launched run saved (``save_pretrained``, full weights), on ``device``."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(str(checkpoint)).to(device)


BREAKDOWN_KEYS = ("benign_helpfulness", "benign_harm_rate", "benign_refusal_rate", "harmful_helpfulness",
                  "harmful_harm_rate", "harmful_refusal_rate", "distinct_share", "benign_distinct_share")
"""What :func:`ground_truth_breakdown` adds to a run's before/after summary."""


def distinct_share(responses: Sequence[str]) -> float:
    """Share of distinct responses (after stripping): 1 when every prompt got its own answer, 1/n
    when the policy answers every prompt the same way (a collapse, e.g. one refusal for all)."""
    if not responses:
        return float("nan")
    return len({r.strip() for r in responses}) / len(responses)


def ground_truth_breakdown(w: Any, prompts: Sequence[str], responses: Sequence[str]) -> dict[str, float]:
    """Ground truth split by the kind of prompt, and the responses' diversity.

    On a harmful prompt the toy world counts a harmful step as helpful, so a policy that learns to
    refuse harmful requests loses helpfulness there by design; on benign prompts a refusal is pure
    over-refusal. ``benign_*`` / ``harmful_*``: helpfulness and harm rate on the benign and on the
    harmful prompts; ``benign_refusal_rate``: share of benign prompts answered with a refusal and no
    useful fact; ``distinct_share`` / ``benign_distinct_share``: :func:`distinct_share` over all
    responses and over those to benign prompts (one refusal for every harmful request is what a safe
    policy does; the same answer to every benign request is a collapse). The benign and
    harmful entries are NaN where no prompt of that kind is a toy-world prompt (hub prompts).
    """
    groups: dict[bool, dict[str, list]] = {kind: {"help": [], "harm": [], "refused": [], "texts": []} for kind in (False, True)}
    for prompt, text in zip(prompts, responses):
        parsed = w.parse_prompt(prompt)
        if parsed is None:
            continue
        verdict = w.judge(prompt, text)
        group = groups[bool(parsed.harmful)]
        group["help"].append(float(verdict.helpfulness))
        group["harm"].append(0.0 if verdict.is_safe else 1.0)
        group["refused"].append(float(verdict.n_refusal > 0 and verdict.n_useful == 0))
        group["texts"].append(text)
    nan = float("nan")
    mean = lambda xs: float(np.mean(xs)) if xs else nan  # noqa: E731
    benign, harmful = groups[False], groups[True]
    return {"benign_helpfulness": mean(benign["help"]), "benign_harm_rate": mean(benign["harm"]),
            "benign_refusal_rate": mean(benign["refused"]), "benign_prompts": len(benign["help"]),
            "harmful_helpfulness": mean(harmful["help"]), "harmful_harm_rate": mean(harmful["harm"]),
            "harmful_refusal_rate": mean(harmful["refused"]), "harmful_prompts": len(harmful["help"]),
            "distinct_share": distinct_share(responses), "benign_distinct_share": distinct_share(benign["texts"])}


def _score_seed_index(score_dir: str | Path, k: int) -> int:
    """The score models of seed ``k`` where notebook 02 trained that many seeds, else seed 0's."""
    return k if (Path(score_dir) / f"seed{k}").exists() else 0


def ppo_lag_seeds(cfg: PPOLagConfig, score_dir: str | Path, notebook: str | None = None) -> list[dict[str, Any]]:
    """PPO-Lagrangian for ``cfg.seeds`` seeds (each with the matching score-model seed if present), one
    unit of :func:`alignbook.engine.parallel.map_units` per seed (:func:`policy_unit`); with ``notebook``,
    each unit's training is launched as its YAML says for the profile (:func:`run_policy_optimisation`)."""
    return _policy_units(cfg, score_dir, [(cfg.algorithm, {})], "seeds", notebook)


def ablation_variants(cfg: AblationConfig) -> list[tuple[str, dict[str, Any]]]:
    """``(name, config changes)`` of each variant :func:`ablation_runs` trains."""
    variants: list[tuple[str, dict[str, Any]]] = [("ppo", {"algorithm": "ppo", "kl_coeff": cfg.ppo_kl_coeff})]
    variants += [(f"shaped_nu{nu:g}", {"algorithm": "ppo_shaped", "shaping_nu": nu}) for nu in cfg.nus]
    variants += [("ppo_lag", {"algorithm": "ppo_lag"})]
    if cfg.ptx_ablation and cfg.ptx_coeff > 0:
        variants += [("ppo_lag_no_ptx", {"algorithm": "ppo_lag", "ptx_coeff": 0.0})]
    return variants


def ablation_runs(cfg: AblationConfig, score_dir: str | Path, notebook: str | None = None) -> list[dict[str, Any]]:
    """PPO (reward only), PPO on R - ν·C for each ν, PPO-Lagrangian and (``ptx_ablation``) PPO-Lagrangian
    without its PTX step, each for ``cfg.seeds`` seeds: one unit per (variant, seed), paired by seed
    (every variant of seed k starts from the same SFT model, score models and seed); with ``notebook``,
    each unit's training is launched as its YAML says for the profile (:func:`run_policy_optimisation`)."""
    return _policy_units(cfg, score_dir, ablation_variants(cfg), "ablation", notebook)


def _policy_units(cfg: PPOLagConfig, score_dir: str | Path, variants: Sequence[tuple[str, dict[str, Any]]],
                  name: str, notebook: str | None = None) -> list[dict[str, Any]]:
    from alignbook.engine.parallel import map_units

    devices.resolve(cfg.device)  # a GPU that is not there is refused before any unit starts
    units = [[variant, k] for variant, _ in variants for k in range(cfg.seeds)]
    context = {"score_dir": str(score_dir), "changes": {variant: changes for variant, changes in variants}}
    if launched(cfg, notebook):  # one launch at a time, each over every device
        context["notebook"] = notebook
        return map_units(policy_unit, cfg, units, name=name, context=context, workers=1,
                         log=print if cfg.verbose else None)
    return map_units(policy_unit, cfg, units, name=name, context=context, log=print if cfg.verbose else None)


def policy_unit(unit) -> dict[str, Any]:
    """One policy of :func:`ppo_lag_seeds` or :func:`ablation_runs`: ``unit.value`` is ``[variant, k]``,
    ``unit.context`` holds ``score_dir`` and each variant's config changes; the run (seed ``cfg.seed + k``,
    score models of seed ``k`` where notebook 02 trained them) is :func:`run_policy_optimisation`'s summary."""
    variant, k = unit.value
    score_dir = unit.context["score_dir"]
    run_cfg = dataclasses.replace(unit.cfg, seed=unit.cfg.seed + k, verbose=False, **unit.context["changes"][variant])
    return run_policy_optimisation(run_cfg, score_dir, variant, seed_index=k,
                                   score_seed_index=_score_seed_index(score_dir, k),
                                   notebook=unit.context.get("notebook"))


def ppo_from_config(cfg: PPOLagConfig) -> TrainResult:
    """Launch entry (``alignbook.engine.launch``): one PPO-Lagrangian run with score models in ``cfg.run_dir``.

    Reads ``<score_dir>/{reward,cost}/model`` (as :func:`score_models_from_config` writes them;
    ``score_dir`` defaults to ``<run_dir>/scores``); runs under any number of processes.
    """
    from alignbook.engine.repro import seed_everything

    device = devices.resolve(cfg.device)  # under a launcher: this process's own GPU
    w = world(cfg)
    tok = tokenizer(cfg, cfg.actor, cfg.actor_revision)
    score_dir = Path(cfg.score_dir or Path(cfg.run_dir) / "scores")
    reward_model = load_score_model(score_dir / "reward" / "model", device)
    cost_model = load_score_model(score_dir / "cost" / "model", device)
    seed_everything(cfg.seed)  # as run_policy_optimisation seeds the actor it trains in-process
    actor = load_causal_lm(cfg, cfg.actor, cfg.preset, cfg.actor_revision, device)
    return train_ppo_lag(actor, tok, reward_model, cost_model if cfg.algorithm != "ppo" else None,
                         train_prompts(cfg, cfg.train_prompts), cfg, judge=w.judge,
                         demonstrations=ptx_demonstrations(cfg), save_dir=Path(cfg.run_dir) / "policy")


# --------------------------------------------------------------------------- summaries
PARETO_KEYS = ("helpfulness", "harm_rate", "benign_helpfulness", "benign_harm_rate", "benign_refusal_rate",
               "harmful_helpfulness", "harmful_harm_rate", "distinct_share", "benign_distinct_share")
"""Ground-truth quantities judged before and after each run (see :func:`ground_truth_breakdown`)."""


def per_seed_frame(runs: Sequence[dict[str, Any]]):
    """One row per run: variant, seed, and each of :data:`PARETO_KEYS` before and after training."""
    import pandas as pd

    rows = []
    for r in runs:
        row = {"variant": r["name"], "seed": r["seed"]}
        for key in PARETO_KEYS:
            row[key] = r["after"].get(key, np.nan)
            row[f"{key}_before"] = r["before"].get(key, np.nan)
        rows.append(row)
    return pd.DataFrame(rows)


def pareto_table(runs: Sequence[dict[str, Any]]):
    """One row per variant: mean and std over seeds (sample std; NaN for one seed) of the ground
    truth after training (``<key>_mean``/``_std``) and before it (``<key>_before_mean``/``_std``),
    for each of :data:`PARETO_KEYS`, and ``seeds``."""
    frame = per_seed_frame(runs)
    grouped = frame.groupby("variant", sort=False)
    columns = [c for key in PARETO_KEYS for c in (key, f"{key}_before")]
    table = grouped[columns].agg(["mean", "std"])
    table.columns = [f"{a}_{b}" for a, b in table.columns]
    table["seeds"] = grouped.size()
    return table


QUANTITIES = {"harm_rate": "harm rate (all prompts)", "helpfulness": "helpfulness (all prompts)",
              "benign_helpfulness": "helpfulness (benign prompts)", "benign_harm_rate": "harm rate (benign prompts)",
              "benign_refusal_rate": "refusals (benign prompts)",
              "harmful_helpfulness": "helpfulness (harmful prompts)", "harmful_harm_rate": "harm rate (harmful prompts)",
              "distinct_share": "distinct responses (all prompts)",
              "benign_distinct_share": "distinct responses (benign prompts)"}
"""Row names of the ground-truth tables; rates and the distinct share are shown as percentages."""
PERCENT = ("harm_rate", "benign_harm_rate", "benign_refusal_rate", "harmful_harm_rate", "distinct_share",
           "benign_distinct_share")


def variant_stats(runs: Sequence[dict[str, Any]]) -> dict[str, dict[str, Stat]]:
    """``{variant: {key: Stat, key_before: Stat}}`` over seeds, for each of :data:`PARETO_KEYS`."""
    frame = per_seed_frame(runs)
    return {name: {col: Stat.of(group[col].dropna()) for col in frame.columns if col not in ("variant", "seed")}
            for name, group in frame.groupby("variant", sort=False)}


def _start(stat: Stat) -> Stat:
    """The SFT policy's numbers: every seed judges the same model on the same prompts with the same
    sampling seed, so their spread is zero up to rounding; shown as one value, without a spread."""
    steady = stat.spread is None or stat.spread <= 1e-9 * max(1.0, abs(stat.mean))
    return Stat(stat.mean, None, 1) if steady else stat


def before_after_table(runs: Sequence[dict[str, Any]], name: str = "ppo_lag"):
    """The ground truth of one variant before (SFT) and after training: mean ± std (seeds), rounded."""
    import pandas as pd

    stats = variant_stats(runs)[name]
    n = stats["harm_rate"].seeds
    after = f"after, mean ± std over {n} seeds" if n > 1 else "after (1 seed)"
    return pd.DataFrame({"SFT (before)": {QUANTITIES[k]: _start(stats[f"{k}_before"]).text(percent=k in PERCENT, seeds=False)
                                          for k in QUANTITIES},
                         after: {QUANTITIES[k]: stats[k].text(percent=k in PERCENT, seeds=False) for k in QUANTITIES}})


VARIANT_COLUMNS = ("harm_rate", "harmful_harm_rate", "benign_helpfulness", "benign_refusal_rate", "benign_distinct_share")
"""The quantities of the variants table (five, so it fits the column; the rest are recorded metrics)."""


def variants_table(runs: Sequence[dict[str, Any]]):
    """One row per variant (and the SFT start): the :data:`VARIANT_COLUMNS` of the ground truth after
    training, mean ± std over seeds (named once, in the index), rounded."""
    import pandas as pd

    from .plots import variant_label

    stats = variant_stats(runs)
    start = stats.get("ppo_lag") or next(iter(stats.values()))
    cols = {k: QUANTITIES[k] for k in VARIANT_COLUMNS}
    rows = {"SFT (start)": {words: _start(start[f"{k}_before"]).text(percent=k in PERCENT, seeds=False)
                            for k, words in cols.items()}}
    for name, s in stats.items():
        rows[variant_label(name)] = {words: s[k].text(percent=k in PERCENT, seeds=False) for k, words in cols.items()}
    n = start["harm_rate"].seeds
    return pd.DataFrame(rows).T.rename_axis(f"mean ± std over {n} seeds" if n > 1 else "1 seed")


def examples_table(run: dict[str, Any]):
    """A run's first held-out prompts with the SFT policy's response and the trained policy's."""
    import pandas as pd

    label = {"ppo_lag": "PPO-Lag", "ppo": "PPO"}.get(run["name"], run["name"])
    return pd.DataFrame(run["examples"]).rename(columns={"before": "SFT response", "after": f"after {label}"})


def score_accuracy(results: dict[str, Sequence[TrainResult]]) -> dict[str, dict[str, Stat]]:
    """Held-out ``accuracy``, ``accuracy_sign`` and the pairwise accuracy on mixed-safety and
    same-safety pairs (:func:`alignbook.safe_rlhf.reward.evaluate_pairs`) of each score model, over its seeds."""
    keys = ("accuracy", "accuracy_sign", "accuracy_mixed", "accuracy_same")
    return {name: {m: Stat.of([r.metrics.get(m, math.nan) for r in runs]) for m in keys}
            for name, runs in results.items()}


def accuracy_table(stats: dict[str, dict[str, Stat]]):
    """``score_accuracy`` for the page: mean ± std (seeds), rounded; the reward model's sign is not
    trained to mean anything, so its sign accuracy is left out (–)."""
    import pandas as pd

    return pd.DataFrame({name: {"pairwise accuracy": s["accuracy"].text(),
                                "one safe, one unsafe": s["accuracy_mixed"].text(),
                                "both alike": s["accuracy_same"].text(),
                                "sign accuracy": "–" if name == "reward" else s["accuracy_sign"].text()}
                         for name, s in stats.items()}).T


def unsafe_share(runs: Sequence[TrainResult]) -> float:
    """Share of unsafe responses among the held-out responses the score models were judged on."""
    return float(np.mean(np.asarray(runs[0].extra["eval_signs"]) > 0))


def history_matrix(runs: Sequence[dict[str, Any]], key: str) -> np.ndarray:
    """``(seeds, iterations)`` array of one history key (NaN where a run lacks it)."""
    length = min(len(r["history"]) for r in runs)
    return np.array([[h.get(key, np.nan) for h in r["history"][:length]] for r in runs], dtype=float)


LAMBDA_MARGIN = 0.1
"""A real move of λ: a rise is a peak at least 10 % above λ_init, a fall an end at least 10 % below the peak."""
LAMBDA_EARLY = 0.1
"""The first iterations (this share of them, at least 2) in which a peak does not count as a rise."""


def lambda_claim(runs: Sequence[dict[str, Any]], threshold: float, lambda_init: float,
                 margin: float = LAMBDA_MARGIN, early: float = LAMBDA_EARLY) -> dict[str, Any]:
    """The λ-dynamics claim, per seed, and its verdict (:func:`alignbook.safe_rlhf.verdicts.lambda_verdict`).

    λ moves with the sign of ``Ĵ_C - d`` by construction, so the claim is about the *policy*: it
    starts above the threshold (λ rises), then becomes safe enough that Ĵ_C ≤ d (λ falls). The rule,
    per seed, with ``n`` the number of iterations and λ recorded after each iteration's update:

    - **rose**: λ's peak is at least ``(1 + margin)·λ_init`` and comes at iteration
      ``≥ max(2, ⌈early·n⌉)``: a λ that only drifts from its initial value in the first
      iterations and then falls has not risen;
    - **fell after the peak**: the final λ is at most ``(1 - margin)·peak``;
    - **constraint holds at the end**: the last Ĵ_C (window mean of episode costs) is ≤ d.
    """
    rows = []
    for r in runs:
        hist = [h for h in r["history"] if "episode_cost" in h]
        lambdas = np.array([h["lambda"] for h in hist])
        costs = np.array([h["episode_cost"] for h in hist])
        first = max(2, math.ceil(early * len(hist)))
        peak = int(lambdas.argmax())
        rows.append({
            "seed": r["seed"],
            "iterations": len(hist),
            "cost_start": float(costs[0]),
            "cost_end": float(costs[-1]),
            "lambda_peak": float(lambdas[peak]),
            "peak_iteration": peak,
            "lambda_end": float(lambdas[-1]),
            "rose": bool(lambdas[peak] >= (1 + margin) * lambda_init and peak >= first),
            "fell_after_peak": bool(lambdas[-1] <= (1 - margin) * lambdas[peak]),
            "constraint_holds_at_end": bool(costs[-1] <= threshold),
        })
    word, sentence = lambda_verdict(rows, threshold, lambda_init, margin, early)
    return {"per_seed": rows, "verdict": word, "sentence": sentence,
            "all_seeds_show_rise_then_fall": bool(rows) and all(
                row["rose"] and row["fell_after_peak"] and row["constraint_holds_at_end"] for row in rows)}


def lambda_table(claim: dict[str, Any]):
    """:func:`lambda_claim`'s per-seed rows for the page: short column names, rounded numbers."""
    import pandas as pd

    names = {"seed": "seed", "cost_start": "Ĵ_C first", "cost_end": "Ĵ_C last", "lambda_peak": "λ peak",
             "peak_iteration": "peak at", "lambda_end": "λ last", "rose": "rose", "fell_after_peak": "fell",
             "constraint_holds_at_end": "Ĵ_C ≤ d at end"}
    frame = pd.DataFrame(claim["per_seed"])[list(names)].rename(columns=names)
    return frame.set_index("seed").round(3)


# ------------------------------------------------------------------- iterative Safe RLHF
def policy_preference_rows(cfg: Any, actor: torch.nn.Module, tok: Any, n_pairs: int, seed: int) -> list[dict]:
    """Two sampled responses of the current policy per prompt, labelled by the toy world's annotators."""
    from .ppo_lag import sample_responses

    w = world(cfg)
    prompts = [p.text for p in w.sample_prompts(n_pairs, seed=seed)]
    torch.manual_seed(seed)
    rows = []
    for start in range(0, n_pairs, 64):
        chunk = prompts[start : start + 64]
        first, second = (sample_responses(actor, tok, chunk, cfg)["texts"] for _ in range(2))
        for i, (prompt, a, b) in enumerate(zip(chunk, first, second)):
            labels = w.annotate(prompt, a, b, seed + start + i)
            j0, j1 = labels["judgements"]
            rows.append({"prompt": prompt, "response_0": a, "response_1": b, "is_response_0_safe": j0.is_safe,
                         "is_response_1_safe": j1.is_safe, "better_response_id": labels["better_response_id"],
                         "safer_response_id": labels["safer_response_id"]})
    return rows


def safe_rlhf_rounds(cfg: ResultsConfig, score_dir: str | Path) -> list[dict[str, Any]]:
    """The paper's iterative loop: each round samples pairs from the current policy, has them
    labelled, fine-tunes the reward and cost models on them, and continues PPO-Lagrangian with the
    round's threshold, λ_init and λ learning rate. Returns one summary per round (round 0: SFT)."""
    from alignbook.engine.repro import seed_everything

    device = devices.resolve(cfg.device)
    w, tok = world(cfg), tokenizer(cfg, cfg.actor, cfg.actor_revision)
    reward_model, cost_model = load_score_pair(score_dir, 0, device)
    seed_everything(cfg.seed)
    actor = load_causal_lm(cfg, cfg.actor, cfg.preset, cfg.actor_revision, device)
    held = eval_prompts(cfg, cfg.eval_prompts)
    summaries = [{"round": 0, **{k: v for k, v in evaluate_policy(actor, tok, held, cfg, w.judge).items()
                                 if isinstance(v, float)}}]
    score_cfg = ScoreModelConfig(profile=cfg.profile, seed=cfg.seed, epochs=cfg.score_epochs, lr=cfg.score_lr,
                                 batch_size=cfg.score_batch_size, prompt_template=cfg.prompt_template,
                                 max_length=cfg.max_length, verbose=cfg.verbose, run_dir=cfg.run_dir, device=cfg.device)
    for r in range(cfg.rounds):
        out = Path(cfg.run_dir) / f"round{r + 1}"
        rows = policy_preference_rows(cfg, actor, tok, cfg.pairs_per_round, seed=cfg.seed * 100 + r)
        split = int(0.9 * len(rows))
        rm = train_reward_model(reward_model, tok, rows[:split], rows[split:], score_cfg, save_dir=out / "reward")
        cm = train_cost_model(cost_model, tok, rows[:split], rows[split:], score_cfg, save_dir=out / "cost")
        round_cfg = dataclasses.replace(cfg, threshold=cfg.round_thresholds[r], lambda_init=cfg.round_lambda_init[r],
                                        lambda_lr=cfg.round_lambda_lr[r], algorithm="ppo_lag")
        result = train_ppo_lag(actor, tok, reward_model, cost_model, train_prompts(cfg, cfg.train_prompts),
                               round_cfg, judge=w.judge, demonstrations=ptx_demonstrations(round_cfg),
                               save_dir=out / "policy")
        after = evaluate_policy(actor, tok, held, cfg, w.judge)
        summaries.append({"round": r + 1, "helpfulness": after["helpfulness"], "harm_rate": after["harm_rate"],
                          "reward_accuracy": rm.metrics["accuracy"], "cost_accuracy": cm.metrics["accuracy"],
                          "cost_accuracy_sign": cm.metrics["accuracy_sign"],
                          "final_lambda": result.metrics["final_lambda"],
                          "share_unsafe_in_new_pairs": float(np.mean(
                              [not row["is_response_0_safe"] for row in rows]))})
    (Path(cfg.run_dir) / "rounds.json").write_text(json.dumps(summaries, indent=1))
    return summaries
