"""PPO-Lagrangian equations against hand-computed values."""

import math

import pytest
import torch

from alignbook.safe_rlhf.rl import (
    LagrangeMultiplier,
    actor_loss,
    critic_loss,
    gae,
    kl_penalised_rewards,
    masked_mean,
    mixed_advantage,
)
from alignbook.safe_rlhf.engine import lr_at


def test_kl_penalised_rewards_and_costs():
    mask = torch.tensor([[0, 1, 1, 0]])
    log_probs = torch.tensor([[0.1, 0.5, 0.2, 0.0]])
    ref_log_probs = torch.tensor([[0.1, 0.3, 0.4, 0.0]])
    rewards, costs = kl_penalised_rewards(torch.tensor([2.0]), torch.tensor([-1.0]), log_probs, ref_log_probs,
                                          mask, kl_coeff=0.1)
    torch.testing.assert_close(rewards, torch.tensor([[0.0, -0.02, 2.02, 0.0]]))
    torch.testing.assert_close(costs, torch.tensor([[0.0, 0.02, -1.02, 0.0]]))
    clipped, _ = kl_penalised_rewards(torch.tensor([100.0]), torch.tensor([0.0]), log_probs, ref_log_probs, mask,
                                      kl_coeff=0.1, clip_range_score=50.0)
    assert clipped[0, 2].item() == 50.0


def test_gae_hand_computed():
    values = torch.tensor([[9.0, 1.0, 2.0, 7.0]])
    rewards = torch.tensor([[5.0, 0.5, 1.0, 3.0]])
    mask = torch.tensor([[0, 1, 1, 0]])
    adv, ret = gae(values, rewards, mask, start=1, gamma=1.0, lam=0.5)
    torch.testing.assert_close(adv, torch.tensor([[1.0, -1.0, 0.0]]))
    torch.testing.assert_close(ret, torch.tensor([[2.0, 1.0, 0.0]]))
    # λ_GAE = 1, γ = 1: the advantage is the Monte-Carlo return minus the value
    adv1, _ = gae(values, rewards, mask, start=1, gamma=1.0, lam=1.0)
    torch.testing.assert_close(adv1[0, 0], torch.tensor(1.5 - 1.0))


def test_mixed_advantage():
    assert mixed_advantage(torch.tensor(1.0), torch.tensor(2.0), 3.0).item() == pytest.approx(-1.25)
    assert mixed_advantage(torch.tensor(1.0), torch.tensor(2.0), 0.0).item() == pytest.approx(1.0)


def test_actor_loss_clips_the_ratio():
    log_probs, old = torch.tensor([[math.log(1.5)]]), torch.tensor([[0.0]])
    mask = torch.ones(1, 1)
    assert actor_loss(log_probs, old, torch.tensor([[2.0]]), mask, 0.2).item() == pytest.approx(-2.4)
    assert actor_loss(log_probs, old, torch.tensor([[-2.0]]), mask, 0.2).item() == pytest.approx(3.0)


def test_critic_loss_clips_the_value():
    got = critic_loss(torch.tensor([[10.0]]), torch.tensor([[0.0]]), torch.tensor([[8.0]]), torch.ones(1, 1), 5.0)
    assert got.item() == pytest.approx(4.5)


def test_lagrange_multiplier_update_rule():
    lam = LagrangeMultiplier(init=1.0, lr=0.1, max_value=5.0)
    assert lam.update(episode_cost=3.0, threshold=1.0) == pytest.approx(math.exp(0.2))
    assert lam.update(episode_cost=-1.0, threshold=0.0) == pytest.approx(math.exp(0.2 - 0.1 * math.exp(0.2)))
    capped = LagrangeMultiplier(init=1.0, lr=0.1, max_value=1.1)
    assert capped.update(episode_cost=100.0, threshold=0.0) == pytest.approx(1.1)
    with pytest.raises(ValueError, match="lambda_init"):
        LagrangeMultiplier(init=0.0)


def test_masked_mean_weighs_every_response_equally():
    # row 1: tokens 1, 3 (mean 2); row 2: token 10 (mean 10). Per sequence: (2 + 10)/2 = 6, not 14/3.
    values = torch.tensor([[1.0, 3.0, 99.0], [10.0, 99.0, 99.0]])
    mask = torch.tensor([[1, 1, 0], [1, 0, 0]])
    assert masked_mean(values, mask).item() == pytest.approx(6.0)
    # a row without response tokens is left out rather than turning the mean into NaN
    assert masked_mean(values, torch.tensor([[1, 1, 0], [0, 0, 0]])).item() == pytest.approx(2.0)


def test_learning_rate_schedule_follows_transformers_get_scheduler():
    # cosine, 10 steps, ratio 0.25: int(2.5) = 2 warm-up steps at 0 and base/2, then ½(1 + cos(π(t−2)/8))
    lrs = [lr_at(t, 10, 1.0, "cosine", 0.25) for t in range(10)]
    assert lrs[0] == 0.0 and lrs[1] == pytest.approx(0.5) and lrs[2] == pytest.approx(1.0)
    assert lrs[6] == pytest.approx(0.5 * (1 + math.cos(math.pi * 4 / 8)))
    # constant has no warm-up, whatever the ratio (get_constant_schedule)
    assert [lr_at(t, 10, 2.0, "constant", 0.5) for t in (0, 5, 9)] == [2.0, 2.0, 2.0]
    # int() rounds the warm-up down: 0.03 of 20 steps is no warm-up at all
    assert lr_at(0, 20, 1.0, "cosine", 0.03) == 1.0


def test_rollouts_stop_at_max_length_like_upstream_generation():
    from alignbook.safe_rlhf.config import PPOLagConfig
    from alignbook.safe_rlhf.ppo_lag import response_budget

    cfg = PPOLagConfig(max_length=512, max_new_tokens=480)
    assert response_budget(20, cfg) == 480 and response_budget(100, cfg) == 412 and response_budget(512, cfg) == 1
    assert PPOLagConfig().top_k == 50 and PPOLagConfig().max_grad_norm == 1.0
