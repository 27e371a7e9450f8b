"""The PPO-Lagrangian pieces as pure functions of tensors (``safe_rlhf/algorithms/ppo_lag``).

Shapes: ``B`` sequences, ``T`` token positions. Position ``t`` holds the quantities of the token
*generated at* ``t + 1`` (log-probabilities are shifted by one, as in causal-LM training).
``mask[b, t]`` is 1 where sequence ``b`` has a real response token; the last such position is the
end of the episode, where the sequence-level reward and cost are paid.
"""

from __future__ import annotations

import math

import torch


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each sequence's masked tokens, then over the sequences (``(B, L) -> ()``).

    As ``safe_rlhf/utils.py::masked_mean`` since upstream PR #154: every response weighs the same
    in the actor and critic losses, however long it is (a mean over all tokens at once would let
    long responses dominate). Rows without a masked token are left out (upstream would give NaN).
    """
    mask = mask.to(values.dtype)
    if values.dim() == 1:
        return (values * mask).sum() / mask.sum().clamp(min=1)
    counts = mask.sum(dim=-1)
    rows = counts > 0
    if not rows.any():
        return (values * mask).sum()
    return ((values * mask).sum(dim=-1)[rows] / counts[rows]).mean()


def end_positions(mask: torch.Tensor) -> torch.Tensor:
    """The last position with ``mask == 1`` in each row (the episode's final token)."""
    length = mask.size(1)
    if not mask.bool().any(dim=1).all():
        raise ValueError("a sequence has no response token; generate at least one token per prompt")
    return (length - 1) - mask.bool().flip(dims=[1]).int().argmax(dim=1)


def kl_penalised_rewards(
    reward: torch.Tensor,
    cost: torch.Tensor,
    log_probs: torch.Tensor,
    ref_log_probs: torch.Tensor,
    mask: torch.Tensor,
    kl_coeff: float,
    clip_range_score: float = 50.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-token rewards and costs: ``r_t = -β·k_t (+R at the end)``, ``c_t = +β·k_t (+C at the end)``.

    ``k_t = log π_old - log π_ref``. The KL term makes drifting from the reference policy both
    less rewarding and more costly, so neither objective can be gamed by leaving the SFT model's
    support. Both are clipped to ``±clip_range_score``.
    """
    end = end_positions(mask).unsqueeze(1)
    kl_penalty = -kl_coeff * (log_probs - ref_log_probs)
    rewards = kl_penalty.scatter_add(1, end, reward.to(kl_penalty.dtype).unsqueeze(1))
    costs = (-kl_penalty).scatter_add(1, end, cost.to(kl_penalty.dtype).unsqueeze(1))
    return (rewards.clamp(-clip_range_score, clip_range_score), costs.clamp(-clip_range_score, clip_range_score))


def gae(
    values: torch.Tensor,
    rewards: torch.Tensor,
    mask: torch.Tensor,
    start: int,
    gamma: float = 1.0,
    lam: float = 0.95,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over positions ``start..T-1``: ``(advantages, returns)``.

    ``δ_t = r_t + γ·V_{t+1} - V_t``, ``Â_t = δ_t + γλ·Â_{t+1}``, with values and rewards zeroed
    outside the mask (so the value after the episode's end is 0) and ``returns = Â + V``.
    Advantages are *not* whitened (the official trainer does not). Both outputs are detached and
    have ``T - start`` columns.
    """
    values = values * mask
    rewards = rewards * mask
    length = rewards.size(1)
    last = torch.zeros_like(rewards[:, 0])
    reversed_adv = []
    for t in reversed(range(start, length)):
        next_value = values[:, t + 1] if t < length - 1 else torch.zeros_like(values[:, t])
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        last = delta + gamma * lam * last
        reversed_adv.append(last)
    advantages = torch.stack(reversed_adv[::-1], dim=1)
    returns = advantages + values[:, start:]
    return advantages.detach(), returns.detach()


def mixed_advantage(reward_adv: torch.Tensor, cost_adv: torch.Tensor, multiplier: float) -> torch.Tensor:
    """``(Â_R - λ·Â_C) / (1 + λ)``: the Lagrangian's advantage, rescaled so its size does not grow with λ."""
    return (reward_adv - multiplier * cost_adv) / (1.0 + multiplier)


def actor_loss(
    log_probs: torch.Tensor,
    old_log_probs: torch.Tensor,
    advantages: torch.Tensor,
    mask: torch.Tensor,
    clip_range_ratio: float = 0.2,
) -> torch.Tensor:
    """PPO's clipped surrogate, negated for gradient descent, averaged over response tokens."""
    ratios = torch.exp(log_probs - old_log_probs)
    surrogate = torch.minimum(
        advantages * ratios, advantages * ratios.clamp(1.0 - clip_range_ratio, 1.0 + clip_range_ratio)
    )
    return -masked_mean(surrogate, mask)


def critic_loss(
    values: torch.Tensor,
    old_values: torch.Tensor,
    returns: torch.Tensor,
    mask: torch.Tensor,
    clip_range_value: float = 5.0,
) -> torch.Tensor:
    """Clipped value loss ``½·max((V - G)², (clip(V, V_old ± ε) - G)²)``, averaged over tokens."""
    clipped = torch.clamp(values, old_values - clip_range_value, old_values + clip_range_value)
    return 0.5 * masked_mean(torch.maximum((values - returns) ** 2, (clipped - returns) ** 2), mask)


class LagrangeMultiplier:
    """λ ≥ 0 kept as ``log λ`` and updated by plain SGD on ``-(Ĵ_C - d)·λ``.

    The gradient with respect to ``log λ`` is ``-(Ĵ_C - d)·λ``, so one SGD step is
    ``log λ ← log λ + η·λ·(Ĵ_C - d)``: λ grows while the expected cost exceeds the threshold
    ``d`` and shrinks once the constraint holds. ``log λ`` is clamped at ``log λ_max``.
    """

    def __init__(self, init: float = 1.0, lr: float = 0.1, max_value: float | None = 5.0) -> None:
        if init <= 0:
            raise ValueError(f"lambda_init={init} must be > 0 (λ is kept as log λ)")
        if max_value is not None and max_value < init:
            raise ValueError(f"lambda_max={max_value} must be >= lambda_init={init}")
        self.log_lambda = torch.nn.Parameter(torch.tensor(math.log(init)))
        self.optimizer = torch.optim.SGD([self.log_lambda], lr=lr)
        self.log_max = math.log(max_value) if max_value else None

    @property
    def value(self) -> float:
        """λ, detached (the actor loss treats it as a constant)."""
        return float(self.log_lambda.detach().exp())

    def update(self, episode_cost: float, threshold: float) -> float:
        """One SGD step with the mean episode cost ``Ĵ_C``; returns the new λ."""
        loss = -(episode_cost - threshold) * self.log_lambda.exp()
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        if self.log_max is not None:
            with torch.no_grad():
                self.log_lambda.clamp_(max=self.log_max)
        return self.value

    def state_dict(self) -> dict:
        return {"log_lambda": self.log_lambda.detach().clone(), "optimizer": self.optimizer.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        with torch.no_grad():
            self.log_lambda.copy_(state["log_lambda"])
        self.optimizer.load_state_dict(state["optimizer"])
