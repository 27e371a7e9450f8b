"""Safety-Gymnasium imports on Python 3.11 through alignbook.saferl.envs, steps, and keeps its semantics."""

import dataclasses

import numpy as np
import pytest

from alignbook.saferl import compat, envs

TASKS = ["SafetyPointGoal1-v0", "SafetyCarButton1-v0", "SafetyPointCircle1-v0",
         "SafetyHalfCheetahVelocity-v1", "SafetyHopperVelocity-v1"]


@pytest.mark.parametrize("env_id", TASKS)
def test_task_imports_and_steps(env_id):
    env = envs.make_env(env_id)
    obs, _ = env.reset(seed=0)
    assert env.observation_space.contains(obs.astype(env.observation_space.dtype))
    for _ in range(5):
        out = env.step(env.action_space.sample())
        assert len(out) == 6  # obs, reward, cost, terminated, truncated, info
        obs, reward, cost, terminated, truncated, info = out
        assert cost in (0.0, 1.0)
        assert np.isfinite(reward)
    env.close()


def test_dataclass_shim_is_scoped_to_safety_gymnasium():
    envs.safety_gymnasium_module()
    assert compat.shim_installed()
    with pytest.raises(ValueError, match="mutable default"):

        @dataclasses.dataclass
        class Elsewhere:  # any other package keeps Python 3.11's check
            color: np.ndarray = np.zeros(3)

    from safety_gymnasium.assets.geoms.hazards import Hazards

    a, b = Hazards(), Hazards()
    assert np.array_equal(a.color, b.color) and a.color is not b.color  # same values, own copies


def test_skybox_fast_path_keeps_observations_identical():
    slow = envs.make_env("SafetyPointGoal1-v0", skip_skybox=False)
    fast = envs.make_env("SafetyPointGoal1-v0", skip_skybox=True)
    rng = np.random.default_rng(0)
    for episode in range(2):  # the second reset rebuilds the world again
        obs_s, _ = slow.reset(seed=7 + episode)
        obs_f, _ = fast.reset(seed=7 + episode)
        assert np.array_equal(obs_s, obs_f)
        for _ in range(30):
            action = rng.uniform(-1, 1, 2)
            out_s, out_f = slow.step(action), fast.step(action)
            for a, b in zip(out_s[:5], out_f[:5]):
                assert np.array_equal(a, b)
    assert "skybox" in slow.unwrapped.task.world.xml_string
    assert "skybox" not in fast.unwrapped.task.world.xml_string


def test_fast_path_refused_for_vision_tasks():
    with pytest.raises(ValueError, match="skip_skybox"):
        envs.make_env("SafetyPointGoal1Vision-v0", skip_skybox=True)
    with pytest.raises(ValueError, match="not a Safety-Gymnasium task"):
        envs.make_env("SafetyPointGoal9-v0")


def test_episode_limits_and_truncation():
    assert envs.episode_limit(envs.make_env("SafetyPointGoal1-v0")) == 1000
    circle = envs.make_env("SafetyPointCircle1-v0")
    assert envs.episode_limit(circle) == 500
    circle.reset(seed=0)
    for t in range(500):
        _, _, _, terminated, truncated, _ = circle.step(np.zeros(2))
        if terminated or truncated:
            break
    assert (t, terminated, truncated) == (499, False, True)


def test_vector_env_autoresets_and_reports_final_obs():
    with envs.VectorEnv("SafetyHalfCheetahVelocity-v1", num_envs=2, seed=0, max_episode_steps=3) as venv:
        first = venv.reset()
        for _ in range(3):
            out = venv.step(np.zeros((2, 6)))
        assert out.truncated.all() and not out.terminated.any()
        assert not np.array_equal(out.obs, out.final_obs)  # obs is the next episode's first one
        again = envs.VectorEnv("SafetyHalfCheetahVelocity-v1", num_envs=2, seed=0)
        assert np.array_equal(again.reset(), first)  # seeded resets reproduce
        again.close()


def test_vector_env_across_processes_matches_in_process():
    with envs.VectorEnv("SafetyHalfCheetahVelocity-v1", 4, seed=3, workers=1) as one, \
            envs.VectorEnv("SafetyHalfCheetahVelocity-v1", 4, seed=3, workers=2) as two:
        assert np.array_equal(one.reset(), two.reset())
        actions = np.random.default_rng(0).uniform(-1, 1, (4, 6))
        a, b = one.step(actions), two.step(actions)
        assert np.array_equal(a.obs, b.obs) and np.array_equal(a.reward, b.reward)
