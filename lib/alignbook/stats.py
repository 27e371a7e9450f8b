"""Small statistics the chapters share (no scipy in the lock): Student's t intervals over seeds."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
         2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045,
         2.042)
"""Two-sided 95% quantiles of Student's t for 1..30 degrees of freedom (standard tables)."""


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (table to 30; above, the
    Cornish-Fisher expansion, within 1e-3 of the exact value)."""
    if df < 1:
        raise ValueError(f"df={df} must be at least 1")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def seed_list(seed: int, seeds: int) -> list[int]:
    """The seeds of a run: ``seed, seed + 1, ..., seed + seeds - 1``."""
    return [seed + i for i in range(seeds)]


def _finite(values: Sequence[float]) -> np.ndarray:
    return np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)


def mean_ci(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% Student t interval over seeds (None for one value; NaN, None
    for none). Missing and non-finite values are left out."""
    v = _finite(values)
    if len(v) == 0:
        return float("nan"), None
    if len(v) == 1:
        return float(v[0]), None
    return float(v.mean()), t_quantile_975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))


def ci_bounds(values: Sequence[float]) -> tuple[float, float] | None:
    """(low, high) of the 95% interval of the mean, or None when there are fewer than 2 values."""
    mean, half = mean_ci(values)
    return None if half is None else (mean - half, mean + half)


def side(values: Sequence[float], threshold: float = 0.0) -> str:
    """Where the 95% interval lies relative to ``threshold``: ``above``, ``below``, ``across`` or
    ``unknown`` (fewer than 2 values)."""
    bounds = ci_bounds(values)
    if bounds is None:
        return "unknown"
    return "above" if bounds[0] > threshold else "below" if bounds[1] < threshold else "across"


def ci_text(values: Sequence[float], digits: int = 3, unit: str = "", seeds: bool = True) -> str:
    """``0.41 ± 0.05 (95% CI, 5 seeds)`` or ``0.41 (1 seed)``, rounded for a page; ``seeds=False``
    gives ``0.41 ± 0.05`` / ``0.41``, for a table that says once what the ± is (:func:`interval_note`)."""
    from .engine.metrics import format_number

    mean, half = mean_ci(values)
    if half is None:
        return f"{format_number(mean, digits)}{unit}" + (" (1 seed)" if seeds else "")
    text = f"{format_number(mean, digits)} ± {format_number(half, 2)}{unit}"
    return text + (f" (95% CI, {len(_finite(values))} seeds)" if seeds else "")


def interval_note(values: Sequence[float]) -> str:
    """The line under a table of :func:`ci_text` cells written with ``seeds=False``."""
    n = len(_finite(values))
    return f"Mean ± 95% interval over {n} seeds (t distribution)." if n > 1 else "One seed: no interval."
