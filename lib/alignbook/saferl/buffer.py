"""On-policy rollout storage for ``num_envs`` parallel environments and GAE for reward and cost.

Arrays are ``[T, N]`` (time, env). An episode boundary at step ``t`` stops the advantage from
flowing back across it; its bootstrap value is 0 when the episode **terminated** and
``V(normalised final_observation)`` when it was **truncated** (the time limit is not part of the
MDP). At the end of the epoch every env bootstraps from ``V(next observation)``.
"""

from __future__ import annotations

import numpy as np
import torch


def gae(rewards, values, bootstrap, boundary, last_values, gamma: float, lam: float):
    """Generalised advantage estimates and λ-return targets over ``[T, N]`` arrays.

    ``bootstrap[t]`` is the value of the state after step ``t`` where an episode ended there
    (0 on termination); ``boundary[t]`` marks those steps; ``last_values`` is V of the
    observation after the final step. delta_t = r_t + gamma * V_next - V_t,
    A_t = delta_t + gamma * lam * (1 - boundary_t) * A_{t+1}.
    """
    steps = rewards.shape[0]
    next_values = np.empty_like(values)
    next_values[:-1] = values[1:]
    next_values[-1] = last_values
    next_values = np.where(boundary, bootstrap, next_values)
    deltas = rewards + gamma * next_values - values
    advantages = np.zeros_like(values)
    running = np.zeros_like(values[0])
    for t in reversed(range(steps)):
        running = deltas[t] + gamma * lam * (1.0 - boundary[t]) * running
        advantages[t] = running
    return advantages, advantages + values


class RolloutBuffer:
    def __init__(self, steps: int, num_envs: int, obs_dim: int, act_dim: int):
        shape = (steps, num_envs)
        self.obs = np.zeros((*shape, obs_dim), np.float32)
        self.act = np.zeros((*shape, act_dim), np.float32)
        self.log_prob = np.zeros(shape, np.float32)
        self.reward = np.zeros(shape, np.float64)
        self.cost = np.zeros(shape, np.float64)
        self.value_r = np.zeros(shape, np.float64)
        self.value_c = np.zeros(shape, np.float64)
        self.boundary = np.zeros(shape, np.float64)
        self.bootstrap_r = np.zeros(shape, np.float64)
        self.bootstrap_c = np.zeros(shape, np.float64)
        self.t = 0
        self.steps = steps

    def store(self, obs, act, log_prob, reward, cost, value_r, value_c):
        t = self.t
        self.obs[t], self.act[t], self.log_prob[t] = obs, act, log_prob
        self.reward[t], self.cost[t], self.value_r[t], self.value_c[t] = reward, cost, value_r, value_c
        self.boundary[t] = 0.0
        self.bootstrap_r[t] = 0.0
        self.bootstrap_c[t] = 0.0
        self.t += 1

    def end_episodes(self, ended: np.ndarray, bootstrap_r: np.ndarray, bootstrap_c: np.ndarray) -> None:
        """Mark the envs in ``ended`` as finishing an episode at the last stored step."""
        t = self.t - 1
        self.boundary[t, ended] = 1.0
        self.bootstrap_r[t, ended] = bootstrap_r
        self.bootstrap_c[t, ended] = bootstrap_c

    def get(self, last_value_r, last_value_c, gamma: float, lam: float, lam_c: float) -> dict:
        """Flatten the epoch; reward advantages standardised, cost advantages centred (SafePO)."""
        if self.t != self.steps:
            raise RuntimeError(f"buffer holds {self.t} of {self.steps} steps; collect a full epoch first")
        adv_r, target_r = gae(self.reward, self.value_r, self.bootstrap_r, self.boundary, last_value_r, gamma, lam)
        adv_c, target_c = gae(self.cost, self.value_c, self.bootstrap_c, self.boundary, last_value_c, gamma, lam_c)
        adv_r = (adv_r - adv_r.mean()) / (adv_r.std() + 1e-8)
        adv_c = adv_c - adv_c.mean()
        self.t = 0
        flat = lambda x: torch.as_tensor(x.reshape(-1, *x.shape[2:]), dtype=torch.float32)  # noqa: E731
        return {
            "obs": flat(self.obs), "act": flat(self.act), "log_prob": flat(self.log_prob),
            "adv_r": flat(adv_r), "adv_c": flat(adv_c), "target_r": flat(target_r), "target_c": flat(target_c),
        }
