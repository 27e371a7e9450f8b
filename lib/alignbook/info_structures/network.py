"""Notebook 01: the induced Bayesian network, with inference distance computed as effective resistance.

For one prompt the network's nodes are responses (and, for a tree, the prefixes inside it). Two kinds
of edge carry information about reward differences, each a Gaussian measurement with a variance:

- a *human-preference* edge between two compared responses, variance ``preference_variance`` (the
  noise of a Bradley-Terry label, linearised);
- an *inductive-bias* edge between a prefix and its one-segment extension, variance ``s_k^2`` for a
  segment at depth ``k`` (how much one more segment can change the reward: the similarity of the two
  texts). A chain response is a path of ``depth`` such segments from the prompt, collapsed into one edge.

The variance of the best linear unbiased estimate of ``r(y1) - r(y2)`` from independent Gaussian edge
measurements is the effective resistance between ``y1`` and ``y2`` when each edge's resistance is its
variance: variances add in series and combine harmonically in parallel. That is the *inference
distance* here. Which variances to give the edges (the *variance profile*) is a modelling choice of
this chapter, not a number from the paper.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from ..engine.config import BaseConfig, ConfigError, Count, Positive, Range, SeedCount
from ..engine.metrics import format_number
from ..engine.results import TrainResult
from .common import paired_bootstrap, seed_list
from .trees import comparison_pairs


@dataclasses.dataclass(frozen=True)
class NetworkConfig(BaseConfig):
    """Notebook 01: mean inference distance of chain and tree datasets of n comparisons."""

    prompts: Count = 4
    """Prompts of the dataset; n comparisons are spread evenly over them."""
    branching: Annotated[int, Range(2, 8)] = 2
    """Children of every node of a prefix tree (the paper's trees fork a response at a few points)."""
    min_log2_n: Annotated[int, Range(2, 20)] = 6
    """Smallest dataset: 2**min_log2_n comparisons."""
    max_log2_n: Annotated[int, Range(2, 20)] = 10
    """Largest dataset: 2**max_log2_n comparisons (the paper-scale grid is 2**8 .. 2**14)."""
    leaves_per_comparison: Annotated[int, Range(1, 8)] = 2
    """Responses per prompt per comparison (2: each response is compared once on average, the limited-data regime)."""
    preference_variance: Positive = 1.0
    """Variance of one human-preference edge (the unit of the figures)."""
    diversities: Annotated[tuple[float, ...], Range(0.0, 1000.0, min_open=True)] = (0.1, 1.0, 10.0)
    """Total inductive-bias variance of a full response path (sum of the segment variances), one per regime: low, matched, high diversity."""
    profile_decay: Annotated[float, Range(0.1, 10.0)] = 1.0
    """rho: the segment at depth k gets variance proportional to rho**k (1: uniform; < 1: early segments matter most)."""
    profile_sweep: Annotated[tuple[float, ...], Range(0.1, 10.0)] = (0.5, 1.0, 2.0)
    """Values of rho tried at the high-diversity regime and the largest n, to show how the answer depends on the profile."""
    seeds: SeedCount = 10
    """Draws of the comparison pairs (shared by chain and tree: paired), seeds seed .. seed + seeds - 1."""
    min_ratio_points: Count = 2
    """'Tree is better' needs the ratio's interval above 1 at at least this many n."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_log2_n < self.min_log2_n:
            raise ConfigError(f"max_log2_n={self.max_log2_n} < min_log2_n={self.min_log2_n}")
        if any(d <= 0 for d in self.diversities) or len(self.diversities) == 0:
            raise ConfigError(f"diversities={self.diversities}: need positive values")
        if any(r <= 0 for r in self.profile_sweep):
            raise ConfigError(f"profile_sweep={self.profile_sweep}: need positive values")


def grounded_inverse(n_nodes: int, edges: np.ndarray, resistance: np.ndarray, ground: int) -> np.ndarray:
    """``G``: the inverse of the weighted Laplacian (conductances ``1/resistance``) grounded at ``ground``, zero-padded."""
    lap = np.zeros((n_nodes, n_nodes))
    c = 1.0 / np.asarray(resistance, float)
    i, j = edges[:, 0], edges[:, 1]
    np.add.at(lap, (i, j), -c)
    np.add.at(lap, (j, i), -c)
    np.add.at(lap, (i, i), c)
    np.add.at(lap, (j, j), c)
    keep = np.array([k for k in range(n_nodes) if k != ground])
    g = np.zeros((n_nodes, n_nodes))
    g[np.ix_(keep, keep)] = np.linalg.inv(lap[np.ix_(keep, keep)])
    return g


def effective_resistances(n_nodes: int, edges: np.ndarray, resistance: np.ndarray, ground: int,
                          probes: np.ndarray) -> np.ndarray:
    """Effective resistance between each probe pair of a connected graph: ``R(i, j) = G_ii + G_jj - 2 G_ij``.

    ``edges`` is ``(E, 2)``, ``resistance`` ``(E,)``; ``G`` is :func:`grounded_inverse` (rows and
    columns of the ground are zero, so a probe may include it).
    """
    g = grounded_inverse(n_nodes, edges, resistance, ground)
    a, b = probes[:, 0], probes[:, 1]
    return g[a, a] + g[b, b] - 2 * g[a, b]


def segment_variances(depth: int, total: float, decay: float) -> np.ndarray:
    """``s_k^2`` for k = 1 .. depth, proportional to decay**k and summing to ``total``."""
    w = decay ** np.arange(depth, dtype=float)
    return total * w / w.sum()


def prompt_graph(topology: str, depth: int, branching: int, seg_var: np.ndarray,
                 pairs: np.ndarray, preference_variance: float) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """One prompt's network: ``(n_nodes, edges, resistances, leaf_ids)``; node 0 is the prompt.

    Tree: a full ``branching``-ary tree of prefixes, edge to depth k with resistance ``seg_var[k-1]``.
    Chain: each of the ``branching ** depth`` responses hangs from the prompt by one edge of resistance
    ``seg_var.sum()`` (its own path of segments, shared with no one). Both get one preference edge per
    compared leaf pair.
    """
    leaves = branching**depth
    edges, res = [], []
    if topology == "tree":
        offsets = [0]
        for level in range(depth + 1):
            offsets.append(offsets[-1] + branching**level)
        for level in range(1, depth + 1):
            for node in range(branching**level):
                edges.append((offsets[level - 1] + node // branching, offsets[level] + node))
                res.append(seg_var[level - 1])
        leaf_ids = np.arange(offsets[depth], offsets[depth] + leaves)
        n_nodes = offsets[depth + 1]
    elif topology == "chain":
        leaf_ids = np.arange(1, leaves + 1)
        edges = [(0, int(k)) for k in leaf_ids]
        res = [float(seg_var.sum())] * leaves
        n_nodes = leaves + 1
    else:
        raise ValueError(f"topology={topology!r}: expected 'tree' or 'chain'")
    for a, b in pairs:
        edges.append((int(leaf_ids[a]), int(leaf_ids[b])))
        res.append(preference_variance)
    return n_nodes, np.array(edges), np.array(res, float), leaf_ids


def mean_inference_distance(topology: str, depth: int, branching: int, seg_var: np.ndarray,
                            pairs: np.ndarray, preference_variance: float) -> float:
    """Mean effective resistance over every pair of the prompt's leaves (the fixed probe set)."""
    n_nodes, edges, res, leaf_ids = prompt_graph(topology, depth, branching, seg_var, pairs, preference_variance)
    g = grounded_inverse(n_nodes, edges, res, 0)[np.ix_(leaf_ids, leaf_ids)]
    n = len(leaf_ids)
    # sum over i < j of (G_ii + G_jj - 2 G_ij) = n tr(G) - sum(G)
    return float((n * np.trace(g) - g.sum()) / (n * (n - 1) / 2))


def grid(cfg: NetworkConfig) -> list[tuple[int, int, int]]:
    """``(n, comparisons per prompt, tree depth)`` for each n; leaves per prompt = branching**depth >= leaves_per_comparison * m."""
    out = []
    for j in range(cfg.min_log2_n, cfg.max_log2_n + 1):
        n = 2**j
        m = max(1, n // cfg.prompts)
        depth = max(1, int(np.ceil(np.log(cfg.leaves_per_comparison * m) / np.log(cfg.branching) - 1e-9)))
        while m > (cfg.branching**depth) * (cfg.branching**depth - 1) // 2:
            depth += 1
        out.append((n, m, depth))
    return out


def one(cfg: NetworkConfig, seed: int, m: int, depth: int, total: float, decay: float) -> tuple[float, float]:
    """(chain, tree) mean inference distance over the prompts, for one seed (pairs shared by both)."""
    rng = np.random.default_rng([seed, m, depth])
    sv = segment_variances(depth, total, decay)
    chain, tree = [], []
    for _ in range(cfg.prompts):
        pairs = comparison_pairs(rng, cfg.branching**depth, m)
        chain.append(mean_inference_distance("chain", depth, cfg.branching, sv, pairs, cfg.preference_variance))
        tree.append(mean_inference_distance("tree", depth, cfg.branching, sv, pairs, cfg.preference_variance))
    return float(np.mean(chain)), float(np.mean(tree))


@dataclasses.dataclass
class NetworkResult(TrainResult):
    """history: one row per (regime, n, seed) and per profile-sweep point."""

    missing_hint = "has notebook info-structures/01_network run?"


def run(cfg: NetworkConfig) -> NetworkResult:
    """Both sweeps, every point and seed; saved in ``cfg.run_dir``.

    Each (sweep point, seed) is a unit of :func:`alignbook.engine.parallel.map_units`
    (:func:`network_unit`) that measures chain and tree on the same comparison pairs (paired). NumPy
    only: no device.
    """
    from ..engine.parallel import map_units

    g = grid(cfg)
    units = [{"sweep": "regime", "diversity": total, "decay": cfg.profile_decay, "point": i, "seed": s}
             for total in cfg.diversities for i in range(len(g)) for s in seed_list(cfg.seed, cfg.seeds)]
    units += [{"sweep": "profile", "diversity": max(cfg.diversities), "decay": decay, "point": len(g) - 1, "seed": s}
              for decay in cfg.profile_sweep for s in seed_list(cfg.seed, cfg.seeds)]
    history = map_units(network_unit, cfg, units, name="points")
    result = NetworkResult(metrics={"grid": g}, history=history, checkpoint=None, config=dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


def network_unit(unit: Any) -> dict[str, Any]:
    """One history row of :func:`run`: chain and tree mean inference distance at one sweep point and seed."""
    cfg, u = unit.cfg, unit.value
    n, m, depth = grid(cfg)[u["point"]]
    c, t = one(cfg, u["seed"], m, depth, u["diversity"], u["decay"])
    return {"sweep": u["sweep"], "diversity": u["diversity"], "decay": u["decay"], "n": n, "m": m, "depth": depth,
            "seed": u["seed"], "chain": c, "tree": t}


def ratio_of_means(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(a) / np.mean(b))


def ratios(result: TrainResult, sweep: str = "regime") -> list[dict[str, Any]]:
    """Per (diversity, decay, n): chain/tree ratio of mean inference distances with a paired-bootstrap 95% interval over seeds."""
    rows = [h for h in result.history if h["sweep"] == sweep]
    keys = sorted({(h["diversity"], h["decay"], h["n"]) for h in rows})
    out = []
    for d, rho, n in keys:
        sel = [h for h in rows if (h["diversity"], h["decay"], h["n"]) == (d, rho, n)]
        c = np.array([h["chain"] for h in sel])
        t = np.array([h["tree"] for h in sel])
        value, low, high = paired_bootstrap(c, t, ratio_of_means) if len(sel) > 1 else (ratio_of_means(c, t), float("nan"), float("nan"))
        out.append({"diversity": d, "decay": rho, "n": n, "depth": sel[0]["depth"], "chain": float(c.mean()),
                    "tree": float(t.mean()), "ratio": value, "low": low, "high": high, "seeds": len(sel)})
    return out


def summary_markdown(result: TrainResult) -> str:
    lines = ["| diversity | n | tree depth | chain | tree | chain / tree (95% CI) |", "|---|---|---|---|---|---|"]
    for r in ratios(result):
        ci = "" if not np.isfinite(r["low"]) else f" [{format_number(r['low'], 3)}, {format_number(r['high'], 3)}]"
        lines.append(f"| {format_number(r['diversity'], 3)} | {r['n']} | {r['depth']} | {format_number(r['chain'], 3)} | "
                     f"{format_number(r['tree'], 3)} | {format_number(r['ratio'], 3)}{ci} |")
    return "\n".join(lines)


def profile_markdown(result: TrainResult) -> str:
    lines = ["| rho (profile) | n | chain | tree | chain / tree (95% CI) |", "|---|---|---|---|---|"]
    for r in ratios(result, "profile"):
        ci = "" if not np.isfinite(r["low"]) else f" [{format_number(r['low'], 3)}, {format_number(r['high'], 3)}]"
        lines.append(f"| {format_number(r['decay'], 3)} | {r['n']} | {format_number(r['chain'], 3)} | "
                     f"{format_number(r['tree'], 3)} | {format_number(r['ratio'], 3)}{ci} |")
    return "\n".join(lines)


def verdict_high(result: TrainResult, min_points: int) -> tuple[str, str]:
    """Tree reduces inference distance in the high-diversity regime.

    Shown when, at the largest diversity, the paired-bootstrap 95% interval of chain/tree lies above 1
    at at least ``min_points`` values of n and the ratio at the largest n is not below the ratio at the
    smallest (the advantage does not vanish with n in this range). Not testable with fewer than 3 seeds.
    """
    rows = [r for r in ratios(result) if r["diversity"] == max(h["diversity"] for h in result.history)]
    if rows[0]["seeds"] < 3:
        return "not testable", f"{rows[0]['seeds']} seeds: too few for a bootstrap interval over seeds (at least 3)."
    above = [r for r in rows if r["low"] > 1]
    text = (f"At diversity {format_number(rows[0]['diversity'], 3)} the chain/tree ratio's 95% interval lies above 1 at "
            f"{len(above)} of {len(rows)} n (needed {min_points}); ratio {format_number(rows[0]['ratio'], 3)} at n = {rows[0]['n']} "
            f"and {format_number(rows[-1]['ratio'], 3)} at n = {rows[-1]['n']} ({rows[0]['seeds']} paired seeds).")
    if len(above) >= min_points and rows[-1]["ratio"] >= rows[0]["ratio"]:
        return "shown", text
    if all(r["high"] < 1 for r in rows):
        return "contrary", text
    return "not shown", text


def verdict_low(result: TrainResult, tolerance: float = 0.1) -> tuple[str, str]:
    """No advantage in the low-diversity regime: the interval of chain/tree at the smallest diversity lies within 1 ± tolerance at every n."""
    rows = [r for r in ratios(result) if r["diversity"] == min(h["diversity"] for h in result.history)]
    if rows[0]["seeds"] < 3:
        return "not testable", f"{rows[0]['seeds']} seeds: too few for a bootstrap interval over seeds (at least 3)."
    inside = [r for r in rows if r["low"] >= 1 - tolerance and r["high"] <= 1 + tolerance]
    worst = max(rows, key=lambda r: abs(r["ratio"] - 1))
    text = (f"At diversity {format_number(rows[0]['diversity'], 3)} the ratio's interval lies within 1 ± {format_number(tolerance, 2)} "
            f"at {len(inside)} of {len(rows)} n; farthest from 1: {format_number(worst['ratio'], 3)} at n = {worst['n']} "
            f"({rows[0]['seeds']} paired seeds).")
    return ("shown" if len(inside) == len(rows) else "not shown"), text


def plot(result: TrainResult) -> Any:
    from ..plotting import figure, legend_outside

    fig, axes = figure(ncols=2)
    for d in sorted({r["diversity"] for r in ratios(result)}):
        rows = [r for r in ratios(result) if r["diversity"] == d]
        ns = [r["n"] for r in rows]
        axes[0].plot(ns, [r["ratio"] for r in rows], marker="o", label=f"diversity {format_number(d, 3)}")
        if np.isfinite(rows[0]["low"]):
            axes[0].fill_between(ns, [r["low"] for r in rows], [r["high"] for r in rows], alpha=0.2)
    axes[0].axhline(1.0, color="grey", lw=0.8, ls="--")
    axes[0].set_xscale("log", base=2)
    axes[0].set_xlabel("comparisons n")
    axes[0].set_ylabel("inference distance, chain / tree")
    axes[0].set_title("Tree advantage by regime")
    prof = ratios(result, "profile")
    axes[1].bar([format_number(r["decay"], 3) for r in prof], [r["ratio"] for r in prof], color="C3")
    axes[1].axhline(1.0, color="grey", lw=0.8, ls="--")
    axes[1].set_xlabel("profile rho (segment k variance ∝ rho^k)")
    axes[1].set_ylabel("chain / tree at the largest n")
    axes[1].set_title("Dependence on the variance profile")
    legend_outside(fig, axes[0])
    return fig
