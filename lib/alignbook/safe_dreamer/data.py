"""Safety-Gymnasium episodes with action repeat, and the replay buffer the world model trains on.

Environments come from :func:`alignbook.saferl.envs.make_env` (the Python 3.11 shim and the skybox
fast path included). One agent step repeats the action ``repeat`` times and sums reward and cost
over the repeats (embodied/envs/safetygym*.py: repeat 4 or 5), so the per-step cost is 0..repeat.

An episode is stored DreamerV3's way: ``obs[t]`` with the ``reward[t]``/``cost[t]`` that came with it
(0 at the first step), ``action[t]`` taken at step t, ``first`` and ``terminal`` flags.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

from ..saferl.envs import make_env

Episode = dict[str, np.ndarray]


class RepeatEnv:
    """A Safety-Gymnasium task stepped ``repeat`` env steps per agent step."""

    def __init__(self, env_id: str, repeat: int, max_episode_steps: int = 0):
        extra = {"max_episode_steps": max_episode_steps} if max_episode_steps else {}
        self.env = make_env(env_id, **extra)
        self.repeat = repeat
        self.obs_dim = int(np.prod(self.env.observation_space.shape))
        self.act_dim = int(np.prod(self.env.action_space.shape))

    def reset(self, seed: int) -> np.ndarray:
        return np.asarray(self.env.reset(seed=int(seed))[0], dtype=np.float32)

    def step(self, action: np.ndarray):
        reward = cost = 0.0
        terminated = truncated = False
        for _ in range(self.repeat):
            obs, r, c, terminated, truncated, _ = self.env.step(np.clip(action, -1.0, 1.0))
            reward += float(r)
            cost += float(c)
            if terminated or truncated:
                break
        return np.asarray(obs, dtype=np.float32), reward, cost, bool(terminated), bool(truncated)

    def close(self) -> None:
        self.env.close()


def run_episode(env: RepeatEnv, act: Callable[[np.ndarray, bool], np.ndarray], seed: int,
                on_step: Callable[[dict], None] | None = None) -> Episode:
    """One episode with ``act(obs, is_first) -> action``; ``on_step`` sees each transition."""
    obs = env.reset(seed)
    rows = {"obs": [obs], "reward": [0.0], "cost": [0.0], "first": [True], "terminal": [False], "action": []}
    first = True
    while True:
        action = np.asarray(act(obs, first), dtype=np.float32)
        first = False
        rows["action"].append(action)
        obs, reward, cost, terminated, truncated = env.step(action)
        for key, value in (("obs", obs), ("reward", reward), ("cost", cost), ("first", False), ("terminal", terminated)):
            rows[key].append(value)
        if on_step is not None:
            on_step({"reward": reward, "cost": cost})
        if terminated or truncated:
            break
    rows["action"].append(np.zeros_like(rows["action"][0]))
    return {k: np.asarray(v, dtype=np.float32 if k not in ("first", "terminal") else bool) for k, v in rows.items()}


class HeldRandom:
    """Random exploration that holds a uniform action for ``hold`` agent steps (forward thrust ≥ 0),
    so the robot travels far enough to meet hazards; plain uniform noise barely moves it."""

    def __init__(self, act_dim: int, seed: int, hold: int = 10):
        self.rng = np.random.default_rng(seed)
        self.act_dim, self.hold, self.t = act_dim, hold, 0
        self.action = np.zeros(act_dim, np.float32)

    def __call__(self, obs: np.ndarray, first: bool) -> np.ndarray:
        if first or self.t % self.hold == 0:
            self.action = self.rng.uniform(-1, 1, self.act_dim).astype(np.float32)
            self.action[0] = abs(self.action[0])
        self.t += 1
        return self.action


def episode_stats(episode: Episode) -> dict[str, float]:
    return {"return": float(episode["reward"].sum()), "cost": float(episode["cost"].sum()),
            "length": int(len(episode["reward"]) - 1)}


class Replay:
    """Episodes and uniform sampling of fixed-length sequences inside them."""

    def __init__(self, seed: int):
        self.episodes: list[Episode] = []
        self.rng = np.random.default_rng(seed)

    def add(self, episode: Episode) -> None:
        self.episodes.append(episode)

    @property
    def steps(self) -> int:
        return sum(len(e["reward"]) - 1 for e in self.episodes)

    def sample(self, batch: int, length: int, device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
        usable = [e for e in self.episodes if len(e["reward"]) >= length]
        if not usable:
            raise ValueError(f"no episode has {length} steps; lower batch_length")
        out: dict[str, list[np.ndarray]] = {k: [] for k in usable[0]}
        for _ in range(batch):
            ep = usable[self.rng.integers(len(usable))]
            start = self.rng.integers(0, len(ep["reward"]) - length + 1)
            for key in out:
                out[key].append(ep[key][start:start + length])
        tensors = {k: torch.as_tensor(np.stack(v), device=device) for k, v in out.items()}
        tensors["first"] = tensors["first"].clone()
        tensors["first"][:, 0] = True  # each sequence starts from the initial latent state
        return tensors
