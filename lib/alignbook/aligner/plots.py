"""The Aligner chapter's figures, drawn for the book's column with :mod:`alignbook.plotting`.

Each function returns the figure; the notebook saves it with ``alignbook.save_figure`` in the same
cell (which shows it once).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.ticker import LogFormatter

from ..plotting import PALETTE, figure, legend_outside, mean_band
from .verdicts import DIMENSIONS


class _PlainLog(LogFormatter):
    """Log-axis tick labels as plain numbers (``0.5``, ``6.5``), not ``5 × 10⁻¹``; minor ticks are
    labelled only where the axis spans little, as matplotlib's own log formatter decides."""

    def _num_to_string(self, x: float, vmin: float, vmax: float) -> str:
        return f"{x:g}"


def plain_log_ticks(ax: Any) -> None:
    """Plain-number labels on a log-scale y axis."""
    ax.yaxis.set_major_formatter(_PlainLog())
    ax.yaxis.set_minor_formatter(_PlainLog(labelOnlyBase=False, minor_thresholds=(2, 0.5)))


def omega_by_upstream(scores: Any) -> Any:
    """Two panels (helpfulness, harmlessness): ω in percent of the corrected vs the original answers
    for each upstream, one bar per identity warm-up share, mean ± sample std over seeds (no error
    bar for one seed). ``scores``: the notebook's table (``warm-up``, ``seed``, ``upstream``,
    ``omega_<dim>``)."""
    fig, axes = figure(2, 1, height=2.9, sharey=True)
    upstreams = list(dict.fromkeys(scores["upstream"]))
    fractions = sorted(set(scores["warm-up"]))
    width = 0.8 / max(1, len(fractions))
    x = np.arange(len(upstreams))
    seeds = scores["seed"].nunique()
    for ax, dim in zip(axes, DIMENSIONS):
        for k, fraction in enumerate(fractions):
            part = scores[scores["warm-up"] == fraction]
            grouped = part.groupby("upstream")[f"omega_{dim}"]
            means = grouped.mean().reindex(upstreams).to_numpy() * 100
            stds = grouped.std(ddof=1).reindex(upstreams).fillna(0).to_numpy() * 100 if seeds > 1 else None
            ax.bar(x + (k - (len(fractions) - 1) / 2) * width, means, width, yerr=stds, capsize=3,
                   color=PALETTE[k % len(PALETTE)], label=f"{fraction:.0%} warm-up")
        ax.axhline(0, color="black", linewidth=0.8)
        ax.set_xticks(x, [u.replace("_", " ") for u in upstreams])
        ax.set_xlabel("upstream model")
        ax.set_title(f"{dim}: corrected vs original")
    axes[0].set_ylabel("ω (%)")
    spread = f"mean ± std over {seeds} seeds" if seeds > 1 else "1 seed: no spread"
    legend_outside(fig, title=f"identity warm-up of the Aligner ({spread})")
    return fig


def learning_curves(histories: Mapping[str, Sequence[Sequence[Mapping[str, Any]]]]) -> Any:
    """Held-out NLL per correction token against Q-A-C examples seen, one mean ± std band per
    variant over seeds. ``histories``: ``{variant: [history of seed 0, history of seed 1, ...]}``
    (the trainers' ``history`` lists; warm-up steps are left out)."""
    fig, ax = figure(1, 1, height=3.2)
    for k, (name, runs) in enumerate(histories.items()):
        curves = [[h for h in run if h["kind"] == "eval" and h["stage"] != "warmup"] for run in runs]
        length = min(len(c) for c in curves)
        x = [h["examples_seen"] for h in curves[0][:length]]
        mean_band(ax, x, [[h["eval_loss"] for h in c[:length]] for c in curves], name, color=PALETTE[k % len(PALETTE)])
    ax.set_xlabel("Q-A-C examples seen")
    ax.set_ylabel("held-out NLL per correction token")
    ax.set_yscale("log")
    plain_log_ticks(ax)
    ax.set_title("Correcting (Aligner) vs answering (Q→C)")
    legend_outside(fig, ncol=2)
    return fig
