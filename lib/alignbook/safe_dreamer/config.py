"""The config of the chapter's notebooks 01-04; defaults are the official SafeDreamer settings.

The dataclass defaults follow PKU-Alignment/SafeDreamer ``configs.yaml`` (the ``osrp``, ``osrp_lag``,
``bsrp_lag`` and ``osrp_vector`` blocks and ``defaults``), which is what the ``paper`` profile runs;
``smoke`` shrinks sizes and budgets to fit 2 CPU cores and says so in each notebook.

Each notebook's YAML names a subclass with the same fields (:class:`WorldModelConfig`, :class:`PlanningConfig`,
:class:`BSRPConfig`, :class:`AblationConfig`) whose ``work()`` says what that notebook computes, for the estimates
of :mod:`alignbook.engine.estimate`: counted torch ops at :data:`SECONDS_PER_OP` and MuJoCo steps at
:data:`ENV_STEPS_PER_SECOND`.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from ..engine.config import BaseConfig, ConfigError, Count, Fraction, Natural, NonNegative, OneOf, Positive, Range, Width, SeedCount
from ..engine.devices import Device
from .planner import METHODS


@dataclasses.dataclass(frozen=True)
class SafeDreamerConfig(BaseConfig):
    """World model, planners, BSRP-Lag and the ablations of the Safe DreamerV3 chapter."""

    env_id: str = "SafetyPointGoal1-v0"
    """Safety-Gymnasium task (configs.yaml osrp: safetygym_SafetyPointGoal1-v0), vector (lidar) observations."""
    repeat: Count = 5
    """Action repeat: env steps per agent step, reward and cost summed (configs.yaml osrp, osrp_vector: 5; osrp_lag, bsrp_lag: 4)."""
    max_episode_steps: Natural = 1000
    """Env steps per episode (0 or 1000: the task's own 1000)."""
    device: Device = "cpu"
    """Where the world model, the planners' imagination and the actor-critic run: cpu, cuda, cuda:N or auto
    (the gpu and paper profiles: cuda); MuJoCo steps on the CPU either way."""
    torch_threads: Count = 1
    """torch CPU threads (1 keeps seeded CPU runs exactly reproducible)."""
    seeds: SeedCount = 3
    """Seeds (independent world models and agents): seed, seed + 1, ..."""
    deter: Width = 256
    """RSSM deterministic (GRU) size (configs.yaml osrp_vector rssm.deter: 256)."""
    stoch: Width = 16
    """Categorical latent groups (osrp_vector rssm.stoch: 16)."""
    classes: Width = 16
    """Classes per latent group (osrp_vector rssm.classes: 16)."""
    units: Width = 256
    """MLP width of encoder, decoder, heads, actor, critics (osrp_vector .*.units: 256)."""
    layers: Count = 2
    """Hidden layers of the heads, actor and critics (osrp_vector .*.layers: 2)."""
    model_lr: Positive = 1e-4
    """World-model Adam learning rate (configs.yaml model_opt.lr: 1e-4)."""
    batch_size: Count = 16
    """Replayed sequences per world-model step (configs.yaml batch_size: 16)."""
    batch_length: Count = 64
    """Steps per replayed sequence (configs.yaml batch_length: 64)."""
    cost_weight: NonNegative = 10.0
    """Cost-head loss multiplier on steps with cost >= 1 (configs.yaml osrp cost_weight: 10)."""
    explore_episodes: Count = 50
    """Notebook 1: episodes of held-random exploration the world model is trained on."""
    heldout_episodes: Count = 5
    """Notebook 1: held-out exploration episodes for the prediction-quality curves."""
    explore_hold: Count = 10
    """Agent steps a random exploration action is held (plain uniform noise barely moves the robot)."""
    model_steps: Count = 10_000
    """Notebook 1: world-model gradient steps per seed."""
    horizon: Count = 15
    """Imagination / planning horizon (configs.yaml imag_horizon and planner.horizon: 15)."""
    discount_horizon: Positive = 333.0
    """gamma = 1 - 1/discount_horizon (configs.yaml horizon: 333)."""
    return_lambda: Fraction = 0.95
    """lambda of the lambda-returns (configs.yaml return_lambda: 0.95)."""
    samples: Count = 500
    """CEM action sequences per iteration (planner.num_samples: 500)."""
    elites: Count = 50
    """CEM elites k, also the safe-set size below which sequences are ranked by cost (planner.num_elites: 50)."""
    iterations: Count = 6
    """CEM iterations per environment step (planner.iterations: 6)."""
    momentum: Fraction = 0.1
    """mu <- m mu + (1 - m) mean(elites) (planner.momentum: 0.1)."""
    init_std: Positive = 1.0
    """Initial CEM standard deviation each step (planner.init_std: 1.0)."""
    cost_limit: NonNegative = 2.0
    """Cost limit b on the (predicted) episode cost (configs.yaml osrp, osrp_lag, bsrp_lag cost_limit: 2)."""
    episode_scale: Positive = 1000.0
    """Predicted episode cost = sum of the horizon's predicted costs * episode_scale / horizon (behaviors.py: 1000)."""
    methods: Annotated[tuple[str, ...], OneOf(METHODS)] = METHODS
    """Notebook 2: planners compared (cem: unconstrained; osrp; osrp_lag)."""
    eval_episodes: Count = 10
    """Notebooks 2-4: real episodes each agent acts per seed."""
    online_updates: Natural = 100
    """Notebook 2: world-model steps after each planner episode on the growing replay (0: the model from notebook 1 stays frozen)."""
    pid_kp: NonNegative = 0.1
    """OSRP-Lag PID proportional gain (osrp_lag pid.kp: 0.1)."""
    pid_ki: NonNegative = 0.01
    """OSRP-Lag PID integral gain (osrp_lag pid.ki: 0.01)."""
    pid_kd: NonNegative = 0.01
    """OSRP-Lag PID derivative gain (osrp_lag pid.kd: 0.01)."""
    pid_max: NonNegative = 0.1
    """Upper clip of lambda_p (osrp_lag pid.penalty_max: 0.1)."""
    cost_ema: Fraction = 0.99
    """EMA factor of the episode costs fed to the PID (train_eval.py: 0.99; 0 feeds each episode's cost)."""
    pid_start_steps: Natural = 1000
    """Agent steps before the PID starts updating (train_eval.py: step > 5000 env steps)."""
    ppo_lag_seeds: Natural = 0
    """Notebook 2: PPO-Lag baseline runs at the planners' environment steps (0: skip)."""
    ac_steps: Count = 2000
    """Notebook 3: actor-critic updates in imagination per seed."""
    ac_starts: Count = 256
    """Notebook 3: posterior start states per imagination batch."""
    actor_lr: Positive = 3e-5
    """Actor Adam learning rate (configs.yaml actor_opt.lr: 3e-5)."""
    critic_lr: Positive = 3e-5
    """Reward and cost critic Adam learning rate (critic_opt.lr, cost_critic_opt.lr: 3e-5)."""
    actent: NonNegative = 3e-4
    """Actor entropy bonus (configs.yaml actent: 3e-4)."""
    lagrange_init: NonNegative = 1e-6
    """Initial augmented-Lagrangian multiplier lambda (lagrange_multiplier_init: 1e-6)."""
    penalty_init: Positive = 5e-9
    """Initial penalty multiplier c (penalty_multiplier_init: 5e-9)."""
    penalty_growth: NonNegative = 1e-5
    """c <- min(c (1 + growth), 1) per update (jaxutils.Lagrange: 1e-5)."""
    ablation_cost_limits: Annotated[tuple[float, ...], Range(0)] = (0.0, 2.0, 25.0)
    """Notebook 4: cost limits b of the OSRP runs."""
    ablation_cost_weights: Annotated[tuple[float, ...], Range(0)] = (1.0, 10.0)
    """Notebook 4: cost-head weights the world model is retrained with."""
    ablation_sizes: Annotated[tuple[int, ...], Range(1, 100_000)] = (50, 2, 500, 6)
    """Notebook 4: planner (samples, iterations) pairs, flattened: small first, then the profile's own."""
    ablation_model_steps: Count = 2000
    """Notebook 4: world-model steps of each cost-weight retraining."""
    verbose: bool = False
    """Print a line as each seed (or ablation arm) finishes."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.elites > self.samples:
            raise ConfigError(f"elites={self.elites} must be at most samples={self.samples}")
        if len(self.ablation_sizes) % 2:
            raise ConfigError(f"ablation_sizes={list(self.ablation_sizes)} must hold (samples, iterations) pairs")
        for n in self.ablation_sizes[0::2]:
            if n < self.elites:
                raise ConfigError(f"ablation_sizes: samples {n} below elites={self.elites}")
        if self.max_episode_steps and self.max_episode_steps < self.repeat * (self.batch_length + 1):
            raise ConfigError(f"max_episode_steps={self.max_episode_steps} gives episodes shorter than batch_length="
                              f"{self.batch_length} agent steps at repeat={self.repeat}")
        if self.max_episode_steps and self.max_episode_steps < self.repeat * (self.horizon + 2):
            raise ConfigError(f"max_episode_steps={self.max_episode_steps} is shorter than horizon={self.horizon} "
                              "agent steps")

    @property
    def gamma(self) -> float:
        return 1.0 - 1.0 / self.discount_horizon


@dataclasses.dataclass(frozen=True)
class ResultsConfig(BaseConfig):
    """Notebook 5: each claim beside this chapter's measurement and verdict."""


# -- estimates (alignbook.engine.estimate) ---------------------------------------------------------------

SECONDS_PER_OP = 10e-6
"""Assumed seconds per dispatched torch op on the GPU. The world model, the planner and the actor-critic are
small (about 1.9M weights at the official sizes) and recurrent: a step is a chain of small kernels launched
one after another, so its time is the number of ops, not the FLOPs (eager PyTorch). Measured here on the
CPU at tiny widths, where dispatch is all there is: 8.9 µs of CPU time per op; a kernel launch adds a few µs
on a GPU, a faster host CPU takes some off."""

ENV_STEPS_PER_SECOND = 1000.0
"""Assumed MuJoCo steps per second on the GPU machine's CPU (one core, SafetyPointGoal1 with its lidars, through
:class:`.data.RepeatEnv` and a held-random policy): measured here with this chapter's own ``collect`` at 1,056
steps per CPU-second (241–299 per wall-clock second on two shared, busy cores); the GPU machine's faster CPU
is left as margin."""

OBS_DIM, ACT_DIM = 60, 2
"""SafetyPointGoal1-v0's vector observation and action sizes."""


def wm_step_ops(length: int, layers: int) -> int:
    """Dispatched ops of one world-model gradient step on ``length``-step sequences (forward, backward, clip,
    Adam), counted with a dispatch-mode counter on :func:`.training.train_steps`: 244 per sequence step, 574 +
    290 per head layer for the rest (independent of the batch and the widths)."""
    return 244 * length + 574 + 290 * layers


def posterior_ops(length: int, layers: int) -> int:
    """Ops of one forward pass of :meth:`.world_model.WorldModel.loss` without gradients (counted: 108 per step)."""
    return 108 * length + 170 + 30 * layers


def plan_ops(horizon: int, iterations: int, layers: int) -> int:
    """Ops of one :meth:`.planner.Planner.plan` (OSRP-Lag, the largest; counted): per CEM iteration 78 per
    horizon step, 65 + 18 per head layer for scoring and the elites. The samples only widen each op."""
    return 19 + iterations * (78 * horizon + 65 + 18 * layers)


def ac_update_ops(horizon: int, layers: int) -> int:
    """Ops of one :meth:`.actor_critic.ActorCritic.update` (imagination, actor and critic steps; counted)."""
    return (206 + 19 * layers) * horizon + 374 + 244 * layers


ACT_OPS = 150
"""Ops per real agent step besides planning: the latent filter's posterior step and the embedding (counted
108 per step in a sequence; rounded up for the single-step overheads and the actor's head)."""


def mlp_params(inp: int, out: int, units: int, layers: int) -> int:
    """Weights of :func:`.world_model.mlp`: ``layers`` Linear + LayerNorm blocks, then a Linear."""
    total, d = 0, inp
    for _ in range(layers):
        total += d * units + units + 2 * units
        d = units
    return total + d * out + out


def world_model_params(deter: int, stoch: int, classes: int, units: int, layers: int,
                       obs_dim: int = OBS_DIM, act_dim: int = ACT_DIM) -> int:
    """Weights of :class:`.world_model.WorldModel` (encoder, RSSM, decoder and the three heads)."""
    from .maths import BINS

    z, feat = stoch * classes, deter + stoch * classes
    return (mlp_params(obs_dim, units, units, layers) + (z + act_dim) * units + 3 * units
            + 3 * deter * (units + deter) + 6 * deter  # GRUCell
            + mlp_params(deter, z, units, 1) + mlp_params(deter + units, z, units, 1)
            + mlp_params(feat, obs_dim, units, layers) + 2 * mlp_params(feat, BINS, units, layers)
            + mlp_params(feat, 1, units, layers))


class _Estimates:
    """What the four notebooks share in their :meth:`work`: sizes, rates and the stated assumptions."""

    def agent_steps(self) -> int:
        """Agent steps of one episode (the task's 1000 env steps unless ``max_episode_steps`` says otherwise)."""
        return -(-(self.max_episode_steps or 1000) // self.repeat)

    def episode_env_steps(self) -> int:
        return self.agent_steps() * self.repeat

    def params(self) -> int:
        return world_model_params(self.deter, self.stoch, self.classes, self.units, self.layers)

    def quality_ops(self, episodes: int) -> int:
        """Ops of :func:`.training.prediction_quality` over ``episodes`` held-out episodes: the posterior over
        each episode, then ``horizon`` open-loop steps (about 100 ops each)."""
        return episodes * (posterior_ops(self.agent_steps(), self.layers) + 100 * self.horizon)

    def rates(self) -> list[str]:
        return [f"launch-bound: {SECONDS_PER_OP * 1e6:g} µs per dispatched torch op (assumed; counted ops)",
                f"MuJoCo on the CPU at {ENV_STEPS_PER_SECOND:,.0f} env steps/s (measured here: 1,056 per CPU-second)",
                "fp32 (the chapter sets no precision)"]

    def _work(self, train_flops: float, ops: float, env_steps: float, trainable: float, notes: list[str],
              other: float = 0.0):
        from ..engine.estimate import Work

        return Work(train_flops=train_flops, resident_params=self.params() + trainable, trainable_params=trainable,
                    other_seconds=ops * SECONDS_PER_OP + env_steps / ENV_STEPS_PER_SECOND + other,
                    precision="fp32", notes=notes + [f"{ops:.3g} torch ops, {env_steps:,.0f} env steps"] + self.rates())


@dataclasses.dataclass(frozen=True)
class WorldModelConfig(_Estimates, SafeDreamerConfig):
    """Notebook 1: exploration, a world model per seed, its open-loop prediction quality."""

    def work(self):
        """What notebook 1 computes (:mod:`alignbook.engine.estimate`): per seed, ``explore_episodes`` +
        ``heldout_episodes`` held-random episodes on the CPU, ``model_steps`` world-model steps on
        ``batch_size`` × ``batch_length`` replayed steps (6 FLOPs per weight and step; the time is the ops'),
        the prediction quality on the held-out episodes. Seeds take turns on one GPU."""
        steps = self.seeds * self.model_steps
        ops = steps * wm_step_ops(self.batch_length, self.layers) + self.seeds * self.quality_ops(self.heldout_episodes)
        env = self.seeds * (self.explore_episodes + self.heldout_episodes) * self.episode_env_steps()
        return self._work(6.0 * self.params() * self.batch_size * self.batch_length * steps, ops, env, self.params(),
                          [f"{self.seeds} seeds × {self.model_steps} world-model steps × {self.batch_size} × "
                           f"{self.batch_length} steps; {self.explore_episodes + self.heldout_episodes} episodes a seed"])


@dataclasses.dataclass(frozen=True)
class PlanningConfig(_Estimates, SafeDreamerConfig):
    """Notebook 2: the planners on notebook 1's world models, and the PPO-Lag baseline."""

    PPO_LAG_ENV_STEPS_PER_SECOND = 500.0
    """Assumed PPO-Lag rate on the CPU: its environments step MuJoCo at :data:`ENV_STEPS_PER_SECOND`, and its updates
    (small MLPs, 10 passes) are assumed to take as long again; its seeds run side by side on the GPU machine's cores."""

    def work(self):
        """What notebook 2 computes: per method and seed, ``eval_episodes`` episodes planned step by step
        (``iterations`` CEM rounds over ``horizon`` imagined steps of ``samples`` sequences each), ``online_updates``
        world-model steps after each episode; then PPO-Lag for the same environment steps, on the CPU."""
        runs = len(self.methods) * self.seeds
        actions = runs * self.eval_episodes * self.agent_steps()
        updates = runs * self.eval_episodes * self.online_updates
        ops = (actions * (plan_ops(self.horizon, self.iterations, self.layers) + ACT_OPS)
               + updates * wm_step_ops(self.batch_length, self.layers))
        env = runs * self.eval_episodes * self.episode_env_steps()
        ppo_steps = (self.explore_episodes + self.eval_episodes) * self.episode_env_steps() if self.ppo_lag_seeds else 0
        flops = (6.0 * self.params() * self.batch_size * self.batch_length * updates
                 + 2.0 * self.params() * self.samples * self.iterations * self.horizon * actions)
        return self._work(flops, ops, env, self.params(),
                          [f"{len(self.methods)} planners × {self.seeds} seeds × {self.eval_episodes} episodes × "
                           f"{self.agent_steps()} actions, {self.samples} samples × {self.iterations} iterations × "
                           f"{self.horizon} steps each; {self.online_updates} world-model steps an episode",
                           f"PPO-Lag: {ppo_steps:,} env steps a seed at {self.PPO_LAG_ENV_STEPS_PER_SECOND:g}/s "
                           "(assumed), its seeds side by side on the CPU"],
                          other=ppo_steps / self.PPO_LAG_ENV_STEPS_PER_SECOND)


@dataclasses.dataclass(frozen=True)
class BSRPConfig(_Estimates, SafeDreamerConfig):
    """Notebook 3: BSRP-Lag and the unpenalised actor, trained in imagination on notebook 1's world models."""

    def work(self):
        """What notebook 3 computes: two agents (with and without the penalty) per seed, ``ac_steps`` updates each
        (a posterior pass over ``ac_starts`` replayed steps, then ``horizon`` imagined steps backpropagated
        through the frozen world model: 6 FLOPs per world-model weight and imagined state, an upper bound),
        then ``eval_episodes`` real episodes each."""
        runs = 2 * self.seeds
        length = self.batch_length
        starts = max(1, self.ac_starts // length) * length
        updates = runs * self.ac_steps
        ops = (updates * (posterior_ops(length, self.layers) + ac_update_ops(self.horizon, self.layers))
               + runs * self.eval_episodes * self.agent_steps() * ACT_OPS)
        env = runs * self.eval_episodes * self.episode_env_steps()
        flops = updates * (6.0 * self.params() * starts * (self.horizon + 1) + 2.0 * self.params() * starts)
        feat = self.deter + self.stoch * self.classes
        trained = mlp_params(feat, 2 * ACT_DIM, self.units, self.layers) + 2 * mlp_params(feat, 255, self.units, self.layers)
        return self._work(flops, ops, env, trained,
                          [f"2 agents × {self.seeds} seeds × {self.ac_steps} updates from {starts} states × "
                           f"{self.horizon} imagined steps; {self.eval_episodes} episodes each"])


@dataclasses.dataclass(frozen=True)
class AblationConfig(_Estimates, SafeDreamerConfig):
    """Notebook 4: the cost limit, the cost-head weight and the planner size, one at a time."""

    def work(self):
        """What notebook 4 computes: OSRP at each cost limit and at each (samples, iterations) pair, ``eval_episodes``
        episodes per seed (``online_updates`` world-model steps after each); a world model retrained for
        ``ablation_model_steps`` steps per cost weight and seed, scored on ``heldout_episodes`` fresh episodes."""
        per_run = self.eval_episodes * self.agent_steps()
        pairs = list(zip(self.ablation_sizes[0::2], self.ablation_sizes[1::2]))
        arms = [self.iterations] * len(self.ablation_cost_limits) + [it for _, it in pairs]
        samples = [self.samples] * len(self.ablation_cost_limits) + [n for n, _ in pairs]
        retrain = len(self.ablation_cost_weights) * self.seeds * self.ablation_model_steps
        online = len(arms) * self.seeds * self.eval_episodes * self.online_updates
        wm = wm_step_ops(self.batch_length, self.layers)
        ops = (self.seeds * per_run * sum(plan_ops(self.horizon, it, self.layers) + ACT_OPS for it in arms)
               + (retrain + online) * wm
               + len(self.ablation_cost_weights) * self.seeds * self.quality_ops(self.heldout_episodes))
        env = (len(arms) * self.seeds * self.eval_episodes
               + len(self.ablation_cost_weights) * self.seeds * self.heldout_episodes) * self.episode_env_steps()
        flops = (6.0 * self.params() * self.batch_size * self.batch_length * (retrain + online)
                 + sum(2.0 * self.params() * n * it * self.horizon * self.seeds * per_run for n, it in zip(samples, arms)))
        return self._work(flops, ops, env, self.params(),
                          [f"{len(arms)} planner arms × {self.seeds} seeds × {self.eval_episodes} episodes; "
                           f"{len(self.ablation_cost_weights)} cost weights × {self.seeds} seeds × "
                           f"{self.ablation_model_steps} world-model steps"])
