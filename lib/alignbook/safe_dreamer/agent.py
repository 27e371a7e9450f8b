"""Acting in the real environment: the latent filter, the planner or an actor, online world-model updates
and the PID Lagrangian on real episode costs (embodied/run/train_eval.py)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from .data import Episode, Replay, RepeatEnv, episode_stats, run_episode
from .planner import Planner, PlannerSettings, pid_for_planner
from .training import train_steps
from .world_model import WorldModel


class LatentFilter:
    """The posterior state of the running episode: z_t from h_t and the observation o_t."""

    def __init__(self, model: WorldModel):
        self.model = model
        self.state: dict[str, torch.Tensor] | None = None
        self.prev_action: torch.Tensor | None = None

    @torch.no_grad()
    def __call__(self, obs: np.ndarray, first: bool) -> dict[str, torch.Tensor]:
        device = next(self.model.parameters()).device
        if first or self.state is None:
            self.state = self.model.initial(1, device)
            self.prev_action = torch.zeros(1, self.model.sizes.act_dim, device=device)
        embed = self.model.embed(torch.as_tensor(obs, device=device)[None])
        post, _ = self.model.obs_step(self.state, self.prev_action, embed)
        self.state = {k: post[k] for k in ("deter", "stoch")}
        return self.state

    def taken(self, action: torch.Tensor) -> None:
        self.prev_action = action.reshape(1, -1)


def run_with_planner(model: WorldModel, env: RepeatEnv, settings: PlannerSettings, episodes: int, seed: int,
                     replay: Replay | None = None, opt: torch.optim.Optimizer | None = None, updates: int = 0,
                     batch: int = 16, length: int = 32, cost_weight: float = 10.0, pid_gains: tuple = (0.1, 0.01, 0.01),
                     pid_max: float = 0.1, cost_ema: float = 0.99, pid_start_steps: int = 0,
                     progress: Callable[[str], None] | None = None) -> list[dict[str, float]]:
    """``episodes`` episodes acting with the planner; after each, ``updates`` world-model steps on
    ``replay`` (which receives the episode) and, for OSRP-Lag, a PID update of λ_p on the EMA of the
    episode costs (official: EMA 0.99, updates after 5000 steps). One row per episode."""
    generator = torch.Generator().manual_seed(seed)  # the planner's noise is drawn on the CPU
    planner = Planner(model, settings, model.sizes.act_dim, generator)
    pid = pid_for_planner(settings.cost_limit, *pid_gains, penalty_max=pid_max)
    filt = LatentFilter(model)
    ema, steps, rows = None, 0, []
    for e in range(episodes):
        planner.reset()
        fractions = []

        def act(obs: np.ndarray, first: bool) -> np.ndarray:
            state = filt(obs, first)
            action = planner.plan(state, pid.value if settings.method == "osrp_lag" else 0.0)
            filt.taken(action)
            fractions.append(planner.last["safe_fraction"])
            return action.cpu().numpy()

        model.eval()
        episode = run_episode(env, act, seed * 1000 + e)
        stats = episode_stats(episode)
        steps += stats["length"]
        ema = stats["cost"] if ema is None else cost_ema * ema + (1 - cost_ema) * stats["cost"]
        if settings.method == "osrp_lag" and steps > pid_start_steps:
            pid.update(ema)
        losses = []
        if replay is not None:
            replay.add(episode)
            if updates and opt is not None:
                model.train()
                losses = train_steps(model, opt, replay, updates, batch, length, cost_weight)
        rows.append({**stats, "episode": e, "safe_fraction": float(np.mean(fractions)), "lagrange": pid.value,
                     "model_loss": float(np.mean([r["loss"] for r in losses])) if losses else float("nan")})
        if progress is not None:
            progress(f"{settings.method} episode {e}: return {stats['return']:.2f}, cost {stats['cost']:.0f}")
    return rows


def run_with_actor(model: WorldModel, env: RepeatEnv, actor: Callable[[dict[str, torch.Tensor]], torch.Tensor],
                   episodes: int, seed: int) -> list[Episode]:
    """Episodes acting with ``actor(latent) -> action`` (deterministic) on the filtered latent."""
    filt = LatentFilter(model)
    out = []
    for e in range(episodes):
        def act(obs: np.ndarray, first: bool) -> np.ndarray:
            with torch.no_grad():
                action = actor(filt(obs, first)).reshape(-1)
            filt.taken(action)
            return action.cpu().numpy()

        out.append(run_episode(env, act, seed * 1000 + e))
    return out
