"""Small models: a frame encoder, the text / text+video moderators, and the score (preference) model.

The score model mirrors ``LlamaForScore`` of ``safe_sora/models/score_model.py``: a backbone, then
``nn.Linear(hidden, 1, bias=False)`` applied at every position, and the score read at the **last
non-pad position** (``end_index = last nonzero of attention_mask``). The official sequence is the
conversation "##Video Generation Prompt: <prompt>" then "##Generated Video: <video>": the video's
tokens come after the prompt, so the end position has attended to both. Ours is the same order,
``[prompt token, 8 frame tokens, end token]`` (the prompt as one MiniLM vector projected to one token),
under a causal one-layer transformer; the score is read at the end token. Right padding is supported
(:func:`end_scores`); our sequences all have the same length, so padding only occurs in the tests.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .world import FRAMES, SIZE

TEXT_DIM = 384


class FrameEncoder(nn.Module):
    """One 32×32 frame → a ``dim`` vector (two strided convolutions and a linear layer)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 5, stride=2, padding=2)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.out = nn.Linear(16 * (SIZE // 4) ** 2, dim)

    def forward(self, clips: torch.Tensor) -> torch.Tensor:
        """``(B, F, H, W)`` uint8 or float clips → ``(B, F, dim)``."""
        b, f = clips.shape[:2]
        x = clips.reshape(b * f, 1, SIZE, SIZE).float() / 255.0
        x = F.relu(self.conv2(F.relu(self.conv1(x))))
        return self.out(x.flatten(1)).reshape(b, f, -1)


class Moderator(nn.Module):
    """Multi-label harm classifier (12 logits) from the prompt's MiniLM vector, optionally with the clip."""

    def __init__(self, categories: int, hidden: int = 64, video: bool = True) -> None:
        super().__init__()
        self.video = video
        self.text = nn.Sequential(nn.Linear(TEXT_DIM, hidden), nn.ReLU())
        if video:
            self.frames = FrameEncoder(hidden)
        self.head = nn.Sequential(nn.Linear(hidden * (2 if video else 1), hidden), nn.ReLU(), nn.Linear(hidden, categories))

    def forward(self, text: torch.Tensor, clips: torch.Tensor | None = None) -> torch.Tensor:
        h = self.text(text)
        if self.video:
            v = self.frames(clips).max(dim=1).values  # a mark in any frame counts
            h = torch.cat([h, v], dim=-1)
        return self.head(h)


def end_scores(scores: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """``(B, L, 1)`` per-position scores → ``(B, 1)`` at the last nonzero of each row's mask (as upstream)."""
    end_index = torch.stack([m.nonzero()[-1, 0] for m in attention_mask])
    return torch.gather(scores, 1, end_index.view(-1, 1, 1).expand(-1, 1, scores.size(-1))).squeeze(1)


class ScoreModel(nn.Module):
    """Backbone (prompt token, frame tokens, end token; causal transformer) + bias-free linear score head."""

    def __init__(self, dim: int = 48, heads: int = 4, layers: int = 1) -> None:
        super().__init__()
        self.text = nn.Linear(TEXT_DIM, dim)
        self.frames = FrameEncoder(dim)
        self.end = nn.Parameter(torch.zeros(dim))
        self.position = nn.Parameter(torch.zeros(FRAMES + 2, dim))
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, dropout=0.0, batch_first=True)
        self.backbone = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(dim)
        self.score = nn.Linear(dim, 1, bias=False)

    def sequence(self, text: torch.Tensor, clips: torch.Tensor) -> torch.Tensor:
        """The input embeddings ``(B, F + 2, dim)``: prompt, frames, end."""
        b = text.shape[0]
        tokens = torch.cat([self.text(text)[:, None], self.frames(clips), self.end.expand(b, 1, -1)], dim=1)
        return tokens + self.position[: tokens.shape[1]]

    def forward(self, text: torch.Tensor, clips: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """End scores ``(B, 1)``."""
        x = self.sequence(text, clips)
        length = x.shape[1]
        if attention_mask is None:
            attention_mask = torch.ones(x.shape[:2], dtype=torch.long, device=x.device)
        causal = torch.triu(torch.ones(length, length, dtype=torch.bool, device=x.device), diagonal=1)
        h = self.norm(self.backbone(x, mask=causal, src_key_padding_mask=attention_mask == 0))
        return end_scores(self.score(h), attention_mask)


def preference_loss(higher: torch.Tensor, lower: torch.Tensor, reg: float = 0.001) -> torch.Tensor:
    """``compute_loss`` of ``safe_sora/trainers/reward_trainer.py``:
    −mean log σ(s_hi − s_lo) + reg · mean(s²), the mean of squares over **both** scores of every pair
    (upstream squares ``end_scores``, the higher and lower halves stacked: (mean s_hi² + mean s_lo²) / 2)."""
    higher, lower = higher.reshape(-1), lower.reshape(-1)
    loss = -F.logsigmoid(higher - lower).mean()
    return loss + reg * torch.cat([higher, lower]).square().mean()


# -- sizes for the estimates (alignbook.engine.estimate) -------------------------------------------------


def frame_encoder_macs(dim: int) -> int:
    """Multiply-accumulates of :class:`FrameEncoder` on one clip: per frame, conv1 (16 × 16 positions × 8 filters ×
    25), conv2 (8 × 8 × 16 × 72) and the linear layer (1024 × ``dim``)."""
    s1, s2 = SIZE // 2, SIZE // 4
    return FRAMES * (s1 * s1 * 8 * 25 + s2 * s2 * 16 * 8 * 9 + 16 * s2 * s2 * dim)


def moderator_macs(hidden: int, video: bool, categories: int = 12) -> int:
    """Multiply-accumulates of one :class:`Moderator` forward pass on one video."""
    width = hidden * (2 if video else 1)
    return TEXT_DIM * hidden + (frame_encoder_macs(hidden) if video else 0) + width * hidden + hidden * categories


def score_model_macs(dim: int, layers: int = 1) -> int:
    """Multiply-accumulates of one :class:`ScoreModel` forward pass on one (prompt, video): the prompt's projection,
    the frames, and per layer and token 8·dim² (attention 4·dim², the 2·dim MLP 4·dim²) plus 2·L·dim of attention
    over the L = ``FRAMES`` + 2 tokens, and the score."""
    length = FRAMES + 2
    return TEXT_DIM * dim + frame_encoder_macs(dim) + layers * length * (8 * dim * dim + 2 * length * dim) + length * dim
