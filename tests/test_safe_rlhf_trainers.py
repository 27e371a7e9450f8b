"""Safe RLHF trainers: a few steps on tiny models (finite loss, parameters move, round-trips)."""

import copy

import pytest
import torch

from alignbook.safe_rlhf import ScoreModel, TrainResult, load_score_model, train_cost_model, train_reward_model
from alignbook.safe_rlhf import tiny
from alignbook.safe_rlhf.config import ScoreModelConfig


@pytest.fixture(scope="module")
def tokenizer():
    return tiny.char_tokenizer()


def small_cfg(**kw):
    base = dict(epochs=1, batch_size=8, lr=1e-3, lr_scheduler="constant", warmup_ratio=0.0, max_length=64, prompt_template="{input}:",
                verbose=False, weight_decay=0.0)
    base.update(kw)
    return ScoreModelConfig(**base)


@pytest.mark.parametrize("trainer", [train_reward_model, train_cost_model])
def test_score_trainer_few_steps(trainer, tokenizer, tmp_path):
    model = ScoreModel(tiny.tiny_llama(len(tokenizer)))
    before = copy.deepcopy(model.state_dict())
    rows = tiny.synthetic_rows(32, seed=0)
    result = trainer(model, tokenizer, rows[:24], rows[24:], small_cfg(), save_dir=tmp_path)
    losses = [r["loss"] for r in result.history if "loss" in r]
    assert len(losses) == 3 and all(torch.isfinite(torch.tensor(losses)))
    assert any(not torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert 0.0 <= result.metrics["accuracy"] <= 1.0 and "accuracy_sign" in result.metrics
    again = TrainResult.load(tmp_path)
    assert again.metrics == result.metrics and again.history == result.history
    reloaded = load_score_model(result.checkpoint)
    ids = torch.tensor([[5, 6, 7, 1]])
    torch.testing.assert_close(reloaded(ids, torch.ones_like(ids)).end_scores,
                               model(ids, torch.ones_like(ids)).end_scores)


def test_seeded_runs_reproduce(tokenizer):
    rows = tiny.synthetic_rows(16, seed=1)
    runs = []
    for _ in range(2):
        torch.manual_seed(0)
        model = ScoreModel(tiny.tiny_llama(len(tokenizer), seed=0))
        runs.append(train_cost_model(model, tokenizer, rows[:12], rows[12:], small_cfg()).history)
    assert runs[0] == runs[1]


def test_cost_model_learns_the_sign(tokenizer):
    """With the sign term the cost model separates safe (C<0) from unsafe (C>0) responses."""
    rows = tiny.synthetic_rows(320, seed=2)
    model = ScoreModel(tiny.tiny_llama(len(tokenizer), seed=3))
    result = train_cost_model(model, tokenizer, rows[:256], rows[256:], small_cfg(epochs=2, batch_size=16))
    assert result.metrics["accuracy_sign"] > 0.7  # chance is 0.5


def test_trainer_rejects_plain_backbone(tokenizer):
    with pytest.raises(TypeError, match="ScoreModel"):
        train_reward_model(tiny.tiny_llama(len(tokenizer)), tokenizer, tiny.synthetic_rows(4), tiny.synthetic_rows(2),
                           small_cfg())
