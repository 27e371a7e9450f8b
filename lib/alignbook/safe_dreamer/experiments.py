"""The chapter's experiments, one function per notebook; each writes under ``cfg.run_dir`` and returns
plain data (lists and dicts of numbers) that the notebook tabulates and plots."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine import checkpoints
from ..engine.repro import seed_everything
from ..stats import seed_list
from .actor_critic import ACSettings, ActorCritic
from .agent import run_with_actor, run_with_planner
from .config import SafeDreamerConfig
from .data import HeldRandom, Replay, RepeatEnv, episode_stats, run_episode
from ..engine import devices
from .planner import PlannerSettings
from .training import make_optimizer, prediction_quality, train_steps
from .world_model import ModelSizes, WorldModel, load_model, save_model


def _env(cfg: SafeDreamerConfig) -> RepeatEnv:
    return RepeatEnv(cfg.env_id, cfg.repeat, cfg.max_episode_steps)


def _say(cfg: SafeDreamerConfig, text: str) -> None:
    if cfg.verbose:
        print(text, flush=True)


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
    """Per seed: explore, train a world model, measure open-loop prediction quality on held-out episodes;
    saves ``wm_<seed>.pt`` and ``replay_<seed>.pt`` for notebooks 2-4."""
    torch.set_num_threads(cfg.torch_threads)
    run = Path(cfg.run_dir)
    out: dict[str, Any] = {"seeds": [], "quality": [], "history": [], "explore": [], "seconds": []}
    for seed in seed_list(cfg.seed, cfg.seeds):
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
        out["seeds"].append(seed)
        out["quality"].append({k: v.tolist() for k, v in quality.items()})
        stride = max(1, len(history) // 200)
        out["history"].append([{"step": i, **row} for i, row in enumerate(history) if i % stride == 0])
        out["explore"].append([episode_stats(e) for e in train])
        out["seconds"].append(time.perf_counter() - start)
        _say(cfg, f"seed {seed}: cost AUROC {quality['cost_auroc'][[1, -1]]}")
    (run / "world_model.json").write_text(json.dumps(out))
    return out


def upstream_model(upstream: Path, seed: int, cfg: SafeDreamerConfig) -> tuple[WorldModel, Replay]:
    model, _ = load_model(upstream / f"wm_{seed}.pt", devices.resolve(cfg.device))
    return model, load_replay(upstream / f"replay_{seed}.pt", seed)


def env_steps_of_exploration(upstream: Path) -> int:
    data = json.loads((upstream / "world_model.json").read_text())
    return int(np.mean([sum(e["length"] for e in seed) for seed in data["explore"]]))


# -- notebook 2 ------------------------------------------------------------------------------------


def planning_experiment(cfg: SafeDreamerConfig, upstream: Path, methods: tuple[str, ...] | None = None,
                        **change: Any) -> dict[str, Any]:
    """Each planner of ``methods`` acts ``eval_episodes`` episodes per seed from notebook 1's world model
    (fine-tuned online by ``online_updates`` steps per episode). ``{method: [per-seed episode rows]}``."""
    torch.set_num_threads(cfg.torch_threads)
    out: dict[str, Any] = {"rows": {}, "seconds_per_action": {}}
    for method in methods or cfg.methods:
        rows, seconds, actions = [], 0.0, 0
        for seed in seed_list(cfg.seed, cfg.seeds):
            seed_everything(seed)
            model, replay = upstream_model(upstream, seed, cfg)
            opt = make_optimizer(model, cfg.model_lr) if cfg.online_updates else None
            env = _env(cfg)
            start = time.perf_counter()
            settings = planner_settings(cfg, method, **change)
            per_seed = run_with_planner(model, env, settings, cfg.eval_episodes, seed, replay, opt, cfg.online_updates,
                                        cfg.batch_size, cfg.batch_length, cfg.cost_weight,
                                        (cfg.pid_kp, cfg.pid_ki, cfg.pid_kd), cfg.pid_max, cfg.cost_ema,
                                        cfg.pid_start_steps, (lambda s: _say(cfg, s)))
            seconds += time.perf_counter() - start
            actions += sum(r["length"] for r in per_seed)
            env.close()
            rows.append(per_seed)
        out["rows"][method] = rows
        out["seconds_per_action"][method] = seconds / max(actions, 1)
    return out


def ppo_lag_baseline(cfg: SafeDreamerConfig, env_steps: int, run_dir: Path) -> list[dict[str, float]]:
    """The book's PPO-Lag (alignbook.saferl, SafePO defaults) for ``env_steps`` steps on the same task and
    episode length, cost limit b scaled to the episode; final mean episode return and cost per seed."""
    from ..saferl.config import SafeRLConfig
    from ..saferl.trainer import train

    num_envs = 2
    per_epoch = max(num_envs * 100, (env_steps // 4) // num_envs * num_envs)
    out = []
    for seed in seed_list(cfg.seed, cfg.ppo_lag_seeds):
        rl = SafeRLConfig(profile=cfg.profile, seed=seed, run_dir=str(run_dir / f"ppo_lag_{seed}"), algo="ppo_lag",
                          env_id=cfg.env_id, total_steps=max(per_epoch, env_steps // per_epoch * per_epoch),
                          steps_per_epoch=per_epoch, num_envs=num_envs, max_episode_steps=cfg.max_episode_steps,
                          cost_limit=cfg.cost_limit, learning_iters=10, minibatch_size=256, cost_window=10)
        result = train(rl, verbose=False)
        out.append({"return": float(result.metrics["return"]), "cost": float(result.metrics["cost"] or 0.0),
                    "steps": rl.total_steps})
    return out


def summary(rows_per_seed: list[list[dict[str, float]]], key: str, last: int | None = None) -> list[float]:
    """Per seed: the mean of ``key`` over its episodes (the last ``last`` when given)."""
    return [float(np.mean([r[key] for r in rows[-last:] if last] if last else [r[key] for r in rows]))
            for rows in rows_per_seed]


# -- notebook 3 ------------------------------------------------------------------------------------


def bsrp_experiment(cfg: SafeDreamerConfig, upstream: Path, use_penalty: bool = True) -> dict[str, Any]:
    """BSRP-Lag (``use_penalty``) or the same actor without the cost penalty, trained in imagination on
    notebook 1's world model (frozen), then acting ``eval_episodes`` real episodes per seed."""
    torch.set_num_threads(cfg.torch_threads)
    out: dict[str, Any] = {"rows": [], "history": []}
    for seed in seed_list(cfg.seed, cfg.seeds):
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
        out["rows"].append([episode_stats(e) for e in episodes])
        out["history"].append(history)
    return out


# -- notebook 4 ------------------------------------------------------------------------------------


def cost_weight_ablation(cfg: SafeDreamerConfig, upstream: Path) -> dict[str, Any]:
    """World models retrained on notebook 1's replay with each cost weight: held-out cost AUROC per seed."""
    torch.set_num_threads(cfg.torch_threads)
    out: dict[str, Any] = {}
    for weight in cfg.ablation_cost_weights:
        per_seed = []
        for seed in seed_list(cfg.seed, cfg.seeds):
            replay = load_replay(upstream / f"replay_{seed}.pt", seed)
            heldout = collect(cfg, seed, cfg.heldout_episodes, offset=50_000)
            model, _ = train_world_model(cfg, seed, replay, cfg.ablation_model_steps, cost_weight=weight)
            model.eval()
            per_seed.append({k: v.tolist() for k, v in prediction_quality(model, heldout, cfg.horizon).items()})
        out[str(weight)] = per_seed
    return out
