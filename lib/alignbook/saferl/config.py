"""The one config every safe-RL run resolves: SafePO's single-agent defaults, field by field.

The dataclass defaults are the official settings (``safepo/single_agent/*.py`` and
``safepo/utils/config.py``), i.e. what the ``paper`` profile runs; the cheaper profiles override
only the budget (steps, epochs, seeds). ``tests/test_saferl_config.py`` pins them.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

from ..engine.config import BaseConfig, ConfigError

ALGORITHM_NAMES = ("ppo", "ppo_lag", "cppo_pid", "trpo_lag", "cpo", "pcpo", "focops", "cup", "rcpo")


@dataclasses.dataclass(frozen=True)
class SafeRLConfig(BaseConfig):
    """One training run (or a grid of them) of a SafePO algorithm on a Safety-Gymnasium task."""

    algo: Literal["ppo", "ppo_lag", "cppo_pid", "trpo_lag", "cpo", "pcpo", "focops", "cup", "rcpo"] = "ppo_lag"
    """Algorithm of a single run (train(cfg)), one module each in alignbook.saferl.algos; a notebook's grid
    replaces it by each entry of algos."""
    env_id: str = "SafetyPointGoal1-v0"
    """Safety-Gymnasium task of a single run (SafePO benchmark: navigation level 1/2 and velocity tasks); a
    notebook's grid replaces it by each entry of env_ids."""
    total_steps: int = 10_000_000
    """Environment steps of one run (SafePO --total-steps: 1e7)."""
    steps_per_epoch: int = 20_000
    """Steps collected per policy update, over all envs (SafePO --steps-per-epoch: 20000)."""
    num_envs: int = 10
    """Parallel environments per run (SafePO --num-envs: 10)."""
    env_workers: int = 1
    """Processes the envs of one run are split over (1: step them in this process)."""
    max_episode_steps: int = 0
    """Episode length override (0: the task's own, 1000; Circle 500). Tests use short episodes."""
    skip_skybox: bool = True
    """Skip the cosmetic HD skybox when building navigation worlds (vector observations only)."""
    hidden_sizes: tuple[int, ...] = (64, 64)
    """Actor and critic MLP widths, tanh activations (SafePO hidden_sizes: [64, 64])."""
    gamma: float = 0.99
    """Discount for reward and cost (SafePO gamma: 0.99)."""
    lam: float = 0.95
    """GAE lambda of the reward advantage (SafePO lam: 0.95)."""
    lam_c: float = 0.95
    """GAE lambda of the cost advantage (SafePO lam_c: 0.95)."""
    actor_lr: float = 3e-4
    """Actor Adam learning rate, decayed linearly to 0 over the run (SafePO: 3e-4, LinearLR)."""
    critic_lr: float = 3e-4
    """Reward and cost critic Adam learning rate (SafePO: 3e-4)."""
    critic_l2: float = 0.001
    """L2 penalty on critic weights (SafePO use_critic_norm, coefficient 0.001)."""
    max_grad_norm: float = 40.0
    """Gradient clipping norm (SafePO max_grad_norm: 40)."""
    learning_iters: int = 40
    """PPO family: passes over the epoch's data (SafePO learning_iters: 40)."""
    minibatch_size: int = 64
    """PPO family: minibatch size (SafePO batch_size: 64)."""
    target_kl: float = 0.02
    """PPO family: stop the passes once KL(old||new) over the batch exceeds this (SafePO target_kl: 0.02)."""
    clip_ratio: float = 0.2
    """PPO family: ratio clip (SafePO: clamp(ratio, 0.8, 1.2))."""
    trust_region_delta: float = 0.01
    """TRPO family: KL radius delta (SafePO target_kl of trpo/cpo/pcpo: 0.01)."""
    cg_iters: int = 15
    """TRPO family: conjugate-gradient iterations (SafePO: 15)."""
    cg_damping: float = 0.1
    """TRPO family: Fisher damping (SafePO fvp: 0.1)."""
    backtrack_steps: int = 15
    """TRPO family: line-search steps (SafePO: 15)."""
    backtrack_coef: float = 0.8
    """TRPO family: step shrink per line-search step (SafePO: 0.8)."""
    critic_iters: int = 10
    """TRPO family: critic passes per epoch (SafePO: 10)."""
    critic_minibatch_size: int = 128
    """TRPO family: critic minibatch (SafePO: 128)."""
    cost_limit: float = 25.0
    """Limit on the undiscounted episode cost (SafePO --cost-limit: 25)."""
    cost_window: int = 50
    """Episodes averaged for the cost estimate J_C fed to lambda / CPO (SafePO deque maxlen 50)."""
    lagrange_init: float = 0.001
    """Initial Lagrange multiplier (SafePO lagrangian_multiplier_init: 0.001)."""
    lagrange_lr: float = 0.035
    """Adam learning rate of the multiplier (SafePO lagrangian_multiplier_lr: 0.035)."""
    lagrange_upper: float | None = None
    """Upper clamp of the multiplier (None: unbounded; FOCOPS and CUP use their own)."""
    pid_kp: float = 0.1
    """CPPO-PID proportional gain (SafePO/OmniSafe pid_kp: 0.1)."""
    pid_ki: float = 0.01
    """CPPO-PID integral gain (pid_ki: 0.01)."""
    pid_kd: float = 0.01
    """CPPO-PID derivative gain (pid_kd: 0.01)."""
    pid_d_delay: int = 10
    """CPPO-PID: epochs back for the derivative term (pid_d_delay: 10)."""
    pid_delta_p_ema_alpha: float = 0.95
    """CPPO-PID: EMA factor of the proportional error (0.95)."""
    pid_delta_d_ema_alpha: float = 0.95
    """CPPO-PID: EMA factor of the cost used by the derivative (0.95)."""
    pid_penalty_max: float = 100.0
    """CPPO-PID: upper clamp of the multiplier (penalty_max: 100)."""
    focops_nu_max: float = 2.0
    """FOCOPS: upper clamp of nu (SafePO FOCOPS_NU_MAX: 2)."""
    focops_temperature: float = 1.5
    """FOCOPS: temperature lambda of the KL-regularised update (SafePO FOCOPS_LAM: 1.5)."""
    focops_eta: float = 0.02
    """FOCOPS: per-state KL above which a sample is dropped from the loss (SafePO FOCOPS_ETA: 0.02)."""
    cup_nu_max: float = 0.2
    """CUP: upper clamp of the multiplier in the projection stage (SafePO CUP_NU: 0.2)."""
    cup_lambda: float = 0.95
    """CUP: GAE lambda in the projection coefficient (1 - gamma*lambda)/(1 - gamma) (SafePO CUP_LAMBDA: 0.95)."""
    torch_threads: int = 1
    """torch threads per run (1 keeps runs exactly reproducible and lets runs use one core each)."""
    seeds: int = 1
    """Seeds per grid cell (notebooks); seed, seed+1, ... ."""
    parallel_runs: int = 1
    """Runs of a grid trained at once in separate processes (one per core)."""
    algos: tuple[str, ...] = ("ppo", "ppo_lag")
    """Algorithms compared by a notebook's grid."""
    env_ids: tuple[str, ...] = ("SafetyHalfCheetahVelocity-v1",)
    """Tasks of a notebook's grid."""
    cost_limits: tuple[float, ...] = (10.0, 25.0, 50.0)
    """Notebook 4: cost limits of the PPO-Lag ablation."""
    lagrange_lrs: tuple[float, ...] = (0.0035, 0.35)
    """Notebook 4: Lagrange learning rates compared with lagrange_lr (the d = 25 run)."""
    canonical_steps: int = 0
    """Notebook 2: steps of the SafetyPointGoal1-v0 runs (0: skip them)."""
    eval_episodes: int = 2
    """Episodes of the deterministic evaluation of the saved policy."""
    render_size: int = 256
    """Notebook 1: rendered frame width and height (pixels)."""
    random_episodes: int = 2
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
        for name in self.algos:
            if name not in ALGORITHM_NAMES:
                raise ConfigError(f"algos contains {name!r}; choose from {', '.join(ALGORITHM_NAMES)}")
        if self.cost_limit < 0:
            raise ConfigError(f"cost_limit={self.cost_limit} must be >= 0")

    @property
    def epochs(self) -> int:
        return self.total_steps // self.steps_per_epoch
