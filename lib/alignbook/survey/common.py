"""What every demonstration of the chapter shares: the seeds of a run and t intervals over them."""

from __future__ import annotations

from typing import Any, Sequence

from ..engine.metrics import format_number
from ..stats import ci_bounds, ci_text, mean_ci, seed_list, side

__all__ = ["as_floats", "ci_bounds", "ci_cell", "ci_text", "mean_ci", "seed_list", "side", "table_note"]


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


def as_floats(rows: Sequence[dict[str, Any]], key: str) -> list[float]:
    """One number per row."""
    return [float(r[key]) for r in rows]
