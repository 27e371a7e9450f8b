"""Configs of the Safe RLHF chapter, one frozen dataclass per notebook.

Defaults mirror the official scripts of PKU-Alignment/safe-rlhf (``scripts/reward-model.sh``,
``scripts/cost-model.sh``, ``scripts/ppo-lag.sh``, ``scripts/ppo.sh``); each docstring cites the
script value. The ``smoke`` and ``test`` profiles override the sizes in the notebooks' YAML.
"""

from __future__ import annotations

import dataclasses
from typing import Optional

from alignbook.config import BaseConfig, ConfigError

from .data import PROMPT_TEMPLATE


@dataclasses.dataclass(frozen=True)
class ScoreModelConfig(BaseConfig):
    """Reward- and cost-model training (``safe_rlhf.values.{reward,cost}``)."""

    backbone: str = "toy-sft"
    """Initial weights: 'toy-base', 'toy-sft' (the toy world's models) or a hub model name."""
    backbone_revision: Optional[str] = None
    """Hub revision of ``backbone`` (pin it in the ``paper`` profile)."""
    dataset: str = "toy"
    """'toy' (the toy world's labelled pairs) or 'PKU-Alignment/PKU-SafeRLHF'."""
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
