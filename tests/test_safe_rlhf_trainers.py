"""Safe RLHF trainers: a few steps on tiny models (finite loss, parameters move, round-trips)."""

import copy
import math

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
    m = result.metrics  # the split by the pair's safety labels adds up to the whole
    assert 0 < m["share_mixed"] < 1
    assert m["accuracy"] == pytest.approx(m["share_mixed"] * m["accuracy_mixed"] + (1 - m["share_mixed"]) * m["accuracy_same"])
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


# ------------------------------------------------------------------ PPO-Lagrangian and baselines
import types  # noqa: E402

from alignbook.safe_rlhf.config import PPOLagConfig  # noqa: E402
from alignbook.safe_rlhf.ppo_lag import PPOLagTrainer, response_mask, train_ppo_lag  # noqa: E402


def fake_judge(prompt, response):
    return types.SimpleNamespace(helpfulness=float(len(response)), is_safe="x" not in response)


def ppo_setup(tokenizer, seed=0):
    torch.manual_seed(seed)
    actor = tiny.tiny_llama(len(tokenizer), seed=seed)
    reward = ScoreModel(tiny.tiny_llama(len(tokenizer), seed=seed + 1))
    cost = ScoreModel(tiny.tiny_llama(len(tokenizer), seed=seed + 2))
    return actor, reward, cost


def ppo_cfg(**kw):
    base = dict(iterations=3, prompt_batch_size=4, max_new_tokens=6, actor_lr=1e-3, critic_lr=1e-3, verbose=False,
                prompt_template="{input}:", actor_warmup_ratio=0.0, critic_warmup_ratio=0.0, ptx_coeff=0.0)
    base.update(kw)
    return PPOLagConfig(**base)


def test_response_mask_stops_after_first_eos():
    assert response_mask(torch.tensor([[5, 1, 6, 1], [5, 6, 7, 8]]), eos_id=1).tolist() == [[1, 1, 0, 0], [1, 1, 1, 1]]


@pytest.mark.parametrize("algorithm", ["ppo_lag", "ppo", "ppo_shaped"])
def test_policy_trainers_few_steps(algorithm, tokenizer, tmp_path):
    actor, reward, cost = ppo_setup(tokenizer)
    before = copy.deepcopy(actor.state_dict())
    result = train_ppo_lag(actor, tokenizer, reward, cost if algorithm != "ppo" else None, ["ab", "cd"],
                           ppo_cfg(algorithm=algorithm), judge=fake_judge, save_dir=tmp_path)
    assert len(result.history) == 3
    for record in result.history:
        assert all(math.isfinite(record[k]) for k in ("actor_loss", "reward_critic_loss", "kl", "reward"))
    assert any(not torch.equal(before[k], v) for k, v in actor.state_dict().items())
    lambdas = [r["lambda"] for r in result.history]
    if algorithm == "ppo_lag":
        assert lambdas[0] != 1.0 and "cost_critic_loss" in result.history[0]  # λ moved before the first actor loss
    else:
        assert lambdas == [1.0, 1.0, 1.0]
    assert TrainResult.load(tmp_path).history == result.history
    assert (tmp_path / "actor" / "config.json").exists()


def test_lambda_follows_episode_cost(tokenizer):
    """With a huge threshold the constraint holds, so λ must shrink; with a very low one it must grow."""
    for threshold, direction in ((10.0, -1), (-10.0, 1)):
        actor, reward, cost = ppo_setup(tokenizer)
        result = train_ppo_lag(actor, tokenizer, reward, cost, ["ab"], ppo_cfg(iterations=2, threshold=threshold,
                                                                               lambda_max=None))
        assert direction * (result.history[-1]["lambda"] - 1.0) > 0


def test_ppo_resume_after_kill_reproduces(tokenizer, tmp_path):
    cfg = ppo_cfg(iterations=4, checkpoint_every=2)
    actor, reward, cost = ppo_setup(tokenizer)
    full = train_ppo_lag(actor, tokenizer, reward, cost, ["ab", "cd", "ef"], cfg, save_dir=tmp_path / "full")
    # "kill" after 2 iterations: run a 2-iteration trainer that checkpoints, then resume to 4
    actor, reward, cost = ppo_setup(tokenizer)
    partial = PPOLagTrainer(actor, tokenizer, reward, cost, ["ab", "cd", "ef"], cfg)
    partial.step(), partial.step()
    partial.save_state(tmp_path / "killed" / "resume.pt")
    saved = torch.load(tmp_path / "killed" / "resume.pt", weights_only=True)  # tensors and plain data only
    assert saved["iteration"] == 2 and isinstance(saved["numpy_rng"], list)
    actor, reward, cost = ppo_setup(tokenizer)
    resumed = train_ppo_lag(actor, tokenizer, reward, cost, ["ab", "cd", "ef"], cfg, save_dir=tmp_path / "killed")
    drop = ("rollout_s", "iteration_s")
    strip = lambda h: [{k: v for k, v in r.items() if k not in drop} for r in h]  # noqa: E731
    assert strip(resumed.history) == strip(full.history)
    # a damaged checkpoint gives a message with the fix, not a traceback from deep inside torch
    from alignbook.engine.checkpoints import CheckpointError

    ckpt = tmp_path / "killed" / "resume.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    actor, reward, cost = ppo_setup(tokenizer)
    with pytest.raises(CheckpointError, match="--force"):
        train_ppo_lag(actor, tokenizer, reward, cost, ["ab", "cd", "ef"], cfg, save_dir=tmp_path / "killed")


def test_ppo_lag_needs_a_cost_model(tokenizer):
    actor, reward, _ = ppo_setup(tokenizer)
    with pytest.raises(ValueError, match="cost_model"):
        train_ppo_lag(actor, tokenizer, reward, None, ["ab"], ppo_cfg())


# ------------------------------------------------------------------ the PTX term
DEMOS = [("ab", "cd"), ("ef", "gh"), ("ij", "kl")]


def test_ptx_needs_demonstrations(tokenizer):
    actor, reward, cost = ppo_setup(tokenizer)
    with pytest.raises(ValueError, match="ptx_coeff=16.0 needs demonstrations"):
        train_ppo_lag(actor, tokenizer, reward, cost, ["ab"], ppo_cfg(ptx_coeff=16.0))


def test_ptx_step_runs_after_every_rl_step_and_resumes(tokenizer, tmp_path):
    cfg = ppo_cfg(iterations=4, checkpoint_every=2, ptx_coeff=16.0)
    actor, reward, cost = ppo_setup(tokenizer)
    full = train_ppo_lag(actor, tokenizer, reward, cost, ["ab", "cd", "ef"], cfg, demonstrations=DEMOS,
                         save_dir=tmp_path / "full")
    assert all(math.isfinite(r["ptx_loss"]) and r["ptx_loss"] > 0 for r in full.history)
    actor, reward, cost = ppo_setup(tokenizer)
    partial = PPOLagTrainer(actor, tokenizer, reward, cost, ["ab", "cd", "ef"], cfg, demonstrations=DEMOS)
    partial.step(), partial.step()
    partial.save_state(tmp_path / "killed" / "resume.pt")
    actor, reward, cost = ppo_setup(tokenizer)
    resumed = train_ppo_lag(actor, tokenizer, reward, cost, ["ab", "cd", "ef"], cfg, demonstrations=DEMOS,
                            save_dir=tmp_path / "killed")
    strip = lambda h: [{k: v for k, v in r.items() if k not in ("rollout_s", "iteration_s")} for r in h]  # noqa: E731
    assert strip(resumed.history) == strip(full.history)  # the demonstration order resumes too


def test_ptx_changes_the_actor_beyond_the_rl_step(tokenizer):
    """Same seeds, same rollouts: with PTX the actor ends elsewhere than without it."""
    finals = []
    for coeff in (0.0, 16.0):
        actor, reward, cost = ppo_setup(tokenizer)
        train_ppo_lag(actor, tokenizer, reward, cost, ["ab"], ppo_cfg(iterations=1, ptx_coeff=coeff), demonstrations=DEMOS)
        finals.append({k: v.clone() for k, v in actor.state_dict().items()})
    assert any(not torch.equal(finals[0][k], finals[1][k]) for k in finals[0])


def test_gradient_checkpointing_recomputes_the_actor_and_both_critics_with_the_same_numbers(tokenizer):
    """scripts/ppo-lag.sh trains with --actor_gradient_checkpointing --critic_gradient_checkpointing (the paper
    profile asks for it: without it the 7B run's activations do not fit an 80 GB GPU); recomputing changes
    memory, not the numbers."""
    runs = []
    for checkpointing in (False, True):
        actor, reward, cost = ppo_setup(tokenizer)
        trainer = PPOLagTrainer(actor, tokenizer, reward, cost, ["ab", "cd"], ppo_cfg(iterations=2,
                                gradient_checkpointing=checkpointing))
        models = [trainer.actor.module, trainer.reward_critic.module.backbone, trainer.cost_critic.module.backbone]
        assert all(m.is_gradient_checkpointing == checkpointing for m in models)
        runs.append([{k: v for k, v in r.items() if not k.endswith("_s")} for r in trainer.train().history])
    assert runs[0] == runs[1]  # every number but the wall-clock timings
