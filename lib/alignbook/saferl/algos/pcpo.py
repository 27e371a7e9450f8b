"""PCPO (Yang et al. 2020): a TRPO reward step, then a KL projection back onto the linearised
cost constraint: x = sqrt(2δ/q) H⁻¹g − max(0, (sqrt(2δ/q) r + c)/s) H⁻¹b."""

from __future__ import annotations

import math

from .base import Algorithm, fit_critics, line_search, reward_and_cost_directions


def pcpo_direction(x, p, q: float, r: float, s: float, c: float, delta: float):
    scale = math.sqrt(2 * delta / (q + 1e-8))
    correction = max(0.0, (scale * r + c) / (s + 1e-8))
    return scale * x - correction * p, correction


class PCPO(Algorithm):
    name = "pcpo"

    def update(self, data: dict, mean_episode_cost: float) -> dict:
        cfg = self.cfg
        data = dict(data, adv_r_used=data["adv_r"])
        g, x, hvp, b, p = reward_and_cost_directions(self, data)
        c = mean_episode_cost - cfg.cost_limit
        step, correction = pcpo_direction(x, p, float(g.dot(x)), float(g.dot(p)), float(b.dot(p)), c,
                                          cfg.trust_region_delta)
        stats = line_search(self, data, step, lambda _gain, _cost, kl: kl <= cfg.trust_region_delta)
        fit_critics(self, data)
        return dict(stats, pcpo_correction=correction)
