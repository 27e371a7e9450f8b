"""The `paper` profile of every safety-gymnasium notebook resolves to SafePO's official settings."""

import pytest

from alignbook import paths
from alignbook.config import resolve

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


def test_smoke_profiles_fit_two_cores():
    for name in NOTEBOOKS:
        cfg = resolve(paths.notebooks_dir() / "safety-gymnasium" / f"{name}.yaml", "smoke")
        assert cfg.parallel_runs <= 2 and cfg.env_workers == 1
    cfg = resolve(paths.notebooks_dir() / "safety-gymnasium" / "02_ppo_vs_ppolag.yaml", "smoke")
    assert cfg.seeds >= 2 and set(cfg.algos) == {"ppo", "ppo_lag"}
    assert cfg.env_ids == ("SafetyHalfCheetahVelocity-v1",)
