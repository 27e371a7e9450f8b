"""Train one algorithm on one task: collect an epoch, update λ, update the policy, log, repeat.

``train(cfg)`` returns a :class:`SafeRLResult` (metrics, per-epoch history, checkpoint, config)
that saves and loads; ``load_policy`` + ``evaluate`` rerun a saved policy with its observation
normaliser; ``run_grid`` trains many configs, each run a unit of
:func:`alignbook.engine.parallel.map_units` (side by side in worker processes where the runner gives
the notebook cores).

Everything here runs on the CPU in every profile: MuJoCo steps on the CPU, and the actor and critics
(two layers of 64 units) are too small to gain from a GPU, so no config has a device field.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections import deque
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..engine import checkpoints
from ..engine.repro import seed_everything
from .algos import ALGORITHMS
from .buffer import RolloutBuffer
from .config import SafeRLConfig
from .envs import VectorEnv, make_env
from .networks import ActorCritic
from .normalizer import RunningNormalizer
from ..engine.results import RESULT_FILE, TrainResult, config_fingerprint

POLICY_FILE = "policy.pt"


@dataclasses.dataclass
class SafeRLResult(TrainResult):
    """What a run leaves behind (the book's result contract); ``history`` has one dict per epoch."""

    missing_hint = "train it first with alignbook.saferl.train(cfg)"

    def curve(self, key: str) -> np.ndarray:
        return np.array([row[key] if row[key] is not None else np.nan for row in self.history], dtype=float)


class SafePolicy:
    """A trained actor with the observation normaliser it was trained with."""

    def __init__(self, model: ActorCritic, normalizer: RunningNormalizer):
        self.model, self.normalizer = model, normalizer

    def act(self, obs: np.ndarray, deterministic: bool = True) -> np.ndarray:
        obs_t = torch.as_tensor(self.normalizer(np.asarray(obs)), dtype=torch.float32)
        action, *_ = self.model.step(obs_t.unsqueeze(0) if obs_t.ndim == 1 else obs_t, deterministic)
        return action.squeeze(0).numpy() if obs_t.ndim == 1 else action.numpy()


def save_policy(directory: Path, model: ActorCritic, normalizer: RunningNormalizer, cfg: SafeRLConfig, obs_dim: int,
                act_dim: int) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / POLICY_FILE
    # tensors and plain data only (the normaliser's state is lists), so it loads with weights_only=True
    return checkpoints.save(path, {"model": model.state_dict(), "normalizer": normalizer.state_dict(),
                                   "obs_dim": int(obs_dim), "act_dim": int(act_dim),
                                   "hidden_sizes": [int(h) for h in cfg.hidden_sizes], "env_id": str(cfg.env_id)})


def load_policy(path: str | Path) -> SafePolicy:
    """Rebuild a saved policy (``policy.pt`` or the run folder holding it) with its normaliser."""
    path = Path(path)
    if path.is_dir():
        path = path / POLICY_FILE
    state = checkpoints.load(path)  # a damaged or code-carrying file raises CheckpointError
    model = ActorCritic(state["obs_dim"], state["act_dim"], tuple(state["hidden_sizes"]))
    model.load_state_dict(state["model"])
    normalizer = RunningNormalizer((state["obs_dim"],))
    normalizer.load_state_dict(state["normalizer"])
    return SafePolicy(model, normalizer)


def evaluate(policy: SafePolicy, env_id: str, episodes: int = 2, seed: int = 10_000,
             deterministic: bool = True) -> dict[str, float]:
    """Mean undiscounted return and cost of ``episodes`` full episodes."""
    env = make_env(env_id)
    returns, costs = [], []
    for episode in range(episodes):
        obs, _ = env.reset(seed=seed + episode)
        total_r = total_c = 0.0
        done = False
        while not done:
            obs, reward, cost, terminated, truncated, _ = env.step(np.clip(policy.act(obs, deterministic), -1, 1))
            total_r += reward
            total_c += cost
            done = terminated or truncated
        returns.append(total_r)
        costs.append(total_c)
    env.close()
    return {"return": float(np.mean(returns)), "cost": float(np.mean(costs))}


def lagrange_input(epoch: int, window_means: Sequence[float], running_mean: float) -> float:
    """The episode cost J_C the multiplier is updated from before epoch ``epoch``'s policy update.

    As SafePO (``lagrange.update_lagrange_multiplier(logger.get_stats("Metrics/EpCost"))``): 0 in
    the first epoch (the logger has no header yet), afterwards the mean, over the episodes that ended
    in this epoch, of the running mean cost of the last ``cost_window`` episodes at each one's end.
    An epoch in which no episode ended (SafePO would feed NaN) uses the running mean.
    """
    if epoch == 0:
        return 0.0
    return float(np.mean(window_means)) if len(window_means) else float(running_mean)


def train(cfg: SafeRLConfig, run_dir: str | Path | None = None, verbose: bool | None = None,
          callback: Callable[[dict], None] | None = None) -> SafeRLResult:
    """Train ``cfg.algo`` on ``cfg.env_id`` for ``cfg.total_steps`` steps; save under ``run_dir``.

    ``callback`` (optional) receives each epoch's history row as soon as it is written.
    """
    if not isinstance(cfg, SafeRLConfig):
        raise TypeError(f"cfg must be a SafeRLConfig, got {type(cfg).__name__}")
    verbose = cfg.verbose if verbose is None else verbose
    run_dir = Path(run_dir or cfg.run_dir)
    torch.set_num_threads(cfg.torch_threads)
    seed_everything(cfg.seed)
    start, start_cpu = time.perf_counter(), time.process_time()
    env = VectorEnv(cfg.env_id, cfg.num_envs, cfg.seed, cfg.env_workers, cfg.skip_skybox, cfg.max_episode_steps)
    obs_dim, act_dim = env.observation_space.shape[0], env.action_space.shape[0]
    model = ActorCritic(obs_dim, act_dim, cfg.hidden_sizes)
    algo = ALGORITHMS[cfg.algo](cfg, model)
    normalizer = RunningNormalizer((obs_dim,))
    steps = cfg.steps_per_epoch // cfg.num_envs
    buffer = RolloutBuffer(steps, cfg.num_envs, obs_dim, act_dim)

    raw = env.reset()
    normalizer.update(raw)
    obs = normalizer(raw)
    ep_return, ep_cost, ep_len = (np.zeros(cfg.num_envs) for _ in range(3))
    window = deque(maxlen=cfg.cost_window)
    history: list[dict[str, Any]] = []
    for epoch in tqdm(range(cfg.epochs), desc=f"{cfg.algo} {cfg.env_id} seed {cfg.seed}", disable=not verbose):
        epoch_start, epoch_cpu = time.perf_counter(), time.process_time()
        finished = 0
        window_means: list[float] = []  # the running window's mean cost at each episode end this epoch
        for _ in range(steps):
            action, log_prob, value_r, value_c = model.step(torch.from_numpy(obs))
            out = env.step(action.numpy())
            buffer.store(obs, action.numpy(), log_prob.numpy(), out.reward, out.cost, value_r.numpy(), value_c.numpy())
            ep_return += out.reward
            ep_cost += out.cost
            ep_len += 1
            ended = out.terminated | out.truncated
            if ended.any():
                boot_r, boot_c = np.zeros(cfg.num_envs), np.zeros(cfg.num_envs)
                cut = out.truncated & ~out.terminated  # time limit: bootstrap from V(final obs)
                if cut.any():
                    v_r, v_c = model.values(torch.from_numpy(normalizer(out.final_obs[cut])))
                    boot_r[cut], boot_c[cut] = v_r.numpy(), v_c.numpy()
                buffer.end_episodes(ended, boot_r[ended], boot_c[ended])
                for i in np.flatnonzero(ended):
                    window.append((ep_return[i], ep_cost[i], ep_len[i]))
                    window_means.append(float(np.mean([w[1] for w in window])))
                    finished += 1
                ep_return[ended] = ep_cost[ended] = ep_len[ended] = 0.0
            normalizer.update(out.obs)
            obs = normalizer(out.obs)
        last_r, last_c = model.values(torch.from_numpy(obs))
        data = buffer.get(last_r.numpy(), last_c.numpy(), cfg.gamma, cfg.lam, cfg.lam_c)
        rollout_time, rollout_cpu = time.perf_counter() - epoch_start, time.process_time() - epoch_cpu
        mean_return = float(np.mean([w[0] for w in window])) if window else float("nan")
        mean_cost = float(np.mean([w[1] for w in window])) if window else 0.0
        multiplier_cost = lagrange_input(epoch, window_means, mean_cost)
        algo.update_multiplier(multiplier_cost)
        stats = algo.update(data, multiplier_cost)
        algo.set_actor_lr(cfg.actor_lr * (1 - (epoch + 1) / cfg.epochs))  # SafePO: LinearLR to 0
        history.append({
            "epoch": epoch + 1, "steps": (epoch + 1) * cfg.steps_per_epoch,
            "return": mean_return, "cost": mean_cost if window else None,
            "length": float(np.mean([w[2] for w in window])) if window else None,
            "episodes": finished, "lambda": algo.lagrangian, "lagrange_input": multiplier_cost,
            "rollout_s": rollout_time, "update_s": time.perf_counter() - epoch_start - rollout_time,
            "rollout_cpu_s": rollout_cpu, "update_cpu_s": time.process_time() - epoch_cpu - rollout_cpu,
            **{k: float(v) for k, v in stats.items()},
        })
        if callback is not None:
            callback(history[-1])
    env.close()
    wall, cpu = time.perf_counter() - start, time.process_time() - start_cpu
    checkpoint = save_policy(run_dir, model, normalizer, cfg, obs_dim, act_dim)
    last = history[-1]
    metrics = {
        "return": last["return"], "cost": last["cost"], "lambda": last["lambda"],
        "steps": cfg.epochs * cfg.steps_per_epoch, "wall_s": wall,
        "steps_per_s": cfg.epochs * cfg.steps_per_epoch / wall, "cpu_s": cpu,
        "steps_per_cpu_s": cfg.epochs * cfg.steps_per_epoch / cpu,
    }
    result = SafeRLResult(metrics=metrics, history=history, checkpoint=str(checkpoint), config=config_record(cfg))
    result.save(run_dir)
    return result


def config_record(cfg: SafeRLConfig) -> dict[str, Any]:
    """The config as it reads back from JSON (tuples become lists), for comparing runs."""
    return config_fingerprint(cfg)


GRID_FIELDS = frozenset({"algos", "env_ids", "seeds", "parallel_runs", "cost_limits", "lagrange_lrs",
                         "canonical_steps", "eval_episodes", "render_size", "random_episodes", "verbose"})
"""Fields that describe a notebook's grid, not one run: a cached run is reused whatever they are
(``parallel_runs``, the process count of the grids before they ran through the engine, is gone from
the config; it stays here so that a result saved with it still compares)."""


def same_run(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two config records train the same run (grid-level fields ignored)."""
    strip = lambda record: {k: v for k, v in record.items() if k not in GRID_FIELDS}  # noqa: E731
    return strip(a) == strip(b)


GRID_UNIT_MEMORY_MB = 700
"""Peak memory of one run in a worker (torch, MuJoCo, the vectorised envs and the rollout buffer)."""


def train_run(unit) -> dict[str, Any]:
    """One run of :func:`run_grid` (``unit.value``: its folder relative to the grid's; ``unit.context``:
    ``{folder: config fields}``): trains it, which saves its result and policy in its folder, and
    returns its final metrics."""
    cfg = SafeRLConfig(**unit.context[unit.value])
    return train(cfg, cfg.run_dir, verbose=False).metrics


def run_grid(configs: Sequence[SafeRLConfig], reuse: bool = True, verbose: bool = True, *, base: Any = None,
             name: str = "runs") -> list[SafeRLResult]:
    """Train every config into its own ``run_dir``, each run a unit of :func:`map_units` (``name``: its
    folder of finished units under ``base.run_dir``, default the runs' common folder).

    A run whose folder already holds a result of the same config is loaded, not retrained, so an
    interrupted grid resumes where it stopped and figures never retrain. Each run seeds itself from its
    own ``seed`` (:func:`train`), so its numbers do not depend on the other runs or on the workers.
    """
    from ..engine.parallel import map_units

    jobs, results = [], [None] * len(configs)
    for i, cfg in enumerate(configs):
        run_dir = Path(cfg.run_dir)
        if reuse and (run_dir / RESULT_FILE).exists():
            cached = SafeRLResult.load(run_dir)
            if same_run(cached.config, config_record(cfg)):
                results[i] = cached
                continue
        jobs.append(i)
    if jobs:
        root = Path(base.run_dir) if base is not None else Path(os.path.commonpath([configs[i].run_dir for i in jobs]))
        folders = [os.path.relpath(configs[i].run_dir, root) for i in jobs]
        context = {folder: dataclasses.asdict(configs[i]) for folder, i in zip(folders, jobs)}
        grid = base if base is not None else dataclasses.replace(configs[jobs[0]], run_dir=str(root))
        map_units(train_run, grid, folders, name=name, context=context, memory_mb=GRID_UNIT_MEMORY_MB,
                  fingerprint={folder: config_record(configs[i]) for folder, i in zip(folders, jobs)},
                  log=print if verbose else None)
        for i in jobs:
            results[i] = SafeRLResult.load(configs[i].run_dir)
    return results  # type: ignore[return-value]


def grid_configs(base: SafeRLConfig, algos: Sequence[str] | None = None, env_ids: Sequence[str] | None = None,
                 seeds: int | None = None, tag: str = "", **changes: Any) -> list[SafeRLConfig]:
    """One config per (env, algo, seed) of ``base`` (default: its ``env_ids``, ``algos``, ``seeds``),
    with ``changes`` applied, each with its own folder ``<run_dir>/runs/<env>/<algo>/<tag>seed<k>``."""
    algos = base.algos if algos is None else algos
    env_ids = base.env_ids if env_ids is None else env_ids
    seeds = base.seeds if seeds is None else seeds
    out = []
    for env_id in env_ids:
        for algo in algos:
            for k in range(seeds):
                run_dir = str(Path(base.run_dir) / "runs" / env_id / algo / f"{tag}seed{base.seed + k}")
                out.append(dataclasses.replace(base, algo=algo, env_id=env_id, seed=base.seed + k, run_dir=run_dir,
                                               **changes))
    return out


def train_grid(base: SafeRLConfig, algos: Sequence[str] | None = None, env_ids: Sequence[str] | None = None,
               seeds: int | None = None, tag: str = "", **changes: Any) -> list[SafeRLResult]:
    """:func:`grid_configs` then :func:`run_grid`, its units saved under ``base.run_dir``."""
    return run_grid(grid_configs(base, algos, env_ids, seeds, tag, **changes), verbose=base.verbose, base=base)
