"""The forward-backward loop of the survey's alignment cycle, in a toy: train, red-team for failures,
add them to the training data, retrain, repeat (the survey's red teaming, Section 4.1, feeding back
into forward alignment; Perez et al. 2022, arXiv 2202.03286, for the language-model version).

Inputs x are points of the square [-box, box]^2 (the deployment distribution is uniform on it). An
input is *harmful* when it lies in one of ``regions`` disks placed at random. The system is a small
MLP classifier that should refuse harmful inputs. Its first training set is drawn from a narrow
distribution, N(0, train_std^2 I), so it has seen little of the harmful region. A *failure* is a
harmful deployment input the system does not refuse. Each round the red team draws ``candidates``
deployment inputs, keeps those that are failures (it knows the truth) and adds up to ``budget`` of
them, labelled, to the training set; the system is retrained from scratch. The control adds the same
number of labelled deployment inputs drawn at random instead.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..engine import devices
from ..engine.config import BaseConfig, Count, Natural, Positive, Width, SeedCount
from ..engine.devices import Device
from ..engine.results import TrainResult
from .common import ci_cell, ci_text, table_note, mean_ci, seed_list, side

ARMS = ("red_team", "random")
"""What each round adds: the red team's failures, or as many random deployment inputs."""


@dataclasses.dataclass(frozen=True)
class LoopConfig(BaseConfig):
    """Notebook 06: failure rate by round of the train / red-team / retrain loop."""

    box: Positive = 3.0
    """Half-side of the deployment square."""
    regions: Count = 4
    """Harmful disks."""
    radius: Positive = 0.8
    """Radius of each harmful disk."""
    train_std: Positive = 1.0
    """Std of the first training set's distribution (narrower than deployment)."""
    n_initial: Count = 300
    """Size of the first training set."""
    rounds: Natural = 4
    """Red-teaming rounds after the first training (0: train once)."""
    candidates: Count = 2000
    """Deployment inputs the red team tries per round."""
    budget: Count = 40
    """Inputs added per round (failures found, or random inputs for the control)."""
    hidden: Width = 32
    """Width of the classifier's two hidden layers."""
    steps: Count = 300
    """Adam steps per training (full batch)."""
    lr: Positive = 0.01
    """Adam learning rate."""
    n_eval: Count = 5000
    """Fresh deployment inputs on which failure rates are measured (never shown to the red team)."""
    seeds: SeedCount = 5
    """Independent worlds (disks, data, initialisation)."""
    device: Device = "cpu"
    """Where the classifier trains and is queried (:mod:`alignbook.engine.devices`); gpu and paper: ``cuda``."""

    STEP_OPS = 108
    """Dispatched torch ops of one full-batch Adam step of the classifier, counted on :func:`fit`; 32 more a fit."""

    def work(self):
        """What notebook 06 computes (:mod:`alignbook.engine.estimate`): per seed and arm, a classifier trained from
        scratch for ``steps`` full-batch steps in each of ``rounds`` + 1 rounds, on the first ``n_initial`` inputs
        plus up to ``budget`` more a round (an upper bound), then queried on ``n_eval`` and ``candidates`` inputs."""
        from .common import op_work

        h = self.hidden
        params = 3 * h + h * h + h + h + 1
        fits = self.seeds * 2 * (self.rounds + 1)
        examples = self.seeds * 2 * sum(self.n_initial + r * self.budget for r in range(self.rounds + 1))
        flops = 6.0 * params * self.steps * examples + 2.0 * params * fits * (self.n_eval + self.candidates)
        return op_work(fits * (self.steps * self.STEP_OPS + 32), flops, params,
                       [f"{self.seeds} seeds × 2 arms × {self.rounds + 1} rounds × {self.steps} steps"])


def harmful(x: np.ndarray, centres: np.ndarray, radius: float) -> np.ndarray:
    """True where x lies in one of the disks."""
    return (np.linalg.norm(x[:, None, :] - centres[None], axis=-1) < radius).any(1)


def fit(x: np.ndarray, y: np.ndarray, cfg: LoopConfig, seed: int) -> torch.nn.Module:
    """The system: an MLP trained from scratch with BCE (refuse = logit > 0), on ``cfg.device``."""
    device = devices.resolve(cfg.device)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    net = torch.nn.Sequential(torch.nn.Linear(2, cfg.hidden), torch.nn.Tanh(), torch.nn.Linear(cfg.hidden, cfg.hidden),
                              torch.nn.Tanh(), torch.nn.Linear(cfg.hidden, 1)).to(device)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    xt = torch.from_numpy(x.astype(np.float32)).to(device)
    yt = torch.from_numpy(y.astype(np.float32)).to(device)
    for _ in range(cfg.steps):
        loss = torch.nn.functional.binary_cross_entropy_with_logits(net(xt).squeeze(1), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net


def refuses(net: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """Whether the system refuses each input (computed on the system's device)."""
    device = next(net.parameters()).device
    with torch.no_grad():
        return (net(torch.from_numpy(x.astype(np.float32)).to(device)).squeeze(1) > 0).cpu().numpy()


def rates(net: torch.nn.Module, x: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Failure rate (harmful inputs not refused, over harmful inputs) and over-refusal (harmless refused, over harmless)."""
    r = refuses(net, x)
    return {"failure": float((truth & ~r).sum() / max(truth.sum(), 1)),
            "over_refusal": float((~truth & r).sum() / max((~truth).sum(), 1))}


def red_team(net: torch.nn.Module, cfg: LoopConfig, centres: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Up to ``budget`` failures among ``candidates`` random deployment inputs, and how many failures it found."""
    cand = rng.uniform(-cfg.box, cfg.box, (cfg.candidates, 2))
    fails = cand[harmful(cand, centres, cfg.radius) & ~refuses(net, cand)]
    return fails[: cfg.budget], len(fails)


@dataclasses.dataclass
class LoopResult(TrainResult):
    """One row per (seed, arm, round) in ``history``."""

    missing_hint = "has notebook survey/06_assurance_loop run?"


def run(cfg: LoopConfig) -> LoopResult:
    """Both arms for every seed; saved in ``cfg.run_dir``.

    Each seed is a unit of :func:`alignbook.engine.parallel.map_units` (:func:`loop_seed`) that runs
    both arms in the same world (paired by seed).
    """
    from ..engine.parallel import map_units

    devices.resolve(cfg.device)  # a GPU that is not there is refused before any unit starts
    per_seed = map_units(loop_seed, cfg, seed_list(cfg.seed, cfg.seeds), name="seeds")
    history = [row for rows in per_seed for row in rows]
    result = LoopResult(metrics={}, history=history, checkpoint=None, config=dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


def loop_seed(unit: Any) -> list[dict[str, Any]]:
    """One seed of :func:`run` (``unit.value``): its world, then every round of both arms; one row per (arm, round)."""
    cfg, seed = unit.cfg, unit.value
    world = np.random.default_rng([seed, 0])
    centres = world.uniform(-cfg.box + cfg.radius, cfg.box - cfg.radius, (cfg.regions, 2))
    x_eval = world.uniform(-cfg.box, cfg.box, (cfg.n_eval, 2))
    t_eval = harmful(x_eval, centres, cfg.radius)
    x0 = world.normal(0.0, cfg.train_std, (cfg.n_initial, 2))
    history = []
    for arm in ARMS:
        rng = np.random.default_rng([seed, 1 + ARMS.index(arm)])
        x = x0.copy()
        for rnd in range(cfg.rounds + 1):
            net = fit(x, harmful(x, centres, cfg.radius), cfg, seed)
            row = {"seed": seed, "arm": arm, "round": rnd, "train_size": len(x), **rates(net, x_eval, t_eval)}
            if rnd < cfg.rounds:
                found, n_found = red_team(net, cfg, centres, rng)
                row["failures_found"] = n_found
                add = found if arm == "red_team" else rng.uniform(-cfg.box, cfg.box, (len(found), 2))
                x = np.concatenate([x, add])
            history.append(row)
    return history


def values(result: LoopResult, arm: str, rnd: int, key: str = "failure") -> list[float]:
    """Per-seed values at one round (negative: from the end), in seed order."""
    last = result.config["rounds"]
    rnd = rnd if rnd >= 0 else last + 1 + rnd
    return [h[key] for h in result.history if h["arm"] == arm and h["round"] == rnd]


def verdict(result: LoopResult) -> tuple[str, str]:
    """The loop lowers the failure rate: red-teamed rounds end with fewer failures than the first training.

    Shown when the 95% interval of (failure rate after the last round − after round 0), paired by
    seed, lies below 0; contrary above 0; not shown otherwise; not testable with one seed or no rounds.
    """
    if result.config["rounds"] == 0:
        return "not testable", "No red-teaming round was run."
    d = np.subtract(values(result, "red_team", -1), values(result, "red_team", 0))
    text = (f"failure rate after round 0 {ci_text(values(result, 'red_team', 0))}, after the last round "
            f"{ci_text(values(result, 'red_team', -1))}; change {ci_text(d)}")
    if len(d) < 2:
        return "not testable", f"One seed gives no interval: {text}."
    word = {"below": "shown", "above": "contrary"}.get(side(d), "not shown")
    return word, f"{text}. Criterion: the change's interval below 0."


def control_verdict(result: LoopResult) -> tuple[str, str]:
    """Red-teamed additions lower failures more than as many random ones (the targeted search matters).

    Shown when the 95% interval of (red-team arm − random arm) failure rate after the last round lies
    below 0; contrary above 0; not shown otherwise; not testable with one seed or no rounds.
    """
    if result.config["rounds"] == 0:
        return "not testable", "No red-teaming round was run."
    d = np.subtract(values(result, "red_team", -1), values(result, "random", -1))
    text = (f"failure rate after the last round, red-team arm − random arm: {ci_text(d)} (random arm "
            f"{ci_text(values(result, 'random', -1))})")
    if len(d) < 2:
        return "not testable", f"One seed gives no interval: {text}."
    word = {"below": "shown", "above": "contrary"}.get(side(d), "not shown")
    return word, f"{text}. Criterion: the interval below 0."


def summary_markdown(result: LoopResult) -> str:
    """Failure and over-refusal rate by round for both arms."""
    lines = ["| round | failure rate, red-team arm | failure rate, random arm | over-refusal, red-team arm | over-refusal, random arm |",
             "|---|---|---|---|---|"]
    for rnd in range(result.config["rounds"] + 1):
        cells = [ci_cell(values(result, a, rnd, k)) for k in ("failure", "over_refusal") for a in ARMS]
        lines.append(f"| {rnd} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    return "\n".join(lines) + "\n\n" + table_note(result.config["seeds"])


def plot(result: LoopResult):
    """Failure rate by round, both arms, mean ± 95% CI over seeds."""
    from ..plotting import figure, legend_outside

    rounds = list(range(result.config["rounds"] + 1))
    fig, ax = figure(height=2.8)
    for arm, label in zip(ARMS, ("add the red team's failures", "add as many random inputs (control)")):
        stats = [mean_ci(values(result, arm, r)) for r in rounds]
        ax.errorbar(rounds, [a for a, _ in stats], yerr=[b or 0.0 for _, b in stats], marker="o", capsize=3, label=label)
    ax.set_xlabel("round of the loop (0: first training only)")
    ax.set_ylabel("failure rate (harmful inputs not refused)")
    ax.set_xticks(rounds)
    legend_outside(fig, ax)
    return fig
