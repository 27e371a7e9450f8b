"""The equations SafeDreamer builds on, as small functions (PyTorch re-implementations).

Each mirrors a piece of the official JAX code (PKU-Alignment/SafeDreamer, ``jaxutils.py`` and
``agent.py``); ``tests/test_safe_dreamer.py`` checks them against hand-computed values.

- :func:`symlog` / :func:`symexp`: the DreamerV3 squashing, sign(x)·ln(1+|x|) and its inverse.
- :func:`twohot` / :func:`twohot_mean`: the two-hot target on 255 bins in symlog space
  (``DiscDist``, bins ``linspace(-20, 20, 255)``) and the expectation back in real space.
- :func:`lambda_return`: the λ-return of ``VFunction.score`` (bootstrapped at the horizon).
- :func:`weighted_cost_loss`: the cost-head loss weighted ×``cost_weight`` where the cost is ≥ 1.
- :class:`AugmentedLagrangian`: BSRP-Lag's penalty, Nocedal & Wright (2006) eq. 17.65.
"""

from __future__ import annotations

import math

import torch

BINS = 255
"""Two-hot bins of the reward, cost and critic heads (configs.yaml: bins 255)."""
LOW, HIGH = -20.0, 20.0
"""Range of the bins in symlog space (jaxutils.DiscDist: low -20, high 20)."""


def symlog(x: torch.Tensor) -> torch.Tensor:
    """sign(x) · ln(1 + |x|)."""
    return torch.sign(x) * torch.log1p(torch.abs(x))


def symexp(x: torch.Tensor) -> torch.Tensor:
    """sign(x) · (exp(|x|) − 1), the inverse of :func:`symlog`."""
    return torch.sign(x) * torch.expm1(torch.abs(x))


def bins(device: torch.device | str = "cpu") -> torch.Tensor:
    return torch.linspace(LOW, HIGH, BINS, device=device)


def twohot(x: torch.Tensor) -> torch.Tensor:
    """Two-hot encoding of ``symlog(x)`` on :func:`bins`: weight on the two neighbouring bins,
    proportional to closeness (values outside the range go wholly to the end bin)."""
    b = bins(x.device)
    y = symlog(x).clamp(LOW, HIGH)
    below = (b <= y[..., None]).sum(-1) - 1
    below = below.clamp(0, BINS - 1)
    above = (below + 1).clamp(max=BINS - 1)
    dist_below = (y - b[below]).abs()
    dist_above = (b[above] - y).abs()
    total = dist_below + dist_above
    equal = total == 0
    w_below = torch.where(equal, torch.ones_like(y), dist_above / torch.where(equal, torch.ones_like(total), total))
    w_above = 1.0 - w_below
    out = torch.zeros(*y.shape, BINS, device=x.device, dtype=y.dtype)
    out.scatter_add_(-1, below[..., None], w_below[..., None])
    out.scatter_add_(-1, above[..., None], w_above[..., None])
    return out


def twohot_mean(logits: torch.Tensor) -> torch.Tensor:
    """symexp(Σ softmax(logits) · bins): the head's prediction in real units (DiscDist.mean)."""
    return symexp((torch.softmax(logits, -1) * bins(logits.device)).sum(-1))


def twohot_nll(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """−log p(x) of the two-hot distribution: cross-entropy of the two-hot target (DiscDist.log_prob)."""
    return -(twohot(x) * torch.log_softmax(logits, -1)).sum(-1)


def weighted_cost_loss(logits: torch.Tensor, cost: torch.Tensor, cost_weight: float) -> torch.Tensor:
    """The cost head's two-hot NLL, multiplied by ``cost_weight`` on steps with cost ≥ 1
    (agent.py WorldModel.loss: ``where(cost >= 1, cost_weight * loss, loss)``; cost_weight 10)."""
    loss = twohot_nll(logits, cost)
    return torch.where(cost >= 1.0, cost_weight * loss, loss)


def lambda_return(reward: torch.Tensor, discount: torch.Tensor, value: torch.Tensor, lam: float) -> torch.Tensor:
    """λ-returns R_0..R_{H-1} of ``VFunction.score``.

    ``reward[t]`` and ``discount[t]`` (γ · continuation) belong to the step from t to t+1 (shape
    [H, ...]); ``value`` has H+1 entries. R_H = v_H and
    R_t = r_t + d_t · ((1 − λ) v_{t+1} + λ R_{t+1}).
    """
    if value.shape[0] != reward.shape[0] + 1:
        raise ValueError(f"value needs H+1={reward.shape[0] + 1} entries, got {value.shape[0]}")
    out = [value[-1]]
    for t in reversed(range(reward.shape[0])):
        out.append(reward[t] + discount[t] * ((1 - lam) * value[t + 1] + lam * out[-1]))
    return torch.stack(list(reversed(out))[:-1])


def discount_from_horizon(horizon: float) -> float:
    """γ = 1 − 1/horizon (configs.yaml horizon 333: γ ≈ 0.997)."""
    return 1.0 - 1.0 / horizon


class AugmentedLagrangian:
    """BSRP-Lag's penalty on the imagined cost return (jaxutils.Lagrange; Nocedal & Wright eq. 17.65).

    With g = mean(C − b), λ the multiplier and c the penalty multiplier, one update gives
    the loss term ψ = λ g + c/2 · g² if λ + c g > 0, else −λ²/(2c) (both with the λ *before* the
    update); then λ ← max(0, λ + c g) and c ← min(max(c(1 + 1e-5), c), 1) (non-decreasing).
    Initial λ 1e-6 and c 5e-9 (configs.yaml lagrange_multiplier_init, penalty_multiplier_init).
    """

    def __init__(self, cost_limit: float, lagrange_init: float = 1e-6, penalty_init: float = 5e-9,
                 penalty_growth: float = 1e-5, penalty_max: float = 1.0):
        if penalty_init <= 0:
            raise ValueError(f"penalty_init={penalty_init} must be > 0 (the penalty divides by it)")
        self.cost_limit = cost_limit
        self.multiplier = float(lagrange_init)
        self.penalty = float(penalty_init)
        self.growth, self.penalty_max = penalty_growth, penalty_max

    def __call__(self, cost_return: torch.Tensor) -> torch.Tensor:
        """ψ as a differentiable tensor of ``cost_return``; updates λ and c from its value."""
        g = (cost_return - self.cost_limit).mean()
        lam, c = self.multiplier, self.penalty
        cond = lam + c * float(g.detach())
        if cond > 0:
            psi = lam * g + c / 2.0 * g ** 2
        else:
            psi = torch.zeros_like(g) - lam ** 2 / (2.0 * c)
        self.multiplier = max(0.0, cond)
        self.penalty = min(max(c * (1.0 + self.growth), c), self.penalty_max)
        return psi

    def state_dict(self) -> dict:
        return {"multiplier": self.multiplier, "penalty": self.penalty}

    def load_state_dict(self, state: dict) -> None:
        self.multiplier, self.penalty = float(state["multiplier"]), float(state["penalty"])


def auroc(scores, labels) -> float:
    """Area under the ROC curve of ``scores`` for binary ``labels`` (ties count half); NaN if one class is absent."""
    import numpy as np

    s = np.asarray(scores, dtype=float)
    y = np.asarray(labels, dtype=bool)
    pos, neg = s[y], s[~y]
    if not len(pos) or not len(neg):
        return math.nan
    order = np.argsort(np.concatenate([pos, neg]), kind="mergesort")
    allv = np.concatenate([pos, neg])[order]
    ranks = np.empty(len(allv))
    i = 0
    while i < len(allv):  # average ranks of ties
        j = i
        while j + 1 < len(allv) and allv[j + 1] == allv[i]:
            j += 1
        ranks[i:j + 1] = (i + j) / 2.0 + 1
        i = j + 1
    rank_of = np.empty(len(allv))
    rank_of[order] = ranks
    r_pos = rank_of[:len(pos)].sum()
    return float((r_pos - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))
