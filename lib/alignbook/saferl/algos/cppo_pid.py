"""CPPO-PID (Stooke, Achiam & Abbeel 2020): PPO-Lag with λ set by a PID controller on J_C − d."""

from __future__ import annotations

from ..lagrange import PIDLagrange
from .ppo_lag import PPOLag


class CPPOPID(PPOLag):
    name = "cppo_pid"

    def __init__(self, cfg, model):
        super().__init__(cfg, model)
        self.multiplier = PIDLagrange(
            cfg.cost_limit, cfg.pid_kp, cfg.pid_ki, cfg.pid_kd, cfg.pid_d_delay,
            cfg.pid_delta_p_ema_alpha, cfg.pid_delta_d_ema_alpha, cfg.pid_penalty_max, cfg.lagrange_init,
            sum_norm=cfg.pid_sum_norm,
        )
