"""Plot helpers: one style for the whole book, every figure saved as PNG and SVG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


COLUMN_WIDTH = 6.4
"""Width in inches of a figure that fills the book's text column (at the book's DPI)."""


def use_book_style() -> None:
    plt.rcParams.update(
        {
            "figure.figsize": (6.4, 3.8),
            "figure.dpi": 110,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
            "svg.hashsalt": "alignbook",  # stable SVG ids, so reruns diff cleanly
        }
    )


class SavedFigure(dict):
    """``{"png": path, "svg": path}``, shown as the file names inside the run folder (a notebook
    that ends a cell with :func:`save_figure` must not print this machine's paths)."""

    def __repr__(self) -> str:
        return "saved " + ", ".join(f"figures/{Path(p).name}" for p in self.values())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def save_figure(fig: Any, cfg: Any, name: str) -> SavedFigure:
    """Save ``fig`` as ``<run_dir>/figures/<name>.png`` and ``.svg``, stamped with the profile."""
    out = Path(cfg.run_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig.text(0.995, 0.005, f"profile: {cfg.profile}", ha="right", va="bottom", fontsize=7, alpha=0.6)
    paths = SavedFigure()
    for ext in ("png", "svg"):
        path = out / f"{name}.{ext}"
        fig.savefig(path, bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
        paths[ext] = path
    return paths


def mean_band(ax: Any, x: Any, runs: Any, label: str, color: str | None = None) -> None:
    """Plot the mean over seeds (rows of ``runs``) with a ±1 std band."""
    import numpy as np

    runs = np.asarray(runs, dtype=float)
    mean, std = runs.mean(axis=0), runs.std(axis=0)
    (line,) = ax.plot(x, mean, label=f"{label} (n={len(runs)})", color=color)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
