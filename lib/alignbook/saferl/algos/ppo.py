"""PPO (Schulman et al. 2017), the unconstrained baseline: it ignores the cost entirely."""

from __future__ import annotations

from .base import Algorithm, clipped_surrogate, ppo_passes


class PPO(Algorithm):
    name = "ppo"

    def advantage(self, data):
        return data["adv_r"]

    def update(self, data: dict, mean_episode_cost: float) -> dict:
        advantage = self.advantage(data)
        clip = self.cfg.clip_ratio

        def loss(dist, idx):
            return clipped_surrogate(dist, data["act"][idx], data["log_prob"][idx], advantage[idx], clip)

        return ppo_passes(self, data, loss)
