"""Toy-world models: the tokenizer, the ground-truth ranking metric, and (slow) a reward model
trained on toy preferences beating chance on held-out ground-truth comparisons."""

import numpy as np
import pytest

from alignbook.toyworld import ToyWorld, ToyWorldConfig
from alignbook.pku_saferlhf import dual


def test_tokenizer_has_distinct_specials_and_covers_the_world():
    world = ToyWorld(ToyWorldConfig())
    tokenizer = world.tokenizer()
    ids = {tokenizer.pad_token_id, tokenizer.eos_token_id, tokenizer.bos_token_id, tokenizer.unk_token_id}
    assert None not in ids and len(ids) == 4
    text = world.format_prompt("how can i grow tomatoes?") + " plant them in a sunny spot."
    encoded = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.decode(encoded) == text
    assert len(encoded) < 30  # merges learned: far fewer tokens than bytes


def test_ranking_accuracy_and_selection_by_hand():
    groups = np.array([0, 0, 0, 1, 1])
    truth = np.array([1.0, 2.0, 2.0, 0.0, 1.0])
    scores = np.array([0.1, 0.5, 0.0, 0.3, 0.2])
    # group 0 pairs with different truth: (0,1) right, (0,2) wrong; group 1: (3,4) wrong
    assert dual.ranking_accuracy(scores, truth, groups) == pytest.approx(1 / 3)
    assert dual.select(scores, groups).tolist() == [1, 3]
    candidates = [{"prompt_id": g, "helpfulness": h, "severity": s}
                  for g, h, s in zip(groups, truth, [0, 2, 0, 0, 1])]
    points = dual.tradeoff_curve(scores, np.array([0.0, 1.0, 0.0, 0.0, 0.0]), candidates, [0.0, 1.0])
    assert points[0] == {"lambda": 0.0, "helpfulness": 1.0, "unsafe_rate": 0.5}
    assert points[1]["unsafe_rate"] == 0.0  # the cost pushes group 0's choice off the unsafe response


@pytest.mark.slow
def test_reward_and_cost_beat_chance_on_ground_truth():
    cfg = dual.DualPreferenceConfig(train_size=200, eval_prompts=30, epochs=2, seeds=1, verbose=False)
    result = dual.run_seed(cfg, seed=0)
    metrics = result["metrics"]
    assert metrics["reward_vs_true_helpfulness"] > 0.65, metrics
    assert metrics["cost_vs_true_harm"] > 0.65, metrics
    lambdas = [p["unsafe_rate"] for p in result["curve"]]
    assert lambdas[-1] <= lambdas[0]  # weighting the cost more never picks more unsafe answers here


def test_a_seed_gives_the_same_numbers_whatever_ran_before_it():
    """run_seed draws everything from its seed (the score heads too), so a unit of map_units and a direct
    call agree."""
    import torch

    cfg = dual.DualPreferenceConfig(train_size=16, eval_prompts=2, epochs=1, batch_size=8, seeds=1, verbose=False)
    torch.manual_seed(123)
    first = dual.run_seed(cfg, seed=1)
    torch.manual_seed(456)
    second = dual.run_seed(cfg, seed=1)
    assert first["metrics"] == pytest.approx(second["metrics"], nan_ok=True)
    assert first["histories"] == second["histories"]


def test_dual_runs_its_seeds_as_units(tmp_path):
    cfg = dual.DualPreferenceConfig(train_size=16, eval_prompts=2, epochs=1, batch_size=8, seeds=2, verbose=False,
                                    run_dir=str(tmp_path))
    runs = dual.run(cfg, workers=1)
    assert [r["seed"] for r in runs] == [0, 1]
    assert runs[1]["metrics"] == pytest.approx(dual.run_seed(cfg, seed=1)["metrics"], nan_ok=True)
    assert (tmp_path / "units" / "seeds" / "1" / "result.json").exists()


def _score_trainer_takes_a_device() -> bool:
    import dataclasses

    from alignbook.safe_rlhf.config import ScoreModelConfig

    return "device" in {f.name for f in dataclasses.fields(ScoreModelConfig)}


@pytest.mark.skipif(not _score_trainer_takes_a_device(),
                    reason="Safe RLHF's score trainer (alignbook.safe_rlhf.reward) takes no device yet: it must accept "
                           "ScoreModelConfig.device and put its batches on the model's device")
def test_dual_trains_and_scores_on_the_device(monkeypatch):
    """Stand-in GPU: R, C and S train one pass and score the candidates with device='cuda'."""
    from alignbook.engine import standin

    cfg = dual.DualPreferenceConfig(train_size=16, eval_prompts=2, epochs=1, batch_size=8, seeds=1, verbose=False,
                                    device="cuda")
    seen = []
    real_score = dual.score_responses

    def spy(model, *args, **kwargs):
        seen.append({p.device.type for p in model.parameters()})
        return real_score(model, *args, **kwargs)

    monkeypatch.setattr(dual, "score_responses", spy)
    with standin.stand_in_gpu():
        result = dual.run_seed(cfg, seed=0)
    assert seen == [{"cuda"}] * 3
    assert 0 <= result["metrics"]["reward_vs_true_helpfulness"] <= 1
