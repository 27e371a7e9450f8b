"""The PKU-SafeRLHF chapter's figures, drawn for the book's column with :mod:`alignbook.plotting`.

Each function returns the figure; the notebook saves it with ``alignbook.save_figure`` in the same
cell (which shows it once). Legends sit below the panels, never over the bars.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.ticker import LogFormatter

from ..plotting import PALETTE, figure, legend_outside


class _PlainLog(LogFormatter):
    """Log-axis tick labels as plain numbers (``0.5``, ``6.5``), not ``5 × 10⁻¹``; minor ticks are
    labelled only where the axis spans little, as matplotlib's own log formatter decides."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"


def plain_log_ticks(ax: Any) -> None:
    """Plain-number labels on a log-scale y axis."""
    ax.yaxis.set_major_formatter(_PlainLog())
    ax.yaxis.set_minor_formatter(_PlainLog(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def _bars(ax: Any, groups: Sequence[str], series: Sequence[tuple[str, Sequence[float], Sequence[float] | None]],
          alpha: Sequence[float] | None = None) -> None:
    """Grouped bars: one group per label, one bar per series ``(label, heights, error or None)``."""
    x = np.arange(len(groups))
    width = 0.8 / max(1, len(series))
    for k, (label, heights, errors) in enumerate(series):
        ax.bar(x + (k - (len(series) - 1) / 2) * width, heights, width, yerr=errors, capsize=3, label=label,
               color=PALETTE[k % len(PALETTE)], alpha=(alpha or [1.0] * len(series))[k])
    ax.set_xticks(x, groups)


def severity_and_pairs(loaded: Sequence[float], published: Sequence[float], pairs: Sequence[float],
                       reference: Sequence[float], label: str) -> Any:
    """Notebook 1: shares of responses per severity level and shares of pair configurations, the
    loaded rows beside the published v1 train split."""
    fig, axes = figure(2, 1, height=2.9)
    _bars(axes[0], ["0 safe", "1 minor", "2 moderate", "3 severe"], [(label, loaded, None), ("published v1 train", published, None)])
    axes[0].set(xlabel="severity level", ylabel="share of responses", title="Severity levels")
    _bars(axes[1], ["both\nsafe", "both\nunsafe", "mixed", "better\n≠ safer"], [(label, pairs, None), ("published v1 train", reference, None)])
    axes[1].set(xlabel="pair configuration", ylabel="share of pairs", title="Pair configurations")
    legend_outside(fig)
    return fig


def category_frequencies(frequencies: Any, label: str) -> Any:
    """Notebook 1: share of unsafe responses flagged with each category (numbered as in the
    co-occurrence map), most frequent at the top."""
    order = frequencies.sort_values()
    fig, ax = figure(1, 1, height=4.4)
    ax.barh(np.arange(len(order)), order.to_numpy(), color=PALETTE[0])
    ax.set_yticks(np.arange(len(order)), list(order.index))
    ax.set(xlabel="share of unsafe responses flagged", ylabel="harm category", title=f"Harm categories ({label})")
    return fig


def cooccurrence(matrix: Any) -> Any:
    """Notebook 1: log(1 + responses flagged with both categories), categories numbered 1-19 in the
    order of :data:`alignbook.toyworld.content.HARM_CATEGORIES`."""
    fig, ax = figure(1, 1, height=5.0)
    values = np.log1p(np.asarray(matrix, dtype=float))
    image = ax.imshow(values, cmap="viridis")
    ticks = np.arange(values.shape[0])
    ax.set_xticks(ticks, [str(i + 1) for i in ticks], fontsize=7)
    ax.set_yticks(ticks, [f"{i + 1} {name}" for i, name in enumerate(matrix.index)], fontsize=7)
    ax.grid(False)
    ax.set(xlabel="harm category (number)", ylabel="harm category", title="Category co-occurrence")
    fig.colorbar(image, ax=ax, label="log(1 + responses)", shrink=0.8)
    return fig


def moderation_heads(labels: Sequence[str], means: Sequence[float], stds: Sequence[float] | None,
                     baseline: Sequence[float], paper: Sequence[float], ours: str) -> Any:
    """Notebook 2: accuracy of each head, ours (mean ± std over seeds) beside the majority class and
    the paper's model; the legend sits below the bars."""
    fig, ax = figure(1, 1, height=3.2)
    _bars(ax, labels, [(ours, means, stds), ("majority class", baseline, None), ("paper (real data, 7B)", paper, None)],
          alpha=[1.0, 1.0, 0.6])
    ax.set(ylim=(0, 1.05), xlabel="moderation head", ylabel="accuracy (held-out)",
           title="Coarse vs fine-grained moderation")
    legend_outside(fig, ncol=3)
    return fig


def category_f1(means: Any, stds: Any | None, profile: str) -> Any:
    """Notebook 2: held-out F1 of each harm category (mean ± std over seeds), lowest at the bottom."""
    order = means.sort_values()
    fig, ax = figure(1, 1, height=4.4)
    errors = None if stds is None else stds.reindex(order.index).fillna(0).to_numpy()
    ax.barh(np.arange(len(order)), order.to_numpy(), xerr=errors, color=PALETTE[0], capsize=2)
    ax.set_yticks(np.arange(len(order)), list(order.index))
    ax.set(xlim=(0, 1), xlabel="F1 on held-out responses", ylabel="harm category",
           title=f"Per-category F1 ({profile}, " + ("mean ± std over seeds)" if stds is not None else "1 seed)"))
    return fig


def training_losses(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], ylabel: str, title: str) -> Any:
    """A training-loss figure: ``{name: (steps, losses)}``, one line per head or model (rolling mean
    over 5 steps), log scale."""
    fig, ax = figure(1, 1, height=2.8)
    for k, (name, (steps, values)) in enumerate(curves.items()):
        values = np.asarray(values, dtype=float)
        smooth = np.array([values[max(0, i - 4): i + 1].mean() for i in range(len(values))])
        ax.plot(np.asarray(steps)[: len(smooth)], smooth, label=name, color=PALETTE[k % len(PALETTE)])
    ax.set(xlabel="optimiser step", ylabel=ylabel, yscale="log", title=title)
    plain_log_ticks(ax)
    legend_outside(fig)
    return fig


def tradeoff(mean_curve: Any, single: Any, constrained: Any, seeds: int) -> Any:
    """Notebook 3: true helpfulness against the unsafe share of the chosen responses, for R − λC as
    λ is swept (points labelled by λ), argmax S, and argmax R subject to C < 0."""
    fig, ax = figure(1, 1, height=3.6)
    spread = seeds > 1
    ax.errorbar(mean_curve[("unsafe_rate", "mean")], mean_curve[("helpfulness", "mean")],
                xerr=mean_curve[("unsafe_rate", "std")] if spread else None,
                yerr=mean_curve[("helpfulness", "std")] if spread else None,
                marker="o", capsize=2, color=PALETTE[0], label="dual: R − λC, λ swept after training")
    points: dict[tuple[float, float], list[str]] = {}  # λs that choose the same responses share one label
    for lam, row in mean_curve.iterrows():
        at = (round(float(row[("unsafe_rate", "mean")]), 6), round(float(row[("helpfulness", "mean")]), 6))
        points.setdefault(at, []).append(f"{lam:g}")
    for k, (at, lams) in enumerate(points.items()):  # labels alternate above and below: neighbours do not overlap
        ax.annotate("λ=" + ", ".join(lams), at, fontsize=7, xytext=(4, 4 if k % 2 == 0 else -10),
                    textcoords="offset points")
    ax.errorbar(single["unsafe_rate"].mean(), single["helpfulness"].mean(),
                xerr=single["unsafe_rate"].std() if spread else None, yerr=single["helpfulness"].std() if spread else None,
                marker="s", color=PALETTE[1], capsize=2, linestyle="none", label="single: argmax S")
    ax.errorbar(constrained["unsafe_rate"].mean(), constrained["helpfulness"].mean(), marker="*", markersize=12,
                color=PALETTE[2], linestyle="none", label="dual: argmax R subject to C < 0")
    ax.set(xlabel="share of chosen responses that are unsafe (ground truth)",
           ylabel="true helpfulness of chosen", title="Best-of-7 selection")
    legend_outside(fig, ncol=2)
    return fig
