"""Severity-sensitive QA moderation: one backbone, three heads.

Given a (prompt, response) pair, the model predicts

* **safe/unsafe**: one logit, ``sigmoid > 0.5`` means unsafe;
* **severity**: 4 logits over levels 0 (safe), 1 minor, 2 moderate, 3 severe;
* **categories**: 19 independent logits (multi-label), ``sigmoid > 0.5`` flags the category.

The representation is the backbone's last hidden state at the last real token (as in a score
model), so the same tiny Llama that generates text also reads it. The loss is the sum of the
three heads' losses:

.. math::
   \\mathcal L = \\mathrm{BCE}(u, y_{\\text{unsafe}}) + \\mathrm{CE}(s, y_{\\text{sev}})
               + \\sum_{c=1}^{19} \\mathrm{BCE}(z_c, y_c)
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ...engine import checkpoints
from ...toyworld.content import HARM_CATEGORIES

N_SEVERITY = 4
N_CATEGORIES = len(HARM_CATEGORIES)


def mean_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Average of the hidden states over real tokens."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp_min(1.0)


def last_token_hidden(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``hidden[i, last real position of row i]`` for right-padded batches."""
    index = attention_mask.long().sum(dim=1) - 1
    if (index < 0).any():
        raise ValueError("a row of attention_mask has no real token")
    return hidden[torch.arange(hidden.size(0), device=hidden.device), index]


class ModerationModel(nn.Module):
    """Backbone (a Hugging Face decoder) + three linear heads read at the last real token
    (``pooling="last"``, as a score model reads its score; ``"mean"`` averages over real tokens,
    which learned worse in the toy world: binary accuracy 0.80 vs 0.98 with the same budget)."""

    def __init__(self, backbone: nn.Module, pooling: str = "last") -> None:
        super().__init__()
        if pooling not in ("mean", "last"):
            raise ValueError(f"pooling={pooling!r} must be 'mean' or 'last'")
        self.pooling = pooling
        self.backbone = getattr(backbone, "base_model", backbone)
        hidden = getattr(getattr(self.backbone, "config", None), "hidden_size", None)
        if hidden is None:
            raise ValueError("backbone needs config.hidden_size; pass a Hugging Face model")
        self.config = self.backbone.config
        self.unsafe_head = nn.Linear(hidden, 1)
        self.severity_head = nn.Linear(hidden, N_SEVERITY)
        self.category_head = nn.Linear(hidden, N_CATEGORIES)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> dict[str, torch.Tensor]:
        hidden = self.backbone(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        pool = mean_hidden if self.pooling == "mean" else last_token_hidden
        pooled = pool(hidden, attention_mask)
        return {
            "unsafe": self.unsafe_head(pooled).squeeze(-1),
            "severity": self.severity_head(pooled),
            "categories": self.category_head(pooled),
        }


def moderation_loss(outputs: dict[str, torch.Tensor], labels: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The three heads' losses and their sum (``total``).

    ``labels``: ``unsafe`` (float 0/1, shape ``(B,)``), ``severity`` (long 0-3, ``(B,)``),
    ``categories`` (float 0/1, ``(B, 19)``).
    """
    outputs = {k: v.float() for k, v in outputs.items()}  # bf16 logits under DeepSpeed: the losses in fp32
    unsafe = F.binary_cross_entropy_with_logits(outputs["unsafe"], labels["unsafe"].float())
    severity = F.cross_entropy(outputs["severity"], labels["severity"].long())
    # summed over the 19 categories (mean over the batch): a mean over mostly-negative labels
    # would make the gradient of the rare positives 19 times smaller than the other heads'.
    categories = F.binary_cross_entropy_with_logits(
        outputs["categories"], labels["categories"].float(), reduction="none"
    ).sum(dim=-1).mean()
    return {"unsafe": unsafe, "severity": severity, "categories": categories, "total": unsafe + severity + categories}


def predict_from_outputs(outputs: dict[str, torch.Tensor], threshold: float = 0.5) -> dict[str, torch.Tensor]:
    """Hard predictions: ``unsafe`` (bool), ``severity`` (0-3), ``categories`` (bool, B x 19)."""
    return {
        "unsafe": torch.sigmoid(outputs["unsafe"]) > threshold,
        "severity": outputs["severity"].argmax(dim=-1),
        "categories": torch.sigmoid(outputs["categories"]) > threshold,
    }


def save_moderation_model(model: ModerationModel, directory: str | Path,
                          state_dict: dict[str, torch.Tensor] | None = None) -> Path:
    """Save ``model`` (backbone with ``save_pretrained``, heads in ``heads.pt``) under ``directory``.
    ``state_dict``: the whole model's weights when ``model`` itself holds only a shard of them (ZeRO-3:
    :meth:`alignbook.engine.distributed.Engine.full_state_dict`); default ``model.state_dict()``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    state = model.state_dict() if state_dict is None else state_dict
    # the weights leave the model's device as CPU copies (the files load anywhere)
    backbone = {k.removeprefix("backbone."): v.detach().cpu() for k, v in state.items() if k.startswith("backbone.")}
    model.backbone.save_pretrained(directory / "backbone", state_dict=backbone)
    heads = {k: v.detach().cpu() for k, v in state.items() if not k.startswith("backbone.")}
    checkpoints.save(directory / "heads.pt", heads)  # atomic: temp file, then rename
    (directory / "pooling.txt").write_text(model.pooling)
    return directory


def load_moderation_model(directory: str | Path) -> ModerationModel:
    from transformers import AutoModel

    directory = Path(directory)
    if not (directory / "heads.pt").exists():
        raise FileNotFoundError(f"{directory} holds no moderation model (no heads.pt); train one first")
    pooling_file = directory / "pooling.txt"
    pooling = pooling_file.read_text().strip() if pooling_file.exists() else "last"
    model = ModerationModel(AutoModel.from_pretrained(directory / "backbone"), pooling=pooling)
    missing = model.load_state_dict(checkpoints.load(directory / "heads.pt"), strict=False)
    if missing.unexpected_keys:
        raise ValueError(f"unexpected keys in {directory / 'heads.pt'}: {missing.unexpected_keys}")
    return model.eval()
