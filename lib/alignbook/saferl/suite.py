"""Notebook 1's material: what each task is, what it looks like, and what a random policy scores."""

from __future__ import annotations

import re

import numpy as np

from ..engine.metrics import format_number
from . import envs

COST_DEFINITIONS = {
    "Goal": "1 while the agent is inside a hazard (vase contact also costs at level 2)",
    "Button": "1 while inside a hazard or touching a gremlin or a wrong button",
    "Circle": "1 while the agent is outside the two boundary lines",
    "Velocity": "1 while the speed exceeds the task's threshold (SafetyHalfCheetahVelocity-v1 3.21 m/s, SafetyHopperVelocity-v1 0.740 m/s)",
}
"""How the per-step 0/1 cost is defined, per task family (Safety-Gymnasium documentation)."""


def describe(env_id: str) -> dict:
    """Family, agent, level, spaces and episode length of one task."""
    env = envs.make_env(env_id)
    match = re.match(r"Safety(Point|Car|Doggo|Racecar|Ant)(Goal|Button|Push|Circle)(\d)", env_id)
    if match:
        agent, family, level = match.group(1), match.group(2), int(match.group(3))
    else:
        agent = re.match(r"Safety(\w+?)Velocity", env_id).group(1)
        family, level = "Velocity", None
    row = {
        "task": env_id, "family": family, "agent": agent, "level": level,
        "obs dim": env.observation_space.shape[0], "act dim": env.action_space.shape[0],
        "episode steps": envs.episode_limit(env), "cost": COST_DEFINITIONS[family],
    }
    env.close()
    return row


def task_table(env_ids):
    import pandas as pd

    return pd.DataFrame([describe(e) for e in env_ids]).set_index("task")


def task_markdown(env_ids) -> str:
    """The tasks as a Markdown table that fits the page: family, agent, level, spaces, episode length, cost."""
    lines = ["| task | family | agent | level | obs dim | act dim | episode steps | cost per step |",
             "|---|---|---|---|---|---|---|---|"]
    for env_id in env_ids:
        row = describe(env_id)
        level = "–" if row["level"] is None else str(row["level"])
        lines.append(f"| {env_id} | {row['family']} | {row['agent']} | {level} | {row['obs dim']} | {row['act dim']} "
                     f"| {row['episode steps']} | {row['cost']} |")
    return "\n".join(lines)


def render_frame(env_id: str, size: int = 256, seed: int = 0, warmup_steps: int = 20) -> np.ndarray:
    """One RGB frame (offscreen MuJoCo, ``MUJOCO_GL=egl``) after a few random steps; skybox kept."""
    camera = {} if "Velocity" in env_id else {"camera_name": "fixedfar"}  # navigation: an overview
    env = envs.make_env(env_id, skip_skybox=False, render_mode="rgb_array", width=size, height=size, **camera)
    env.reset(seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(warmup_steps):
        env.step(rng.uniform(-1, 1, env.action_space.shape))
    frame = env.render().copy()
    env.close()
    return frame


def random_policy_scores(env_id: str, episodes: int = 2, seed: int = 0, max_episode_steps: int = 0) -> dict:
    """Mean and std of the undiscounted return and cost of uniformly random actions."""
    extra = {"max_episode_steps": max_episode_steps} if max_episode_steps else {}
    env = envs.make_env(env_id, **extra)
    rng = np.random.default_rng(seed)
    returns, costs = [], []
    for episode in range(episodes):
        env.reset(seed=seed + episode)
        total_r = total_c = 0.0
        done = False
        while not done:
            _, reward, cost, terminated, truncated, _ = env.step(rng.uniform(-1, 1, env.action_space.shape))
            total_r, total_c = total_r + reward, total_c + cost
            done = terminated or truncated
        returns.append(total_r)
        costs.append(total_c)
    env.close()
    return {"task": env_id, "return": np.mean(returns), "return std": np.std(returns),
            "cost": np.mean(costs), "cost std": np.std(costs), "episodes": episodes}


def random_policy_table(env_ids, episodes: int = 2, seed: int = 0, max_episode_steps: int = 0):
    import pandas as pd

    rows = [random_policy_scores(e, episodes, seed, max_episode_steps) for e in env_ids]
    return pd.DataFrame(rows).set_index("task")


def random_policy_markdown(table, max_episode_steps: int = 0) -> str:
    """:func:`random_policy_table` for the page: mean ± std over episodes, rounded; a line says how
    long the episodes were."""
    def cell(mean: float, std: float, n: int) -> str:
        return format_number(float(mean)) + (f" ± {format_number(float(std), 2)}" if n > 1 else "")

    lines = ["| task | episode return | episode cost | episodes |", "|---|---|---|---|"]
    for task, row in table.iterrows():
        n = int(row["episodes"])
        lines.append(f"| {task} | {cell(row['return'], row['return std'], n)} | {cell(row['cost'], row['cost std'], n)} "
                     f"| {n} |")
    length = (f"cut at {max_episode_steps} steps (this profile's `max_episode_steps`)" if max_episode_steps
              else "of the task's full length")
    lines += ["", f"Undiscounted sums over episodes {length}, mean ± std over episodes (one reset seed each)."]
    return "\n".join(lines)


def frame_grid(frames: dict, columns: int = 3):
    """A matplotlib figure of ``{title: frame}``."""
    import matplotlib.pyplot as plt

    from ..plotting import COLUMN_WIDTH

    columns = min(columns, len(frames))
    rows = int(np.ceil(len(frames) / columns))
    side = COLUMN_WIDTH / columns
    fig, axes = plt.subplots(rows, columns, figsize=(COLUMN_WIDTH, (side + 0.25) * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, frame) in zip(axes.flat, frames.items()):
        ax.imshow(frame)
        ax.set_title(title.removeprefix("Safety"), fontsize=8)
    return fig


def reset_timing(env_id: str = "SafetyPointGoal1-v0", repeats: int = 3) -> dict:
    """Mean seconds per ``reset`` with and without the skybox fast path (same seeds)."""
    import time

    out = {}
    for skip in (False, True):
        env = envs.make_env(env_id, skip_skybox=skip)
        env.reset(seed=0)  # the first build also loads meshes; time the rebuilds
        start = time.perf_counter()
        for k in range(repeats):
            env.reset(seed=k + 1)
        out["fast path" if skip else "with skybox"] = (time.perf_counter() - start) / repeats
        env.close()
    out["speed-up"] = out["with skybox"] / out["fast path"]
    return out


def reset_sentence(timing: dict, env_id: str, repeats: int) -> str:
    """:func:`reset_timing` in words, with units."""
    return (f"One `reset` of {env_id} took {format_number(timing['with skybox'])} s with the skybox and "
            f"{format_number(timing['fast path'])} s without it (mean of {repeats} resets each, on the machine that "
            f"ran this page): the fast path resets {format_number(timing['speed-up'])}× faster.")
