"""The preference losses of the reward and cost models, and their accuracy metrics.

Both follow the official ``sequence-wise`` losses of PKU-Alignment/safe-rlhf
(``safe_rlhf/values/{reward,cost}/trainer.py``); tests pin them against hand-computed values.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

REGULARIZATION = 0.001
"""μ, the score regulariser of the official scripts (``--regularization 0.001``)."""


def _check_pair(a: torch.Tensor, b: torch.Tensor, names: str) -> None:
    if a.shape != b.shape or a.dim() != 1:
        raise ValueError(f"{names} must be 1-d tensors of equal length, got {tuple(a.shape)} and {tuple(b.shape)}")


def reward_loss(
    better_reward: torch.Tensor, worse_reward: torch.Tensor, regularization: float = REGULARIZATION
) -> torch.Tensor:
    """Bradley–Terry loss of the reward model, averaged over pairs.

    ``-log σ(R(y_w) - R(y_l)) + μ·(R(y_w)² + R(y_l)²)/2``; ``y_w`` is the response named by
    ``better_response_id``. The μ term keeps scores near 0 so the RL stage sees a bounded reward.
    """
    _check_pair(better_reward, worse_reward, "better_reward and worse_reward")
    loss = -F.logsigmoid(better_reward - worse_reward).mean()
    if regularization > 0:
        loss = loss + regularization * torch.stack([better_reward, worse_reward]).square().mean()
    return loss


def cost_loss(
    unsafer_cost: torch.Tensor,
    safer_cost: torch.Tensor,
    unsafer_sign: torch.Tensor,
    safer_sign: torch.Tensor,
    regularization: float = REGULARIZATION,
    use_sign_term: bool = True,
) -> torch.Tensor:
    """Cost-model loss: a pairwise term plus a per-response classification term.

    ``-log σ(C(y_u) - C(y_s)) - log σ(s_s·C(y_s)) - log σ(s_u·C(y_u)) + μ·(C(y_u)² + C(y_s)²)/2``
    with ``y_s`` the response named by ``safer_response_id`` and ``s = +1`` for an unsafe response,
    ``-1`` for a safe one. The sign terms anchor the zero: after training ``C > 0`` ⇔ unsafe,
    which is what lets a threshold of 0 mean "safe" in PPO-Lagrangian. ``use_sign_term=False``
    drops them (the ablation; the official ``sequence-wise-bt`` loss).
    """
    _check_pair(unsafer_cost, safer_cost, "unsafer_cost and safer_cost")
    _check_pair(unsafer_sign, safer_sign, "unsafer_sign and safer_sign")
    for name, sign in (("unsafer_sign", unsafer_sign), ("safer_sign", safer_sign)):
        if not torch.all(sign.abs() == 1):
            raise ValueError(f"{name} must hold +1 (unsafe) or -1 (safe), got {sign.tolist()}")
    per_pair = -F.logsigmoid(unsafer_cost - safer_cost)
    if use_sign_term:
        per_pair = per_pair - F.logsigmoid(safer_sign * safer_cost) - F.logsigmoid(unsafer_sign * unsafer_cost)
    loss = per_pair.mean()
    if regularization > 0:
        loss = loss + regularization * torch.stack([unsafer_cost, safer_cost]).square().mean()
    return loss


def accuracy(higher: torch.Tensor, lower: torch.Tensor) -> torch.Tensor:
    """Fraction of pairs ranked right: ``higher > lower`` (better reward, or unsafer cost)."""
    _check_pair(higher, lower, "higher and lower")
    return (higher > lower).float().mean()


def accuracy_sign(costs: torch.Tensor, signs: torch.Tensor) -> torch.Tensor:
    """Fraction of responses whose cost has the right sign: ``sign·C > 0`` (C > 0 ⇔ unsafe).

    Pass both responses of every pair (the official metric averages over ``2·B`` responses).
    """
    _check_pair(costs, signs.to(costs.dtype), "costs and signs")
    return (signs * costs > 0).float().mean()
