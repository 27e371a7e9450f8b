"""The DreamerV3 world model with SafeDreamer's cost head, in PyTorch.

RSSM: a deterministic GRU state h and a categorical stochastic state z (``stoch`` groups of
``classes`` one-hot classes, 1% uniform mix, straight-through gradients). Heads on the feature
[h, z]: a symlog-MSE vector decoder, a two-hot symlog reward head, a two-hot symlog **cost head**
(configs.yaml cost_head dist symlog_disc) whose loss is ×``cost_weight`` on steps with cost ≥ 1,
and a Bernoulli continuation head. KL balancing: dyn = max(free, KL(sg(post) ‖ prior)) × 0.5,
rep = max(free, KL(post ‖ sg(prior))) × 0.1, free bits 1 nat (configs.yaml dyn_loss, rep_loss,
loss_scales).

Simplified against the official ``nets.RSSM``: a standard ``torch.nn.GRUCell`` (the official GRU
has layer norm and a −1 update bias), a zero initial state (official: learned), replay sequences
that start at an episode's step rather than crossing episode boundaries.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn
from torch.nn import functional as F

from ..engine import checkpoints
from .maths import BINS, symlog, twohot_mean, twohot_nll, weighted_cost_loss


@dataclasses.dataclass(frozen=True)
class ModelSizes:
    """Sizes of one world model (osrp_vector: deter 256, stoch 16 × 16 classes, units 256, mlp_layers 3)."""

    obs_dim: int
    act_dim: int
    deter: int = 256
    stoch: int = 16
    classes: int = 16
    units: int = 256
    layers: int = 2
    unimix: float = 0.01


def mlp(inp: int, out: int, units: int, layers: int, zero_out: bool = False) -> nn.Sequential:
    """``layers`` hidden Linear → LayerNorm → SiLU blocks, then a Linear output (zero-initialised
    when ``zero_out``, as the official reward head's outscale 0)."""
    mods: list[nn.Module] = []
    d = inp
    for _ in range(layers):
        mods += [nn.Linear(d, units), nn.LayerNorm(units), nn.SiLU()]
        d = units
    last = nn.Linear(d, out)
    if zero_out:
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
    mods.append(last)
    return nn.Sequential(*mods)


class WorldModel(nn.Module):
    """Encoder, RSSM and the decoder, reward, cost and continuation heads."""

    def __init__(self, sizes: ModelSizes):
        super().__init__()
        self.sizes = sizes
        s = sizes
        self.stoch_dim = s.stoch * s.classes
        self.feat_dim = s.deter + self.stoch_dim
        self.encoder = mlp(s.obs_dim, s.units, s.units, s.layers)
        self.img_in = nn.Sequential(nn.Linear(self.stoch_dim + s.act_dim, s.units), nn.LayerNorm(s.units), nn.SiLU())
        self.gru = nn.GRUCell(s.units, s.deter)
        self.prior_net = mlp(s.deter, self.stoch_dim, s.units, 1)
        self.post_net = mlp(s.deter + s.units, self.stoch_dim, s.units, 1)
        self.decoder = mlp(self.feat_dim, s.obs_dim, s.units, s.layers)
        self.reward_head = mlp(self.feat_dim, BINS, s.units, s.layers, zero_out=True)
        self.cost_head = mlp(self.feat_dim, BINS, s.units, s.layers)
        self.cont_head = mlp(self.feat_dim, 1, s.units, s.layers)

    # -- latent dynamics ------------------------------------------------------------------------

    def initial(self, batch: int, device: torch.device | None = None) -> dict[str, torch.Tensor]:
        device = device or next(self.parameters()).device
        return {"deter": torch.zeros(batch, self.sizes.deter, device=device),
                "stoch": torch.zeros(batch, self.stoch_dim, device=device)}

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        s = self.sizes
        logits = x.view(*x.shape[:-1], s.stoch, s.classes)
        probs = (1 - s.unimix) * torch.softmax(logits, -1) + s.unimix / s.classes
        return torch.log(probs)

    def _sample(self, logits: torch.Tensor) -> torch.Tensor:
        probs = logits.exp()
        index = torch.distributions.Categorical(probs=probs).sample()
        onehot = F.one_hot(index, self.sizes.classes).to(probs.dtype)
        return (onehot + probs - probs.detach()).flatten(-2)

    def img_step(self, state: dict[str, torch.Tensor], action: torch.Tensor) -> dict[str, torch.Tensor]:
        """Prior: h' = GRU(h, [z, a]), z' ~ p(z' | h')."""
        action = action.clamp(-1.0, 1.0)
        x = self.img_in(torch.cat([state["stoch"], action], -1))
        deter = self.gru(x, state["deter"])
        logits = self._logits(self.prior_net(deter))
        return {"deter": deter, "stoch": self._sample(logits), "logits": logits}

    def obs_step(self, state: dict[str, torch.Tensor], action: torch.Tensor, embed: torch.Tensor):
        """(posterior, prior) after ``action`` and observing ``embed``."""
        prior = self.img_step(state, action)
        logits = self._logits(self.post_net(torch.cat([prior["deter"], embed], -1)))
        post = {"deter": prior["deter"], "stoch": self._sample(logits), "logits": logits}
        return post, prior

    def embed(self, obs: torch.Tensor) -> torch.Tensor:
        return self.encoder(symlog(obs))

    @staticmethod
    def feat(state: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([state["deter"], state["stoch"]], -1)

    def observe(self, obs: torch.Tensor, action: torch.Tensor, first: torch.Tensor):
        """Posterior and prior states over sequences ``obs`` [B, T, D]; ``action[:, t]`` is taken at
        step t, so step t's state uses ``action[:, t-1]`` (zero at the first step)."""
        B, T = obs.shape[:2]
        embed = self.embed(obs)
        state = self.initial(B, obs.device)
        prev_action = torch.zeros_like(action[:, 0])
        posts, priors = [], []
        for t in range(T):
            keep = (1.0 - first[:, t].float())[:, None]
            state = {k: v * keep for k, v in state.items() if k != "logits"}
            post, prior = self.obs_step(state, prev_action * keep, embed[:, t])
            posts.append(post)
            priors.append(prior)
            state, prev_action = post, action[:, t]
        stack = lambda seq: {k: torch.stack([s[k] for s in seq], 1) for k in seq[0]}  # noqa: E731
        return stack(posts), stack(priors)

    # -- heads ----------------------------------------------------------------------------------

    def reward(self, feat: torch.Tensor) -> torch.Tensor:
        return twohot_mean(self.reward_head(feat))

    def cost(self, feat: torch.Tensor) -> torch.Tensor:
        return twohot_mean(self.cost_head(feat))

    def cont(self, feat: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.cont_head(feat)).squeeze(-1)

    # -- loss -----------------------------------------------------------------------------------

    def _kl(self, a_logits: torch.Tensor, b_logits: torch.Tensor) -> torch.Tensor:
        """KL(a ‖ b) of the categorical groups, summed over groups."""
        return (a_logits.exp() * (a_logits - b_logits)).sum(-1).sum(-1)

    def loss(self, batch: dict[str, torch.Tensor], cost_weight: float = 10.0, free_nats: float = 1.0,
             dyn_scale: float = 0.5, rep_scale: float = 0.1, vector_scale: float = 1.0):
        """(scalar loss, per-term means, posterior states) for a batch of sequences [B, T, ...]."""
        post, prior = self.observe(batch["obs"], batch["action"], batch["first"])
        feat = self.feat(post)
        losses = {
            "dyn": torch.clamp(self._kl(post["logits"].detach(), prior["logits"]), min=free_nats),
            "rep": torch.clamp(self._kl(post["logits"], prior["logits"].detach()), min=free_nats),
            "decoder": ((self.decoder(feat) - symlog(batch["obs"])) ** 2).sum(-1),
            "reward": twohot_nll(self.reward_head(feat), batch["reward"]),
            "cost": weighted_cost_loss(self.cost_head(feat), batch["cost"], cost_weight),
            "cont": F.binary_cross_entropy_with_logits(self.cont_head(feat).squeeze(-1), 1.0 - batch["terminal"].float(),
                                                       reduction="none"),
        }
        scales = {"dyn": dyn_scale, "rep": rep_scale, "decoder": vector_scale}
        total = sum(scales.get(k, 1.0) * v for k, v in losses.items()).mean()
        return total, {k: float(v.mean().detach()) for k, v in losses.items()}, post

    # -- imagination ----------------------------------------------------------------------------

    def imagine(self, start: dict[str, torch.Tensor], policy: Callable[[dict[str, torch.Tensor], int], torch.Tensor],
                horizon: int) -> dict[str, torch.Tensor]:
        """Roll the prior ``horizon`` steps from ``start``: ``feat`` [H+1, N, F] and ``action`` [H+1, N, A]
        (``action[t]`` is taken at step t; the last one is sampled but not stepped, as officially)."""
        state = {k: start[k] for k in ("deter", "stoch")}
        feats, actions = [self.feat(state)], []
        for t in range(horizon):
            a = policy(state, t)
            actions.append(a)
            state = self.img_step(state, a)
            feats.append(self.feat(state))
        actions.append(policy(state, horizon))
        return {"feat": torch.stack(feats), "action": torch.stack(actions)}


def save_model(model: WorldModel, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
    state = {k: v.cpu() for k, v in model.state_dict().items()}  # loads on any machine
    return checkpoints.save(path, {"sizes": dataclasses.asdict(model.sizes), "state": state,
                                   "extra": extra or {}})


def load_model(path: str | Path, device: torch.device | str = "cpu") -> tuple[WorldModel, dict[str, Any]]:
    payload = checkpoints.load(path)
    model = WorldModel(ModelSizes(**payload["sizes"]))
    model.load_state_dict(payload["state"])
    return model.to(device), payload["extra"]
