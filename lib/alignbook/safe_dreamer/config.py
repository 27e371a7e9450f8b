"""The one config the chapter's notebooks 01-04 resolve; defaults are the official SafeDreamer settings.

The dataclass defaults follow PKU-Alignment/SafeDreamer ``configs.yaml`` (the ``osrp``, ``osrp_lag``,
``bsrp_lag`` and ``osrp_vector`` blocks and ``defaults``), which is what the ``paper`` profile runs;
``smoke`` shrinks sizes and budgets to fit 2 CPU cores and says so in each notebook.
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
