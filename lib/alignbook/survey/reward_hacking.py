"""Reward over-optimisation under best-of-n (Gao, Schulman and Hilton 2023, arXiv 2210.10760), in a toy.

A "response" is a feature vector x ~ N(0, I_d) drawn from the base policy. The gold reward, what we
really want, rewards the first feature and the second one ("length") with diminishing, then negative,
returns::

    gold(x) = x_0 + x_1 - gold_penalty * x_1^2 .

A proxy reward model is a Bradley-Terry model linear in the features phi(x) = (x, x^2), fitted to
preference labels between pairs of base samples. Its labels come either from the gold reward
(*correct labels*) or from a labeller who rewards length without limit, x_0 + x_1 (*mis-specified
labels*). Best-of-n picks, among n base samples, the one the proxy scores highest; its KL to the base
policy is the closed form KL_BoN = log n - (n - 1)/n (Stiennon et al. 2020, Gao et al. 2023).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from ..engine.config import BaseConfig, ConfigError, Count, Positive, Range, SeedCount
from ..engine.results import TrainResult
from .common import ci_cell, ci_text, table_note, mean_ci, seed_list, side

LABELS = ("correct", "misspecified")
"""The two proxies: fitted to gold labels, or to a labeller who rewards length without limit."""


@dataclasses.dataclass(frozen=True)
class RewardHackingConfig(BaseConfig):
    """Notebook 02: best-of-n against a proxy reward fitted to correct or mis-specified labels."""

    dim: Annotated[int, Range(2, 256)] = 8
    """d: features of a response (x ~ N(0, I_d) under the base policy)."""
    gold_penalty: Positive = 1.0
    """c in gold(x) = x_0 + x_1 - c x_1^2: the second feature helps up to x_1 = 1/(2c), then hurts (chosen so the gold peak lies inside the n grid)."""
    pairs: Count = 2000
    """Preference pairs the proxy is fitted on (base samples, labelled by Bradley-Terry on the labeller's reward)."""
    label_temperature: Positive = 1.0
    """Labeller noise: P(a preferred to b) = sigmoid((r(a) - r(b)) / temperature)."""
    fit_steps: Count = 300
    """Newton-free gradient steps of the proxy's Bradley-Terry fit (full batch)."""
    fit_lr: Positive = 0.5
    """Step size of the proxy fit."""
    l2: Annotated[float, Range(0.0, 10.0)] = 1e-3
    """L2 penalty on the proxy's weights."""
    max_log2_n: Annotated[int, Range(1, 16)] = 12
    """Largest n of best-of-n is 2**max_log2_n; the grid is n = 1, 2, 4, ..."""
    trials: Count = 300
    """Best-of-n draws per n (the gold reward at n is their mean)."""
    seeds: SeedCount = 5
    """Independent runs (labels, proxy fit and draws), seeds seed .. seed + seeds - 1."""
    fall_share: Annotated[float, Range(0.1, 0.9)] = 1 / 3
    """The early (late) slope of gold against KL is fitted on the first (last) share of the n grid."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_log2_n < 3:
            raise ConfigError(f"max_log2_n={self.max_log2_n}: need at least 3 to fit an early and a late slope")


def kl_bon(n: Any) -> Any:
    """KL(best-of-n || base) = log n - (n - 1)/n: 0 at n = 1, log 2 - 1/2 at n = 2."""
    n = np.asarray(n, dtype=float)
    return np.log(n) - (n - 1) / n


def gold_reward(x: np.ndarray, penalty: float) -> np.ndarray:
    """x_0 + x_1 - penalty x_1^2."""
    return x[..., 0] + x[..., 1] - penalty * x[..., 1] ** 2


def labeller_reward(x: np.ndarray, labels: str, penalty: float) -> np.ndarray:
    """The reward behind the preference labels: gold, or the mis-specified x_0 + x_1."""
    if labels == "correct":
        return gold_reward(x, penalty)
    return x[..., 0] + x[..., 1]


def features(x: np.ndarray) -> np.ndarray:
    """phi(x) = (x, x^2): the proxy can represent the gold reward exactly."""
    return np.concatenate([x, x**2], axis=-1)


def fit_proxy(cfg: RewardHackingConfig, labels: str, rng: np.random.Generator) -> np.ndarray:
    """Bradley-Terry fit: minimise mean -log sigmoid(s (w . (phi(a) - phi(b)))) + l2 |w|^2, s = +-1 the label."""
    a = rng.standard_normal((cfg.pairs, cfg.dim))
    b = rng.standard_normal((cfg.pairs, cfg.dim))
    margin = (labeller_reward(a, labels, cfg.gold_penalty) - labeller_reward(b, labels, cfg.gold_penalty))
    p = 1.0 / (1.0 + np.exp(-margin / cfg.label_temperature))
    s = np.where(rng.random(cfg.pairs) < p, 1.0, -1.0)
    diff = s[:, None] * (features(a) - features(b))
    w = np.zeros(diff.shape[1])
    for _ in range(cfg.fit_steps):
        z = diff @ w
        grad = -(diff * (1.0 / (1.0 + np.exp(z)))[:, None]).mean(0) + 2 * cfg.l2 * w
        w -= cfg.fit_lr * grad
    return w


def best_of_n(cfg: RewardHackingConfig, w: np.ndarray, rng: np.random.Generator) -> list[dict[str, float]]:
    """For each n on the grid: mean gold and proxy reward of the proxy's pick among n base samples."""
    rows = []
    for j in range(cfg.max_log2_n + 1):
        n = 2**j
        golds, proxies = [], []
        per = max(1, 2**16 // n)  # trials per chunk, to bound memory
        done = 0
        while done < cfg.trials:
            t = min(per, cfg.trials - done)
            x = rng.standard_normal((t, n, cfg.dim))
            score = features(x) @ w
            pick = np.take_along_axis(x, score.argmax(1)[:, None, None], 1)[:, 0]
            golds.append(gold_reward(pick, cfg.gold_penalty))
            proxies.append(score.max(1))
            done += t
        rows.append({"n": n, "kl": float(kl_bon(n)), "gold": float(np.concatenate(golds).mean()),
                     "proxy": float(np.concatenate(proxies).mean())})
    return rows


def slope(xs: Any, ys: Any) -> float:
    """Least-squares slope of ys against xs."""
    return float(np.polyfit(np.asarray(xs, float), np.asarray(ys, float), 1)[0])


def gao_fit(kl: Any, gold: Any) -> tuple[float, float]:
    """(alpha, beta) of Gao et al.'s best-of-n form gold - gold(0) = d (alpha - beta d), d = sqrt(KL), by least squares."""
    d = np.sqrt(np.asarray(kl, float))
    y = np.asarray(gold, float) - gold[0]
    a, b = np.linalg.lstsq(np.stack([d, -d**2], 1), y, rcond=None)[0]
    return float(a), float(b)


@dataclasses.dataclass
class RewardHackingResult(TrainResult):
    """Per seed and proxy: the best-of-n curve (history) and the fitted slopes (metrics)."""

    missing_hint = "has notebook survey/02_reward_hacking run?"


def run(cfg: RewardHackingConfig) -> RewardHackingResult:
    """Every seed and both proxies; saved in ``cfg.run_dir``.

    Each seed is a unit of :func:`alignbook.engine.parallel.map_units` (:func:`hacking_seed`) that fits
    and evaluates both proxies (paired by seed). NumPy only: no device.
    """
    from ..engine.parallel import map_units

    k = slope_points(cfg)
    done = map_units(hacking_seed, cfg, seed_list(cfg.seed, cfg.seeds), name="seeds")
    history = [row for d in done for row in d["history"]]
    per_seed = [d["row"] for d in done]
    metrics = {"per_seed": per_seed, "slope_points": k}
    result = RewardHackingResult(metrics=metrics, history=history, checkpoint=None, config=dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


def slope_points(cfg: RewardHackingConfig) -> int:
    """Points of the n grid each early and late slope is fitted on."""
    return max(2, int(round((cfg.max_log2_n + 1) * cfg.fall_share)))


def hacking_seed(unit: Any) -> dict[str, Any]:
    """One seed of :func:`run` (``unit.value``): both proxies' fits, best-of-n curves and slopes."""
    cfg, s = unit.cfg, unit.value
    k = slope_points(cfg)
    history: list[dict[str, Any]] = []
    row: dict[str, Any] = {"seed": s}
    for i, labels in enumerate(LABELS):
        rng = np.random.default_rng([s, i])
        w = fit_proxy(cfg, labels, rng)
        curve = best_of_n(cfg, w, rng)
        history += [{"seed": s, "labels": labels, **c} for c in curve]
        kl, gold, proxy = ([c[key] for c in curve] for key in ("kl", "gold", "proxy"))
        row[f"{labels}_early_slope"] = slope(kl[:k], gold[:k])
        row[f"{labels}_late_slope"] = slope(kl[-k:], gold[-k:])
        row[f"{labels}_proxy_late_slope"] = slope(kl[-k:], proxy[-k:])
        row[f"{labels}_peak_kl"] = kl[int(np.argmax(gold))]
        row[f"{labels}_gold_at_max_n"] = gold[-1]
        row[f"{labels}_gold_peak_minus_end"] = max(gold) - gold[-1]
        row[f"{labels}_gao_alpha"], row[f"{labels}_gao_beta"] = gao_fit(kl, gold)
    return {"row": row, "history": history}


def column(result: TrainResult, key: str) -> list[float]:
    """One per-seed number."""
    return [r[key] for r in result.metrics["per_seed"]]


def verdict(result: RewardHackingResult) -> tuple[str, str]:
    """Over-optimisation: with mis-specified labels gold rises, then falls while the proxy still rises; with correct labels it does not fall.

    Shown when, over at least 2 seeds, the 95% intervals of (i) the mis-specified proxy's early slope
    of gold against KL lie above 0, (ii) its late slope below 0, (iii) its proxy's late slope above 0,
    and (iv) the correct proxy's late gold slope is not below 0. Contrary when the mis-specified late
    slope lies above 0; not testable with one seed; not shown otherwise.
    """
    parts = {
        "gold rises early (mis-specified)": (column(result, "misspecified_early_slope"), "above"),
        "gold falls late (mis-specified)": (column(result, "misspecified_late_slope"), "below"),
        "proxy still rises late (mis-specified)": (column(result, "misspecified_proxy_late_slope"), "above"),
        "gold does not fall late (correct labels)": (column(result, "correct_late_slope"), "not below"),
    }
    n = len(result.metrics["per_seed"])
    text = "; ".join(f"{name}: slope {ci_text(v)}" for name, (v, _) in parts.items())
    if n < 2:
        return "not testable", f"One seed gives no interval. {text}."
    ok = []
    for name, (v, want) in parts.items():
        where = side(v)
        ok.append(where != "below" if want == "not below" else where == want)
    if side(column(result, "misspecified_late_slope")) == "above":
        return "contrary", f"Gold keeps rising at the largest n under the mis-specified proxy. {text}."
    word = "shown" if all(ok) else "not shown"
    failed = [name for (name, _), good in zip(parts.items(), ok) if not good]
    tail = "" if word == "shown" else f" Not met: {', '.join(failed)}."
    return word, (f"Slopes of mean reward per nat of KL_BoN, early and late thirds of the n grid. {text}. "
                  f"Criterion: the four 95% intervals on the named side of 0.{tail}")


def curve_table(result: RewardHackingResult, labels: str) -> dict[str, np.ndarray]:
    """Mean (over seeds) KL, gold and proxy per n, with the gold's CI half-width."""
    rows = [h for h in result.history if h["labels"] == labels]
    ns = sorted({h["n"] for h in rows})
    out: dict[str, list[float]] = {"n": [], "kl": [], "gold": [], "gold_ci": [], "proxy": []}
    for n in ns:
        at = [h for h in rows if h["n"] == n]
        m, half = mean_ci([h["gold"] for h in at])
        out["n"].append(n)
        out["kl"].append(at[0]["kl"])
        out["gold"].append(m)
        out["gold_ci"].append(half or 0.0)
        out["proxy"].append(float(np.mean([h["proxy"] for h in at])))
    return {k: np.array(v) for k, v in out.items()}


def summary_markdown(result: RewardHackingResult) -> str:
    """Slopes and peaks per proxy, mean ± 95% CI over seeds."""
    lines = ["| proxy fitted to | gold slope, early | gold slope, late | proxy slope, late | KL at the gold peak (nats) "
             "| gold peak − gold at the largest n |", "|---|---|---|---|---|---|"]
    for labels in LABELS:
        cells = [ci_cell(column(result, f"{labels}_{k}")) for k in
                 ("early_slope", "late_slope", "proxy_late_slope", "peak_kl", "gold_peak_minus_end")]
        lines.append(f"| {labels} labels | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n\n" + table_note(result.config["seeds"])


def plot(result: RewardHackingResult):
    """Gold (left) and proxy (right) reward of best-of-n against KL_BoN for both proxies."""
    from ..plotting import figure, legend_outside

    fig, axes = figure(ncols=2, height=3.0)
    for labels, color in zip(LABELS, ("C0", "C3")):
        c = curve_table(result, labels)
        axes[0].plot(c["kl"], c["gold"], "o-", ms=3, color=color, label=f"proxy fitted to {labels} labels")
        axes[0].fill_between(c["kl"], c["gold"] - c["gold_ci"], c["gold"] + c["gold_ci"], color=color, alpha=0.2)
        axes[1].plot(c["kl"], c["proxy"], "o-", ms=3, color=color)
    axes[0].set_xlabel("KL_BoN = log n − (n − 1)/n (nats)")
    axes[0].set_ylabel("gold reward of the pick")
    axes[1].set_xlabel("KL_BoN (nats)")
    axes[1].set_ylabel("proxy reward of the pick")
    legend_outside(fig)
    return fig
