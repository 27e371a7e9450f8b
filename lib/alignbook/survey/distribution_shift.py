"""Learning under distribution shift: ERM, group DRO (Sagawa et al. 2020, arXiv 1911.08731) and V-REx
(Krueger et al. 2021, arXiv 2003.00688) on a spurious-correlation toy (Waterbirds-like).

Label y = ±1. A *core* feature x_c ~ N(y mu_c, 1) causes nothing but is what we want used; a
*spurious* feature x_s ~ N(a mu_s, 1) follows an attribute a that equals y with probability rho
(the spurious correlation), plus ``noise_dims`` pure-noise features. Groups are the four (y, a)
pairs. Training data come from two environments with rho = rho_train and rho_train2 (REx needs
environments; ERM and group DRO see the pooled data and, for group DRO, the group labels). Test data
have rho = 0.5 (no correlation); the worst-group accuracy is the smallest of the four groups'.
The model is logistic regression, trained full batch with Adam.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch

from ..engine import devices
from ..engine.config import BaseConfig, Count, Fraction, NonNegative, Positive, Range, SeedCount
from ..engine.devices import Device
from ..engine.results import TrainResult
from .common import ci_cell, ci_text, table_note, mean_ci, seed_list, side

METHODS = ("erm", "group_dro", "vrex")
"""Training objectives compared."""


@dataclasses.dataclass(frozen=True)
class ShiftConfig(BaseConfig):
    """Notebook 05: worst-group and average test accuracy of ERM, group DRO and V-REx."""

    n_train: Count = 2000
    """Training examples per environment."""
    n_test: Count = 4000
    """Test examples (rho = 0.5)."""
    mu_core: Positive = 0.5
    """Mean shift of the core feature (weaker signal than the spurious one)."""
    mu_spurious: Positive = 2.0
    """Mean shift of the spurious feature."""
    rho_train: Fraction = 0.95
    """P(a = y) in the first training environment."""
    rho_train2: Fraction = 0.8
    """P(a = y) in the second training environment."""
    noise_dims: Annotated[int, Range(0, 1000)] = 5
    """Extra pure-noise features."""
    steps: Count = 500
    """Adam steps (full batch)."""
    lr: Positive = 0.05
    """Adam learning rate."""
    weight_decay: NonNegative = 1e-3
    """L2 penalty on the weights (all methods)."""
    dro_eta: Positive = 0.1
    """Group DRO's step size for the group weights, q_g ∝ q_g exp(eta loss_g) (Sagawa et al., Algorithm 1)."""
    rex_penalty: NonNegative = 10.0
    """V-REx: coefficient of the variance of the environments' losses."""
    seeds: SeedCount = 5
    """Independent data sets and fits."""
    device: Device = "cpu"
    """Where the classifiers train and are scored (:mod:`alignbook.engine.devices`); gpu and paper: ``cuda``."""

    STEP_OPS = {"erm": 42, "group_dro": 99, "vrex": 74}
    """Dispatched torch ops of one full-batch Adam step of each method (group DRO reads four group masks back
    from the device), counted on :func:`train`; 18 more to set each fit up."""

    def work(self):
        """What notebook 05 computes (:mod:`alignbook.engine.estimate`): per seed, each method's ``steps`` full-batch
        steps of a logistic regression on both training environments (6 FLOPs per weight and example)."""
        from .common import op_work

        weights = 2 + self.noise_dims + 1
        ops = self.seeds * sum(self.steps * n + 18 for n in self.STEP_OPS.values())
        flops = self.seeds * len(self.STEP_OPS) * self.steps * 6.0 * weights * 2 * self.n_train
        return op_work(ops, flops, weights, [f"{self.seeds} seeds × {len(self.STEP_OPS)} methods × {self.steps} steps on "
                                             f"2 × {self.n_train:,} examples"])


def sample(n: int, rho: float, cfg: ShiftConfig, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(x, y in {0, 1}, group in 0..3 = 2 * [y = 1] + [a = 1])."""
    y = rng.choice([-1, 1], n)
    a = np.where(rng.random(n) < rho, y, -y)
    x = np.column_stack([y * cfg.mu_core + rng.standard_normal(n), a * cfg.mu_spurious + rng.standard_normal(n),
                         rng.standard_normal((n, cfg.noise_dims))])
    return x.astype(np.float32), (y > 0).astype(np.float32), (2 * (y > 0) + (a > 0)).astype(int)


def group_dro_weights(q: torch.Tensor, group_losses: torch.Tensor, eta: float) -> torch.Tensor:
    """q_g ← q_g exp(eta loss_g), renormalised (exponentiated gradient ascent on the group simplex)."""
    q = q * torch.exp(eta * group_losses.detach())
    return q / q.sum()


def vrex_loss(env_losses: torch.Tensor, penalty: float) -> torch.Tensor:
    """Mean of the environments' risks plus penalty × their variance (V-REx)."""
    return env_losses.mean() + penalty * env_losses.var(unbiased=False)


def train(method: str, envs: list[tuple[np.ndarray, ...]], cfg: ShiftConfig, seed: int) -> torch.nn.Linear:
    """Fit logistic regression with one of :data:`METHODS`, on ``cfg.device``."""
    device = devices.resolve(cfg.device)
    torch.set_num_threads(1)
    torch.manual_seed(seed)
    model = torch.nn.Linear(envs[0][0].shape[1], 1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    xs = [torch.from_numpy(e[0]).to(device) for e in envs]
    ys = [torch.from_numpy(e[1]).to(device) for e in envs]
    x_all, y_all = torch.cat(xs), torch.cat(ys)
    g_all = torch.from_numpy(np.concatenate([e[2] for e in envs])).to(device)
    q = torch.full((4,), 0.25, device=device)
    bce = torch.nn.functional.binary_cross_entropy_with_logits
    for _ in range(cfg.steps):
        if method == "erm":
            loss = bce(model(x_all).squeeze(1), y_all)
        elif method == "group_dro":
            per = bce(model(x_all).squeeze(1), y_all, reduction="none")
            losses = torch.stack([per[g_all == g].mean() if (g_all == g).any() else per.new_zeros(()) for g in range(4)])
            q = group_dro_weights(q, losses, cfg.dro_eta)
            loss = (q * losses).sum()
        else:
            env = torch.stack([bce(model(x).squeeze(1), y) for x, y in zip(xs, ys)])
            loss = vrex_loss(env, cfg.rex_penalty)
        opt.zero_grad()
        loss.backward()
        opt.step()
    return model


def accuracies(model: torch.nn.Linear, data: tuple[np.ndarray, ...]) -> dict[str, float]:
    """Average and worst-group accuracy, and the weight ratio |w_spurious| / |w_core|."""
    x, y, g = data
    device = model.weight.device
    with torch.no_grad():
        pred = (model(torch.from_numpy(x).to(device)).squeeze(1) > 0).cpu().numpy()
    correct = pred == (y > 0.5)
    w = model.weight.detach().cpu().numpy()[0]
    return {"test_acc": float(correct.mean()), "worst_group_acc": float(min(correct[g == k].mean() for k in range(4))),
            "spurious_over_core": float(abs(w[1]) / max(abs(w[0]), 1e-12))}


@dataclasses.dataclass
class ShiftResult(TrainResult):
    """One row per (seed, method) in ``metrics['runs']``."""

    missing_hint = "has notebook survey/05_distribution_shift run?"


def run(cfg: ShiftConfig) -> ShiftResult:
    """Every seed and method; saved in ``cfg.run_dir``.

    Each seed is a unit of :func:`alignbook.engine.parallel.map_units` (:func:`shift_seed`) that fits
    every method on the same data (paired by seed).
    """
    from ..engine.parallel import map_units

    devices.resolve(cfg.device)  # a GPU that is not there is refused before any unit starts
    per_seed = map_units(shift_seed, cfg, seed_list(cfg.seed, cfg.seeds), name="seeds")
    runs = [row for rows in per_seed for row in rows]
    result = ShiftResult(metrics={"runs": runs}, history=[], checkpoint=None, config=dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


def shift_seed(unit: Any) -> list[dict[str, Any]]:
    """One seed of :func:`run` (``unit.value``): its environments and test set, every method fitted on them."""
    cfg, seed = unit.cfg, unit.value
    rng = np.random.default_rng(seed)
    envs = [sample(cfg.n_train, cfg.rho_train, cfg, rng), sample(cfg.n_train, cfg.rho_train2, cfg, rng)]
    test = sample(cfg.n_test, 0.5, cfg, rng)
    return [{"seed": seed, "method": method, **accuracies(train(method, envs, cfg, seed), test)} for method in METHODS]


def values(result: ShiftResult, method: str, key: str) -> list[float]:
    """Per-seed values, in seed order."""
    return [r[key] for r in result.metrics["runs"] if r["method"] == method]


def gain(result: ShiftResult, method: str, key: str = "worst_group_acc") -> np.ndarray:
    """``method`` − ERM, paired by seed."""
    return np.subtract(values(result, method, key), values(result, "erm", key))


def verdict(result: ShiftResult, method: str) -> tuple[str, str]:
    """``method`` raises the worst-group accuracy over ERM.

    Shown when the 95% interval of its worst-group accuracy minus ERM's (paired by seed) lies above 0;
    contrary below 0; not shown otherwise; not testable with one seed.
    """
    d = gain(result, method)
    name = {"group_dro": "group DRO", "vrex": "V-REx"}[method]
    text = (f"worst-group accuracy, {name} − ERM: {ci_text(d)} (ERM {ci_text(values(result, 'erm', 'worst_group_acc'))}); "
            f"test accuracy, {name} − ERM: {ci_text(gain(result, method, 'test_acc'))}")
    if len(d) < 2:
        return "not testable", f"One seed gives no interval: {text}."
    word = {"above": "shown", "below": "contrary"}.get(side(d), "not shown")
    return word, f"{text}. Criterion: the worst-group interval above 0."


def summary_markdown(result: ShiftResult) -> str:
    """Per method: average and worst-group test accuracy and the weight ratio."""
    lines = ["| method | test accuracy (rho = 0.5) | worst-group accuracy | abs(w_spurious) / abs(w_core) |", "|---|---|---|---|"]
    names = {"erm": "ERM", "group_dro": "group DRO", "vrex": "V-REx"}
    for m in METHODS:
        lines.append(f"| {names[m]} | " + " | ".join(ci_cell(values(result, m, k)) for k in
                                                     ("test_acc", "worst_group_acc", "spurious_over_core")) + " |")
    return "\n".join(lines) + "\n\n" + table_note(result.config["seeds"])


def plot(result: ShiftResult):
    """Average and worst-group test accuracy per method, mean ± 95% CI over seeds."""
    from ..plotting import figure, legend_outside

    names = {"erm": "ERM", "group_dro": "group DRO", "vrex": "V-REx"}
    fig, ax = figure(height=2.8)
    x = np.arange(len(METHODS))
    for k, (key, label) in enumerate((("test_acc", "average test accuracy"), ("worst_group_acc", "worst-group accuracy"))):
        stats = [mean_ci(values(result, m, key)) for m in METHODS]
        ax.bar(x + (k - 0.5) * 0.38, [a for a, _ in stats], 0.38, yerr=[b or 0.0 for _, b in stats], capsize=3, label=label)
    ax.set_xticks(x, [names[m] for m in METHODS])
    ax.set_xlabel("training objective")
    ax.set_ylabel("accuracy on the shifted test set")
    ax.set_ylim(0, 1)
    legend_outside(fig, ax)
    return fig
