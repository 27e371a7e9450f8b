"""Lagrange multipliers: gradient ascent on λ (PPO-Lag, TRPO-Lag, RCPO, FOCOPS, CUP) and PID (CPPO-PID).

Both are updated once per epoch, **before** the policy update, from ``J_C`` as SafePO computes it
(:func:`alignbook.saferl.trainer.lagrange_input`): 0 in the first epoch, then the mean over the
epoch's episode ends of the running mean undiscounted cost of the last ``cost_window`` (50) episodes.
"""

from __future__ import annotations

from collections import deque

import torch


class Lagrange:
    """λ ≥ 0 trained by Adam on the loss  -λ (J_C - d): λ grows while J_C > d, shrinks below.

    After each step λ is clamped to ``[0, upper]`` (``upper=None``: no upper bound).
    """

    def __init__(self, cost_limit: float, init: float = 0.001, lr: float = 0.035, upper: float | None = None):
        if init < 0:
            raise ValueError(f"lagrange_init={init} must be >= 0")
        self.cost_limit = cost_limit
        self.upper = upper
        self.multiplier = torch.nn.Parameter(torch.tensor(float(init)))
        self.optimizer = torch.optim.Adam([self.multiplier], lr=lr)

    @property
    def value(self) -> float:
        return float(self.multiplier.detach())

    def update(self, mean_episode_cost: float) -> float:
        loss = -self.multiplier * (mean_episode_cost - self.cost_limit)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        with torch.no_grad():
            self.multiplier.clamp_(0.0, self.upper if self.upper is not None else float("inf"))
        return self.value

    def state_dict(self) -> dict:
        return {"multiplier": self.value, "optimizer": self.optimizer.state_dict()}


class PIDLagrange:
    """PID control of λ on the constraint violation (Stooke, Achiam & Abbeel 2020; CPPO-PID).

    P acts on an EMA of the violation ``J_C - d``; I accumulates ``K_i (J_C - d)`` and stays ≥ 0;
    D acts on the rise of an EMA of ``J_C`` over the last ``d_delay`` epochs (only rises count).
    λ = max(0, K_p P + I + K_d D), clamped above at ``penalty_max`` only when ``sum_norm`` is off.

    ``sum_norm=True`` is SafePO's and OmniSafe's default (``safepo/common/lagrange.py``,
    ``PIDLagrangian``): the penalised advantage is normalised by (1 + λ) and the upper clamp is then
    never applied, so ``penalty_max`` only matters with ``sum_norm=False``.
    """

    def __init__(self, cost_limit: float, kp: float, ki: float, kd: float, d_delay: int = 10,
                 delta_p_ema_alpha: float = 0.95, delta_d_ema_alpha: float = 0.95, penalty_max: float = 100.0,
                 init: float = 0.001, sum_norm: bool = True):
        self.cost_limit, self.kp, self.ki, self.kd = cost_limit, kp, ki, kd
        self.alpha_p, self.alpha_d, self.penalty_max = delta_p_ema_alpha, delta_d_ema_alpha, penalty_max
        self.sum_norm = sum_norm
        self.integral = float(init)
        self.delta_p = 0.0
        self.cost_d = 0.0
        self.cost_history: deque[float] = deque([0.0], maxlen=d_delay)
        self.value = float(init)
        self.terms = {"p": 0.0, "i": self.integral, "d": 0.0}

    def update(self, mean_episode_cost: float) -> float:
        violation = mean_episode_cost - self.cost_limit
        self.integral = max(0.0, self.integral + self.ki * violation)
        self.delta_p = self.alpha_p * self.delta_p + (1 - self.alpha_p) * violation
        self.cost_d = self.alpha_d * self.cost_d + (1 - self.alpha_d) * mean_episode_cost
        derivative = max(0.0, self.cost_d - self.cost_history[0])
        self.terms = {"p": self.kp * self.delta_p, "i": self.integral, "d": self.kd * derivative}
        self.value = max(0.0, sum(self.terms.values()))
        if not self.sum_norm:
            self.value = min(self.value, self.penalty_max)
        self.cost_history.append(self.cost_d)
        return self.value

    def state_dict(self) -> dict:
        return {"multiplier": self.value, "integral": self.integral, "delta_p": self.delta_p,
                "cost_d": self.cost_d, "cost_history": list(self.cost_history)}


def lagrangian_advantage(adv_r: torch.Tensor, adv_c: torch.Tensor, multiplier: float) -> torch.Tensor:
    """(Â_R − λ Â_C) / (1 + λ): the penalised advantage, rescaled so its size does not grow with λ."""
    return (adv_r - multiplier * adv_c) / (1.0 + multiplier)
