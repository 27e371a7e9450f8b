"""Configs of the Safe RLHF chapter, one frozen dataclass per notebook.

Defaults mirror the official scripts of PKU-Alignment/safe-rlhf (``scripts/reward-model.sh``,
``scripts/cost-model.sh``, ``scripts/ppo-lag.sh``, ``scripts/ppo.sh``); each docstring cites the
script value. The ``smoke`` and ``test`` profiles override the sizes in the notebooks' YAML.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from alignbook.engine.config import BaseConfig, ConfigError

from .data import PROMPT_TEMPLATE


@dataclasses.dataclass(frozen=True)
class ScoreModelConfig(BaseConfig):
    """Reward- and cost-model training (``safe_rlhf.values.{reward,cost}``)."""

    world_seed: int = 0
    """Seed of the toy world (its prompts, ground truth and cached models)."""
    backbone: str = "toy-sft"
    """Initial weights: 'toy-base', 'toy-sft' (the toy world's models), 'tiny-random' (tests) or a hub model."""
    preset: str = "tiny"
    """Toy-world model preset of the backbone ('tiny', 'small', 'base')."""
    backbone_revision: Optional[str] = None
    """Hub revision of ``backbone`` (pin it in the ``paper`` profile)."""
    dataset: str = "toy"
    """'toy' (the toy world's labelled pairs), 'synthetic' (tests) or 'PKU-Alignment/PKU-SafeRLHF'."""
    dataset_revision: Optional[str] = None
    """Hub revision of ``dataset``."""
    train_size: int = 4000
    """Training preference pairs (toy world; ignored for the hub dataset, which uses its split)."""
    eval_size: int = 500
    """Held-out preference pairs for accuracy and accuracy_sign."""
    epochs: int = 2
    """Passes over the training pairs (scripts: ``--epochs 2``)."""
    batch_size: int = 16
    """Pairs per device per step (scripts: ``--per_device_train_batch_size 16``)."""
    grad_accum: int = 1
    """Gradient accumulation steps (scripts: ``--gradient_accumulation_steps 1``)."""
    lr: float = 2e-5
    """AdamW learning rate (scripts: ``--learning_rate 2e-5``)."""
    lr_scheduler: str = "cosine"
    """'cosine' or 'constant' after warm-up (scripts: ``--lr_scheduler_type cosine``)."""
    warmup_ratio: float = 0.03
    """Fraction of steps of linear warm-up (scripts: ``--lr_warmup_ratio 0.03``)."""
    weight_decay: float = 0.1
    """AdamW weight decay (scripts: ``--weight_decay 0.1``)."""
    regularization: float = 0.001
    """μ of the score regulariser μ·(s₁² + s₂²)/2 (scripts: ``--regularization 0.001``)."""
    use_sign_term: bool = True
    """Cost loss keeps the per-response sign terms (False: the ablation, pairwise only)."""
    max_length: int = 512
    """Longest tokenised prompt+response (scripts: ``--max_length 512``)."""
    prompt_template: str = PROMPT_TEMPLATE
    """Conversation template around the prompt; ``{input}`` is the user's prompt."""
    eval_every: int = 0
    """Evaluate held-out accuracy every this many steps (0: once per epoch)."""
    zero_stage: Optional[int] = None
    """DeepSpeed ZeRO stage under the launcher (scripts: ``--zero_stage 3``); None in-process."""
    bf16: bool = False
    """bfloat16 training (scripts: ``--bf16 True``); CPU runs stay in float32."""
    gradient_checkpointing: bool = False
    """Recompute activations in backward (scripts: ``--gradient_checkpointing``)."""
    seeds: int = 1
    """How many seeds the notebook trains (curves show mean ± std over them)."""
    verbose: bool = True
    """Show tqdm progress bars."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("train_size", "eval_size", "epochs", "batch_size", "grad_accum", "max_length", "seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        if self.lr <= 0:
            raise ConfigError(f"lr={self.lr} must be > 0, e.g. lr=2e-5")
        if self.lr_scheduler not in ("cosine", "constant"):
            raise ConfigError(f"lr_scheduler={self.lr_scheduler!r} must be 'cosine' or 'constant'")
        if self.zero_stage not in (None, 0, 1, 2, 3):
            raise ConfigError(f"zero_stage={self.zero_stage} must be null, 0, 1, 2 or 3")


ALGORITHMS = ("ppo_lag", "ppo", "ppo_shaped")


@dataclasses.dataclass(frozen=True)
class PPOLagConfig(BaseConfig):
    """PPO-Lagrangian and its baselines (``safe_rlhf.algorithms.ppo_lag`` / ``ppo``)."""

    world_seed: int = 0
    """Seed of the toy world (its prompts, ground truth and cached models)."""
    algorithm: str = "ppo_lag"
    """'ppo_lag' (reward and cost, learned λ), 'ppo' (reward only) or 'ppo_shaped' (R - ν·C)."""
    shaping_nu: float = 1.0
    """ν of the shaped reward R - ν·C (only for algorithm='ppo_shaped')."""
    actor: str = "toy-sft"
    """Initial policy: 'toy-sft' or a hub model (paper: PKU-Alignment/alpaca-7b-reproduced)."""
    actor_revision: Optional[str] = None
    """Hub revision of ``actor``."""
    preset: str = "small"
    """Toy-world model preset ('tiny', 'small', 'base') when ``actor='toy-sft'``."""
    prompt_dataset: str = "toy"
    """Where training prompts come from: 'toy' or a hub dataset (paper: PKU-Alignment/PKU-SafeRLHF)."""
    prompt_dataset_revision: Optional[str] = None
    """Hub revision of ``prompt_dataset`` (None: the data layer's pin)."""
    score_dir: Optional[str] = None
    """Folder holding ``reward/model`` and ``cost/model`` for the launch entry (None: ``<run_dir>/scores``)."""
    train_prompts: int = 2000
    """Distinct training prompts (toy world; the hub run uses the dataset's prompts)."""
    eval_prompts: int = 256
    """Held-out prompts judged by the ground truth before and after training."""
    iterations: int = 200
    """Rollout + update rounds (each: one prompt batch per device, ``update_iters`` updates)."""
    prompt_batch_size: int = 16
    """Prompts per device per rollout (scripts: ``--per_device_prompt_batch_size 16``)."""
    update_iters: int = 1
    """PPO epochs over each rollout batch (scripts: ``--update_iters 1``)."""
    grad_accum: int = 1
    """Gradient accumulation (scripts: ``--gradient_accumulation_steps 1``)."""
    max_new_tokens: int = 480
    """Longest response (scripts: ``--max_length 512`` tokens including the prompt)."""
    temperature: float = 1.0
    """Sampling temperature of rollouts (scripts: ``--temperature 1.0``)."""
    actor_lr: float = 1e-5
    """Actor learning rate (scripts: ``--actor_lr 1e-5``)."""
    actor_weight_decay: float = 0.01
    """Actor weight decay (scripts: ``--actor_weight_decay 0.01``)."""
    actor_lr_scheduler: str = "cosine"
    """Actor schedule after warm-up (scripts: ``--actor_lr_scheduler_type cosine``)."""
    actor_warmup_ratio: float = 0.03
    """Actor warm-up fraction (scripts: ``--actor_lr_warmup_ratio 0.03``)."""
    critic_lr: float = 5e-6
    """Critic learning rate (scripts: ``--critic_lr 5e-6``)."""
    critic_weight_decay: float = 0.0
    """Critic weight decay (scripts: ``--critic_weight_decay 0.0``)."""
    critic_lr_scheduler: str = "constant"
    """Critic schedule after warm-up (scripts: ``--critic_lr_scheduler_type constant``)."""
    critic_warmup_ratio: float = 0.03
    """Critic warm-up fraction (scripts: ``--critic_lr_warmup_ratio 0.03``)."""
    kl_coeff: float = 0.01
    """β of the per-token KL penalty (ppo-lag.sh: 0.01; ppo.sh: 0.02)."""
    clip_range_ratio: float = 0.2
    """PPO ratio clip ε (scripts: ``--clip_range_ratio 0.2``)."""
    clip_range_score: float = 50.0
    """Clip of per-token rewards and costs (scripts: ``--clip_range_score 50.0``)."""
    clip_range_value: float = 5.0
    """Value clip around the old values (scripts: ``--clip_range_value 5.0``)."""
    gamma: float = 1.0
    """Discount (the official trainer: 1.0)."""
    gae_lambda: float = 0.95
    """GAE λ (the official trainer: 0.95)."""
    threshold: float = 0.0
    """Cost threshold d of the constraint Ĵ_C ≤ d (ppo-lag.sh: ``--threshold 0.0``)."""
    lambda_init: float = 1.0
    """Initial Lagrange multiplier (ppo-lag.sh: ``--lambda_init 1.0``)."""
    lambda_lr: float = 0.1
    """SGD step size of log λ (ppo-lag.sh: ``--lambda_lr 0.1``)."""
    lambda_max: Optional[float] = 5.0
    """Upper clamp of λ (ppo-lag.sh: ``--lambda_max 5.0``)."""
    lambda_update_delay_steps: int = 0
    """Updates before λ starts moving (ppo-lag.sh: 0)."""
    episode_cost_window_size: int = 128
    """Ĵ_C is the mean of the last this-many episode costs (ppo-lag.sh: 128)."""
    max_length: int = 512
    """Longest tokenised prompt (prompts beyond it are cut from the left)."""
    prompt_template: str = PROMPT_TEMPLATE
    """Conversation template; must match the one the SFT and score models were trained with."""
    zero_stage: Optional[int] = None
    """DeepSpeed ZeRO stage under the launcher (scripts: ``--zero_stage 3``); None in-process."""
    bf16: bool = False
    """bfloat16 training (scripts: ``--bf16 True``); CPU runs stay in float32."""
    checkpoint_every: int = 0
    """Save a resumable checkpoint every this many iterations (0: only at the end)."""
    seeds: int = 1
    """How many seeds the notebook runs (curves show mean ± std over them)."""
    verbose: bool = True
    """Show tqdm progress bars."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.algorithm not in ALGORITHMS:
            raise ConfigError(f"algorithm={self.algorithm!r} must be one of {ALGORITHMS}")
        for name in ("iterations", "prompt_batch_size", "update_iters", "grad_accum", "max_new_tokens",
                     "episode_cost_window_size", "eval_prompts", "train_prompts", "seeds"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 1")
        if self.lambda_init <= 0:
            raise ConfigError(f"lambda_init={self.lambda_init} must be > 0 (λ is kept as log λ)")
        if self.lambda_max is not None and self.lambda_max < self.lambda_init:
            raise ConfigError(f"lambda_max={self.lambda_max} must be >= lambda_init={self.lambda_init}")
        if self.temperature <= 0:
            raise ConfigError(f"temperature={self.temperature} must be > 0 (PPO needs sampled rollouts)")
        for name in ("actor_lr_scheduler", "critic_lr_scheduler"):
            if getattr(self, name) not in ("cosine", "constant"):
                raise ConfigError(f"{name}={getattr(self, name)!r} must be 'cosine' or 'constant'")


@dataclasses.dataclass(frozen=True)
class SFTStageConfig(BaseConfig):
    """The SFT stage: the toy world's SFT model (or the paper's released one) judged by ground truth."""

    world_seed: int = 0
    """Seed of the toy world."""
    model: str = "toy-sft"
    """'toy-sft' (base model fine-tuned on the world's demonstrations) or a hub SFT model."""
    model_revision: Optional[str] = None
    """Hub revision of ``model``."""
    preset: str = "small"
    """Toy-world model preset."""
    eval_prompts: int = 128
    """Held-out prompts judged by the ground truth."""
    max_new_tokens: int = 32
    """Longest sampled response."""
    temperature: float = 0.7
    """Sampling temperature for the evaluation."""
    prompt_template: str = PROMPT_TEMPLATE
    """Conversation template."""


@dataclasses.dataclass(frozen=True)
class AblationConfig(PPOLagConfig):
    """PPO, reward shaping R - ν·C over a grid of ν, and PPO-Lagrangian on one plane."""

    nus: tuple[float, ...] = (0.01, 0.5, 1.0, 2.0, 5.0, 10.0, 100.0)
    """Fixed shaping coefficients ν (the paper's grid)."""
    ppo_kl_coeff: float = 0.02
    """β of the reward-only PPO baseline (ppo.sh: ``--kl_coeff 0.02``)."""


@dataclasses.dataclass(frozen=True)
class ResultsConfig(PPOLagConfig):
    """The results table and, in the gpu profile, the three-round Safe RLHF loop."""

    rounds: int = 0
    """Safe RLHF rounds to run here (0: only tabulate the other notebooks' metrics)."""
    round_thresholds: tuple[float, ...] = (0.0, -3.0, -3.0)
    """Cost threshold per round (paper, Appendix: 0, -3, -3)."""
    round_lambda_init: tuple[float, ...] = (1.0, 0.5, 1.0)
    """Initial λ per round (paper: 1, 0.5, 1)."""
    round_lambda_lr: tuple[float, ...] = (0.01, 0.04, 0.04)
    """λ learning rate per round (paper: 0.01, 0.04, 0.04)."""
    pairs_per_round: int = 2000
    """Preference pairs sampled from the current policy and labelled by the toy world each round."""
    score_epochs: int = 2
    """Epochs of reward/cost-model retraining per round."""
    score_lr: float = 2e-5
    """Learning rate of reward/cost-model retraining per round."""
    score_batch_size: int = 16
    """Pairs per step of reward/cost-model retraining."""
