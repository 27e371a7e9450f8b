"""Aligner chapter: the paper profile's settings, the toy-world corrections, the launcher run."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from alignbook.engine import config as config_mod
from alignbook.engine import paths
from alignbook.aligner import config as aligner_config
from alignbook.aligner import toy

YAML = paths.notebooks_dir() / "aligner" / "02_train.yaml"

OFFICIAL = {  # the list of aligner/scripts/sft-correction.sh values
    "dataset": "aligner/aligner-20K",
    "model": "meta-llama/Llama-2-7b-hf",
    "epochs": 3,
    "lr": 2e-5,
    "max_length": 2048,
    "per_device_batch_size": 4,
    "grad_accum": 8,
    "zero_stage": 3,
    "bf16": True,
}


def test_paper_profile_resolves_to_the_official_script_values():
    cfg = config_mod.resolve(YAML, "paper")
    assert {k: getattr(cfg, k) for k in OFFICIAL} == OFFICIAL
    assert cfg.template == "repository" and cfg.warmup_fractions == (0.2,)


@pytest.mark.parametrize("name", ["01_data", "02_train", "03_evaluate", "04_weak_to_strong", "05_real_model", "06_results"])
@pytest.mark.parametrize("profile", ["test", "smoke", "gpu", "paper"])
def test_every_profile_resolves(name, profile):
    config_mod.resolve(paths.notebooks_dir() / "aligner" / f"{name}.yaml", profile)


def test_bad_warmup_fraction_names_the_parameter():
    with pytest.raises(config_mod.ConfigError, match="warmup_fractions"):
        aligner_config.AlignerTrainConfig(warmup_fractions=(20.0,))


@pytest.fixture(scope="module")
def world():
    from alignbook.toyworld import ToyWorld, ToyWorldConfig

    return ToyWorld(ToyWorldConfig(seed=0))


def test_corrections_are_never_worse_and_good_answers_are_kept(world):
    prompts = world.sample_prompts(80, seed=5, harmful_fraction=0.5)
    rows = toy.make_triples(world, prompts, list(toy.UPSTREAMS), seed=0)
    for row in rows:
        before, after = world.judge(row["question"], row["answer"]), world.judge(row["question"], row["correction"])
        assert after.severity == 0 and after.severity <= before.severity
        if not row["harmful"]:
            assert after.helpfulness >= before.helpfulness
    good = [r for r in rows if r["source"] == "safe_helpful"]
    assert all(r["answer"] == r["correction"] for r in good)
    unaligned = [r for r in rows if r["source"] == "alpaca-7b"]
    assert sum(r["answer"] != r["correction"] for r in unaligned) > 0.8 * len(unaligned)


def test_correction_of_a_complying_answer_refuses_and_offers_alternatives(world):
    prompt = next(p for p in world.sample_prompts(50, seed=1, harmful_fraction=1.0))
    answer = world.respond(prompt, "comply", 0)
    correction = toy.correction_for(prompt.text, answer, np.random.default_rng(0))
    judgement = world.judge(prompt.text, correction)
    assert judgement.is_safe and judgement.n_refusal == 1 and judgement.n_safe_alternative == 2


@pytest.mark.slow
def test_paper_trainer_runs_under_the_deepspeed_launcher(world, tmp_path):
    """The paper profile's trainer, tiny model and project-made data, 2 CPU processes, ZeRO-3."""
    from alignbook.engine.launch import launch, ranks_that_ran

    prompts = world.sample_prompts(40, seed=3, harmful_fraction=0.5)
    rows = toy.make_triples(world, prompts, ["alpaca-7b", "safe_helpful"], seed=0)
    data_path = tmp_path / "triples.json"
    data_path.write_text(json.dumps(rows))
    paper = config_mod.resolve(YAML, "paper", run_dir=str(tmp_path / "run"))
    cfg = dataclasses.replace(
        paper, dataset=str(data_path), model="tiny", vocab_size=400, max_length=256,
        per_device_batch_size=4, grad_accum=2, epochs=1, lr=1e-3, bf16=False, device="cpu",
    )
    metrics = launch("alignbook.aligner.config:train_from_config", cfg, nprocs=2, launcher="deepspeed", timeout=900)
    ranks = ranks_that_ran(cfg.run_dir)
    assert sorted(r["rank"] for r in ranks) == [0, 1] and all(r["world_size"] == 2 for r in ranks)
    assert metrics["world_size"] == 2 and metrics["steps_w0.2"] > 0
    assert np.isfinite(metrics["final_eval_loss_w0.2"])
    recorded = json.loads((tmp_path / "run" / "metrics.json").read_text())["final_eval_loss_w0.2"]
    assert recorded["value"] == metrics["final_eval_loss_w0.2"] and "2 process" in recorded["description"]
    checkpoint = tmp_path / "run" / "aligner-w0.2-s0"  # the one naming scheme (issue 32): seed in the name
    saved = json.loads((checkpoint / "aligner.json").read_text())
    assert saved["template"] == "repository" and saved["world_size"] == 2 and saved["zero_stage"] == 3
    from alignbook.aligner.train import load_checkpoint

    model, tokenizer, result = load_checkpoint(checkpoint)
    assert result.metrics["steps"] > 0 and len(tokenizer) <= 400
    from alignbook.aligner.train import find_checkpoints

    assert find_checkpoints(tmp_path / "run", 0.2) == [(0.2, 0, checkpoint)]  # what notebooks 3 and 4 look for


def test_weak_to_strong_runs_and_scores_three_systems(world, tmp_path):
    from alignbook.aligner import weak_to_strong
    from alignbook.lm.models import build_causal_lm

    tokenizer = toy.chapter_tokenizer(world, 400)
    aligner = build_causal_lm("tiny", tokenizer, seed=0)
    train_prompts = world.sample_prompts(6, seed=1, harmful_fraction=0.5)
    eval_prompts = world.sample_prompts(3, seed=2, harmful_fraction=0.5)
    result = weak_to_strong.run_weak_to_strong(
        world, aligner, tokenizer, "repository", train_prompts, eval_prompts, strong_model="tiny",
        strong_source="alpaca-7b", epochs=1, lr=1e-3, batch_size=4, max_length=128, max_new_tokens=4, seed=0,
    )
    for name in ("strong_before", "weak_supervisor", "strong_after"):
        assert np.isfinite(result.metrics[f"{name}_helpfulness"])
        assert 0.0 <= result.metrics[f"{name}_unsafe"] <= 1.0
    assert -1 <= result.metrics["omega_helpfulness_after_vs_weak_supervisor"] <= 1
    assert {h["phase"] for h in result.history} == {"imitation", "corrections"}
    result.save(tmp_path)
    assert weak_to_strong.WeakToStrongResult.load(tmp_path).metrics == result.metrics
