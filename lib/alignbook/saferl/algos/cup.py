"""CUP (Yang et al. 2022), constrained update projection, in two stages per epoch:

1. a PPO-clip step on the reward advantage (critics trained alongside);
2. projection: minimise λ·coef·ratio·Â_C + KL(π_θ‖π_stage1) with coef = (1−γλ_GAE)/(1−γ),
   λ by gradient ascent clamped to [0, 0.2] (SafePO CUP_NU).
"""

from __future__ import annotations

import torch
from torch.distributions import Normal, kl_divergence

from ..lagrange import Lagrange
from .base import Algorithm, clipped_surrogate, ppo_passes


class CUP(Algorithm):
    name = "cup"

    def __init__(self, cfg, model):
        super().__init__(cfg, model)
        self.multiplier = Lagrange(cfg.cost_limit, cfg.lagrange_init, cfg.lagrange_lr, cfg.cup_nu_max)

    def update(self, data: dict, mean_episode_cost: float) -> dict:
        cfg = self.cfg
        clip = cfg.clip_ratio

        def reward_loss(dist, idx):
            return clipped_surrogate(dist, data["act"][idx], data["log_prob"][idx], data["adv_r"][idx], clip)

        first = ppo_passes(self, data, reward_loss)
        with torch.no_grad():
            stage1 = self.model.actor(data["obs"])
            mean1, std1 = stage1.mean.clone(), stage1.stddev.clone()
        coef = (1 - cfg.gamma * cfg.cup_lambda) / (1 - cfg.gamma)
        lam = self.multiplier.value

        def projection_loss(dist, idx):
            ratio = torch.exp(dist.log_prob(data["act"][idx]).sum(-1) - data["log_prob"][idx])
            kl = kl_divergence(dist, Normal(mean1[idx], std1[idx])).sum(-1)
            return (lam * coef * ratio * data["adv_c"][idx] + kl).mean()

        second = ppo_passes(self, data, projection_loss, update_critics=False)
        return {"kl": second["kl"], "passes": first["passes"], "projection_passes": second["passes"]}
