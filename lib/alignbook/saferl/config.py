"""The one config every safe-RL run resolves: SafePO's single-agent defaults, field by field.

The dataclass defaults are the official settings (``safepo/single_agent/*.py`` and
``safepo/utils/config.py``), i.e. what the ``paper`` profile runs; the cheaper profiles override
only the budget (steps, epochs, seeds). ``tests/test_saferl_config.py`` pins them.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated

from ..engine.config import BaseConfig, ConfigError, Count, Fraction, Natural, NonNegative, OneOf, Positive, Range, SeedCount

ALGORITHM_NAMES = ("ppo", "ppo_lag", "cppo_pid", "trpo_lag", "cpo", "pcpo", "focops", "cup", "rcpo")


@dataclasses.dataclass(frozen=True)
class SafeRLConfig(BaseConfig):
    """One training run (or a grid of them) of a SafePO algorithm on a Safety-Gymnasium task."""

    algo: Annotated[str, OneOf(ALGORITHM_NAMES)] = "ppo_lag"
    """Algorithm of a single run (train(cfg)), one module each in alignbook.saferl.algos; a notebook's grid
    replaces it by each entry of algos."""
    env_id: str = "SafetyPointGoal1-v0"
    """Safety-Gymnasium task of a single run (SafePO benchmark: navigation level 1/2 and velocity tasks); a
    notebook's grid replaces it by each entry of env_ids."""
    total_steps: Count = 10_000_000
    """Environment steps of one run (SafePO --total-steps: 1e7)."""
    steps_per_epoch: Count = 20_000
    """Steps collected per policy update, over all envs (SafePO --steps-per-epoch: 20000)."""
    num_envs: Count = 10
    """Parallel environments per run (SafePO --num-envs: 10)."""
    env_workers: Count = 1
    """Processes the envs of one run are split over, at most ``num_envs`` (1: step them in this process)."""
    max_episode_steps: Natural = 0
    """Episode length override (0: the task's own, 1000; Circle 500). Tests use short episodes."""
    skip_skybox: bool = True
    """Skip the cosmetic HD skybox when building navigation worlds (vector observations only)."""
    hidden_sizes: Annotated[tuple[int, ...], Range(1, 65536)] = (64, 64)
    """Actor and critic MLP widths, each >= 1, tanh activations (SafePO hidden_sizes: [64, 64])."""
    gamma: Fraction = 0.99
    """Discount for reward and cost, in [0, 1]; CUP needs it < 1 (SafePO gamma: 0.99)."""
    lam: Fraction = 0.95
    """GAE lambda of the reward advantage (SafePO lam: 0.95)."""
    lam_c: Fraction = 0.95
    """GAE lambda of the cost advantage (SafePO lam_c: 0.95)."""
    actor_lr: Positive = 3e-4
    """Actor Adam learning rate, decayed linearly to 0 over the run (SafePO: 3e-4, LinearLR)."""
    critic_lr: Positive = 3e-4
    """Reward and cost critic Adam learning rate (SafePO: 3e-4)."""
    critic_l2: NonNegative = 0.001
    """L2 penalty on critic weights (SafePO use_critic_norm, coefficient 0.001; 0: off)."""
    max_grad_norm: Positive = 40.0
    """Gradient clipping norm (SafePO max_grad_norm: 40)."""
    learning_iters: Count = 40
    """PPO family: passes over the epoch's data (SafePO learning_iters: 40)."""
    minibatch_size: Count = 64
    """PPO family: minibatch size (SafePO batch_size: 64)."""
    target_kl: Positive = 0.02
    """PPO family: stop the passes once KL(old||new) over the batch exceeds this (SafePO target_kl: 0.02)."""
    clip_ratio: Annotated[float, Range(0, 1, min_open=True)] = 0.2
    """PPO family: ratio clip ε in (0, 1], clamp(ratio, 1 - ε, 1 + ε) (SafePO: clamp(ratio, 0.8, 1.2))."""
    trust_region_delta: Positive = 0.01
    """TRPO family: KL radius delta (SafePO target_kl of trpo/cpo/pcpo: 0.01)."""
    cg_iters: Count = 15
    """TRPO family: conjugate-gradient iterations (SafePO: 15)."""
    cg_damping: NonNegative = 0.1
    """TRPO family: Fisher damping, >= 0 (SafePO fvp: 0.1)."""
    backtrack_steps: Count = 15
    """TRPO family: line-search steps (SafePO: 15)."""
    backtrack_coef: Annotated[float, Range(0, 1, min_open=True, max_open=True)] = 0.8
    """TRPO family: step shrink per line-search step, in (0, 1) (SafePO: 0.8)."""
    critic_iters: Count = 10
    """TRPO family: critic passes per epoch (SafePO: 10)."""
    critic_minibatch_size: Count = 128
    """TRPO family: critic minibatch (SafePO: 128)."""
    cost_limit: NonNegative = 25.0
    """Limit d >= 0 on the undiscounted episode cost (SafePO --cost-limit: 25)."""
    cost_window: Count = 50
    """Episodes averaged for the cost estimate J_C fed to lambda / CPO (SafePO deque maxlen 50)."""
    lagrange_init: NonNegative = 0.001
    """Initial Lagrange multiplier (SafePO lagrangian_multiplier_init: 0.001)."""
    lagrange_lr: NonNegative = 0.035
    """Adam learning rate of the multiplier (SafePO lagrangian_multiplier_lr: 0.035; 0 keeps it at lagrange_init)."""
    lagrange_upper: NonNegative | None = None
    """Upper clamp of the multiplier (None: unbounded; FOCOPS and CUP use their own)."""
    pid_kp: NonNegative = 0.1
    """CPPO-PID proportional gain (SafePO/OmniSafe pid_kp: 0.1)."""
    pid_ki: NonNegative = 0.01
    """CPPO-PID integral gain (pid_ki: 0.01)."""
    pid_kd: NonNegative = 0.01
    """CPPO-PID derivative gain (pid_kd: 0.01)."""
    pid_d_delay: Count = 10
    """CPPO-PID: epochs back for the derivative term (pid_d_delay: 10)."""
    pid_delta_p_ema_alpha: Fraction = 0.95
    """CPPO-PID: EMA factor of the proportional error (0.95)."""
    pid_delta_d_ema_alpha: Fraction = 0.95
    """CPPO-PID: EMA factor of the cost used by the derivative (0.95)."""
    pid_penalty_max: NonNegative = 100.0
    """CPPO-PID: upper clamp of the multiplier (penalty_max: 100), applied only with pid_sum_norm off."""
    pid_sum_norm: bool = True
    """CPPO-PID: λ is never clamped above (SafePO/OmniSafe PIDLagrangian sum_norm: True; the penalised
    advantage is divided by 1 + λ either way); False clamps λ at pid_penalty_max."""
    focops_nu_max: NonNegative = 2.0
    """FOCOPS: upper clamp of nu (SafePO FOCOPS_NU_MAX: 2)."""
    focops_temperature: Positive = 1.5
    """FOCOPS: temperature lambda of the KL-regularised update (SafePO FOCOPS_LAM: 1.5)."""
    focops_eta: Positive = 0.02
    """FOCOPS: per-state KL above which a sample is dropped from the loss (SafePO FOCOPS_ETA: 0.02)."""
    cup_nu_max: NonNegative = 0.2
    """CUP: upper clamp of the multiplier in the projection stage (SafePO CUP_NU: 0.2)."""
    cup_lambda: Fraction = 0.95
    """CUP: GAE lambda in the projection coefficient (1 - gamma*lambda)/(1 - gamma) (SafePO CUP_LAMBDA: 0.95)."""
    torch_threads: Count = 1
    """torch threads per run (1 keeps runs exactly reproducible and lets runs use one core each)."""
    seeds: SeedCount = 1
    """Seeds per grid cell (notebooks); seed, seed+1, ... ."""
    algos: Annotated[tuple[str, ...], OneOf(ALGORITHM_NAMES)] = ("ppo", "ppo_lag")
    """Algorithms compared by a notebook's grid."""
    env_ids: tuple[str, ...] = ("SafetyHalfCheetahVelocity-v1",)
    """Tasks of a notebook's grid."""
    cost_limits: Annotated[tuple[float, ...], Range(0)] = (10.0, 25.0, 50.0)
    """Notebook 4: cost limits of the PPO-Lag ablation, each >= 0."""
    lagrange_lrs: Annotated[tuple[float, ...], Range(0)] = (0.0035, 0.35)
    """Notebook 4: Lagrange learning rates (each >= 0) compared with lagrange_lr (the d = 25 run)."""
    canonical_steps: Natural = 0
    """Notebook 2: steps of the SafetyPointGoal1-v0 runs (0: skip them)."""
    eval_episodes: Count = 2
    """Episodes of the deterministic evaluation of the saved policy."""
    render_size: Count = 256
    """Notebook 1: rendered frame width and height (pixels)."""
    random_episodes: Count = 2
    """Notebook 1: random-policy episodes per task."""
    verbose: bool = False
    """Show tqdm progress bars."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.steps_per_epoch % self.num_envs:
            raise ConfigError(
                f"steps_per_epoch={self.steps_per_epoch} must be a multiple of num_envs={self.num_envs}; "
                f"e.g. steps_per_epoch={self.num_envs * max(1, self.steps_per_epoch // self.num_envs)}"
            )
        if self.total_steps < self.steps_per_epoch:
            raise ConfigError(
                f"total_steps={self.total_steps} is less than one epoch (steps_per_epoch={self.steps_per_epoch}); "
                "raise total_steps or lower steps_per_epoch"
            )
        if self.env_workers > self.num_envs:
            raise ConfigError(f"env_workers={self.env_workers} must be at most num_envs={self.num_envs}")
        if self.gamma == 1 and (self.algo == "cup" or "cup" in self.algos):
            raise ConfigError(f"gamma={self.gamma} must be < 1 for CUP, which divides by 1 - gamma; e.g. gamma=0.99")

    @property
    def epochs(self) -> int:
        return self.total_steps // self.steps_per_epoch
