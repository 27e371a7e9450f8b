"""The `paper` profile of every safety-gymnasium notebook resolves to SafePO's official settings."""

import pytest

from alignbook.engine import paths
from alignbook.engine.config import resolve

NOTEBOOKS = ["02_ppo_vs_ppolag", "03_comparison", "04_ablations"]

OFFICIAL = {  # issue 5, from safepo/single_agent/*.py and safepo/utils/config.py
    "hidden_sizes": (64, 64), "gamma": 0.99, "lam": 0.95, "lam_c": 0.95,
    "learning_iters": 40, "minibatch_size": 64, "target_kl": 0.02, "actor_lr": 3e-4, "critic_lr": 3e-4,
    "trust_region_delta": 0.01, "cg_iters": 15, "cg_damping": 0.1,
    "lagrange_init": 0.001, "lagrange_lr": 0.035, "cost_limit": 25.0, "cost_window": 50,
    "focops_nu_max": 2.0, "focops_temperature": 1.5, "cup_nu_max": 0.2,
    "steps_per_epoch": 20_000, "num_envs": 10, "total_steps": 10_000_000, "max_episode_steps": 0,
    "clip_ratio": 0.2, "max_grad_norm": 40.0, "critic_l2": 0.001,
    "pid_kp": 0.1, "pid_ki": 0.01, "pid_kd": 0.01,
}


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_paper_profile_is_safepo(name):
    cfg = resolve(paths.notebooks_dir() / "safety-gymnasium" / f"{name}.yaml", "paper")
    resolved = {key: getattr(cfg, key) for key in OFFICIAL}
    assert resolved == OFFICIAL
    assert cfg.epochs == 500


SMOKE_STEPS_PER_CORE = 650_000
"""About 3 minutes of one core at the ~3,500 env steps per second (updates included) measured for the
smoke PPO settings on the velocity tasks, which keeps each smoke notebook inside 5 minutes on 2 cores."""


def runs_in(name: str, cfg) -> int:
    if name == "04_ablations":  # one PPO-Lag run per limit and per λ lr, and PPO as the reference
        return (len(cfg.cost_limits) + len(cfg.lagrange_lrs) + 1) * len(cfg.env_ids) * cfg.seeds
    return len(cfg.env_ids) * len(cfg.algos) * cfg.seeds


SMOKE_CORES = 2
"""The smoke machine's cores: a grid's runs are units of the engine's map, one per core the runner gives."""


def test_smoke_profiles_fit_two_cores():
    for name in NOTEBOOKS:
        cfg = resolve(paths.notebooks_dir() / "safety-gymnasium" / f"{name}.yaml", "smoke")
        assert cfg.env_workers == 1
        steps_per_core = cfg.total_steps * runs_in(name, cfg) / min(SMOKE_CORES, runs_in(name, cfg))
        assert steps_per_core <= SMOKE_STEPS_PER_CORE, f"{name}: {steps_per_core:.3g} env steps per core"


def test_ppo_vs_ppolag_runs_where_ppo_becomes_unsafe_within_the_budget():
    smoke = resolve(paths.notebooks_dir() / "safety-gymnasium" / "02_ppo_vs_ppolag.yaml", "smoke")
    assert smoke.seeds >= 2 and set(smoke.algos) == {"ppo", "ppo_lag"}
    # HalfCheetah's 3.2 m/s threshold is crossed only after ~4e5 steps; Hopper's within ~3e4
    assert smoke.env_ids == ("SafetyHopperVelocity-v1",)
    for profile in ("gpu", "paper"):  # the task where the budget reaches 1e6 steps
        cfg = resolve(paths.notebooks_dir() / "safety-gymnasium" / "02_ppo_vs_ppolag.yaml", profile)
        assert cfg.env_ids == ("SafetyHalfCheetahVelocity-v1",) and cfg.total_steps >= 1_000_000
