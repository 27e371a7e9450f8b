"""What every algorithm shares: the PPO-clip pass loop, critic regression and trust-region tools."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn
from torch.distributions import kl_divergence

from ..networks import ActorCritic


class Algorithm:
    """One SafePO algorithm: owns the optimisers (and λ, if any) of an :class:`ActorCritic`."""

    name = "base"
    multiplier = None  # a Lagrange / PIDLagrange where the algorithm has one

    def __init__(self, cfg, model: ActorCritic):
        self.cfg = cfg
        self.model = model
        # One fused Adam with a parameter group per network is the same update as SafePO's three
        # Adams (Adam is elementwise; a network whose .grad is None is skipped), in fewer kernels.
        self.optimizer = torch.optim.Adam(
            [{"params": model.actor.parameters(), "lr": cfg.actor_lr},
             {"params": model.reward_critic.parameters(), "lr": cfg.critic_lr},
             {"params": model.cost_critic.parameters(), "lr": cfg.critic_lr}],
            fused=True,
        )

    @property
    def lagrangian(self) -> float | None:
        return None if self.multiplier is None else self.multiplier.value

    def update_multiplier(self, mean_episode_cost: float) -> None:
        """Once per epoch, before :meth:`update` (SafePO's order)."""
        if self.multiplier is not None:
            self.multiplier.update(mean_episode_cost)

    def set_actor_lr(self, lr: float) -> None:
        self.optimizer.param_groups[0]["lr"] = lr

    def update(self, data: dict, mean_episode_cost: float) -> dict:
        raise NotImplementedError


def critic_losses(model: ActorCritic, obs, target_r, target_c, l2: float):
    loss_r = nn.functional.mse_loss(model.reward_critic(obs), target_r)
    loss_c = nn.functional.mse_loss(model.cost_critic(obs), target_c)
    if l2:
        loss_r = loss_r + l2 * sum(p.pow(2).sum() for p in model.reward_critic.parameters())
        loss_c = loss_c + l2 * sum(p.pow(2).sum() for p in model.cost_critic.parameters())
    return loss_r, loss_c


def mean_kl(model: ActorCritic, obs, old_mean, old_std) -> float:
    with torch.no_grad():
        new = model.actor(obs)
        old = torch.distributions.Normal(old_mean, old_std)
        return float(kl_divergence(old, new).sum(-1).mean())


def minibatches(size: int, batch: int, generator: torch.Generator):
    order = torch.randperm(size, generator=generator)
    for start in range(0, size, batch):
        yield order[start:start + batch]


def ppo_passes(algo: Algorithm, data: dict, actor_loss: Callable, update_critics: bool = True) -> dict:
    """SafePO's PPO-family loop: up to ``learning_iters`` passes of minibatch Adam steps on the
    actor loss plus both critic losses, stopping after the first pass whose KL(old||new) over the
    whole batch exceeds ``target_kl``. ``actor_loss(dist, idx)`` returns the actor's loss."""
    cfg, model = algo.cfg, algo.model
    with torch.no_grad():
        old = model.actor(data["obs"])
        old_mean, old_std = old.mean.clone(), old.stddev.clone()
    generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
    optimizer = algo.optimizer
    size = data["obs"].shape[0]
    kl, passes = 0.0, 0
    for _ in range(cfg.learning_iters):
        for idx in minibatches(size, cfg.minibatch_size, generator):
            obs = data["obs"][idx]
            loss = actor_loss(model.actor(obs), idx)
            if update_critics:
                loss_r, loss_c = critic_losses(model, obs, data["target_r"][idx], data["target_c"][idx], cfg.critic_l2)
                loss = loss + loss_r + loss_c
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
            optimizer.step()
        passes += 1
        kl = mean_kl(model, data["obs"], old_mean, old_std)
        if kl > cfg.target_kl:
            break
    return {"kl": kl, "passes": passes}


def clipped_surrogate(dist, act, old_log_prob, advantage, clip: float) -> torch.Tensor:
    ratio = torch.exp(dist.log_prob(act).sum(-1) - old_log_prob)
    return -torch.min(ratio * advantage, ratio.clamp(1 - clip, 1 + clip) * advantage).mean()


def fit_critics(algo: Algorithm, data: dict) -> None:
    """TRPO family: ``critic_iters`` passes of minibatch (128) regression on both critics."""
    cfg, model = algo.cfg, algo.model
    generator = torch.Generator().manual_seed(int(torch.randint(0, 2**31 - 1, ()).item()))
    for _ in range(cfg.critic_iters):
        for idx in minibatches(data["obs"].shape[0], cfg.critic_minibatch_size, generator):
            loss_r, loss_c = critic_losses(model, data["obs"][idx], data["target_r"][idx], data["target_c"][idx],
                                           cfg.critic_l2)
            algo.optimizer.zero_grad(set_to_none=True)
            (loss_r + loss_c).backward()  # disjoint networks: same gradients as two backward passes
            nn.utils.clip_grad_norm_(model.reward_critic.parameters(), cfg.max_grad_norm)
            nn.utils.clip_grad_norm_(model.cost_critic.parameters(), cfg.max_grad_norm)
            algo.optimizer.step()


# ---- trust-region tools ------------------------------------------------------------------

def flat_params(module: nn.Module) -> torch.Tensor:
    return torch.cat([p.data.view(-1) for p in module.parameters()])


def set_flat_params(module: nn.Module, flat: torch.Tensor) -> None:
    offset = 0
    for p in module.parameters():
        n = p.numel()
        p.data.copy_(flat[offset:offset + n].view_as(p))
        offset += n


def flat_grad(output: torch.Tensor, module: nn.Module, **kwargs) -> torch.Tensor:
    grads = torch.autograd.grad(output, list(module.parameters()), **kwargs)
    return torch.cat([g.reshape(-1) for g in grads])


def conjugate_gradient(matvec: Callable, b: torch.Tensor, iters: int, tol: float = 1e-10) -> torch.Tensor:
    """Solve H x = b with ``iters`` conjugate-gradient steps (H given as a matrix-vector product)."""
    x = torch.zeros_like(b)
    r = b.clone()
    p = b.clone()
    rr = r.dot(r)
    for _ in range(iters):
        hp = matvec(p)
        alpha = rr / (p.dot(hp) + 1e-8)
        x += alpha * p
        r -= alpha * hp
        rr_new = r.dot(r)
        if rr_new < tol:
            break
        p = r + (rr_new / rr) * p
        rr = rr_new
    return x


def fisher_vector_product(actor: nn.Module, obs: torch.Tensor, damping: float) -> Callable:
    """v ↦ (F + damping I) v, with F the Hessian of KL(π_old || π_θ) at θ = θ_old.

    The KL is the **mean over states and action dimensions**, as SafePO's second-order methods take it
    (``safepo/single_agent/trpo_lag.py`` ``fvp``: ``kl_divergence(...).mean()`` of a per-dimension
    Normal; the same in cpo.py, pcpo.py, rcpo.py); summing over action dimensions would make F
    ``act_dim`` times larger and the trust region ``act_dim`` times tighter in KL.
    """

    def matvec(v: torch.Tensor) -> torch.Tensor:
        dist = actor(obs)
        old = torch.distributions.Normal(dist.mean.detach(), dist.stddev.detach())
        kl = kl_divergence(old, dist).mean()
        grad = flat_grad(kl, actor, create_graph=True)
        return flat_grad(grad.dot(v), actor) + damping * v

    return matvec


def surrogate(actor: nn.Module, data: dict, advantage: torch.Tensor) -> torch.Tensor:
    """E[π_θ(a|s)/π_old(a|s) · A]."""
    dist = actor(data["obs"])
    ratio = torch.exp(dist.log_prob(data["act"]).sum(-1) - data["log_prob"])
    return (ratio * advantage).mean()


def kl_to(actor: nn.Module, obs: torch.Tensor, old_mean, old_std) -> float:
    """The line search's KL(π_old || π_θ): mean over states and action dimensions, as the Fisher
    product takes it (SafePO ``trpo_lag.py`` line search: ``kl_divergence(...).mean()``)."""
    with torch.no_grad():
        dist = actor(obs)
        return float(kl_divergence(torch.distributions.Normal(old_mean, old_std), dist).mean())


def natural_gradient(algo: Algorithm, data: dict, advantage: torch.Tensor):
    """g = ∇ surrogate, x ≈ H⁻¹ g by CG, and the full step size sqrt(2δ / xᵀHx)."""
    cfg, actor = algo.cfg, algo.model.actor
    g = flat_grad(surrogate(actor, data, advantage), actor)
    hvp = fisher_vector_product(actor, data["obs"], cfg.cg_damping)
    x = conjugate_gradient(hvp, g, cfg.cg_iters)
    xhx = x.dot(hvp(x)).clamp_min(1e-12)
    return g, x, hvp, float(torch.sqrt(2 * cfg.trust_region_delta / xhx))


def line_search(algo: Algorithm, data: dict, step: torch.Tensor, accept: Callable[[float, float, float], bool]):
    """Backtrack θ_old + β^k step until ``accept(reward_gain, cost_change, kl)``; else keep θ_old."""
    cfg, actor = algo.cfg, algo.model.actor
    theta = flat_params(actor)
    with torch.no_grad():
        old = actor(data["obs"])
        old_mean, old_std = old.mean.clone(), old.stddev.clone()
        reward_before = float(surrogate(actor, data, data["adv_r_used"]))
        cost_before = float(surrogate(actor, data, data["adv_c"]))
    fraction = 1.0
    for k in range(cfg.backtrack_steps):
        set_flat_params(actor, theta + fraction * step)
        with torch.no_grad():
            reward_gain = float(surrogate(actor, data, data["adv_r_used"])) - reward_before
            cost_change = float(surrogate(actor, data, data["adv_c"])) - cost_before
        kl = kl_to(actor, data["obs"], old_mean, old_std)
        if np.isfinite(kl) and accept(reward_gain, cost_change, kl):
            return {"accepted_step": k + 1, "kl": kl}
        fraction *= cfg.backtrack_coef
    set_flat_params(actor, theta)
    return {"accepted_step": 0, "kl": 0.0}


def reward_and_cost_directions(algo, data: dict):
    """What CPO and PCPO both start from: g and x = H⁻¹g for the reward, b and p = H⁻¹b for the cost.

    Returns ``(g, x, hvp, b, p)``; ``hvp`` is the Fisher-vector product used for both solves.
    """
    g, x, hvp, _ = natural_gradient(algo, data, data["adv_r"])
    b = flat_grad(surrogate(algo.model.actor, data, data["adv_c"]), algo.model.actor)
    p = conjugate_gradient(hvp, b, algo.cfg.cg_iters)
    return g, x, hvp, b, p
