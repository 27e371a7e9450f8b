"""Safety-Gymnasium environments: import fix, the skybox fast path, vectorised stepping.

Always import the environments through this module: :func:`safety_gymnasium_module` applies the
Python 3.11 compatibility shim (:mod:`alignbook.saferl.compat`) before the first
``import safety_gymnasium``.

Semantics kept from Safety-Gymnasium: ``step`` returns ``(obs, reward, cost, terminated,
truncated, info)``; the per-step cost is 0/1 (navigation: the sum of the indicator costs of the
task's hazards, which is 0/1 on the level-1 tasks; velocity tasks: 1 when the speed exceeds the
threshold); navigation episodes end by truncation (1000 steps, Circle 500).

**Skybox fast path.** Every navigation ``reset`` rebuilds the MuJoCo world from XML, and the XML
names six 2-5 MB PNG skybox textures that MuJoCo decodes at every compile. With vector
observations the skybox only colours the background of rendered frames, so
:func:`make_env` (``skip_skybox=None`` means "whenever the task has no camera observation") drops
that one ``<texture type="skybox">`` element before the world is compiled. Observations, rewards
and costs are unchanged (``tests/test_envs.py`` checks them step by step); vision tasks, whose
observations are camera images, always keep it.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import multiprocessing as mp
import os
import warnings
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from . import compat

_SKIP_SKYBOX = contextvars.ContextVar("alignbook_skip_skybox", default=False)
_FAST_FLAG = "_alignbook_skip_skybox"
_module = None

TASKS = {
    "SafetyPointGoal1-v0": "navigation: Point robot reaches goals, hazards (cost) and a vase",
    "SafetyCarButton1-v0": "navigation: Car robot presses the goal button, avoids hazards, gremlins, wrong buttons",
    "SafetyPointCircle1-v0": "navigation: Point robot circles the centre, cost outside the boundaries",
    "SafetyHalfCheetahVelocity-v1": "velocity: MuJoCo HalfCheetah, cost when speed exceeds the threshold",
    "SafetyHopperVelocity-v1": "velocity: MuJoCo Hopper, cost when speed exceeds the threshold",
}
"""The tasks the chapter and the tests use (all importable and steppable here)."""


def safety_gymnasium_module():
    """Import ``safety_gymnasium`` with the Python 3.11 shim and the skybox hook installed."""
    global _module
    if _module is not None:
        return _module
    os.environ.setdefault("MUJOCO_GL", "egl")
    compat.check_dependencies()
    compat.install_dataclass_shim()
    # gymnasium-robotics prints a notice about its Adroit tasks on import; those are not used here.
    with contextlib.redirect_stderr(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import safety_gymnasium
    import safety_gymnasium.world as world_module

    _install_skybox_hook(world_module)
    _module = safety_gymnasium
    return _module


class _XmlToDictWithoutSkybox:
    """Stands in for ``xmltodict`` inside ``safety_gymnasium.world``; drops the skybox on request."""

    def __init__(self, real):
        self._real = real
        self.parse = real.parse

    def unparse(self, document, *args, **kwargs):
        if _SKIP_SKYBOX.get():
            asset = dict(document["mujoco"]["asset"])
            asset["texture"] = [t for t in asset.get("texture", []) if t.get("@type") != "skybox"]
            document = dict(document)
            document["mujoco"] = dict(document["mujoco"], asset=asset)
        return self._real.unparse(document, *args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._real, name)


def _install_skybox_hook(world_module) -> None:
    if isinstance(world_module.xmltodict, _XmlToDictWithoutSkybox):
        return
    world_module.xmltodict = _XmlToDictWithoutSkybox(world_module.xmltodict)
    original_build = world_module.World.build

    def build(self):
        # The World has no link to its env; the agent object is per env, so the flag lives there.
        token = _SKIP_SKYBOX.set(bool(getattr(self._agent, _FAST_FLAG, False)))
        try:
            return original_build(self)
        finally:
            _SKIP_SKYBOX.reset(token)

    world_module.World.build = build


def is_vision_task(env_id: str) -> bool:
    return "Vision" in env_id


def make_env(env_id: str, skip_skybox: bool | None = None, render_mode: str | None = None, **kwargs: Any):
    """``safety_gymnasium.make(env_id)`` with the fast path on for vector-observation navigation tasks.

    ``skip_skybox=None`` turns it on whenever the task has vector observations; ``True`` on a
    vision task is an error (its observations would change).
    """
    sg = safety_gymnasium_module()
    if env_id not in sg.utils.registration.safe_registry:
        import difflib

        close = difflib.get_close_matches(env_id, list(sg.utils.registration.safe_registry), n=3)
        raise ValueError(f"env_id={env_id!r} is not a Safety-Gymnasium task; close names: {close}")
    if skip_skybox and is_vision_task(env_id):
        raise ValueError(
            f"skip_skybox=True on {env_id}: vision observations are rendered images, so the skybox "
            "is part of them; use skip_skybox=None or False"
        )
    if skip_skybox is None:
        skip_skybox = not is_vision_task(env_id) and render_mode is None
    env = sg.make(env_id, render_mode=render_mode, **kwargs)
    task = getattr(env.unwrapped, "task", None)  # navigation tasks only; velocity tasks have no world
    if task is not None:
        setattr(task.agent, _FAST_FLAG, bool(skip_skybox))
    return env


def episode_limit(env) -> int:
    """Steps after which the environment truncates (1000 navigation/velocity, 500 Circle)."""
    task = getattr(env.unwrapped, "task", None)
    if task is not None:
        return int(task.num_steps)
    return int(env.spec.max_episode_steps)


@dataclass
class VectorStep:
    """One step of all environments; arrays have a leading ``num_envs`` axis."""

    obs: np.ndarray
    """Next observation (after auto-reset where an episode ended)."""
    reward: np.ndarray
    cost: np.ndarray
    terminated: np.ndarray
    truncated: np.ndarray
    final_obs: np.ndarray
    """The last observation of episodes that ended at this step (rows of running envs are copies of ``obs``)."""


class _EnvGroup:
    """Several environments stepped in turn, with auto-reset (runs in-process or in a worker)."""

    def __init__(self, env_id: str, seeds: Sequence[int], skip_skybox: bool | None, max_episode_steps: int = 0):
        extra = {"max_episode_steps": max_episode_steps} if max_episode_steps else {}
        self.envs = [make_env(env_id, skip_skybox=skip_skybox, **extra) for _ in seeds]
        self.seeds = list(seeds)

    def reset(self) -> np.ndarray:
        return np.stack([env.reset(seed=int(seed))[0] for env, seed in zip(self.envs, self.seeds)])

    def step(self, actions: np.ndarray):
        out = []
        for env, action in zip(self.envs, actions):
            obs, reward, cost, terminated, truncated, _ = env.step(action)
            final = obs
            if terminated or truncated:
                obs, _ = env.reset()
            out.append((obs, reward, cost, terminated, truncated, final))
        obs, reward, cost, terminated, truncated, final = zip(*out)
        return (np.stack(obs), np.asarray(reward, float), np.asarray(cost, float),
                np.asarray(terminated, bool), np.asarray(truncated, bool), np.stack(final))

    def close(self):
        for env in self.envs:
            env.close()


def _worker(remote, env_id, seeds, skip_skybox, max_episode_steps):
    import torch

    torch.set_num_threads(1)
    group = _EnvGroup(env_id, seeds, skip_skybox, max_episode_steps)
    while True:
        command, payload = remote.recv()
        if command == "reset":
            remote.send(group.reset())
        elif command == "step":
            remote.send(group.step(payload))
        else:
            group.close()
            remote.close()
            return


class VectorEnv:
    """``num_envs`` copies of a task, stepped in this process or split over ``workers`` processes.

    Environment ``i`` is seeded with ``seed + i`` at the first reset and auto-resets from its own
    random stream afterwards, so a run is reproducible for any number of workers.
    """

    def __init__(self, env_id: str, num_envs: int, seed: int, workers: int = 1, skip_skybox: bool | None = None,
                 max_episode_steps: int = 0):
        if num_envs < 1:
            raise ValueError(f"num_envs={num_envs} must be at least 1")
        if not 1 <= workers <= num_envs:
            raise ValueError(f"env_workers={workers} must be between 1 and num_envs={num_envs}")
        self.env_id, self.num_envs, self.workers = env_id, num_envs, workers
        seeds = [seed * 1000 + i for i in range(num_envs)]
        probe = make_env(env_id, skip_skybox=skip_skybox)
        self.observation_space, self.action_space = probe.observation_space, probe.action_space
        self.max_episode_steps = max_episode_steps or episode_limit(probe)
        probe.close()
        if workers == 1:
            self._group = _EnvGroup(env_id, seeds, skip_skybox, max_episode_steps)
            self._remotes = []
        else:
            self._group = None
            ctx = mp.get_context("fork")
            chunks = np.array_split(np.asarray(seeds), workers)
            self._remotes, self._processes = [], []
            for chunk in chunks:
                parent, child = ctx.Pipe()
                process = ctx.Process(target=_worker, args=(child, env_id, chunk.tolist(), skip_skybox, max_episode_steps), daemon=True)
                process.start()
                child.close()
                self._remotes.append(parent)
                self._processes.append(process)

    def reset(self) -> np.ndarray:
        if self._group is not None:
            return self._group.reset()
        for remote in self._remotes:
            remote.send(("reset", None))
        return np.concatenate([remote.recv() for remote in self._remotes])

    def step(self, actions: np.ndarray) -> VectorStep:
        low, high = self.action_space.low, self.action_space.high
        actions = np.clip(actions, low, high)  # the Gaussian policy samples outside the box
        if self._group is not None:
            parts = self._group.step(actions)
        else:
            bounds = np.cumsum([0] + [len(c) for c in np.array_split(np.arange(self.num_envs), self.workers)])
            for remote, start, stop in zip(self._remotes, bounds[:-1], bounds[1:]):
                remote.send(("step", actions[start:stop]))
            results = [remote.recv() for remote in self._remotes]
            parts = [np.concatenate(items) for items in zip(*results)]
        return VectorStep(*parts)

    def close(self) -> None:
        if self._group is not None:
            self._group.close()
        for remote in self._remotes:
            try:
                remote.send(("close", None))
            except (BrokenPipeError, OSError):
                pass
        for process in getattr(self, "_processes", []):
            process.join(timeout=5)
        self._remotes = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
