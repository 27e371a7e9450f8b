"""The chapter's experiments, one function per notebook; each writes under ``cfg.run_dir`` and returns
plain data (lists and dicts of numbers) that the notebook tabulates and plots.

Every seed (and every arm of an ablation) is a unit of :func:`alignbook.engine.parallel.map_units`: a
module-level function of one unit that rebuilds what it needs from the config and the upstream folder,
seeds itself as the old per-seed loop did, and returns plain data; the units run side by side in
worker processes where the runner gives the notebook cores, and resume from ``<run_dir>/units/``.
Models and batches live on ``cfg.device`` (resolved before any episode is collected); checkpoints are
saved from the CPU."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine import checkpoints, devices
from ..engine.parallel import map_units
from ..engine.repro import seed_everything
from ..stats import seed_list
from .actor_critic import ACSettings, ActorCritic
from .agent import run_with_actor, run_with_planner
from .config import SafeDreamerConfig
from .data import HeldRandom, Replay, RepeatEnv, episode_stats, run_episode
from .planner import PlannerSettings
from .training import make_optimizer, prediction_quality, train_steps
from .world_model import ModelSizes, WorldModel, load_model, save_model

UNIT_MEMORY_MB = 800
"""Peak memory of one unit (torch, MuJoCo, a world model and its replay; a test-profile kernel peaks at ~640 MB)."""


def _env(cfg: SafeDreamerConfig) -> RepeatEnv:
    return RepeatEnv(cfg.env_id, cfg.repeat, cfg.max_episode_steps)


def _log(cfg: SafeDreamerConfig):
    """Where :func:`map_units` reports progress: printed with ``verbose``, else nowhere."""
    return print if cfg.verbose else None


def _replay_payload(replay: Replay) -> list[dict[str, torch.Tensor]]:
    return [{k: torch.as_tensor(v) for k, v in ep.items()} for ep in replay.episodes]


def load_replay(path: Path, seed: int) -> Replay:
    replay = Replay(seed)
    for ep in checkpoints.load(path):
        replay.add({k: v.numpy() for k, v in ep.items()})
    return replay


def planner_settings(cfg: SafeDreamerConfig, method: str, **change: Any) -> PlannerSettings:
    values = dict(method=method, horizon=cfg.horizon, samples=cfg.samples, elites=cfg.elites,
                  iterations=cfg.iterations, momentum=cfg.momentum, init_std=cfg.init_std,
                  cost_limit=cfg.cost_limit, episode_scale=cfg.episode_scale, gamma=cfg.gamma)
    values.update(change)
    return PlannerSettings(**values)


# -- notebook 1 ------------------------------------------------------------------------------------


def collect(cfg: SafeDreamerConfig, seed: int, episodes: int, offset: int = 0) -> list[dict[str, np.ndarray]]:
    env = _env(cfg)
    policy = HeldRandom(env.act_dim, seed * 7919 + offset, cfg.explore_hold)
    out = [run_episode(env, policy, seed * 100_000 + offset + i) for i in range(episodes)]
    env.close()
    return out


def build_model(cfg: SafeDreamerConfig, obs_dim: int, act_dim: int) -> WorldModel:
    sizes = ModelSizes(obs_dim, act_dim, cfg.deter, cfg.stoch, cfg.classes, cfg.units, cfg.layers)
    return WorldModel(sizes).to(devices.resolve(cfg.device))


def train_world_model(cfg: SafeDreamerConfig, seed: int, replay: Replay, steps: int,
                      cost_weight: float | None = None) -> tuple[WorldModel, list[dict[str, float]]]:
    seed_everything(seed)
    ep = replay.episodes[0]
    model = build_model(cfg, ep["obs"].shape[-1], ep["action"].shape[-1])
    opt = make_optimizer(model, cfg.model_lr)
    history = train_steps(model, opt, replay, steps, cfg.batch_size, cfg.batch_length,
                          cfg.cost_weight if cost_weight is None else cost_weight)
    return model, history


def world_model_experiment(cfg: SafeDreamerConfig) -> dict[str, Any]:
    """Per seed (:func:`world_model_seed`): explore, train a world model, measure open-loop prediction
    quality on held-out episodes; saves ``wm_<seed>.pt`` and ``replay_<seed>.pt`` for notebooks 2-4."""
    devices.resolve(cfg.device)  # a GPU that is not there is refused before minutes of episodes are collected
    results = map_units(world_model_seed, cfg, seed_list(cfg.seed, cfg.seeds), name="world_models",
                        memory_mb=UNIT_MEMORY_MB, log=_log(cfg))
    out = {key: [r[key] for r in results] for key in ("seeds", "quality", "history", "explore", "seconds")}
    (Path(cfg.run_dir) / "world_model.json").write_text(json.dumps(out))
    return out


def world_model_seed(unit) -> dict[str, Any]:
    """One seed of :func:`world_model_experiment` (``unit.value``: the seed)."""
    cfg, seed = unit.cfg, unit.value
    torch.set_num_threads(cfg.torch_threads)
    run = Path(cfg.run_dir)
    start = time.perf_counter()
    episodes = collect(cfg, seed, cfg.explore_episodes + cfg.heldout_episodes)
    train, heldout = episodes[:cfg.explore_episodes], episodes[cfg.explore_episodes:]
    replay = Replay(seed)
    for ep in train:
        replay.add(ep)
    model, history = train_world_model(cfg, seed, replay, cfg.model_steps)
    model.eval()
    quality = prediction_quality(model, heldout, cfg.horizon)
    save_model(model, run / f"wm_{seed}.pt", {"seed": seed})
    checkpoints.save(run / f"replay_{seed}.pt", _replay_payload(replay))
    stride = max(1, len(history) // 200)
    return {"seeds": seed, "quality": {k: v.tolist() for k, v in quality.items()},
            "history": [{"step": i, **row} for i, row in enumerate(history) if i % stride == 0],
            "explore": [episode_stats(e) for e in train], "seconds": time.perf_counter() - start}


def upstream_model(upstream: Path, seed: int, cfg: SafeDreamerConfig) -> tuple[WorldModel, Replay]:
    model, _ = load_model(upstream / f"wm_{seed}.pt", devices.resolve(cfg.device))
    return model, load_replay(upstream / f"replay_{seed}.pt", seed)


def env_steps_of_exploration(upstream: Path) -> int:
    data = json.loads((upstream / "world_model.json").read_text())
    return int(np.mean([sum(e["length"] for e in seed) for seed in data["explore"]]))


# -- notebook 2 ------------------------------------------------------------------------------------


def planning_experiment(cfg: SafeDreamerConfig, upstream: Path, methods: tuple[str, ...] | None = None,
                        name: str = "planning", **change: Any) -> dict[str, Any]:
    """Each planner of ``methods`` acts ``eval_episodes`` episodes per seed from notebook 1's world model
    (fine-tuned online by ``online_updates`` steps per episode), with the planner settings ``change``.
    ``{"rows": {method: [per-seed episode rows]}, "seconds_per_action": {method: seconds}}``."""
    methods = tuple(methods or cfg.methods)
    arms = _planning_arms(cfg, upstream, [{"method": m, **change} for m in methods], name)
    return {"rows": {m: rows for m, (rows, _) in zip(methods, arms)},
            "seconds_per_action": {m: seconds for m, (_, seconds) in zip(methods, arms)}}


def _planning_arms(cfg: SafeDreamerConfig, upstream: Path, arms: list[dict[str, Any]],
                   name: str) -> list[tuple[list[list[dict[str, float]]], float]]:
    """Per arm (a method and planner settings): the episode rows of each seed and the seconds per action,
    from one map over the (arm, seed) units."""
    devices.resolve(cfg.device)
    seeds = seed_list(cfg.seed, cfg.seeds)
    units = [{**arm, "seed": seed} for arm in arms for seed in seeds]
    results = map_units(planning_seed, cfg, units, name=name, context=str(upstream), memory_mb=UNIT_MEMORY_MB,
                        log=_log(cfg))
    out = []
    for a in range(len(arms)):
        part = results[a * len(seeds):(a + 1) * len(seeds)]
        seconds = sum(r["seconds"] for r in part)
        actions = sum(r["actions"] for r in part)
        out.append(([r["rows"] for r in part], seconds / max(actions, 1)))
    return out


def planning_seed(unit) -> dict[str, Any]:
    """One (planner, seed) of :func:`planning_experiment` (``unit.value``: ``method``, ``seed`` and planner
    settings to change; ``unit.context``: notebook 1's run folder)."""
    cfg, change = unit.cfg, dict(unit.value)
    method, seed = change.pop("method"), change.pop("seed")
    torch.set_num_threads(cfg.torch_threads)
    seed_everything(seed)
    model, replay = upstream_model(Path(unit.context), seed, cfg)
    opt = make_optimizer(model, cfg.model_lr) if cfg.online_updates else None
    env = _env(cfg)
    start = time.perf_counter()
    settings = planner_settings(cfg, method, **change)
    rows = run_with_planner(model, env, settings, cfg.eval_episodes, seed, replay, opt, cfg.online_updates,
                            cfg.batch_size, cfg.batch_length, cfg.cost_weight, (cfg.pid_kp, cfg.pid_ki, cfg.pid_kd),
                            cfg.pid_max, cfg.cost_ema, cfg.pid_start_steps)
    seconds = time.perf_counter() - start
    env.close()
    return {"rows": rows, "seconds": seconds, "actions": sum(r["length"] for r in rows)}


def ppo_lag_baseline(cfg: SafeDreamerConfig, env_steps: int, run_dir: Path) -> list[dict[str, float]]:
    """The book's PPO-Lag (alignbook.saferl, SafePO defaults) for ``env_steps`` steps on the same task and
    episode length, cost limit b scaled to the episode; final mean episode return and cost per seed.
    The seeds are units of :func:`alignbook.saferl.trainer.run_grid` (MuJoCo and small MLPs: on the CPU)."""
    from ..saferl.config import SafeRLConfig
    from ..saferl.trainer import run_grid

    num_envs = 2
    per_epoch = max(num_envs * 100, (env_steps // 4) // num_envs * num_envs)
    configs = [SafeRLConfig(profile=cfg.profile, seed=seed, run_dir=str(run_dir / f"ppo_lag_{seed}"), algo="ppo_lag",
                            env_id=cfg.env_id, total_steps=max(per_epoch, env_steps // per_epoch * per_epoch),
                            steps_per_epoch=per_epoch, num_envs=num_envs, max_episode_steps=cfg.max_episode_steps,
                            cost_limit=cfg.cost_limit, learning_iters=10, minibatch_size=256, cost_window=10)
               for seed in seed_list(cfg.seed, cfg.ppo_lag_seeds)]
    results = run_grid(configs, base=cfg, verbose=cfg.verbose)
    return [{"return": float(r.metrics["return"]), "cost": float(r.metrics["cost"] or 0.0), "steps": rl.total_steps}
            for r, rl in zip(results, configs)]


def summary(rows_per_seed: list[list[dict[str, float]]], key: str, last: int | None = None) -> list[float]:
    """Per seed: the mean of ``key`` over its episodes (the last ``last`` when given)."""
    return [float(np.mean([r[key] for r in rows[-last:] if last] if last else [r[key] for r in rows]))
            for rows in rows_per_seed]


# -- notebook 3 ------------------------------------------------------------------------------------


def bsrp_experiment(cfg: SafeDreamerConfig, upstream: Path, use_penalty: bool = True) -> dict[str, Any]:
    """BSRP-Lag (``use_penalty``) or the same actor without the cost penalty, trained in imagination on
    notebook 1's world model (frozen), then acting ``eval_episodes`` real episodes per seed
    (:func:`bsrp_seed`)."""
    devices.resolve(cfg.device)
    results = map_units(bsrp_seed, cfg, seed_list(cfg.seed, cfg.seeds), name="bsrp_lag" if use_penalty else "actor",
                        context={"upstream": str(upstream), "use_penalty": use_penalty}, memory_mb=UNIT_MEMORY_MB,
                        log=_log(cfg))
    return {"rows": [r["rows"] for r in results], "history": [r["history"] for r in results]}


def bsrp_seed(unit) -> dict[str, Any]:
    """One seed of :func:`bsrp_experiment` (``unit.context``: the upstream folder and ``use_penalty``);
    saves the agent as ``bsrp_lag_<seed>.pt`` or ``actor_<seed>.pt``."""
    cfg, seed = unit.cfg, unit.value
    upstream, use_penalty = Path(unit.context["upstream"]), unit.context["use_penalty"]
    torch.set_num_threads(cfg.torch_threads)
    seed_everything(seed)
    model, replay = upstream_model(upstream, seed, cfg)
    model.eval()
    settings = ACSettings(horizon=cfg.horizon, gamma=cfg.gamma, lam=cfg.return_lambda, actent=cfg.actent,
                          actor_lr=cfg.actor_lr, critic_lr=cfg.critic_lr, cost_limit=cfg.cost_limit,
                          use_penalty=use_penalty, lagrange_init=cfg.lagrange_init,
                          penalty_init=cfg.penalty_init, penalty_growth=cfg.penalty_growth)
    ac = ActorCritic(model, settings, cfg.units, cfg.layers)
    device = next(model.parameters()).device
    history = []
    length = cfg.batch_length
    batch = max(1, cfg.ac_starts // length)
    for step in range(cfg.ac_steps):
        data = replay.sample(batch, length, device)
        with torch.no_grad():
            _, _, post = model.loss(data, cost_weight=cfg.cost_weight)
        start = {k: post[k].reshape(-1, post[k].shape[-1]).detach() for k in ("deter", "stoch")}
        metrics = ac.update(start)
        if step % max(1, cfg.ac_steps // 100) == 0 or step == cfg.ac_steps - 1:
            history.append({"step": step, **metrics})
    env = _env(cfg)
    episodes = run_with_actor(model, env, ac.act, cfg.eval_episodes, seed)
    env.close()
    checkpoints.save(Path(cfg.run_dir) / f"{'bsrp_lag' if use_penalty else 'actor'}_{seed}.pt", ac.state_dict())
    return {"rows": [episode_stats(e) for e in episodes], "history": history}


# -- notebook 4 ------------------------------------------------------------------------------------


def cost_limit_ablation(cfg: SafeDreamerConfig, upstream: Path) -> dict[float, list[list[dict[str, float]]]]:
    """OSRP with each cost limit b of ``ablation_cost_limits``: ``{b: per-seed episode rows}``."""
    arms = _planning_arms(cfg, upstream, [{"method": "osrp", "cost_limit": b} for b in cfg.ablation_cost_limits],
                          "cost_limits")
    return {b: rows for b, (rows, _) in zip(cfg.ablation_cost_limits, arms)}


def planner_size_ablation(cfg: SafeDreamerConfig, upstream: Path) -> dict[str, dict[str, Any]]:
    """OSRP with each (samples, iterations) pair of ``ablation_sizes``, labelled ``"<samples>×<iterations>"``:
    ``{"rows": {label: per-seed episode rows}, "seconds_per_action": {label: seconds}}``."""
    pairs = list(zip(cfg.ablation_sizes[0::2], cfg.ablation_sizes[1::2]))
    arms = _planning_arms(cfg, upstream, [{"method": "osrp", "samples": n, "iterations": it} for n, it in pairs],
                          "planner_sizes")
    labels = [f"{n}×{it}" for n, it in pairs]
    return {"rows": {k: rows for k, (rows, _) in zip(labels, arms)},
            "seconds_per_action": {k: seconds for k, (_, seconds) in zip(labels, arms)}}


def cost_weight_ablation(cfg: SafeDreamerConfig, upstream: Path) -> dict[str, Any]:
    """World models retrained on notebook 1's replay with each cost weight: held-out cost AUROC per seed
    (``{str(weight): [per-seed quality]}``, one unit per (weight, seed): :func:`cost_weight_seed`)."""
    devices.resolve(cfg.device)
    seeds = seed_list(cfg.seed, cfg.seeds)
    units = [{"cost_weight": w, "seed": seed} for w in cfg.ablation_cost_weights for seed in seeds]
    results = map_units(cost_weight_seed, cfg, units, name="cost_weights", context=str(upstream),
                        memory_mb=UNIT_MEMORY_MB, log=_log(cfg))
    return {str(w): results[i * len(seeds):(i + 1) * len(seeds)] for i, w in enumerate(cfg.ablation_cost_weights)}


def cost_weight_seed(unit) -> dict[str, list[float]]:
    """One (cost weight, seed) of :func:`cost_weight_ablation`: the retrained model's held-out quality."""
    cfg, weight, seed = unit.cfg, unit.value["cost_weight"], unit.value["seed"]
    upstream = Path(unit.context)
    torch.set_num_threads(cfg.torch_threads)
    replay = load_replay(upstream / f"replay_{seed}.pt", seed)
    heldout = collect(cfg, seed, cfg.heldout_episodes, offset=50_000)
    model, _ = train_world_model(cfg, seed, replay, cfg.ablation_model_steps, cost_weight=weight)
    model.eval()
    return {k: v.tolist() for k, v in prediction_quality(model, heldout, cfg.horizon).items()}
