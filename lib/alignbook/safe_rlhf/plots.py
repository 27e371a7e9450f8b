"""Figures of the Safe RLHF chapter. Each takes saved results (never retrains) and returns a figure."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from alignbook.plotting import mean_band

from .pipeline import history_matrix


def _steps(results: Sequence[Any], key: str) -> np.ndarray:
    rows = [[r[key] for r in res.history if key in r and "loss" in r] for res in results]
    length = min(len(r) for r in rows)
    return np.array([r[:length] for r in rows], dtype=float)


def score_training_curves(results: dict[str, Sequence[Any]]):
    """Training loss and batch accuracy per step, mean ± std over seeds, for each model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    for name, runs in results.items():
        loss = _steps(runs, "loss")
        x = np.arange(loss.shape[1])
        mean_band(axes[0], x, loss, name)
        mean_band(axes[1], x, _steps(runs, "accuracy"), name)
        if all("accuracy_sign" in r for r in runs[0].history if "loss" in r):
            mean_band(axes[2], x, _steps(runs, "accuracy_sign"), name)
    for ax, title in zip(axes, ("training loss", "pairwise accuracy (batch)", "accuracy_sign (batch)")):
        ax.set(title=title, xlabel="step")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def score_distributions(results: dict[str, Sequence[Any]]):
    """Held-out scores of safe vs unsafe responses (first seed), one panel per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.2), squeeze=False)
    for ax, (name, runs) in zip(axes[0], results.items()):
        scores = np.asarray(runs[0].extra["eval_scores"])
        signs = np.asarray(runs[0].extra["eval_signs"])
        bins = np.linspace(scores.min(), scores.max(), 40)
        ax.hist(scores[signs < 0], bins=bins, alpha=0.6, label="safe responses", color="#2ca02c")
        ax.hist(scores[signs > 0], bins=bins, alpha=0.6, label="unsafe responses", color="#d62728")
        ax.axvline(0.0, color="k", linewidth=0.8)
        ax.set(title=name, xlabel="score at the last token")
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    return fig


def training_dynamics(runs: Sequence[dict[str, Any]], threshold: float):
    """Reward, cost (with the threshold), KL, λ and the ground-truth harm rate over iterations."""
    import matplotlib.pyplot as plt

    keys = [("reward", "reward model score"), ("episode_cost", "Ĵ_C (window mean of cost)"), ("kl", "KL to reference"),
            ("lambda", "λ"), ("true_harm_rate", "true harm rate (rollouts)"),
            ("true_helpfulness", "true helpfulness (rollouts)")]
    fig, axes = plt.subplots(2, 3, figsize=(12, 6))
    for ax, (key, title) in zip(axes.flat, keys):
        values = history_matrix(runs, key)
        if np.isnan(values).all():
            ax.set_visible(False)
            continue
        mean_band(ax, np.arange(values.shape[1]), values, runs[0]["algorithm"])
        if key == "episode_cost":
            ax.axhline(threshold, color="k", linestyle="--", linewidth=0.8, label=f"threshold d={threshold:g}")
            ax.legend(fontsize=7)
        ax.set(title=title, xlabel="iteration")
    fig.tight_layout()
    return fig


def pareto_plane(table, sft_point: tuple[float, float] | None = None):
    """Ground-truth helpfulness vs harm rate after training, one point per variant (± std over seeds)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, row in table.iterrows():
        color = "#d62728" if name == "ppo_lag" else ("#7f7f7f" if name == "ppo" else "#1f77b4")
        marker = "*" if name == "ppo_lag" else ("s" if name == "ppo" else "o")
        ax.errorbar(row["harm_rate_mean"], row["helpfulness_mean"], xerr=row["harm_rate_std"],
                    yerr=row["helpfulness_std"], fmt=marker, color=color, markersize=10 if marker == "*" else 6,
                    capsize=2)
        ax.annotate(name.replace("shaped_", ""), (row["harm_rate_mean"], row["helpfulness_mean"]),
                    textcoords="offset points", xytext=(4, 4), fontsize=7)
    if sft_point is not None:
        ax.plot(sft_point[1], sft_point[0], "kx", markersize=8)
        ax.annotate("SFT", (sft_point[1], sft_point[0]), textcoords="offset points", xytext=(4, -10), fontsize=7)
    ax.set(xlabel="harm rate (ground truth, lower is better)", ylabel="helpfulness (ground truth)",
           title="after RL: mean ± std over seeds")
    fig.tight_layout()
    return fig
