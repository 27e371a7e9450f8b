"""Figures of the Safe RLHF chapter. Each takes saved results (never retrains) and returns a figure."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from alignbook.plotting import PALETTE, figure, legend_outside, mean_band

from .pipeline import history_matrix


def _steps(results: Sequence[Any], key: str) -> np.ndarray:
    rows = [[r[key] for r in res.history if key in r and "loss" in r] for res in results]
    length = min(len(r) for r in rows)
    return np.array([r[:length] for r in rows], dtype=float)


def score_training_curves(results: dict[str, Sequence[Any]]):
    """Training loss and batch accuracies per step, mean ± std over seeds, for each model (the reward
    model's sign is not trained to mean anything, so it has no sign-accuracy curve)."""
    fig, axes = figure(3, 1, height=2.8)
    for color, (name, runs) in zip(PALETTE, results.items()):  # one colour per model in every panel
        loss = _steps(runs, "loss")
        x = np.arange(loss.shape[1])
        mean_band(axes[0], x, loss, name, color=color)
        mean_band(axes[1], x, _steps(runs, "accuracy"), name, color=color)
        if name != "reward" and all("accuracy_sign" in r for r in runs[0].history if "loss" in r):
            mean_band(axes[2], x, _steps(runs, "accuracy_sign"), name, color=color)
    fig.suptitle("score-model training, mean ± std over seeds")
    for ax, title, ylabel in zip(axes, ("training loss", "pairwise accuracy", "sign accuracy"),
                                 ("loss", "accuracy (batch)", "accuracy_sign (batch)")):
        ax.set(title=title, xlabel="step", ylabel=ylabel)
    legend_outside(fig, ncol=3)
    return fig


def score_distributions(results: dict[str, Sequence[Any]]):
    """Held-out scores of safe vs unsafe responses (first seed), one panel per model."""
    fig, axes = figure(len(results), 1, height=2.8, squeeze=False)
    for ax, (name, runs) in zip(axes[0], results.items()):
        scores = np.asarray(runs[0].extra["eval_scores"])
        signs = np.asarray(runs[0].extra["eval_signs"])
        bins = np.linspace(scores.min(), scores.max(), 30)
        ax.hist(scores[signs < 0], bins=bins, alpha=0.6, label="safe responses", color="#2ca02c")
        ax.hist(scores[signs > 0], bins=bins, alpha=0.6, label="unsafe responses", color="#d62728")
        ax.axvline(0.0, color="k", linewidth=0.8)
        ax.set(title=name, xlabel="score at the last token", ylabel="held-out responses")
    fig.suptitle("held-out scores of safe and unsafe responses (first seed)")
    legend_outside(fig, ncol=2)
    return fig


def training_dynamics(runs: Sequence[dict[str, Any]], threshold: float):
    """Reward, cost (with the threshold), KL, λ and the ground truth over iterations, mean ± std over seeds."""
    keys = [("reward", "reward model score", "R (batch mean)"), ("episode_cost", "Ĵ_C (window mean of cost)", "Ĵ_C"),
            ("kl", "KL to reference", "KL (nats)"), ("lambda", "λ", "λ"),
            ("true_harm_rate", "true harm rate (rollouts)", "harm rate"),
            ("true_helpfulness", "true helpfulness (rollouts)", "helpfulness")]
    fig, axes = figure(2, 3, height=6.6)
    for ax, (key, title, ylabel) in zip(axes.flat, keys):
        values = history_matrix(runs, key)
        if np.isnan(values).all():
            ax.set_visible(False)
            continue
        mean_band(ax, np.arange(values.shape[1]), values, runs[0]["algorithm"])
        if key == "episode_cost":
            ax.axhline(threshold, color="k", linestyle="--", linewidth=0.8, label=f"threshold d = {threshold:g}")
        ax.set(title=title, xlabel="iteration", ylabel=ylabel)
    legend_outside(fig, ncol=2)
    return fig


STYLE = {"ppo": ("s", "#7f7f7f"), "ppo_lag": ("*", "#d62728"), "ppo_lag_no_ptx": ("*", "#ff9896")}
"""Marker and colour of the baselines on the Pareto plane; shaped variants take the palette."""


def variant_label(name: str) -> str:
    """``ppo_lag`` → ``PPO-Lag``, ``shaped_nu0.01`` → ``R − 0.01·C``."""
    if name == "ppo_lag":
        return "PPO-Lag"
    if name == "ppo_lag_no_ptx":
        return "PPO-Lag without PTX"
    if name == "ppo":
        return "PPO (reward only)"
    return f"R − {name.removeprefix('shaped_nu')}·C"


def pareto_plane(table, sft_point: tuple[float, float] | None = None, helpfulness: str = "benign_helpfulness"):
    """Ground-truth helpfulness vs harm rate after training, one point per variant (± std over
    seeds), labelled by a legend below the plot (points of near-equal variants would overlap)."""
    fig, ax = figure(1, 1, height=4.0)
    shaped = [name for name in table.index if name.startswith("shaped_")]
    blues = ["#1f77b4", "#17becf", "#2ca02c", "#bcbd22", "#9467bd", "#8c564b", "#e377c2"]
    circles = ["o", "v", "^", "D", "P", "X", "h"]
    for name, row in table.iterrows():
        if name in STYLE:
            marker, color = STYLE[name]
        else:
            k = shaped.index(name)
            marker, color = circles[k % len(circles)], blues[k % len(blues)]
        xerr, yerr = row["harm_rate_std"], row[f"{helpfulness}_std"]
        ax.errorbar(row["harm_rate_mean"], row[f"{helpfulness}_mean"],
                    xerr=None if np.isnan(xerr) else xerr, yerr=None if np.isnan(yerr) else yerr,
                    fmt=marker, color=color, markersize=11 if marker == "*" else 6, capsize=2,
                    label=variant_label(name), alpha=0.85)
    if sft_point is not None:
        ax.plot(sft_point[1], sft_point[0], "kx", markersize=8, label="SFT (start)")
    words = "helpfulness on benign prompts" if helpfulness == "benign_helpfulness" else "helpfulness"
    short = "benign helpfulness" if helpfulness == "benign_helpfulness" else "helpfulness"
    seeds = int(table["seeds"].min())
    ax.set(xlabel="harm rate (ground truth, lower is better)", ylabel=f"{words} (ground truth)",
           title=f"{short} vs harm after RL (mean ± std, {seeds} seeds)" if seeds > 1
           else f"{short} vs harm after RL (1 seed)")
    legend_outside(fig, ncol=3)
    return fig
