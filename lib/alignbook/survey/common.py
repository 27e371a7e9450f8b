"""What every demonstration of the chapter shares: the seeds of a run and t intervals over them."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..engine.metrics import format_number
from ..stats import t_quantile_975


def seed_list(seed: int, seeds: int) -> list[int]:
    """The seeds of a run: ``seed, seed + 1, ..., seed + seeds - 1``."""
    return [seed + i for i in range(seeds)]


def mean_ci(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% Student t interval over seeds (None for one value)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), None
    if len(v) == 1:
        return float(v[0]), None
    half = t_quantile_975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))
    return float(v.mean()), half


def ci_bounds(values: Sequence[float]) -> tuple[float, float] | None:
    """(low, high) of the 95% interval of the mean, or None when there are fewer than 2 values."""
    mean, half = mean_ci(values)
    return None if half is None else (mean - half, mean + half)


def ci_text(values: Sequence[float], digits: int = 3, unit: str = "") -> str:
    """``0.41 ± 0.05 (95% CI, 5 seeds)`` or ``0.41 (1 seed)``."""
    mean, half = mean_ci(values)
    n = len([x for x in values if x is not None and math.isfinite(x)])
    if half is None:
        return f"{format_number(mean, digits)}{unit} (1 seed)"
    return f"{format_number(mean, digits)} ± {format_number(half, 2)}{unit} (95% CI, {n} seeds)"


def ci_cell(values: Sequence[float], digits: int = 3) -> str:
    """A table cell: ``0.41 ± 0.05``, the seed count and interval named once by :func:`table_note`."""
    mean, half = mean_ci(values)
    if half is None:
        return f"{format_number(mean, digits)} (1 seed)"
    return f"{format_number(mean, digits)} ± {format_number(half, 2)}"


def table_note(seeds: int) -> str:
    """The line under a table of :func:`ci_cell` values."""
    if seeds < 2:
        return "One seed: no interval."
    return f"Mean over {seeds} seeds ± the half-width of its 95% Student t interval."


def side(values: Sequence[float], threshold: float = 0.0) -> str:
    """Where the 95% interval lies relative to ``threshold``: ``above``, ``below``, ``across`` or ``unknown`` (< 2 seeds)."""
    b = ci_bounds(values)
    if b is None:
        return "unknown"
    return "above" if b[0] > threshold else "below" if b[1] < threshold else "across"


def as_floats(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    """One number per row."""
    return [float(r[key]) for r in rows]
