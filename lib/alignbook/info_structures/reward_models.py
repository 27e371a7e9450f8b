"""Notebook 02: learned reward models from chain and tree data on a synthetic world with a known gold reward.

A prompt is a context vector ``c ~ N(0, I_q)``; a response is ``depth`` segments, each one of
``vocab`` tokens. The gold reward is *not additive* over segments::

    gold(c, y) = sum_k <A_k c, E[y_k]> + gamma * sum_k B[y_k, y_{k+1}]

(a context-dependent value per segment plus an interaction between consecutive segments), scaled to unit
standard deviation. Preference labels are Bradley-Terry on the gold reward. The reward model is a small
MLP shared across prompts (its inductive bias: similar inputs get similar scores) on ``[c, one-hot(y)]``.
Chain and tree datasets have the same prompts, the same number of responses per prompt and the same
comparison index pairs (:mod:`.trees`); they differ only in whether responses share prefixes.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch

from ..engine import devices
from ..engine.config import BaseConfig, ConfigError, Count, NonNegative, Positive, Range, Width, SeedCount
from ..engine.metrics import format_number
from ..engine.devices import Device
from ..engine.results import TrainResult
from ..lm.runtime import torch_threads
from .common import ci_text, mean_ci, paired_bootstrap, seed_list, side
from .trees import chain, comparison_pairs, prefix_tree

TOPOLOGIES = ("chain", "tree")


@dataclasses.dataclass(frozen=True)
class RewardModelConfig(BaseConfig):
    """Notebook 02: chain- against tree-trained reward models, paired over seeds."""

    context_dim: Annotated[int, Range(1, 64)] = 4
    """q: dimension of a prompt's context vector."""
    depth: Annotated[int, Range(2, 8)] = 4
    """Segments per response (= depth of the prefix tree)."""
    vocab: Annotated[int, Range(2, 64)] = 8
    """Tokens a segment can take."""
    branching: Annotated[int, Range(2, 8)] = 2
    """Children per tree node; leaves per prompt = branching**depth (the chain gets as many independent responses)."""
    interaction: NonNegative = 1.0
    """gamma: weight of the consecutive-segment interaction (0 makes the gold reward additive over segments)."""
    comparisons_per_prompt: Count = 8
    """m: compared leaf pairs per prompt (both topologies, the same index pairs)."""
    prompt_grid: Annotated[tuple[int, ...], Range(1, 100000)] = (32, 128, 512)
    """Training prompts; n = prompts * m comparisons at each point."""
    label_beta: Positive = 2.0
    """P(a preferred to b) = sigmoid(beta (gold(a) - gold(b))) on the unit-scaled gold reward."""
    hidden: Width = 64
    """Hidden width of the reward model's MLP."""
    steps: Count = 200
    """Full-batch Adam steps of the Bradley-Terry fit."""
    lr: Positive = 1e-2
    """Adam learning rate."""
    weight_decay: NonNegative = 1e-2
    """AdamW decoupled weight decay of the reward model (chosen so the fit does not reach zero loss on noisy labels)."""
    probe_prompts: Count = 64
    """Held-out prompts of the fixed probe set."""
    probe_pairs: Count = 8
    """Far pairs (independent responses) and near pairs (sharing depth/2 leading segments) per probe prompt."""
    max_n_bon: Annotated[int, Range(1, 1024)] = 64
    """Largest N of best-of-N; the grid is 1, 2, 4, ... up to it."""
    seeds: SeedCount = 10
    """Paired seeds (labels, pairs, tree tokens, initialisation); the world and probes are fixed by world_seed."""
    world_seed: Annotated[int, Range(0, 2**31 - 1)] = 1234
    """Seed of the gold reward and of the probe set (fixed across runs)."""
    min_ratio_points: Count = 2
    """'Tree is better' needs the variance ratio's interval above 1 at at least this many n."""
    device: Device = "cpu"
    """Where the reward models train and score the probes (:mod:`alignbook.engine.devices`); gpu and paper: ``cuda``."""

    def work(self):
        """What notebook 2 computes (:mod:`alignbook.engine.estimate`): for every prompt count × seed, a chain and
        a tree reward model (an MLP, :func:`make_rm`) fitted by ``steps`` full-batch Adam steps on both sides of
        ``prompts × comparisons_per_prompt`` pairs, then scoring the probe prompts' best-of-N candidates and
        far and near pairs once. Each step costs its overhead (:data:`alignbook.engine.estimate.STEP_OVERHEAD_S`)
        far more than its FLOPs; drawing the data (NumPy) is not counted."""
        from ..engine.estimate import Work, STEP_OVERHEAD_S, infer_flops, train_flops

        d = self.context_dim + self.depth * self.vocab
        params = d * self.hidden + self.hidden + self.hidden * self.hidden + self.hidden + self.hidden + 1
        fits = 2 * len(self.prompt_grid) * self.seeds
        examples = 2 * self.seeds * sum(2 * p * self.comparisons_per_prompt for p in self.prompt_grid) * self.steps
        probes = fits * self.probe_prompts * (self.max_n_bon + 4 * self.probe_pairs)
        steps = fits * self.steps
        return Work(train_flops=train_flops(params, examples) + infer_flops(params, probes), resident_params=params,
                    trainable_params=params, other_seconds=steps * STEP_OVERHEAD_S, precision="fp32",
                    activation_bytes=4.0 * 2 * 2 * max(self.prompt_grid) * self.comparisons_per_prompt * (d + 2 * self.hidden),
                    notes=[f"{len(self.prompt_grid)} prompt counts × {self.seeds} seeds × 2 topologies × {self.steps} "
                           f"full-batch steps (an MLP of {params} weights, 6 FLOPs a weight and example); {steps} steps "
                           f"at {STEP_OVERHEAD_S * 1000:g} ms of overhead each, fp32"])

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.branching > self.vocab:
            raise ConfigError(f"branching={self.branching} > vocab={self.vocab}: siblings need distinct tokens")
        leaves = self.branching**self.depth
        if self.comparisons_per_prompt > leaves * (leaves - 1) // 2:
            raise ConfigError(f"comparisons_per_prompt={self.comparisons_per_prompt}: only {leaves * (leaves - 1) // 2} leaf pairs")
        if not self.prompt_grid or min(self.prompt_grid) < 1:
            raise ConfigError(f"prompt_grid={self.prompt_grid}: need positive prompt counts")


@dataclasses.dataclass
class World:
    """The gold reward's parameters."""

    a: np.ndarray  # (depth, vocab_dim, q)
    e: np.ndarray  # (vocab, vocab_dim)
    b: np.ndarray  # (vocab, vocab)
    interaction: float
    scale: float = 1.0


def make_world(cfg: RewardModelConfig) -> World:
    rng = np.random.default_rng(cfg.world_seed)
    w = World(a=rng.standard_normal((cfg.depth, 8, cfg.context_dim)) / np.sqrt(8 * cfg.context_dim),
              e=rng.standard_normal((cfg.vocab, 8)), b=rng.standard_normal((cfg.vocab, cfg.vocab)),
              interaction=cfg.interaction)
    c = rng.standard_normal((2000, cfg.context_dim))
    y = rng.integers(0, cfg.vocab, (2000, cfg.depth))
    w.scale = float(np.std(gold(w, c, y)))
    return w


def gold(world: World, c: np.ndarray, y: np.ndarray) -> np.ndarray:
    """gold(c, y) for contexts ``(..., q)`` and responses ``(..., depth)`` (broadcast), in units of its std."""
    emb = world.e[y]  # (..., depth, 8)
    proj = np.einsum("kdq,...q->...kd", world.a, c)
    additive = (proj * emb).sum(-1).sum(-1)
    inter = world.b[y[..., :-1], y[..., 1:]].sum(-1)
    return (additive + world.interaction * inter) / world.scale


def features(cfg: RewardModelConfig, c: np.ndarray, y: np.ndarray, device: Any = "cpu") -> torch.Tensor:
    """``[c, one-hot(y_1), ..., one-hot(y_depth)]`` as float32, on ``device``."""
    onehot = np.eye(cfg.vocab)[y].reshape(*y.shape[:-1], cfg.depth * cfg.vocab)
    c = np.broadcast_to(c, (*y.shape[:-1], c.shape[-1]))
    return torch.tensor(np.concatenate([c, onehot], -1), dtype=torch.float32).to(device)


def make_rm(cfg: RewardModelConfig) -> torch.nn.Module:
    return torch.nn.Sequential(torch.nn.Linear(cfg.context_dim + cfg.depth * cfg.vocab, cfg.hidden), torch.nn.ReLU(),
                               torch.nn.Linear(cfg.hidden, cfg.hidden), torch.nn.ReLU(), torch.nn.Linear(cfg.hidden, 1))


def dataset(cfg: RewardModelConfig, world: World, prompts: int, rng: np.random.Generator) -> dict[str, Any]:
    """Both topologies on the same contexts and comparison index pairs, labelled by Bradley-Terry on gold.

    Returns ``{"c": (P, q), "pairs": (P, m, 2), "chain": (P, L, depth), "tree": (P, L, depth),
    "labels_chain"/"labels_tree": (P, m)}`` with label 1 when the first of the pair is preferred.
    """
    leaves = cfg.branching**cfg.depth
    c = rng.standard_normal((prompts, cfg.context_dim))
    out: dict[str, Any] = {"c": c}
    out["pairs"] = np.stack([comparison_pairs(rng, leaves, cfg.comparisons_per_prompt) for _ in range(prompts)])
    out["tree"] = np.stack([prefix_tree(rng, cfg.depth, cfg.branching, cfg.vocab) for _ in range(prompts)])
    out["chain"] = np.stack([chain(rng, leaves, cfg.depth, cfg.vocab) for _ in range(prompts)])
    u = rng.random((prompts, cfg.comparisons_per_prompt))  # the same uniforms for both: paired label noise
    for topo in TOPOLOGIES:
        y = out[topo]
        g = gold(world, c[:, None, :], y)  # (P, L)
        ga = np.take_along_axis(g, out["pairs"][..., 0], 1)
        gb = np.take_along_axis(g, out["pairs"][..., 1], 1)
        out[f"labels_{topo}"] = (u < 1 / (1 + np.exp(-cfg.label_beta * (ga - gb)))).astype(np.float32)
    return out


def fit(cfg: RewardModelConfig, data: dict[str, Any], topology: str, seed: int) -> tuple[torch.nn.Module, list[float]]:
    """Bradley-Terry fit of the MLP on one topology's comparisons, on ``cfg.device``; returns the model and its loss per step."""
    device = devices.resolve(cfg.device)
    y = data[topology]
    pairs = data["pairs"]
    ya = np.take_along_axis(y, pairs[..., :1].repeat(cfg.depth, -1), 1)  # (P, m, depth)
    yb = np.take_along_axis(y, pairs[..., 1:].repeat(cfg.depth, -1), 1)
    c = data["c"][:, None, :]
    xa = features(cfg, c, ya, device).reshape(-1, cfg.context_dim + cfg.depth * cfg.vocab)
    xb = features(cfg, c, yb, device).reshape(-1, cfg.context_dim + cfg.depth * cfg.vocab)
    lab = torch.tensor(data[f"labels_{topology}"].reshape(-1)).to(device)
    with torch_threads(1):
        torch.manual_seed(seed)
        model = make_rm(cfg).to(device)
        opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        losses = []
        for _ in range(cfg.steps):
            margin = (model(xa) - model(xb)).squeeze(-1)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(margin, lab)
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
    return model, losses


def probes(cfg: RewardModelConfig, world: World) -> dict[str, Any]:
    """The fixed probe set (from world_seed): far and near pairs on held-out prompts, and best-of-N candidates."""
    rng = np.random.default_rng([cfg.world_seed, 1])
    q, k = cfg.probe_prompts, cfg.probe_pairs
    c = rng.standard_normal((q, cfg.context_dim))
    far_a = rng.integers(0, cfg.vocab, (q, k, cfg.depth))
    far_b = rng.integers(0, cfg.vocab, (q, k, cfg.depth))
    near_a = rng.integers(0, cfg.vocab, (q, k, cfg.depth))
    near_b = rng.integers(0, cfg.vocab, (q, k, cfg.depth))
    h = cfg.depth // 2
    near_b[..., :h] = near_a[..., :h]
    same = (near_a == near_b).all(-1)
    near_b[..., -1] = np.where(same, (near_a[..., -1] + 1) % cfg.vocab, near_b[..., -1])
    bon = rng.integers(0, cfg.vocab, (q, cfg.max_n_bon, cfg.depth))
    return {"c": c, "far": (far_a, far_b), "near": (near_a, near_b), "bon": bon}


def n_grid(cfg: RewardModelConfig) -> list[int]:
    out, n = [], 1
    while n <= cfg.max_n_bon:
        out.append(n)
        n *= 2
    return out


def evaluate(cfg: RewardModelConfig, world: World, model: torch.nn.Module, pr: dict[str, Any]) -> dict[str, Any]:
    """Accuracy on far and near pairs, standardised probe score differences, best-of-N gold."""
    c = pr["c"][:, None, :]
    device = next(model.parameters()).device
    out: dict[str, Any] = {}
    with torch.no_grad(), torch_threads(1):
        def score(y):
            return model(features(cfg, c, y, device)).squeeze(-1).cpu().numpy()
        sb = score(pr["bon"])
        std = float(sb.std()) or 1.0
        for kind in ("far", "near"):
            a, b = pr[kind]
            d = score(a) - score(b)
            g = gold(world, c, a) - gold(world, c, b)
            out[f"acc_{kind}"] = float((np.sign(d) == np.sign(g)).mean())
            out[f"diff_{kind}"] = (d / std).reshape(-1).tolist()
    gb = gold(world, c, pr["bon"])
    for n in n_grid(cfg):
        pick = sb[:, :n].argmax(1)
        out[f"bon_{n}"] = float(gb[np.arange(len(gb)), pick].mean())
    out["bon_oracle"] = float(gb.max(1).mean())
    return out


@dataclasses.dataclass
class RewardModelResult(TrainResult):
    """history: one row per (prompts, seed, topology) with its probe metrics."""

    missing_hint = "has notebook info-structures/02_reward_models run?"


def run(cfg: RewardModelConfig) -> RewardModelResult:
    """Every point of the prompt grid and seed; saved in ``cfg.run_dir``.

    Each (prompts, seed) is a unit of :func:`alignbook.engine.parallel.map_units` (:func:`rm_unit`)
    that trains the chain and the tree reward model on the same prompts, pairs and label noise (paired).
    """
    from ..engine.parallel import map_units

    devices.resolve(cfg.device)  # a GPU that is not there is refused before any unit starts
    units = [[prompts, s] for prompts in cfg.prompt_grid for s in seed_list(cfg.seed, cfg.seeds)]
    history = [row for rows in map_units(rm_unit, cfg, units, name="fits") for row in rows]
    result = RewardModelResult(metrics={"n_grid": [p * cfg.comparisons_per_prompt for p in cfg.prompt_grid],
                                        "bon_grid": n_grid(cfg)},
                               history=history, checkpoint=None, config=dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


def rm_unit(unit: Any) -> list[dict[str, Any]]:
    """One (prompts, seed) of :func:`run` (``unit.value``): its data set, both topologies' fits and probe metrics."""
    cfg, (prompts, s) = unit.cfg, unit.value
    world = make_world(cfg)
    pr = probes(cfg, world)
    data = dataset(cfg, world, prompts, np.random.default_rng([s, prompts]))
    rows = []
    for topo in TOPOLOGIES:
        model, losses = fit(cfg, data, topo, s)
        ev = evaluate(cfg, world, model, pr)
        rows.append({"prompts": prompts, "n": prompts * cfg.comparisons_per_prompt, "seed": s,
                     "topology": topo, "final_loss": losses[-1], "first_loss": losses[0], **ev})
    return rows


def _rows(result: TrainResult, n: int, topo: str) -> list[dict[str, Any]]:
    return sorted([h for h in result.history if h["n"] == n and h["topology"] == topo], key=lambda h: h["seed"])


def seed_variance(rows: list[dict[str, Any]], kind: str) -> float:
    """Mean over probe pairs of the across-seed variance of the standardised score difference."""
    d = np.array([r[f"diff_{kind}"] for r in rows])
    return float(d.var(0, ddof=1).mean())


def _var_ratio(c_rows, t_rows, kind):
    c = np.array([r[f"diff_{kind}"] for r in c_rows])
    t = np.array([r[f"diff_{kind}"] for r in t_rows])
    return paired_bootstrap(c, t, lambda a, b: float(a.var(0, ddof=1).mean() / max(b.var(0, ddof=1).mean(), 1e-12)))


def table(result: TrainResult) -> list[dict[str, Any]]:
    """Per n: variance ratio chain/tree (far and near pairs, bootstrap 95% CI), paired accuracy and best-of-N differences."""
    out = []
    nmax = max(result.metrics["bon_grid"])
    for n in result.metrics["n_grid"]:
        c, t = _rows(result, n, "chain"), _rows(result, n, "tree")
        row: dict[str, Any] = {"n": n, "seeds": len(c)}
        for kind in ("far", "near"):
            row[f"ratio_{kind}"] = _var_ratio(c, t, kind) if len(c) > 1 else (float("nan"),) * 3
            row[f"acc_{kind}_chain"] = [r[f"acc_{kind}"] for r in c]
            row[f"acc_{kind}_tree"] = [r[f"acc_{kind}"] for r in t]
            row[f"acc_{kind}_gain"] = list(np.subtract(row[f"acc_{kind}_tree"], row[f"acc_{kind}_chain"]))
        row["bon_chain"] = [r[f"bon_{nmax}"] for r in c]
        row["bon_tree"] = [r[f"bon_{nmax}"] for r in t]
        row["bon_gain"] = list(np.subtract(row["bon_tree"], row["bon_chain"]))
        out.append(row)
    return out


def summary_markdown(result: TrainResult) -> str:
    nmax = max(result.metrics["bon_grid"])
    lines = ["| n | variance ratio chain/tree, far (95% CI) | near | accuracy far, chain / tree | near, chain / tree | "
             f"best-of-{nmax} gold, chain / tree |", "|---|---|---|---|---|---|"]
    for r in table(result):
        def rr(x):
            v, lo, hi = x
            return format_number(v, 3) + ("" if not np.isfinite(lo) else f" [{format_number(lo, 3)}, {format_number(hi, 3)}]")
        def pair(a, b):
            return f"{format_number(mean_ci(a)[0], 3)} / {format_number(mean_ci(b)[0], 3)}"
        lines.append(f"| {r['n']} | {rr(r['ratio_far'])} | {rr(r['ratio_near'])} | {pair(r['acc_far_chain'], r['acc_far_tree'])} | "
                     f"{pair(r['acc_near_chain'], r['acc_near_tree'])} | {pair(r['bon_chain'], r['bon_tree'])} |")
    lines.append("")
    lines.append(f"Means over {table(result)[0]['seeds']} paired seeds; the per-seed differences and their intervals are in the verdict.")
    return "\n".join(lines)


def _at_n(ns: list[int]) -> str:
    """``n = 256, 1024`` or ``no n``."""
    return "n = " + ", ".join(str(n) for n in ns) if ns else "no n"


def verdict(result: TrainResult, min_points: int) -> tuple[str, str]:
    """Tree RM better: variance ratio (far pairs) interval above 1 at >= ``min_points`` n, AND at every n the
    paired 95% intervals of tree − chain accuracy (far and near) and best-of-N_max gold are not wholly below 0.

    Contrary when the ratio's interval lies below 1 at >= ``min_points`` n or some accuracy/gold interval is
    wholly below 0 while the variance ratio is above 1 (lower variance bought with worse ranking). Not testable with < 3 seeds.
    """
    rows = table(result)
    if rows[0]["seeds"] < 3:
        return "not testable", f"{rows[0]['seeds']} seeds: too few for a variance across seeds with a bootstrap interval (at least 3)."
    above = [r["n"] for r in rows if r["ratio_far"][1] > 1]
    below = [r["n"] for r in rows if r["ratio_far"][2] < 1]
    worse = [(r["n"], key) for r in rows for key in ("acc_far_gain", "acc_near_gain", "bon_gain") if side(r[key]) == "below"]
    better = [(r["n"], key) for r in rows for key in ("acc_far_gain", "acc_near_gain", "bon_gain") if side(r[key]) == "above"]
    last = rows[-1]
    text = (f"Variance ratio (far pairs) wholly above 1 at {_at_n(above)} (at least {min_points} needed), wholly below 1 at {_at_n(below)}; "
            f"tree − chain at n = {last['n']}: accuracy far {ci_text(last['acc_far_gain'])}, near {ci_text(last['acc_near_gain'])}, "
            f"best-of-N gold {ci_text(last['bon_gain'])}; intervals wholly below 0 (tree worse): {len(worse)}, wholly above 0: {len(better)} "
            f"of {3 * len(rows)}.")
    if len(above) >= min_points and not worse:
        return "shown", text
    if len(below) >= min_points or (worse and len(above) >= 1):
        return "contrary", text
    return "not shown", text


def bon_verdict(result: TrainResult) -> tuple[str, str]:
    """Tree RM keeps improving with N while chain saturates: at the largest n, the paired 95% interval of
    [gold(N_max) − gold(N_max/4)] tree minus chain lies above 0. Contrary when below 0."""
    grid = result.metrics["bon_grid"]
    if len(grid) < 3:
        return "not testable", "The best-of-N grid is too short to compare late gains."
    n = max(result.metrics["n_grid"])
    c, t = _rows(result, n, "chain"), _rows(result, n, "tree")
    hi, lo = grid[-1], grid[-3]
    gain = [(tt[f"bon_{hi}"] - tt[f"bon_{lo}"]) - (cc[f"bon_{hi}"] - cc[f"bon_{lo}"]) for cc, tt in zip(c, t)]
    text = (f"At n = {n}, late best-of-N gain (N = {lo} → {hi}) tree minus chain: {ci_text(gain)}; chain's own late gain "
            f"{ci_text([cc[f'bon_{hi}'] - cc[f'bon_{lo}'] for cc in c])}.")
    where = side(gain)
    if where == "unknown":
        return "not testable", text
    return {"above": "shown", "below": "contrary"}.get(where, "not shown"), text


def late_gain(result: TrainResult) -> list[float]:
    grid = result.metrics["bon_grid"]
    n = max(result.metrics["n_grid"])
    c, t = _rows(result, n, "chain"), _rows(result, n, "tree")
    hi, lo = grid[-1], grid[max(0, len(grid) - 3)]
    return [(tt[f"bon_{hi}"] - tt[f"bon_{lo}"]) - (cc[f"bon_{hi}"] - cc[f"bon_{lo}"]) for cc, tt in zip(c, t)]


def plot(result: TrainResult) -> Any:
    from ..plotting import figure, legend_outside

    fig, axes = figure(ncols=2)
    rows = table(result)
    ns = [r["n"] for r in rows]
    for kind, color in (("far", "C0"), ("near", "C1")):
        v = [r[f"ratio_{kind}"] for r in rows]
        axes[0].plot(ns, [x[0] for x in v], marker="o", color=color, label=f"variance ratio, {kind} pairs")
        if np.isfinite(v[0][1]):
            axes[0].fill_between(ns, [x[1] for x in v], [x[2] for x in v], color=color, alpha=0.2)
    axes[0].axhline(1.0, color="grey", ls="--", lw=0.8)
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("comparisons n")
    axes[0].set_ylabel("seed variance, chain / tree")
    axes[0].set_title("Variance of standardised score differences")
    grid = result.metrics["bon_grid"]
    n = max(result.metrics["n_grid"])
    for topo, color in (("chain", "C2"), ("tree", "C3")):
        rs = _rows(result, n, topo)
        m = [mean_ci([r[f"bon_{k}"] for r in rs]) for k in grid]
        axes[1].plot(grid, [x[0] for x in m], marker="o", color=color, label=f"{topo} RM")
        if m[0][1] is not None:
            axes[1].fill_between(grid, [x[0] - x[1] for x in m], [x[0] + x[1] for x in m], color=color, alpha=0.2)
    axes[1].set_xscale("log", base=2)
    axes[1].set_xlabel("best-of-N")
    axes[1].set_ylabel("gold reward of the pick (std units)")
    axes[1].set_title(f"Best-of-N at n = {n}")
    legend_outside(fig, ncol=2)
    return fig
