"""TRPO-Lagrangian: a TRPO step (natural gradient, KL radius δ, backtracking) on the Lagrangian advantage."""

from __future__ import annotations

from ..lagrange import Lagrange, lagrangian_advantage
from .base import Algorithm, fit_critics, line_search, natural_gradient


class TRPOLag(Algorithm):
    name = "trpo_lag"
    use_line_search = True

    def __init__(self, cfg, model):
        super().__init__(cfg, model)
        self.multiplier = Lagrange(cfg.cost_limit, cfg.lagrange_init, cfg.lagrange_lr, cfg.lagrange_upper)

    def update(self, data: dict, mean_episode_cost: float) -> dict:
        data = dict(data, adv_r_used=lagrangian_advantage(data["adv_r"], data["adv_c"], self.multiplier.value))
        _, x, _, step_size = natural_gradient(self, data, data["adv_r_used"])
        step = step_size * x
        delta = self.cfg.trust_region_delta
        if self.use_line_search:
            stats = line_search(self, data, step, lambda gain, _cost, kl: kl <= delta and gain >= 0)
        else:  # RCPO: plain natural-gradient step of fixed KL size
            stats = line_search(self, data, step, lambda _gain, _cost, _kl: True)
        fit_critics(self, data)
        return stats
