"""World-model training on replayed sequences, and its prediction quality over the imagination horizon."""

from __future__ import annotations

import numpy as np
import torch

from .data import Episode, Replay
from .maths import auroc
from .world_model import WorldModel


def make_optimizer(model: torch.nn.Module, lr: float, eps: float = 1e-8) -> torch.optim.Adam:
    """Adam (configs.yaml model_opt: lr 1e-4, eps 1e-8, gradient clip 1000)."""
    return torch.optim.Adam(model.parameters(), lr=lr, eps=eps)


def train_steps(model: WorldModel, opt: torch.optim.Optimizer, replay: Replay, steps: int, batch: int, length: int,
                cost_weight: float = 10.0, clip: float = 1000.0, vector_scale: float = 1.0) -> list[dict[str, float]]:
    """``steps`` gradient steps on sequences from ``replay``; one history row of loss terms per step."""
    device = next(model.parameters()).device
    history = []
    for _ in range(steps):
        data = replay.sample(batch, length, device)
        loss, terms, _ = model.loss(data, cost_weight=cost_weight, vector_scale=vector_scale)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
        history.append({"loss": float(loss.detach()), **terms})
    return history


@torch.no_grad()
def open_loop(model: WorldModel, episode: Episode, horizon: int) -> dict[str, np.ndarray]:
    """Predicted and true reward and cost k = 0..horizon steps ahead, from every start t of ``episode``.

    The posterior at t filters the real observations up to t; from there the prior is rolled with
    the episode's real actions (no observations). Arrays have shape [horizon + 1, starts]."""
    device = next(model.parameters()).device
    t = lambda key: torch.as_tensor(episode[key][None], device=device)  # noqa: E731
    post, _ = model.observe(t("obs"), t("action"), t("first"))
    T = episode["reward"].shape[0]
    starts = np.arange(0, T - horizon)
    index = torch.as_tensor(starts, device=device)
    state = {k: post[k][0, index] for k in ("deter", "stoch")}
    actions = torch.as_tensor(episode["action"], device=device)
    pred_r, pred_c = [model.reward(model.feat(state))], [model.cost(model.feat(state))]
    for k in range(horizon):
        state = model.img_step(state, actions[index + k])
        feat = model.feat(state)
        pred_r.append(model.reward(feat))
        pred_c.append(model.cost(feat))
    idx = starts[None] + np.arange(horizon + 1)[:, None]
    return {"pred_reward": torch.stack(pred_r).cpu().numpy(), "pred_cost": torch.stack(pred_c).cpu().numpy(),
            "reward": episode["reward"][idx], "cost": episode["cost"][idx]}


def prediction_quality(model: WorldModel, episodes: list[Episode], horizon: int) -> dict[str, np.ndarray]:
    """Per k = 0..horizon: cost AUROC (predicted cost against true cost ≥ 1), reward correlation and
    reward mean absolute error, pooled over ``episodes`` (held out from training)."""
    parts = [open_loop(model, ep, horizon) for ep in episodes]
    cat = {k: np.concatenate([p[k] for p in parts], 1) for k in parts[0]}
    out = {"cost_auroc": [], "reward_corr": [], "reward_mae": [], "cost_rate": []}
    for k in range(horizon + 1):
        labels = cat["cost"][k] >= 1.0
        out["cost_auroc"].append(auroc(cat["pred_cost"][k], labels))
        out["cost_rate"].append(float(labels.mean()))
        pr, tr = cat["pred_reward"][k], cat["reward"][k]
        out["reward_corr"].append(float(np.corrcoef(pr, tr)[0, 1]) if pr.std() > 0 and tr.std() > 0 else float("nan"))
        out["reward_mae"].append(float(np.abs(pr - tr).mean()))
    return {k: np.asarray(v) for k, v in out.items()}
