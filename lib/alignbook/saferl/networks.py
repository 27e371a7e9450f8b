"""SafePO's actor-critic: a [64, 64] tanh Gaussian actor with state-independent log-std, and
separate reward and cost critics of the same shape (``safepo/common/model.py``).

Layers keep PyTorch's default ``nn.Linear`` initialisation, which is what SafePO's
``kaiming_uniform_(a=sqrt(5))`` call reproduces; the log-std starts at 0 (std 1).
"""

from __future__ import annotations

import torch
from torch import nn
from torch.distributions import Normal


def mlp(sizes: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(len(sizes) - 1):
        layers.append(nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class Actor(nn.Module):
    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes=(64, 64)):
        super().__init__()
        self.mean = mlp([obs_dim, *hidden_sizes, act_dim])
        self.log_std = nn.Parameter(torch.zeros(act_dim))

    def forward(self, obs: torch.Tensor) -> Normal:
        # validate_args=False: the argument checks cost more than the forward pass of these small nets
        return Normal(self.mean(obs), self.log_std.exp(), validate_args=False)


class Critic(nn.Module):
    def __init__(self, obs_dim: int, hidden_sizes=(64, 64)):
        super().__init__()
        self.net = mlp([obs_dim, *hidden_sizes, 1])

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs).squeeze(-1)


class ActorCritic(nn.Module):
    """Actor, reward critic V_R and cost critic V_C (no shared layers)."""

    def __init__(self, obs_dim: int, act_dim: int, hidden_sizes=(64, 64)):
        super().__init__()
        self.actor = Actor(obs_dim, act_dim, hidden_sizes)
        self.reward_critic = Critic(obs_dim, hidden_sizes)
        self.cost_critic = Critic(obs_dim, hidden_sizes)

    @torch.no_grad()
    def step(self, obs: torch.Tensor, deterministic: bool = False):
        """Action, its log-probability, V_R(obs) and V_C(obs) for a batch of observations."""
        dist = self.actor(obs)
        action = dist.mean if deterministic else dist.sample()
        return action, dist.log_prob(action).sum(-1), self.reward_critic(obs), self.cost_critic(obs)

    @torch.no_grad()
    def values(self, obs: torch.Tensor):
        return self.reward_critic(obs), self.cost_critic(obs)
