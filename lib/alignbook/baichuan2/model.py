"""A small decoder LM in the shape of Baichuan 2, with its two training-stability changes.

Baichuan 2 (arXiv 2309.10305, its optimisations section) is a LLaMA-style decoder: RMSNorm before each
block, rotary position embeddings, SwiGLU feed-forward, an untied output embedding. Its two
changes to the output layer are implemented here as functions so that tests can check them alone:

- **NormHead** (:func:`norm_head_logits`): the rows w_j of the output embedding are L2-normalised
  before the dot product, logit_j = h · w_j / ‖w_j‖. The released modeling code
  (huggingface.co/baichuan-inc/Baichuan2-7B-Base, ``modeling_baichuan.py``, class ``NormHead``)
  normalises in ``forward`` while training and once, in place, for inference; both give the same
  logits, and this module normalises in ``forward`` always.
- **max-z loss** (:func:`max_z_loss`): 2e-4 · z², z the largest logit at a position, averaged over
  positions and added to the cross-entropy. The released config sets ``z_loss_weight`` to 0 (an
  inference config); the paper's training used 2e-4.

The FFN width follows one of two rules (:func:`ffn_size`): the released models' 8/3 · hidden
rounded up to a multiple of 128 (hidden 4096 → 11008), or the scaling-law models' 3 · hidden
(Table 10: 384 → 1152).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

Z_LOSS_WEIGHT = 2e-4
"""The paper's max-z coefficient (the optimisations section: a max-z loss of weight 2e-4)."""

FFN_RULES = ("baichuan", "table10")
"""``baichuan``: 8/3 · hidden rounded up to 128 (released 7B: 4096 → 11008); ``table10``: 3 · hidden."""


def ffn_size(hidden: int, rule: str = "baichuan", multiple: int = 128) -> int:
    """The SwiGLU inner width for ``hidden`` under ``rule`` (see :data:`FFN_RULES`)."""
    if rule == "baichuan":
        return multiple * math.ceil(8 * hidden / (3 * multiple))
    if rule == "table10":
        return 3 * hidden
    raise ValueError(f"rule={rule!r}; expected one of {', '.join(FFN_RULES)}")


def norm_head_logits(hidden: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """NormHead: logits h · w_j / ‖w_j‖ for every row w_j of ``weight`` (vocab × hidden)."""
    # F.normalize(weight, dim=-1) without its guard for a row of norm below 1e-12 (a weight row never is):
    # the same numbers forward and backward, and no clamp, whose gradient the stand-in GPU cannot take
    return hidden @ (weight / weight.norm(2, -1, keepdim=True).expand_as(weight)).T


def max_z_loss(logits: torch.Tensor, weight: float = Z_LOSS_WEIGHT, mask: torch.Tensor | None = None) -> torch.Tensor:
    """``weight`` · mean over positions of z², z = max_j logit_j at each position (``mask``: positions kept)."""
    z = logits.max(dim=-1).values
    if mask is None:
        return weight * z.square().mean()
    mask = mask.to(z.dtype)
    return weight * (z.square() * mask).sum() / mask.sum().clamp_min(1.0)


def repetition_penalty(logits: torch.Tensor, seen: torch.Tensor, penalty: float = 1.2) -> torch.Tensor:
    """HF's repetition penalty (``RepetitionPenaltyLogitsProcessor``): on tokens already seen
    (``seen``, a boolean mask shaped like ``logits``) a positive logit is divided by ``penalty``, a
    negative one multiplied by it; other logits are unchanged."""
    scaled = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, scaled, logits)


def seen_mask(ids: torch.Tensor, vocab: int) -> torch.Tensor:
    """``mask[b, t, j]``: token j occurs in ``ids[b, :t+1]`` (the context the prediction at t sees)."""
    onehot = (ids[..., None] == torch.arange(vocab, device=ids.device)).to(torch.int32)  # F.one_hot, on ids' device
    return onehot.cumsum(dim=1) > 0


def penalty_kl(logits: torch.Tensor, ids: torch.Tensor, penalty: float = 1.2) -> torch.Tensor:
    """Per position KL(p ‖ p_penalised) in nats between the next-token distributions without and
    with the repetition penalty applied on the tokens of the context so far (shape of ``ids``)."""
    logits = logits.float()
    penalised = repetition_penalty(logits, seen_mask(ids, logits.shape[-1]), penalty)
    logp, logq = F.log_softmax(logits, -1), F.log_softmax(penalised, -1)
    return (logp.exp() * (logp - logq)).sum(-1)


class RMSNorm(nn.Module):
    """x / rms(x) · g (LLaMA / Baichuan 2 pre-norm; eps 1e-6)."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def rope_angles(positions: torch.Tensor, head_dim: int, base: float = 10000.0) -> torch.Tensor:
    """RoPE angles θ_{p,i} = p · base^(−2i/d) (positions × head_dim/2), computed in the dtype of
    ``positions`` (used by notebook 4 to compare bf16 with fp32)."""
    inv = base ** (-torch.arange(0, head_dim, 2, dtype=torch.float32, device=positions.device) / head_dim)
    return positions[:, None] * inv.to(positions.dtype)[None, :]


def apply_rope(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """Rotate consecutive pairs of ``x`` (…, T, head_dim) by ``angles`` (T, head_dim/2)."""
    cos, sin = angles.cos(), angles.sin()
    x1, x2 = x[..., 0::2], x[..., 1::2]
    return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1).flatten(-2)


class Block(nn.Module):
    """Pre-norm attention (RoPE, causal) and SwiGLU feed-forward, each with a residual."""

    def __init__(self, hidden: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.heads = heads
        self.attn_norm, self.ffn_norm = RMSNorm(hidden), RMSNorm(hidden)
        self.qkv = nn.Linear(hidden, 3 * hidden, bias=False)
        self.out = nn.Linear(hidden, hidden, bias=False)
        self.gate = nn.Linear(hidden, ffn, bias=False)
        self.up = nn.Linear(hidden, ffn, bias=False)
        self.down = nn.Linear(ffn, hidden, bias=False)

    def forward(self, x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.attn_norm(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        q, k = apply_rope(q, angles), apply_rope(k, angles)
        a = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.out(a)
        h = self.ffn_norm(x)
        return x + self.down(F.silu(self.gate(h)) * self.up(h))


class TinyDecoder(nn.Module):
    """A Baichuan-2-shaped decoder: untied input and output embeddings, optional NormHead."""

    def __init__(self, vocab: int, hidden: int, layers: int, heads: int, ffn: int, norm_head: bool = False,
                 init_std: float = 0.02) -> None:
        super().__init__()
        if hidden % heads or (hidden // heads) % 2:
            raise ValueError(f"hidden={hidden} must split into {heads} heads of even size")
        self.hidden, self.heads, self.norm_head = hidden, heads, norm_head
        self.embed = nn.Embedding(vocab, hidden)
        self.blocks = nn.ModuleList(Block(hidden, heads, ffn) for _ in range(layers))
        self.norm = RMSNorm(hidden)
        self.head = nn.Linear(hidden, vocab, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=init_std)

    def hidden_states(self, ids: torch.Tensor) -> torch.Tensor:
        angles = rope_angles(torch.arange(ids.shape[1], dtype=torch.float32, device=ids.device), self.hidden // self.heads)
        x = self.embed(ids)
        for block in self.blocks:
            x = block(x, angles)
        return self.norm(x)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.hidden_states(ids)
        return norm_head_logits(h, self.head.weight) if self.norm_head else self.head(h)


def parameter_counts(model: TinyDecoder) -> dict[str, int]:
    """``total`` parameters and ``non_embedding`` (without the input and output embeddings)."""
    total = sum(p.numel() for p in model.parameters())
    embed = model.embed.weight.numel() + model.head.weight.numel()
    return {"total": total, "non_embedding": total - embed}
