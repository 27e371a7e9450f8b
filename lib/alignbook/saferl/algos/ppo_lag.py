"""PPO-Lagrangian (Ray, Achiam & Amodei 2019): PPO on (Â_R − λÂ_C)/(1+λ), λ by gradient ascent."""

from __future__ import annotations

from ..lagrange import Lagrange, lagrangian_advantage
from .ppo import PPO


class PPOLag(PPO):
    name = "ppo_lag"

    def __init__(self, cfg, model):
        super().__init__(cfg, model)
        self.multiplier = Lagrange(cfg.cost_limit, cfg.lagrange_init, cfg.lagrange_lr, cfg.lagrange_upper)

    def advantage(self, data):
        return lagrangian_advantage(data["adv_r"], data["adv_c"], self.multiplier.value)
