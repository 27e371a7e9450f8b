"""Small helpers shared by the chapter's notebooks: spread text and markdown tables."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..engine.metrics import format_number

MIN_SEEDS = 2
"""Seeds a comparison needs before it can say anything beyond seed noise."""


def num(value: float, digits: int = 3) -> str:
    """``value`` rounded for a page (``format_number``)."""
    return format_number(float(value), digits)


def std(values: Sequence[float]) -> float:
    """Sample standard deviation over seeds (ddof 1; 0 for a single seed)."""
    v = np.asarray(values, dtype=float)
    return float(v.std(ddof=1)) if len(v) > 1 else 0.0


def spread_text(values: Sequence[float], unit: str = "", digits: int = 3) -> str:
    """``3.12 ± 0.02 (5 seeds)`` or ``3.12 (1 seed)``: mean ± sample std over seeds."""
    v = np.asarray(values, dtype=float)
    if len(v) == 1:
        return f"{num(v[0], digits)}{unit} (1 seed)"
    return f"{num(v.mean(), digits)} ± {num(std(v), 2)}{unit} ({len(v)} seeds)"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A markdown table; cells are printed as given (format numbers before)."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
