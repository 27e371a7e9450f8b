"""Tables and figures of trained runs (they read saved results; nothing retrains)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..plotting import PALETTE, mean_band
from .trainer import SafeRLResult

OMNISAFE_1E7 = {
    "SafetyPointGoal1-v0": {
        "ppo": (25.4, 55.7), "ppo_lag": (13.0, 25.8), "cpo": (20.5, 28.8), "pcpo": (18.6, 23.0),
        "focops": (15.0, 33.7), "cup": (14.4, 19.0),
    },
}
"""OmniSafe's published benchmark (1e7 steps, cost limit 25): (episode return, episode cost),
as quoted in issue 5 from the OmniSafe on-policy benchmark tables. Only these cells are quoted;
the others are left empty rather than guessed."""


def group(results: Sequence[SafeRLResult], by=("env_id", "algo")) -> dict[tuple, list[SafeRLResult]]:
    out: dict[tuple, list[SafeRLResult]] = {}
    for r in results:
        out.setdefault(tuple(r.config[k] for k in by), []).append(r)
    return out


def summary_table(results: Sequence[SafeRLResult], by=("env_id", "algo"), with_paper: bool = True):
    """Final return, cost and λ per group: mean ± std over seeds, with the budget and profile."""
    import pandas as pd

    rows = []
    for key, runs in group(results, by).items():
        ret = np.array([r.metrics["return"] for r in runs], float)
        cost = np.array([r.metrics["cost"] if r.metrics["cost"] is not None else np.nan for r in runs], float)
        lam = [r.metrics["lambda"] for r in runs]
        row = dict(zip(by, key))
        row.update({
            "return": f"{np.nanmean(ret):.1f} ± {np.nanstd(ret):.1f}",
            "cost": f"{np.nanmean(cost):.1f} ± {np.nanstd(cost):.1f}",
            "λ": f"{np.mean(lam):.3f}" if None not in lam else "—",
            "seeds": len(runs), "steps": runs[0].metrics["steps"], "profile": runs[0].config["profile"],
            "steps/s": f"{np.mean([r.metrics['steps_per_s'] for r in runs]):.0f}",
        })
        if with_paper and "algo" in row:
            paper = OMNISAFE_1E7.get(row.get("env_id", ""), {}).get(row["algo"])
            row["OmniSafe 1e7 return / cost"] = f"{paper[0]} / {paper[1]}" if paper else "—"
        rows.append(row)
    return pd.DataFrame(rows).set_index(list(by))


def final_stats(runs: Sequence[SafeRLResult], key: str) -> tuple[float, float]:
    values = np.array([r.metrics[key] for r in runs], float)
    return float(np.nanmean(values)), float(np.nanstd(values))


def plot_curves(results: Sequence[SafeRLResult], keys=("return", "cost", "lambda"), by=("algo",),
                cost_limit: float | None = None, title: str = ""):
    """One panel per key: mean ± std over seeds against environment steps, one line per group."""
    import matplotlib.pyplot as plt

    tasks = sorted({r.config["env_id"] for r in results})
    if len(tasks) > 1 and "env_id" not in by:
        raise ValueError(f"plot_curves got runs of {len(tasks)} tasks ({', '.join(tasks)}) but by={by!r} would "
                         "average them into one line; plot one task at a time with "
                         "report.select(results, env_id=...), or add 'env_id' to by")

    fig, axes = plt.subplots(1, len(keys), figsize=(4.2 * len(keys), 3.4), squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, (label, runs) in enumerate(group(results, by).items()):
            curves = np.array([r.curve(key) for r in runs])
            if np.all(np.isnan(curves)):
                continue
            steps = np.array([row["steps"] for row in runs[0].history])
            # one colour per group in every panel, even where a group has no curve (PPO has no λ)
            mean_band(ax, steps, curves, " ".join(str(x) for x in label), color=PALETTE[i % len(PALETTE)])
        if key == "cost" and cost_limit is not None:
            ax.axhline(cost_limit, color="k", ls="--", lw=1, label=f"limit {cost_limit:g}")
        ax.set_xlabel("environment steps")
        ax.set_ylabel({"return": "episode return", "cost": "episode cost", "lambda": "λ"}.get(key, key))
        ax.legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def claim_verdict(ppo_cost: float, lag_cost: float, limit: float, lag_tolerance: float = 1.2) -> str:
    """A plain sentence saying whether these numbers show the chapter's claim, computed from them.

    Shown: PPO's cost is above the limit *and* PPO-Lag's is at most ``lag_tolerance`` × the limit.
    When PPO's own cost is below the limit the budget was too small for PPO to become unsafe, and the
    comparison says nothing about the constraint: the sentence says so instead of claiming success.
    """
    if not np.isfinite(ppo_cost) or not np.isfinite(lag_cost):
        return "No finished episodes yet: the budget is too small to judge the claim."
    if ppo_cost <= limit:
        return (f"Not shown at this budget: PPO's final cost ({ppo_cost:.1f}) is still below the limit "
                f"({limit:g}), i.e. PPO has not yet become unsafe, so PPO-Lag ({lag_cost:.1f}) has nothing to "
                "correct. A longer run (gpu/paper profile) is needed.")
    if lag_cost <= lag_tolerance * limit:
        return (f"Shown: PPO's final cost ({ppo_cost:.1f}) is above the limit ({limit:g}) while PPO-Lag's "
                f"({lag_cost:.1f}) is near or below it.")
    return (f"Partly shown: PPO's cost ({ppo_cost:.1f}) exceeds the limit ({limit:g}) but PPO-Lag's "
            f"({lag_cost:.1f}) has not yet come down to it at this budget.")


def select(results: Sequence[SafeRLResult], **conditions) -> list[SafeRLResult]:
    """The results whose config matches every ``name=value`` given."""
    return [r for r in results if all(r.config[k] == v for k, v in conditions.items())]
