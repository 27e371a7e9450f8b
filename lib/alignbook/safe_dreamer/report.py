"""Tables and figures of the chapter's notebooks (drawn from saved results; nothing retrains here)."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from matplotlib.ticker import MaxNLocator

from ..engine.metrics import format_number
from ..plotting import figure, legend_outside, mean_band
from ..stats import ci_text, interval_note
from .verdicts import per_1000, seed_means

LABELS = {"cem": "CEM (unconstrained)", "osrp": "OSRP", "osrp_lag": "OSRP-Lag", "ppo_lag": "PPO-Lag",
          "bsrp_lag": "BSRP-Lag", "actor": "actor without penalty", "random": "random exploration"}


def quality_figure(result: dict[str, Any], title: str):
    """Held-out cost AUROC and reward correlation against steps ahead k, mean ± std over seeds."""
    fig, (a, b) = figure(2)
    q = result["quality"]
    k = np.arange(len(q[0]["cost_auroc"]))
    mean_band(a, k, [s["cost_auroc"] for s in q], "cost head")
    a.axhline(0.5, color="grey", ls="--", lw=1, label="chance")
    a.set(xlabel="steps ahead k (open loop)", ylabel="AUROC of predicted cost", title="Does the cost head see hazards?")
    mean_band(b, k, [s["reward_corr"] for s in q], "reward head", color="C1")
    for ax in (a, b):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    b.set(xlabel="steps ahead k (open loop)", ylabel="correlation with true reward", title="Reward prediction")
    fig.suptitle(title)
    legend_outside(fig)
    return fig


def loss_figure(result: dict[str, Any], title: str):
    fig, ax = figure(1)
    for key in ("cost", "reward", "decoder", "dyn"):
        runs = [[row[key] for row in h] for h in result["history"]]
        n = min(len(r) for r in runs)
        steps = [row["step"] for row in result["history"][0][:n]]
        mean_band(ax, steps, [r[:n] for r in runs], key)
    ax.set(xlabel="gradient step", ylabel="loss term (per step)", yscale="log", title=title)
    legend_outside(fig)
    return fig


def method_table(rows: dict[str, list[list[dict]]], repeat: int, seconds: dict[str, float] | None = None,
                 extra: dict[str, list[dict]] | None = None) -> str:
    """Markdown: per method, episode return and cost per 1000 env steps (95% interval over seeds) and
    the planner's safe-set fraction."""
    lines = ["| method | episode return | episode cost per 1000 steps | safe fraction of candidates | seconds per action |",
             "|---|---|---|---|---|"]
    for method, per_seed in rows.items():
        safe = seed_means(per_seed, "safe_fraction") if "safe_fraction" in per_seed[0][0] else None
        sec = format_number(seconds[method], 2) if seconds and method in seconds else "–"
        lines.append(f"| {LABELS.get(method, method)} | {ci_text(seed_means(per_seed, 'return'), seeds=False)} | "
                     f"{ci_text(seed_means(per_seed, 'cost', repeat), seeds=False)} | "
                     f"{ci_text(safe, seeds=False) if safe else '–'} | {sec} |")
    for name, finals in (extra or {}).items():
        if finals:
            lines.append(f"| {LABELS.get(name, name)} ({len(finals)} seed{'s' if len(finals) != 1 else ''}) | "
                         f"{ci_text([r['return'] for r in finals], seeds=False)} | "
                         f"{ci_text([r['cost_1000'] for r in finals], seeds=False)} | – | – |")
    first = next(iter(rows.values()))
    lines += ["", interval_note(seed_means(first, "return"))]
    return "\n".join(lines)


def planning_figure(rows: dict[str, list[list[dict]]], repeat: int, title: str):
    """Per episode: cost per 1000 steps, return, and the safe-set fraction, mean ± std over seeds."""
    fig, axes = figure(3, height=2.6)
    for method, per_seed in rows.items():
        n = min(len(r) for r in per_seed)
        x = np.arange(1, n + 1)
        label = LABELS.get(method, method)
        mean_band(axes[0], x, [per_1000(r[:n], repeat) for r in per_seed], label)
        mean_band(axes[1], x, [[e["return"] for e in r[:n]] for r in per_seed], label)
        mean_band(axes[2], x, [[e["safe_fraction"] for e in r[:n]] for r in per_seed], label)
    axes[0].set(xlabel="episode", ylabel="cost per 1000 steps", title="Cost")
    axes[1].set(xlabel="episode", ylabel="episode return", title="Return")
    axes[2].set(xlabel="episode", ylabel="fraction with predicted cost < b", title="Safe set")
    fig.suptitle(title)
    legend_outside(fig)
    return fig


def bsrp_figure(histories: dict[str, list[list[dict]]], title: str):
    """Imagined cost return and the multiplier over the actor updates."""
    fig, (a, b) = figure(2)
    for name, per_seed in histories.items():
        n = min(len(h) for h in per_seed)
        x = [row["step"] for row in per_seed[0][:n]]
        mean_band(a, x, [[row["cost_return"] for row in h[:n]] for h in per_seed], LABELS.get(name, name))
        if name == "bsrp_lag":
            mean_band(b, x, [[row["multiplier"] for row in h[:n]] for h in per_seed], "λ")
    a.set(xlabel="actor update", ylabel="imagined cost return (summed)", title="Imagined cost")
    b.set(xlabel="actor update", ylabel="multiplier λ", title="Augmented Lagrangian")
    fig.suptitle(title)
    legend_outside(fig)
    return fig


def ablation_figure(values: Sequence[Any], costs: Sequence[Sequence[float]], returns: Sequence[Sequence[float]],
                    xlabel: str, title: str):
    """Cost and return (mean ± 95% interval over seeds) against an ablated setting."""
    from ..stats import mean_ci

    fig, (a, b) = figure(2)
    x = np.arange(len(values))
    for ax, data, label in ((a, costs, "cost per 1000 steps"), (b, returns, "episode return")):
        stats = [mean_ci(v) for v in data]
        ax.errorbar(x, [m for m, _ in stats], yerr=[h or 0 for _, h in stats], fmt="o-", capsize=3)
        ax.set_xticks(x, [str(v) for v in values])
        ax.set(xlabel=xlabel, ylabel=label, title=label.capitalize())
    fig.suptitle(title)
    return fig
