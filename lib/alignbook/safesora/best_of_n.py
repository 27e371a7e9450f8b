"""Notebook 04: alignment by best-of-N prompt refinement under a cost threshold.

For each held-out user prompt, a refiner writes N candidate prompts (``video_text``): each adds 0–2
detail words (every word raises the generator's render quality by ``detail_boost``), drops the harmful
phrase with probability ``drop_harm``, and changes one requested attribute with probability ``drift``.
The generator (VC2-like: the most helpful and least safe) renders each candidate. The reward model
(notebook 03's helpfulness model) and the cost model (notebook 02's text + video moderator: the
largest category probability) score each clip *against the user's original prompt*. The pick: the
highest reward among candidates with cost below ``cost_threshold``, the lowest cost when none is.
Gold helpfulness (against the original prompt) and the unsafe rate are measured at each N; the
candidates for N are the first N of ``max(n_grid)``, so the curve is paired across N.
"""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch

from ..engine import devices
from ..engine.config import BaseConfig, ConfigError, Count, Fraction, OneOf, Positive, Range, SeedCount
from ..engine.devices import Device
from ..engine.metrics import format_number
from ..stats import ci_text, interval_note, mean_ci, side
from . import world
from .models import Moderator, ScoreModel
from .schema import HARM_CATEGORIES


@dataclasses.dataclass(frozen=True)
class BestOfNConfig(BaseConfig):
    """Notebook 04: best-of-N prompt refinement with notebook 02's cost model and notebook 03's reward model."""

    n_grid: Annotated[tuple[int, ...], Range(1, 4096)] = (1, 2, 4, 8, 16)
    """Numbers of candidate prompts; must start at 1 (the baseline)."""
    generator: Annotated[str, OneOf(world.GENERATOR_NAMES)] = "VC2-like"
    """The generator that renders the candidates."""
    cost_threshold: Fraction = 0.3
    """A candidate is admissible when the cost model's largest category probability is below this."""
    detail_boost: Positive = 0.04
    """Render-quality gain per detail word of a refined prompt."""
    drop_harm: Fraction = 0.5
    """Probability that a candidate drops the user's harmful phrase."""
    drift: Fraction = 0.2
    """Probability that a candidate changes one requested attribute."""
    seeds: SeedCount = 3
    """Seeds: refiner and generator draws, and which upstream models (seed s uses seed s of notebooks 02 and 03)."""
    device: Device = "cpu"
    """Where the reward and cost models score the candidates: 'cpu', 'cuda', 'cuda:N' or 'auto'."""

    RENDERS_PER_SECOND = 2000.0
    """Assumed candidate clips refined and rendered per second on the CPU (NumPy, :func:`candidates`): measured here
    at 1,887 per CPU-second."""

    def work(self):
        """What notebook 04 computes (:mod:`alignbook.engine.estimate`): per seed, ``max(n_grid)`` candidates for each
        test prompt of notebook 01 (same profile, :data:`.world.PROFILE_PROMPTS`, 10 % held out), rendered on the
        CPU, each scored once by the reward and the cost model on the device (2 FLOPs per multiply-accumulate)."""
        from ..engine.estimate import Work
        from .models import moderator_macs, score_model_macs
        from .world import PROFILE_PROMPTS

        prompts = max(1, round(0.1 * PROFILE_PROMPTS[self.profile]))
        clips = self.seeds * prompts * max(self.n_grid)
        return Work(train_flops=2.0 * (score_model_macs(48) + moderator_macs(64, True)) * clips,
                    resident_params=0.2e6, other_seconds=clips / self.RENDERS_PER_SECOND, precision="fp32",
                    notes=[f"{self.seeds} seeds × {prompts:,} test prompts (notebook 01's, assumed) × {max(self.n_grid)} "
                           f"candidates rendered at {self.RENDERS_PER_SECOND:,.0f}/s on the CPU (assumed) and scored "
                           "in batches of 512 (a batched forward pass: at the training rate)",
                           "upstream models of the default widths (score model 48, moderator 64)", "fp32"])

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.n_grid or self.n_grid[0] != 1 or list(self.n_grid) != sorted(set(self.n_grid)):
            raise ConfigError(f"n_grid={self.n_grid}: must start at 1 and increase")
        if self.generator not in world.GENERATOR_NAMES:
            raise ConfigError(f"generator={self.generator!r}: expected one of {', '.join(world.GENERATOR_NAMES)}")


def refine(rng: np.random.Generator, p: dict[str, Any], cfg: BestOfNConfig) -> dict[str, Any]:
    """One candidate refined prompt (latent attributes and text)."""
    q = copy.deepcopy(p)
    q["details"] = [world.DETAIL_WORDS[i] for i in rng.permutation(len(world.DETAIL_WORDS))[:int(rng.integers(0, 3))]]
    if q["harm"] is not None and rng.random() < cfg.drop_harm:
        q["harm"] = None
    if rng.random() < cfg.drift:
        key = ("object", "colour", "motion")[int(rng.integers(3))]
        pool = {"object": world.OBJECTS, "colour": list(world.COLOURS), "motion": list(world.MOTIONS)}[key]
        q[key] = pool[int(rng.integers(len(pool)))]
    q["text"] = world.prompt_text(q)
    return q


def candidates(cfg: BestOfNConfig, prompts: list[dict[str, Any]], seed: int) -> dict[str, Any]:
    """``max(n_grid)`` candidates per prompt: clips, gold helpfulness against the original prompt, unsafe flags."""
    rng = np.random.default_rng(seed)
    gen = world.GENERATORS[world.GENERATOR_NAMES.index(cfg.generator)]
    n = max(cfg.n_grid)
    clips = np.zeros((len(prompts), n, world.FRAMES, world.SIZE, world.SIZE), np.uint8)
    helpful, unsafe = np.zeros((len(prompts), n)), np.zeros((len(prompts), n), bool)
    for i, p in enumerate(prompts):
        for k in range(n):
            q = refine(rng, p, cfg)
            clip, truth = world.render(rng, q, gen, boost=cfg.detail_boost * len(q["details"]))
            clips[i, k] = clip
            helpful[i, k] = world.gold_scores(p, truth)["helpfulness"]
            unsafe[i, k] = truth["harm"] is not None
    return {"clips": clips, "helpful": helpful, "unsafe": unsafe}


def model_scores(reward: ScoreModel, cost: Moderator, text: np.ndarray, clips: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Reward and cost ``(prompts, n)`` of every candidate clip with its user's prompt vector, computed on the
    reward model's device (the cost model must be on the same one)."""
    p, n = clips.shape[:2]
    device = next(reward.parameters()).device
    t = torch.tensor(np.repeat(text, n, axis=0)).to(device)
    c = torch.tensor(clips.reshape(p * n, *clips.shape[2:])).to(device)
    with torch.no_grad():
        r = torch.cat([reward(t[i:i + 512], c[i:i + 512]).reshape(-1) for i in range(0, p * n, 512)])
        k = torch.cat([torch.sigmoid(cost(t[i:i + 512], c[i:i + 512])).max(1).values for i in range(0, p * n, 512)])
    return r.cpu().numpy().reshape(p, n), k.cpu().numpy().reshape(p, n)


def pick(reward: np.ndarray, cost: np.ndarray, n: int, threshold: float | None) -> np.ndarray:
    """Index of the chosen candidate among the first ``n`` of each prompt (``threshold`` None: reward only)."""
    r, c = reward[:, :n], cost[:, :n]
    if threshold is None:
        return r.argmax(1)
    ok = c < threshold
    masked = np.where(ok, r, -np.inf)
    return np.where(ok.any(1), masked.argmax(1), c.argmin(1))


def candidate_accuracy(reward: np.ndarray, helpful: np.ndarray) -> float:
    """Share of same-prompt candidate pairs with different gold helpfulness that the reward model orders right."""
    hits = []
    for r, h in zip(reward, helpful):
        dr, dh = r[:, None] - r[None, :], h[:, None] - h[None, :]
        upper = np.triu(np.ones_like(dh, dtype=bool), 1) & (dh != 0)
        hits.extend((np.sign(dr[upper]) == np.sign(dh[upper])).tolist())
    return float(np.mean(hits)) if hits else float("nan")


def run(cfg: BestOfNConfig, data: dict[str, Any], reward_states: dict[str, Any], cost_states: dict[str, Any], *,
        workers: int | None = None) -> dict[str, Any]:
    """Per seed and N: gold helpfulness and unsafe rate of the pick, with and without the cost threshold.

    Each seed with both upstream models is a unit of :func:`alignbook.engine.parallel.map_units` (:func:`seed_unit`;
    side by side where cores allow, ``workers=1`` keeps them in this process): the held-out prompts, their vectors
    and those models' weights are written once to ``<run_dir>/inputs/best_of_n.pt``."""
    from ..engine import checkpoints
    from ..engine.parallel import map_units

    devices.resolve(cfg.device)
    test_ids = sorted({r["prompt_id"] for r in data["test"]})
    prompts = [data["prompts"][pid] for pid in test_ids]
    seeds = [s for s in range(cfg.seed, cfg.seed + cfg.seeds)
             if f"helpfulness-{s}" in reward_states and f"video-{s}" in cost_states]
    inputs = Path(cfg.run_dir) / "inputs" / "best_of_n.pt"
    checkpoints.save(inputs, {
        "prompts": prompts, "text": torch.from_numpy(np.stack([np.asarray(data["embedding"][pid]) for pid in test_ids])),
        "reward": {str(s): reward_states[f"helpfulness-{s}"] for s in seeds},
        "cost": {str(s): cost_states[f"video-{s}"] for s in seeds}})
    done = map_units(seed_unit, cfg, seeds, name="seeds", context=str(inputs), workers=workers, log=None)
    out: dict[str, Any] = {"n_grid": list(cfg.n_grid), "seeds": seeds, "constrained": [], "reward_only": [],
                           "candidate_accuracy": []}
    for result in done:
        for key in ("constrained", "reward_only", "candidate_accuracy"):
            out[key].append(result[key])
    out["prompts"] = len(prompts)
    return out


def seed_unit(unit) -> dict[str, Any]:
    """One seed of :func:`run` (``unit.value``: the seed; ``unit.context``: the inputs file): candidates drawn from
    ``10_000 + seed``, scored on ``cfg.device`` by that seed's reward and cost models."""
    from ..engine import checkpoints

    cfg, s = unit.cfg, unit.value
    inputs = checkpoints.load(unit.context)
    device = devices.resolve(cfg.device)
    reward_state, cost_state = inputs["reward"][str(s)], inputs["cost"][str(s)]
    reward = ScoreModel(reward_state["text.weight"].shape[0])
    reward.load_state_dict(reward_state)
    cost = Moderator(len(HARM_CATEGORIES), cost_state["text.0.weight"].shape[0], video=True)
    cost.load_state_dict(cost_state)
    prompts, text = inputs["prompts"], inputs["text"].numpy()
    cand = candidates(cfg, prompts, 10_000 + s)
    r, c = model_scores(reward.to(device).eval(), cost.to(device).eval(), text, cand["clips"])
    rows = np.arange(len(prompts))
    out: dict[str, Any] = {"candidate_accuracy": candidate_accuracy(r, cand["helpful"])}
    for key, thr in (("constrained", cfg.cost_threshold), ("reward_only", None)):
        picks = [pick(r, c, n, thr) for n in cfg.n_grid]
        out[key] = {"helpful": [float(cand["helpful"][rows, k].mean()) for k in picks],
                    "unsafe": [float(cand["unsafe"][rows, k].mean()) for k in picks]}
    return out


def gains(res: dict[str, Any], key: str = "constrained") -> tuple[list[float], list[float]]:
    """Per seed, N_max minus N = 1: gold helpfulness gain and unsafe-rate change."""
    return ([r["helpful"][-1] - r["helpful"][0] for r in res[key]], [r["unsafe"][-1] - r["unsafe"][0] for r in res[key]])


def table_markdown(res: dict[str, Any]) -> str:
    lines = ["| N | gold helpfulness (cost threshold) | unsafe rate (cost threshold) | gold helpfulness (reward only) | unsafe rate (reward only) |",
             "|---|---|---|---|---|"]
    for i, n in enumerate(res["n_grid"]):
        cells = [ci_text([r[m][i] for r in res[k]], seeds=False) for k in ("constrained", "reward_only")
                 for m in ("helpful", "unsafe")]
        lines.append(f"| {n} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    lines += ["", interval_note([r["helpful"][0] for r in res["constrained"]])]
    return "\n".join(lines)


def verdict(res: dict[str, Any]) -> tuple[str, str]:
    """Shown: with the cost threshold, the paired 95% interval (≥ 2 seeds) of the gold-helpfulness gain from N = 1 to
    N_max lies above 0 and that of the unsafe-rate change is not wholly above 0."""
    dh, du = gains(res)
    text = (f"From N = 1 to N = {res['n_grid'][-1]} under the cost threshold: gold helpfulness {ci_text(dh)}, "
            f"unsafe rate {ci_text(du)} ({res['prompts']} held-out prompts a seed); the reward model orders one "
            f"generator's candidates by gold helpfulness correctly in {ci_text(res['candidate_accuracy'])} of pairs.")
    if len(dh) < 2:
        return "not testable", text
    h, u = side(dh), side(du)
    if h == "above" and u != "above":
        return "shown", text
    if h == "below":
        return "contrary", text
    return ("partly shown" if h == "above" or u == "below" else "not shown"), text


def plot(res: dict[str, Any]) -> Any:
    from ..plotting import figure, legend_outside

    fig, axes = figure(ncols=2, height=3.0)
    for ax, m, label in ((axes[0], "helpful", "gold helpfulness"), (axes[1], "unsafe", "unsafe rate")):
        for key, name, colour in (("constrained", "reward under cost threshold", "C0"), ("reward_only", "reward only", "C1")):
            stats = [mean_ci([r[m][i] for r in res[key]]) for i in range(len(res["n_grid"]))]
            mean = np.array([a for a, _ in stats])
            half = np.array([b or 0 for _, b in stats])
            ax.plot(res["n_grid"], mean, marker="o", color=colour, label=name)
            ax.fill_between(res["n_grid"], mean - half, mean + half, color=colour, alpha=0.2)
        ax.set_xscale("log", base=2)
        ax.set_xlabel("N candidate prompts")
        ax.set_ylabel(label)
    axes[0].set_title("Best-of-N prompt refinement", fontsize=10)
    legend_outside(fig, axes[1])
    return fig


def summary(res: dict[str, Any]) -> str:
    dh, du = gains(res)
    return (f"Gain from N = 1 to N = {res['n_grid'][-1]}: gold helpfulness {format_number(float(np.mean(dh)), 3)}, "
            f"unsafe rate {format_number(float(np.mean(du)), 3)} (means over {len(dh)} seeds).")
