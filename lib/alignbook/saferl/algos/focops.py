"""FOCOPS (Zhang, Vuong & Ross 2020): first-order constrained optimisation in policy space.

Per sample: L = KL(π_θ‖π_old) − (1/τ)·ratio·(Â_R − νÂ_C)/(1 + ν), averaged only over states whose
KL is still ≤ η; ν by gradient ascent clamped to [0, ν_max]. τ = 1.5, ν_max = 2, η = 0.02.

As SafePO (``safepo/single_agent/focops.py``): the KL is from the new policy to the old one (the
FOCOPS paper's D_KL(π_θ‖π_θk) in its loss), and the advantage is divided by 1 + ν, the
normalisation SafePO applies to every Lagrangian method (not in the paper).
"""

from __future__ import annotations

import torch
from torch.distributions import Normal, kl_divergence

from ..lagrange import Lagrange
from .base import Algorithm, ppo_passes


def focops_loss(dist, old_mean, old_std, act, old_log_prob, adv_r, adv_c, nu: float, temperature: float,
                eta: float) -> torch.Tensor:
    kl = kl_divergence(dist, Normal(old_mean, old_std)).sum(-1)
    ratio = torch.exp(dist.log_prob(act).sum(-1) - old_log_prob)
    per_sample = kl - ratio * (adv_r - nu * adv_c) / (1.0 + nu) / temperature
    return (per_sample * (kl.detach() <= eta).float()).mean()


class FOCOPS(Algorithm):
    name = "focops"

    def __init__(self, cfg, model):
        super().__init__(cfg, model)
        self.multiplier = Lagrange(cfg.cost_limit, cfg.lagrange_init, cfg.lagrange_lr, cfg.focops_nu_max)

    def update(self, data: dict, mean_episode_cost: float) -> dict:
        cfg = self.cfg
        with torch.no_grad():
            old = self.model.actor(data["obs"])
            old_mean, old_std = old.mean.clone(), old.stddev.clone()
        nu = self.multiplier.value

        def loss(dist, idx):
            return focops_loss(dist, old_mean[idx], old_std[idx], data["act"][idx], data["log_prob"][idx],
                               data["adv_r"][idx], data["adv_c"][idx], nu, cfg.focops_temperature, cfg.focops_eta)

        return ppo_passes(self, data, loss)
