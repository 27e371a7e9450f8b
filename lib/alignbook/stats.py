"""Small statistics the chapters share (no scipy in the lock): Student's t quantiles for intervals over seeds."""

from __future__ import annotations

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
