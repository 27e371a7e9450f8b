"""OSRP, OSRP-Lag and unconstrained CEM: planning in the world model's latent space.

The official planners are ``CCEPlanner`` (OSRP), ``PIDPlanner`` (OSRP-Lag) and ``CEMPlanner``
(behaviors.py). Per environment step, from the previous plan shifted by one step (its last entry
repeated) and σ = ``init_std``, for each of ``iterations`` rounds:

1. sample ``samples`` action sequences a ~ clip(μ + σ ε, −1, 1) over ``horizon`` steps and imagine them;
2. reward return R (λ-return of the predicted rewards) and predicted episode cost
   Ĉ = (Σ_t ĉ_t) · ``episode_scale`` / horizon (1000 / 15);
3. elites (:func:`select_elites`): OSRP: if fewer than ``elites`` sequences have Ĉ < b, the
   ``elites`` with the lowest Ĉ; else the safe ones with the highest R. OSRP-Lag ranks the safe set
   by R − λ_p C^λ (C^λ the cost λ-return); CEM ranks all by R;
4. μ ← m μ + (1 − m) mean(elites), σ ← std(elites) with momentum m = 0.1.

The plan's first mean action is executed. λ_p comes from a PID Lagrangian on real episode costs
(:class:`alignbook.saferl.lagrange.PIDLagrange`, K_p 0.1, K_i 0.01, K_d 0.01, clamped to [0, 0.1]).

Simplified here: no critic bootstrap at the horizon (the official planner adds the task
actor-critic's value v_H; here v = 0 and the return is the discounted sum, λ = 1); the policy
trajectories of ``mixture_coef`` are left out (the osrp configs set it to 0).
"""

from __future__ import annotations

import dataclasses

import torch

from ..saferl.lagrange import PIDLagrange
from .maths import lambda_return
from .world_model import WorldModel

METHODS = ("cem", "osrp", "osrp_lag")
"""Unconstrained CEM, OSRP (CCEPlanner) and OSRP-Lag (PIDPlanner)."""


@dataclasses.dataclass(frozen=True)
class PlannerSettings:
    """One planner's sizes (official osrp: horizon 15, samples 500, elites 50, iterations 6)."""

    method: str = "osrp"
    horizon: int = 15
    samples: int = 500
    elites: int = 50
    iterations: int = 6
    momentum: float = 0.1
    init_std: float = 1.0
    cost_limit: float = 2.0
    episode_scale: float = 1000.0
    gamma: float = 1.0 - 1.0 / 333


def select_elites(ret: torch.Tensor, cost: torch.Tensor, k: int, cost_limit: float, method: str,
                  penalised: torch.Tensor | None = None) -> tuple[torch.Tensor, bool]:
    """Indices of the ``k`` elites and whether the safe-set rule applied (enough safe sequences).

    ``cem``: top-k of ``ret``. ``osrp``/``osrp_lag``: with fewer than k sequences of ``cost`` <
    ``cost_limit``, the k lowest costs; otherwise the top k of ``ret`` (``osrp``) or ``penalised``
    (``osrp_lag``: R − λ_p C) among the safe ones."""
    if method == "cem":
        return torch.topk(ret, k).indices, True
    if method not in METHODS:
        raise ValueError(f"method={method!r}; expected one of {', '.join(METHODS)}")
    safe = cost < cost_limit
    if int(safe.sum()) < k:
        return torch.topk(-cost, k).indices, False
    score = penalised if method == "osrp_lag" else ret
    if score is None:
        raise ValueError("osrp_lag needs the penalised return R - lambda_p * C")
    return torch.topk(torch.where(safe, score, torch.full_like(score, -float("inf"))), k).indices, True


class Planner:
    """The constrained CEM planner of one episode stream (keeps the previous plan between steps).

    The action noise comes from ``generator`` on the CPU and moves to the model's device, so a seed draws
    the same noise whichever device imagines the sequences."""

    def __init__(self, model: WorldModel, settings: PlannerSettings, act_dim: int, generator: torch.Generator | None = None):
        if settings.elites > settings.samples:
            raise ValueError(f"elites={settings.elites} must be at most samples={settings.samples}")
        self.model, self.s, self.act_dim = model, settings, act_dim
        self.generator = generator
        self.mean: torch.Tensor | None = None
        self.last: dict[str, float] = {}

    def reset(self) -> None:
        self.mean = None

    @torch.no_grad()
    def plan(self, state: dict[str, torch.Tensor], lagrange_penalty: float = 0.0) -> torch.Tensor:
        """The action for the latent ``state`` (batch 1)."""
        s, device = self.s, state["deter"].device
        H, N = s.horizon, s.samples
        if self.mean is None:
            mean = torch.zeros(H + 1, self.act_dim, device=device)
        else:
            mean = torch.roll(self.mean, -1, 0)
            mean[-1] = mean[-2]
        std = s.init_std * torch.ones(H + 1, self.act_dim, device=device)
        start = {k: state[k].expand(N, -1) for k in ("deter", "stoch")}
        for _ in range(s.iterations):
            noise = torch.randn(H + 1, N, self.act_dim, generator=self.generator).to(device)
            actions = (mean[:, None] + std[:, None] * noise).clamp(-1.0, 1.0)
            traj = self.model.imagine(start, lambda _state, t: actions[t], H)
            feat = traj["feat"][1:]
            reward, cost = self.model.reward(feat), self.model.cost(feat)
            disc = s.gamma * self.model.cont(feat)
            zeros = torch.zeros(H + 1, N, device=device)
            ret = lambda_return(reward, disc, zeros, 1.0)[0]
            traj_cost = cost.sum(0) * (s.episode_scale / H)
            penalised = None
            if s.method == "osrp_lag":
                penalised = ret - lagrange_penalty * lambda_return(cost, disc, zeros, 1.0)[0]
            idx, enough = select_elites(ret, traj_cost, s.elites, s.cost_limit, s.method, penalised)
            elite = actions[:, idx]
            mean = s.momentum * mean + (1 - s.momentum) * elite.mean(1)
            std = elite.std(1, unbiased=False)
        self.mean = mean
        self.last = {"safe_fraction": float((traj_cost < s.cost_limit).float().mean()), "enough_safe": float(enough),
                     "plan_cost": float(traj_cost.mean()), "plan_return": float(ret.mean())}
        return mean[0]


def pid_for_planner(cost_limit: float, kp: float = 0.1, ki: float = 0.01, kd: float = 0.01,
                    penalty_max: float = 0.1) -> PIDLagrange:
    """OSRP-Lag's PID Lagrangian (configs.yaml osrp_lag pid: kp 0.1, ki 0.01, kd 0.01, penalty_max 0.1,
    init_penalty 0; d_delay 10, EMA α 0.95; λ_p clipped to [0, penalty_max])."""
    return PIDLagrange(cost_limit, kp=kp, ki=ki, kd=kd, d_delay=10, delta_p_ema_alpha=0.95,
                       delta_d_ema_alpha=0.95, penalty_max=penalty_max, init=0.0, sum_norm=False)
