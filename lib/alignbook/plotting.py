"""Plot helpers: one style for the whole book, every figure saved as PNG and SVG.

Figures are drawn for the book's text column (:data:`COLUMN_WIDTH` inches at :data:`DPI`, about
700 px): a wider figure would be shrunk by the browser and its labels with it. :func:`figure`
makes a column-wide grid of panels, :func:`legend_outside` puts a legend below the data,
:func:`si_ticks` writes ticks as 10k / 1M, and :func:`save_figure` stamps the profile, gives the
image its alt text, shows it once and saves it (a figure drawn wider is resized to the column).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.pyplot as plt

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]


COLUMN_WIDTH = 6.4
"""Width in inches of a figure that fills the book's text column (at the book's DPI)."""
DPI = 110
"""Pixels per inch of the images on the pages (the column is about 780 px wide)."""
PANEL_HEIGHT = 2.6
"""Height in inches of one row of panels made by :func:`figure`."""


def use_book_style() -> None:
    plt.rcParams.update(
        {
            "figure.figsize": (COLUMN_WIDTH, 3.8),
            "figure.dpi": DPI,
            "font.size": 9,
            "axes.titlesize": 9,
            "axes.labelsize": 9,
            "legend.fontsize": 8,
            "xtick.labelsize": 8,
            "ytick.labelsize": 8,
            "axes.spines.top": False,
            "axes.spines.right": False,
            "axes.grid": True,
            "grid.alpha": 0.3,
            "axes.prop_cycle": matplotlib.cycler(color=PALETTE),
            "svg.hashsalt": "alignbook",  # stable SVG ids, so reruns diff cleanly
        }
    )


def figure(ncols: int = 1, nrows: int = 1, height: float | None = None, **kwargs: Any) -> tuple[Any, Any]:
    """``plt.subplots`` sized for the column: :data:`COLUMN_WIDTH` wide, :data:`PANEL_HEIGHT` a row."""
    kwargs.setdefault("squeeze", True)
    kwargs.setdefault("layout", "constrained")
    return plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH, height or PANEL_HEIGHT * nrows), **kwargs)


def legend_outside(fig: Any, ax: Any = None, ncol: int | None = None, **kwargs: Any) -> Any:
    """One legend for the figure, below the panels, so it never covers data."""
    axes = [ax] if ax is not None else fig.axes
    handles, labels = [], []
    for a in axes:
        for h, label in zip(*a.get_legend_handles_labels()):
            if label not in labels and not label.startswith("_"):
                handles.append(h)
                labels.append(label)
        if a.get_legend() is not None:
            a.get_legend().remove()
    if not handles:
        return None
    return fig.legend(handles, labels, loc="outside lower center", ncol=ncol or min(len(labels), 4),
                      frameon=False, **kwargs)


def si_ticks(ax: Any, axis: str = "x") -> None:
    """Tick labels as 500, 10k, 1.5M instead of 10000 or 1e6."""
    from matplotlib.ticker import FuncFormatter

    def short(value: float, _pos: Any = None) -> str:
        for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(value) >= size:
                return f"{value / size:g}{suffix}"
        return f"{value:g}"

    (ax.xaxis if axis == "x" else ax.yaxis).set_major_formatter(FuncFormatter(short))


def alt_text(fig: Any, name: str, profile: str) -> str:
    """Words for the image: its title (or its panels' titles and axes), not a file name."""
    title = fig._suptitle.get_text() if getattr(fig, "_suptitle", None) is not None else ""
    panels = []
    for ax in fig.axes:
        words = ax.get_title() or " vs ".join(t for t in (ax.get_ylabel(), ax.get_xlabel()) if t)
        if words:
            panels.append(words)
    parts = [title, "; ".join(dict.fromkeys(panels))]
    text = ": ".join(p for p in parts if p) or name.replace("_", " ")
    text = re.sub(r"\\(mathrm|mathbf|text)\{([^}]*)\}", r"\2", text).replace("$", "").replace("\\", "")
    if len(text) > 240:
        text = text[:237].rsplit(" ", 1)[0] + "…"
    return f"Figure: {text} ({profile} profile)"


class SavedFigure(dict):
    """``{"png": path, "svg": path}``, shown as the file names inside the run folder (a notebook
    that ends a cell with :func:`save_figure` must not print this machine's paths)."""

    def __repr__(self) -> str:
        return "saved " + ", ".join(f"figures/{Path(p).name}" for p in self.values())

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:
        printer.text(repr(self))


def _in_a_kernel() -> bool:
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


def save_figure(fig: Any, cfg: Any, name: str, alt: str | None = None) -> None:
    """Save ``fig`` as ``<run_dir>/figures/<name>.png`` and ``.svg``, stamped with the profile, and
    show it (in a notebook) once, with ``alt`` (default :func:`alt_text`) as the image's alt text.

    A figure wider than the column is resized to :data:`COLUMN_WIDTH` first (same aspect), so its
    text is not shrunk on the page. Returns nothing, so a cell ending with it prints nothing.
    """
    width, height = fig.get_size_inches()
    if width > COLUMN_WIDTH * 1.01:
        fig.set_size_inches(COLUMN_WIDTH, height * COLUMN_WIDTH / width)
        if fig.get_layout_engine() is None:
            fig.set_layout_engine("constrained")
    out = Path(cfg.run_dir) / "figures"
    out.mkdir(parents=True, exist_ok=True)
    fig.text(0.995, 0.005, f"profile: {cfg.profile}", ha="right", va="bottom", fontsize=7, alpha=0.6)
    for ext in ("png", "svg"):
        fig.savefig(out / f"{name}.{ext}", bbox_inches="tight", metadata={"Date": None} if ext == "svg" else None)
    if _in_a_kernel():
        from IPython.display import display

        display(fig, metadata={"image/png": {"alt": alt or alt_text(fig, name, cfg.profile)}})
        plt.close(fig)


def mean_band(ax: Any, x: Any, runs: Any, label: str, color: str | None = None) -> None:
    """Plot the mean over seeds (rows of ``runs``) with a ±1 std band. Non-finite values (a metric
    undefined for a seed, e.g. an AUROC without positives) are left out, and ``n`` counts the seeds
    with at least one finite value."""
    import warnings

    import numpy as np

    runs = np.asarray(runs, dtype=float)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a column with no finite value stays NaN
        mean, std = np.nanmean(runs, axis=0), np.nanstd(runs, axis=0)
    n = int(np.isfinite(runs).any(axis=1).sum()) if runs.ndim == 2 else len(runs)
    (line,) = ax.plot(x, mean, label=f"{label} (n={n})", color=color)
    ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.2, linewidth=0)
