"""Every algorithm trains a few epochs on tiny settings; results, checkpoints and policies round-trip."""

import dataclasses
import math

import numpy as np
import pytest
import torch

from alignbook.engine.config import ConfigError
from alignbook.saferl import ALGORITHM_NAMES, SafeRLConfig, SafeRLResult, evaluate, load_policy, train
from alignbook.saferl.trainer import config_record

TINY = dict(env_id="SafetyHalfCheetahVelocity-v1", total_steps=240, steps_per_epoch=120, num_envs=2,
            max_episode_steps=30, hidden_sizes=(16, 16), learning_iters=2, minibatch_size=60, critic_iters=1,
            critic_minibatch_size=60, cg_iters=3, cost_window=4)


def tiny(tmp_path, algo, **changes):
    return SafeRLConfig(algo=algo, **{"run_dir": str(tmp_path / algo), **TINY, **changes})


@pytest.mark.parametrize("algo", ALGORITHM_NAMES)
def test_algorithm_trains_and_round_trips(tmp_path, algo):
    cfg = tiny(tmp_path, algo)
    torch.manual_seed(0)
    result = train(cfg)
    assert len(result.history) == 2
    for row in result.history:
        assert math.isfinite(row["return"]) and row["cost"] is not None and row["episodes"] > 0
        assert (row["lambda"] is None) == (algo in ("ppo", "cpo", "pcpo"))
    loaded = SafeRLResult.load(cfg.run_dir)
    assert loaded.history == result.history and loaded.config == config_record(cfg)
    policy = load_policy(result.checkpoint)
    state = torch.load(result.checkpoint, weights_only=True)
    from alignbook.saferl.networks import ActorCritic

    fresh = ActorCritic(17, 6, (16, 16))
    changed = any(not torch.equal(p, state["model"][k]) for k, p in fresh.state_dict().items())
    assert changed  # training moved the parameters away from an initialisation
    assert np.any(policy.normalizer.mean != 0)  # the observation normaliser travelled with it
    score = evaluate(policy, cfg.env_id, episodes=1)
    assert math.isfinite(score["return"]) and 0 <= score["cost"] <= 1000


def test_seeded_runs_reproduce_and_ppo_lag_equals_ppo_while_lambda_is_zero(tmp_path):
    a = train(tiny(tmp_path, "ppo", seed=3, run_dir=str(tmp_path / "a")))
    b = train(tiny(tmp_path, "ppo", seed=3, run_dir=str(tmp_path / "b")))
    lag = train(tiny(tmp_path, "ppo_lag", seed=3, lagrange_init=0.0, cost_limit=1e9, run_dir=str(tmp_path / "c")))
    strip = lambda h: [{k: v for k, v in row.items() if not k.endswith("_s") and k != "lambda"} for row in h]  # noqa
    assert strip(a.history) == strip(b.history)
    assert strip(a.history) == strip(lag.history)
    assert all(row["lambda"] == 0.0 for row in lag.history)
    pa, pl = torch.load(a.checkpoint, weights_only=True), torch.load(lag.checkpoint, weights_only=True)
    assert all(torch.equal(pa["model"][k], pl["model"][k]) for k in pa["model"])


def test_lambda_is_updated_from_episode_costs_in_training(tmp_path):
    # J_C <= limit always (limit 1e9), so every epoch's update must push λ down, to the clamp at 0
    result = train(tiny(tmp_path, "ppo_lag", cost_limit=1e9, lagrange_init=0.05, lagrange_lr=0.02))
    lambdas = [row["lambda"] for row in result.history]
    assert lambdas[0] == pytest.approx(0.03, abs=1e-6) and lambdas[1] == pytest.approx(0.01, abs=1e-4)


def test_bad_config_is_explained():
    with pytest.raises(ConfigError, match="multiple of num_envs"):
        SafeRLConfig(steps_per_epoch=105, num_envs=10)
    with pytest.raises(ConfigError, match="total_steps"):
        SafeRLConfig(total_steps=10, steps_per_epoch=20)
    with pytest.raises(ConfigError, match="algos='sac'"):
        SafeRLConfig(algos=("ppo", "sac"))
    with pytest.raises(TypeError, match="SafeRLConfig"):
        train({"algo": "ppo"})


def test_run_grid_reuses_finished_runs_and_ignores_grid_fields(tmp_path):
    from alignbook.saferl import grid_configs, run_grid

    base = tiny(tmp_path, "ppo", run_dir=str(tmp_path / "grid"))
    first = run_grid(grid_configs(base, ["ppo"], seeds=1), verbose=False)
    again = run_grid(grid_configs(dataclasses.replace(base, cost_limits=(1.0,), seeds=3), ["ppo"], seeds=1),
                     verbose=False)
    assert again[0].metrics["wall_s"] == first[0].metrics["wall_s"]  # loaded, not retrained
    changed = run_grid(grid_configs(dataclasses.replace(base, gamma=0.9), ["ppo"], seeds=1), verbose=False)
    assert changed[0].metrics["wall_s"] != first[0].metrics["wall_s"]  # a run setting changed: retrained


def fake_result(env_id, algo, seed, cost):
    history = [{"epoch": 1, "steps": 100, "return": 1.0, "cost": cost, "lambda": None}]
    metrics = {"return": 1.0, "cost": cost, "lambda": None, "steps": 100, "steps_per_s": 1.0}
    return SafeRLResult(metrics=metrics, history=history, checkpoint="",
                        config={"env_id": env_id, "algo": algo, "seed": seed, "profile": "test"})


def test_curves_of_several_tasks_are_never_averaged_together():
    from alignbook.saferl import report

    runs = [fake_result("SafetyHopperVelocity-v1", "ppo", 0, 10.0), fake_result("SafetyHalfCheetahVelocity-v1", "ppo", 0, 90.0)]
    with pytest.raises(ValueError, match="report.select"):
        report.plot_curves(runs, keys=("cost",))
    one_task = report.select(runs, env_id="SafetyHopperVelocity-v1")
    assert [r.metrics["cost"] for r in one_task] == [10.0]
    report.plot_curves(one_task, keys=("cost",))
    report.plot_curves(runs, keys=("cost",), by=("env_id", "algo"))


def test_a_grid_gives_the_same_runs_in_worker_processes_as_in_sequence(tmp_path, monkeypatch):
    from alignbook.saferl import train_grid

    strip = lambda h: [{k: v for k, v in row.items() if not k.endswith("_s")} for row in h]  # noqa: E731
    runs = {}
    for cores in ("1", "2"):
        monkeypatch.setenv("ALIGNBOOK_CORES", cores)  # 1: the runs in this process; 2: two worker processes
        base = tiny(tmp_path, "ppo", run_dir=str(tmp_path / f"cores{cores}"), seed=5)
        runs[cores] = train_grid(base, ["ppo", "ppo_lag"], seeds=2)
        assert len(list((tmp_path / f"cores{cores}" / "units" / "runs").iterdir())) == 4  # one finished unit per run
    assert [(r.config["algo"], r.config["seed"]) for r in runs["2"]] == [("ppo", 5), ("ppo", 6), ("ppo_lag", 5), ("ppo_lag", 6)]
    assert [strip(r.history) for r in runs["1"]] == [strip(r.history) for r in runs["2"]]
