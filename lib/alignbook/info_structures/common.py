"""Seeds, t intervals over paired seeds and a paired bootstrap, shared by the chapter's notebooks."""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..stats import ci_text, mean_ci, seed_list, side

__all__ = ["ci_text", "mean_ci", "paired_bootstrap", "seed_list", "side"]


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
