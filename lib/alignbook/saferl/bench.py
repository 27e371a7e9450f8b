"""Training throughput of our PPO-Lag against OmniSafe's PPOLag on the same task and settings.

Environment steps per second of a whole training run (rollouts *and* updates), same task, same
steps per epoch, same [64, 64] networks, same PPO settings (40 passes, minibatch 64, KL stop 0.02),
one environment, one torch thread. OmniSafe is not a dependency of the book: install it into a
throwaway venv and run this module with that venv's Python (``lib`` on ``PYTHONPATH`` so the
Python 3.11 import fix applies to it too)::

    .venv/bin/python -m alignbook.saferl.bench --impl alignbook --steps 40000
    PYTHONPATH=lib /tmp/omnisafe-venv/bin/python -m alignbook.saferl.bench --impl omnisafe --steps 40000

Each prints one JSON line: wall seconds, CPU seconds (this process and its children), and steps per
wall / CPU second. On a machine shared with other jobs, compare the CPU-second rates.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def run_alignbook(env_id: str, steps: int, steps_per_epoch: int, num_envs: int, seed: int) -> dict:
    from .config import SafeRLConfig
    from .trainer import train

    cfg = SafeRLConfig(algo="ppo_lag", env_id=env_id, total_steps=steps, steps_per_epoch=steps_per_epoch,
                       num_envs=num_envs, seed=seed, run_dir=tempfile.mkdtemp(prefix="bench-alignbook-"))
    result = train(cfg)
    return {"update_passes": [row.get("passes") for row in result.history],
            "rollout_s": round(sum(row["rollout_s"] for row in result.history), 1),
            "update_s": round(sum(row["update_s"] for row in result.history), 1)}


def run_omnisafe(env_id: str, steps: int, steps_per_epoch: int, num_envs: int, seed: int) -> dict:
    from . import envs

    envs.safety_gymnasium_module()  # the same import fix, applied before OmniSafe imports safety_gymnasium
    import omnisafe

    custom = {
        "seed": seed,
        "train_cfgs": {"total_steps": steps, "vector_env_nums": num_envs, "parallel": 1, "device": "cpu",
                       "torch_threads": 1},
        "algo_cfgs": {"steps_per_epoch": steps_per_epoch, "update_iters": 40, "batch_size": 64, "target_kl": 0.02,
                      "obs_normalize": True, "reward_normalize": False, "cost_normalize": False},
        "logger_cfgs": {"use_wandb": False, "use_tensorboard": False, "save_model_freq": 10**9,
                        "log_dir": tempfile.mkdtemp(prefix="bench-omnisafe-")},
        "model_cfgs": {"actor": {"hidden_sizes": [64, 64]}, "critic": {"hidden_sizes": [64, 64]}},
    }
    agent = omnisafe.Agent("PPOLag", env_id, custom_cfgs=custom)
    agent.learn()
    return {}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", choices=["alignbook", "omnisafe"], required=True)
    parser.add_argument("--env", default="SafetyPointGoal1-v0")
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--steps-per-epoch", type=int, default=20_000)
    parser.add_argument("--num-envs", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("MUJOCO_GL", "egl")
    import torch

    torch.set_num_threads(1)
    runner = run_alignbook if args.impl == "alignbook" else run_omnisafe
    wall0, cpu0 = time.perf_counter(), _cpu_seconds()
    extra = runner(args.env, args.steps, args.steps_per_epoch, args.num_envs, args.seed)
    wall, cpu = time.perf_counter() - wall0, _cpu_seconds() - cpu0
    out = {"impl": args.impl, "env": args.env, "steps": args.steps, "steps_per_epoch": args.steps_per_epoch,
           "num_envs": args.num_envs, "wall_s": round(wall, 1), "cpu_s": round(cpu, 1),
           "steps_per_wall_s": round(args.steps / wall, 1), "steps_per_cpu_s": round(args.steps / cpu, 1),
           "load_avg_1min": os.getloadavg()[0], **extra}
    print(json.dumps(out), flush=True)
    return out


if __name__ == "__main__":
    sys.exit(0 if main() else 1)
