"""CPO (Achiam et al. 2017): maximise the reward surrogate inside the KL ball subject to the
linearised cost constraint, solved in closed form through its dual; five cases.

With g, b the reward and cost surrogate gradients, H the Fisher, q = gᵀH⁻¹g, r = gᵀH⁻¹b,
s = bᵀH⁻¹b, c = J_C − d and B = 2δ − c²/s:

* case 4: b ≈ 0 and c < 0 — the constraint is irrelevant: a TRPO step;
* case 3: c < 0, B < 0 — the whole trust region is feasible: a TRPO step;
* case 2: c < 0, B ≥ 0 — feasible now, the region crosses the boundary: the dual (λ*, ν*) step;
* case 1: c ≥ 0, B ≥ 0 — infeasible, recoverable inside the region: the dual step;
* case 0: c ≥ 0, B < 0 — infeasible and unrecoverable: pure cost descent −sqrt(2δ/s) H⁻¹b.
"""

from __future__ import annotations

import math

import torch

from .base import Algorithm, fit_critics, line_search, reward_and_cost_directions


def cpo_case(c: float, s: float, b_norm_sq: float, delta: float) -> int:
    """Which of CPO's five cases applies (see the module docstring)."""
    if b_norm_sq <= 1e-6 and c < 0:
        return 4
    big_b = 2 * delta - c**2 / (s + 1e-8)
    if c < 0 and big_b < 0:
        return 3
    if c < 0 <= big_b:
        return 2
    if c >= 0 and big_b >= 0:
        return 1
    return 0


def cpo_direction(case: int, x: torch.Tensor, p: torch.Tensor, q: float, r: float, s: float, c: float,
                  delta: float):
    """The step for ``case`` from x = H⁻¹g and p = H⁻¹b; returns (step, λ*, ν*)."""
    if case in (3, 4):
        lam = math.sqrt(q / (2 * delta))
        return x / lam, lam, 0.0
    if case == 0:
        nu = math.sqrt(2 * delta / (s + 1e-8))
        return -nu * p, 0.0, nu
    a = q - r**2 / (s + 1e-8)
    big_b = 2 * delta - c**2 / (s + 1e-8)
    lam_a = math.sqrt(max(a, 0.0) / big_b) if big_b > 0 else float("inf")
    lam_b = math.sqrt(q / (2 * delta))
    boundary = r / (c + 1e-8)
    if c < 0:
        lam_a_star = min(max(lam_a, 0.0), max(boundary, 0.0))
        lam_b_star = max(lam_b, boundary)
    else:
        lam_a_star = max(lam_a, boundary)
        lam_b_star = min(max(lam_b, 0.0), max(boundary, 0.0))

    def f_a(lam):
        return -0.5 * (a / (lam + 1e-8) + big_b * lam) - r * c / (s + 1e-8)

    def f_b(lam):
        return -0.5 * (q / (lam + 1e-8) + 2 * delta * lam)

    lam = lam_a_star if f_a(lam_a_star) >= f_b(lam_b_star) else lam_b_star
    nu = max(0.0, lam * c - r) / (s + 1e-8)
    return (x - nu * p) / (lam + 1e-8), lam, nu


class CPO(Algorithm):
    name = "cpo"

    def update(self, data: dict, mean_episode_cost: float) -> dict:
        cfg = self.cfg
        data = dict(data, adv_r_used=data["adv_r"])
        g, x, hvp, b, p = reward_and_cost_directions(self, data)
        q, r, s = float(g.dot(x)), float(g.dot(p)), float(b.dot(p))
        c = mean_episode_cost - cfg.cost_limit
        delta = cfg.trust_region_delta
        case = cpo_case(c, s, float(b.dot(b)), delta)
        step, lam, nu = cpo_direction(case, x, p, q, r, s, c, delta)

        def accept(gain, cost_change, kl):
            if case > 1 and gain < 0:  # feasible cases must not lose reward
                return False
            return cost_change <= max(-c, 0.0) and kl <= delta

        stats = line_search(self, data, step, accept)
        fit_critics(self, data)
        return dict(stats, cpo_case=case, cpo_lambda=lam, cpo_nu=nu)
