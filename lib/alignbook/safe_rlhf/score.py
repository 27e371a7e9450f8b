"""The score model: a transformer backbone with a linear head that scores every position.

Safe RLHF uses one architecture for four networks: the reward model, the cost model and the two
critics (reward critic, cost critic) of PPO-Lagrangian. The head maps each position's last hidden
state to one number; a *sequence* score is the number at the last non-padding token, so padding
must be a token distinct from ``eos`` (the ``eos`` is a real token the score is read at).
"""

from __future__ import annotations

import dataclasses

import torch
from torch import nn


@dataclasses.dataclass
class ScoreOutput:
    """What :class:`ScoreModel` returns."""

    scores: torch.Tensor
    """Score at every position, shape ``(batch, length)``."""
    end_scores: torch.Tensor
    """Score at each sequence's last non-padding token, shape ``(batch,)``."""


def last_token_index(attention_mask: torch.Tensor) -> torch.Tensor:
    """Index of the last position whose mask is 1 in each row (works for left or right padding).

    A row with no real token has no score to read, so it is an error rather than a silent 0.
    """
    if attention_mask.dim() != 2:
        raise ValueError(f"attention_mask must be (batch, length), got shape {tuple(attention_mask.shape)}")
    mask = attention_mask.bool()
    if not mask.any(dim=1).all():
        raise ValueError("attention_mask has a row of only padding; every sequence needs >= 1 real token")
    length = mask.size(1)
    # argmax returns the first maximum, so search the flipped mask for the last real token.
    return (length - 1) - mask.flip(dims=[1]).int().argmax(dim=1)


def gather_end_scores(scores: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``scores[i, last_token_index(mask)[i]]`` for each row ``i``."""
    index = last_token_index(attention_mask)
    return scores.gather(1, index.unsqueeze(1)).squeeze(1)


def _decoder(backbone: nn.Module) -> nn.Module:
    # A *ForCausalLM wraps the decoder as `base_model`; scoring needs hidden states, not logits,
    # so going through the decoder saves the vocabulary projection.
    return getattr(backbone, "base_model", backbone)


class ScoreModel(nn.Module):
    """Backbone + ``Linear(hidden, 1)`` on every position; the score is read at the last real token.

    ``backbone`` is a Hugging Face model (a ``*ForCausalLM`` or its decoder). The head's bias
    starts at 0 and its weight at N(0, initializer_range), as the official ``ScoreModelMixin``
    initialises it through the backbone's ``_init_weights``.
    """

    def __init__(self, backbone: nn.Module) -> None:
        super().__init__()
        self.backbone = _decoder(backbone)
        config = getattr(self.backbone, "config", None)
        hidden = getattr(config, "hidden_size", None)
        if hidden is None:
            raise ValueError(
                "backbone has no config.hidden_size; pass a Hugging Face model "
                "(e.g. from alignbook.lm.build_causal_lm or AutoModelForCausalLM)"
            )
        self.config = config
        self.score_head = nn.Linear(hidden, 1, bias=True)
        std = float(getattr(config, "initializer_range", 0.02))
        nn.init.normal_(self.score_head.weight, mean=0.0, std=std)
        nn.init.zeros_(self.score_head.bias)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> ScoreOutput:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        scores = self.score_head(hidden).squeeze(-1).float()
        return ScoreOutput(scores=scores, end_scores=gather_end_scores(scores, attention_mask))

    def gradient_checkpointing_enable(self) -> None:
        self.backbone.gradient_checkpointing_enable()


def save_score_model(model: ScoreModel, directory, state_dict: dict | None = None) -> None:
    """Write the backbone with ``save_pretrained`` and the head as ``score_head.pt``.

    ``state_dict``: the full weights when the module's own are sharded (ZeRO-3 gathers them).
    """
    from pathlib import Path

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = state_dict if state_dict is not None else model.state_dict()
    state = {k: v.detach().cpu() for k, v in state.items()}  # files are written from the CPU, wherever the model is
    backbone = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    head = {k[len("score_head."):]: v for k, v in state.items() if k.startswith("score_head.")}
    model.backbone.save_pretrained(directory / "backbone", state_dict=backbone)
    from alignbook.engine import checkpoints

    checkpoints.save(directory / "score_head.pt", head)  # atomic: temp file, then rename


def load_score_model(directory, device="cpu") -> ScoreModel:
    """Inverse of :func:`save_score_model`, on ``device`` (a ``torch.device`` or its name)."""
    from pathlib import Path

    from transformers import AutoModel

    directory = Path(directory)
    if not (directory / "score_head.pt").exists():
        raise FileNotFoundError(f"{directory} holds no score model (no score_head.pt); train one first")
    backbone = AutoModel.from_pretrained(directory / "backbone")
    model = ScoreModel(backbone)
    from alignbook.engine import checkpoints

    model.score_head.load_state_dict(checkpoints.load(directory / "score_head.pt"))
    # the head in the backbone's precision: a model saved by a bf16 (DeepSpeed) run loads a bf16 backbone
    model.score_head.to(next(backbone.parameters()).dtype)
    return model.to(device)
