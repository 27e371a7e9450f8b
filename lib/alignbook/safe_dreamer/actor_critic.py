"""BSRP-Lag: a DreamerV3 actor with reward and cost critics, trained in imagination, with the
augmented-Lagrangian cost penalty (agent.py ImagActorCritic.loss, jaxutils.Lagrange).

Per update: start from posterior states of replayed sequences, imagine ``horizon`` (15) steps with
the actor's reparameterised actions, predict rewards, costs and continuation; reward and cost
λ-returns (λ 0.95, γ = 1 − 1/333) bootstrap from the critics; the actor maximises the normalised
reward advantage (backprop through the dynamics; returns scaled by max(1, P95 − P5), an EMA 0.99)
plus entropy 3e-4, and pays ψ from :class:`.maths.AugmentedLagrangian` on the imagined cost
return (configs.yaml bsrp_lag ``pessimistic: True``: the cost λ-returns summed over the horizon).

Simplified: critics regress the λ-return with targets from a slow copy (EMA 0.02) instead of the
official slow-critic regulariser; the world model is frozen while the actor learns.
"""

from __future__ import annotations

import copy
import dataclasses

import torch
from torch import nn

from .maths import AugmentedLagrangian, lambda_return, twohot_mean, twohot_nll
from .world_model import WorldModel, mlp


class Actor(nn.Module):
    """Normal(tanh(μ), σ) with σ in [0.1, 1] (configs.yaml actor: minstd 0.1, maxstd 1.0)."""

    def __init__(self, feat_dim: int, act_dim: int, units: int, layers: int, minstd: float = 0.1, maxstd: float = 1.0):
        super().__init__()
        self.net = mlp(feat_dim, 2 * act_dim, units, layers)
        self.minstd, self.maxstd = minstd, maxstd

    def dist(self, feat: torch.Tensor) -> torch.distributions.Normal:
        mean, std = self.net(feat).chunk(2, -1)
        std = (self.maxstd - self.minstd) * torch.sigmoid(std + 2.0) + self.minstd
        return torch.distributions.Normal(torch.tanh(mean), std)

    def mode(self, feat: torch.Tensor) -> torch.Tensor:
        return self.dist(feat).mean


class Moments:
    """Percentile EMA return scale (configs.yaml retnorm: perc_ema, decay 0.99, 5th-95th, max 1)."""

    def __init__(self, decay: float = 0.99, limit: float = 1.0):
        self.decay, self.limit = decay, limit
        self.low = self.high = None

    def __call__(self, x: torch.Tensor) -> float:
        x = x.detach().flatten().float()
        lo, hi = torch.quantile(x, 0.05).item(), torch.quantile(x, 0.95).item()
        d = self.decay
        self.low = lo if self.low is None else d * self.low + (1 - d) * lo
        self.high = hi if self.high is None else d * self.high + (1 - d) * hi
        return max(self.limit, self.high - self.low)


@dataclasses.dataclass
class ACSettings:
    horizon: int = 15
    gamma: float = 1.0 - 1.0 / 333
    lam: float = 0.95
    actent: float = 3e-4
    actor_lr: float = 3e-5
    critic_lr: float = 3e-5
    slow_fraction: float = 0.02
    cost_limit: float = 2.0
    use_penalty: bool = True
    lagrange_init: float = 1e-6
    penalty_init: float = 5e-9
    penalty_growth: float = 1e-5


class ActorCritic:
    """Actor, reward critic, cost critic and the augmented Lagrangian of one BSRP-Lag agent."""

    def __init__(self, model: WorldModel, settings: ACSettings, units: int, layers: int):
        self.model, self.s = model, settings
        f, a = model.feat_dim, model.sizes.act_dim
        self.actor = Actor(f, a, units, layers)
        self.critic = mlp(f, 255, units, layers, zero_out=True)
        self.cost_critic = mlp(f, 255, units, layers, zero_out=True)
        self.slow = copy.deepcopy(self.critic).requires_grad_(False)
        self.slow_cost = copy.deepcopy(self.cost_critic).requires_grad_(False)
        device = next(model.parameters()).device
        for net in (self.actor, self.critic, self.cost_critic, self.slow, self.slow_cost):
            net.to(device)
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=settings.actor_lr, eps=1e-5)
        self.critic_opt = torch.optim.Adam([*self.critic.parameters(), *self.cost_critic.parameters()],
                                           lr=settings.critic_lr, eps=1e-5)
        self.lagrange = AugmentedLagrangian(settings.cost_limit, settings.lagrange_init, settings.penalty_init,
                                            settings.penalty_growth)
        self.retnorm = Moments()

    def act(self, state: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.actor.mode(self.model.feat(state))

    def update(self, start: dict[str, torch.Tensor]) -> dict[str, float]:
        """One actor and critic step from ``start`` posterior states [N, ...] (detached)."""
        s, m = self.s, self.model
        m.requires_grad_(False)
        traj = m.imagine(start, lambda state, t: self.actor.dist(m.feat(state).detach()).rsample(),
                         s.horizon)
        feat = traj["feat"]
        reward, cost = m.reward(feat[1:]), m.cost(feat[1:])
        cont = torch.cat([torch.ones_like(feat[:1, :, 0]), m.cont(feat[1:])], 0)
        disc = s.gamma * cont[1:]
        weight = (torch.cumprod(s.gamma * cont, 0) / s.gamma).detach()
        value = twohot_mean(self.slow(feat))
        cvalue = twohot_mean(self.slow_cost(feat))
        ret = lambda_return(reward, disc, value, s.lam)
        cret = lambda_return(cost, disc, cvalue, s.lam)
        scale = self.retnorm(ret)
        adv = (ret - value[:-1]) / scale
        dist = self.actor.dist(feat[:-1].detach())
        loss = (-(adv) * weight[:-1] - s.actent * dist.entropy().sum(-1) * weight[:-1]).mean()
        episode_cost = cret.sum(0)
        if s.use_penalty:
            psi = self.lagrange(episode_cost)
            loss = loss + psi
        self.actor_opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.actor.parameters(), 100.0)
        self.actor_opt.step()
        # critics on the λ-returns (targets detached)
        f = feat[:-1].detach()
        closs = ((twohot_nll(self.critic(f), ret.detach()) + twohot_nll(self.cost_critic(f), cret.detach()))
                 * weight[:-1]).mean()
        self.critic_opt.zero_grad()
        closs.backward()
        torch.nn.utils.clip_grad_norm_([*self.critic.parameters(), *self.cost_critic.parameters()], 100.0)
        self.critic_opt.step()
        with torch.no_grad():
            for fast, slow in ((self.critic, self.slow), (self.cost_critic, self.slow_cost)):
                for p, q in zip(fast.parameters(), slow.parameters()):
                    q.mul_(1 - s.slow_fraction).add_(s.slow_fraction * p)
        m.requires_grad_(True)
        return {"actor_loss": float(loss.detach()), "critic_loss": float(closs.detach()),
                "imagined_return": float(reward.sum(0).mean().detach()),
                "imagined_cost": float(cost.sum(0).mean().detach()),
                "cost_return": float(episode_cost.mean().detach()),
                "multiplier": self.lagrange.multiplier, "penalty": self.lagrange.penalty}

    def state_dict(self) -> dict:
        """The networks' weights (on the CPU, to load on any machine) and the Lagrangian's state."""
        cpu = lambda net: {k: v.cpu() for k, v in net.state_dict().items()}  # noqa: E731
        return {"actor": cpu(self.actor), "critic": cpu(self.critic), "cost_critic": cpu(self.cost_critic),
                "lagrange": self.lagrange.state_dict()}
