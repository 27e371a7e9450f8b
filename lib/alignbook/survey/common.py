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


SECONDS_PER_OP = 10e-6
"""Assumed seconds per dispatched torch op on a GPU: the chapter's models (tables, logistic regressions, MLPs of a
few thousand weights) are bound by launching small kernels one after another, not by arithmetic (eager PyTorch;
the ops per step are counted on each demonstration's own trainer with a dispatch-mode counter, on the CPU path,
an upper bound for CUDA's fused Adam)."""


def op_work(ops: float, train_flops: float, params: float, notes: list[str]) -> Any:
    """The :class:`alignbook.engine.estimate.Work` of ``ops`` launch-bound torch ops (fp32: the chapter sets no precision)."""
    from ..engine.estimate import Work

    return Work(train_flops=train_flops, resident_params=params, trainable_params=params,
                other_seconds=ops * SECONDS_PER_OP, precision="fp32",
                notes=notes + [f"{ops:.3g} torch ops at {SECONDS_PER_OP * 1e6:g} µs each (launch-bound; assumed)", "fp32"])
