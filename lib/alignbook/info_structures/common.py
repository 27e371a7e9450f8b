"""Seeds, t intervals over paired seeds and a paired bootstrap, shared by the chapter's notebooks."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from ..engine.metrics import format_number
from ..stats import t_quantile_975


def seed_list(seed: int, seeds: int) -> list[int]:
    """``seed, seed + 1, ..., seed + seeds - 1``."""
    return [seed + i for i in range(seeds)]


def mean_ci(values: Sequence[float]) -> tuple[float, float | None]:
    """Mean and the half-width of its 95% Student t interval (None for one value)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return float("nan"), None
    if len(v) == 1:
        return float(v[0]), None
    return float(v.mean()), t_quantile_975(len(v) - 1) * float(v.std(ddof=1)) / math.sqrt(len(v))


def side(values: Sequence[float], threshold: float = 0.0) -> str:
    """Where the 95% t interval of the mean lies: ``above``, ``below``, ``across`` or ``unknown`` (< 2 values)."""
    m, half = mean_ci(values)
    if half is None:
        return "unknown"
    return "above" if m - half > threshold else "below" if m + half < threshold else "across"


def ci_text(values: Sequence[float], digits: int = 3) -> str:
    """``0.41 ± 0.05 (95% CI, 5 seeds)`` or ``0.41 (1 seed)``."""
    m, half = mean_ci(values)
    n = len([x for x in values if x is not None and math.isfinite(x)])
    if half is None:
        return f"{format_number(m, digits)} (1 seed)"
    return f"{format_number(m, digits)} ± {format_number(half, 2)} (95% CI, {n} seeds)"


def paired_bootstrap(a: np.ndarray, b: np.ndarray, statistic: Callable[[np.ndarray, np.ndarray], float],
                     n_boot: int = 1000, seed: int = 0) -> tuple[float, float, float]:
    """(value, low, high): ``statistic(a, b)`` and its 95% percentile interval, resampling seeds (rows) in pairs."""
    rng = np.random.default_rng(seed)
    value = float(statistic(a, b))
    k = len(a)
    boots = []
    for _ in range(n_boot):
        idx = rng.integers(0, k, k)
        boots.append(statistic(a[idx], b[idx]))
    low, high = np.percentile(boots, [2.5, 97.5])
    return value, float(low), float(high)
