"""The chapter's verdicts, computed from per-seed numbers the notebooks measured.

Each function returns the verdict word (:data:`alignbook.engine.claims.VERDICTS`) and a sentence
naming the numbers (mean ± 95% t-interval half-width over seeds, with the seed count) and the
criterion. Criteria were fixed before any smoke run (see :mod:`.claims`). Episode costs are per
1000 environment steps (the paper's episode length), whatever the profile's episode length.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..engine.metrics import format_number
from ..stats import ci_bounds, ci_text

MIN_SEEDS = 2
"""Seeds a comparison needs before its interval says anything."""

AUROC_CHANCE = 0.5
"""A cost head that has not learned the hazards ranks hazard steps at chance."""


def per_1000(rows: Sequence[dict], repeat: int) -> list[float]:
    """Episode costs of ``rows`` scaled to 1000 env steps (agent steps × repeat)."""
    return [r["cost"] * 1000.0 / max(1, r["length"] * repeat) for r in rows]


def seed_means(rows_per_seed: Sequence[Sequence[dict]], key: str, repeat: int | None = None) -> list[float]:
    """Per seed, the mean over its episodes of ``key`` (``cost`` per 1000 env steps when ``repeat`` is given)."""
    out = []
    for rows in rows_per_seed:
        values = per_1000(rows, repeat) if (key == "cost" and repeat) else [r[key] for r in rows]
        out.append(float(np.mean(values)))
    return out


def _paired(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        raise ValueError(f"paired values need one per seed on both sides, got {len(a)} and {len(b)}")
    return a - b


def near_zero_verdict(costs: Sequence[float], limit: float, name: str) -> tuple[str, str]:
    """Shown when the 95% interval of the mean episode cost (per 1000 steps) lies below ``limit``;
    not shown when only the mean does or neither does; contrary when the interval lies above."""
    if len(costs) < MIN_SEEDS:
        return "not testable", f"{name}: {ci_text(costs)}; a verdict needs {MIN_SEEDS} seeds."
    bounds = ci_bounds(costs)
    if bounds is None:
        return "not testable", f"{name}: {ci_text(costs)}; a verdict needs {MIN_SEEDS} finite seeds."
    lo, hi = bounds
    text = f"{name}'s episode cost per 1000 steps is {ci_text(costs)}, against the limit b = {format_number(limit)}"
    if hi < limit:
        return "shown", text + ": the whole interval lies below b."
    if lo > limit:
        return "contrary", text + ": the whole interval lies above b (the learned model's cost predictions miss hazards; see notebook 1)."
    return "not shown", text + ": the interval contains b."


def lower_cost_verdict(unconstrained: Sequence[float], constrained: dict[str, Sequence[float]],
                       base_name: str = "CEM") -> tuple[str, str]:
    """Shown when, for every constrained method, the paired (by seed) 95% interval of
    unconstrained − constrained cost lies above 0; partly shown when it does for some; contrary when
    one lies wholly below 0; else not shown."""
    parts, sides = [], []
    for name, costs in constrained.items():
        diff = _paired(unconstrained, costs)
        bounds = ci_bounds(diff)
        side = "unknown" if bounds is None else "above" if bounds[0] > 0 else "below" if bounds[1] < 0 else "across"
        sides.append(side)
        parts.append(f"{base_name} − {name}: {ci_text(diff)}")
    if "unknown" in sides:
        return "not testable", "; ".join(parts) + f" (a verdict needs {MIN_SEEDS} seeds)."
    text = "Paired by seed, episode cost per 1000 steps, " + "; ".join(parts)
    if all(s == "above" for s in sides):
        return "shown", text + ": every interval lies above 0."
    if "below" in sides:
        return "contrary", text + ": a constrained method costs more beyond the seed spread."
    if "above" in sides:
        return "partly shown", text + ": only some intervals lie above 0."
    return "not shown", text + ": the intervals contain 0 (seed noise exceeds the difference at this budget)."


def keeps_reward_verdict(planner_returns: Sequence[float], constrained_returns: Sequence[float],
                         random_returns: Sequence[float], name: str) -> tuple[str, str]:
    """Not testable unless reward planning works at all (CEM's return interval above the random
    explorer's, paired by seed); then shown when the paired interval of constrained − CEM return is
    not wholly below 0, contrary when it is."""
    gain = _paired(planner_returns, random_returns)
    bounds = ci_bounds(gain)
    if bounds is None or bounds[0] <= 0:
        return "not testable", (f"CEM's return minus the random explorer's is {ci_text(gain)}: the planner does "
                                "not yet beat random exploration on reward, so there is no reward to keep at this budget.")
    diff = _paired(constrained_returns, planner_returns)
    b = ci_bounds(diff)
    if b is None:
        return "not testable", f"{name} − CEM return: {ci_text(diff)}; a verdict needs {MIN_SEEDS} seeds."
    text = f"CEM beats random exploration by {ci_text(gain)}; {name} − CEM return is {ci_text(diff)}"
    if b[1] < 0:
        return "contrary", text + ": the constrained planner gives up return beyond the seed spread."
    return "shown", text + ": the interval is not wholly below 0."


def auroc_verdict(auroc_per_seed: Sequence[Sequence[float]], horizon: int) -> tuple[str, str]:
    """Shown when the 95% interval over seeds of the held-out cost AUROC lies above 0.5 at k = 1 and at
    k = horizon; partly shown when only at k = 1; not shown otherwise."""
    a = np.asarray(auroc_per_seed, float)
    if a.shape[0] < MIN_SEEDS:
        return "not testable", f"{a.shape[0]} seed; a verdict needs {MIN_SEEDS}."
    one, last = a[:, 1], a[:, horizon]
    b1, bh = ci_bounds(one), ci_bounds(last)
    text = f"Held-out cost AUROC one step ahead {ci_text(one)}, {horizon} steps ahead {ci_text(last)}"
    if b1 is None or bh is None:
        return "not testable", (text + ": an interval needs the AUROC of at least two seeds, and it is defined only "
                                "for seeds whose held-out episodes have both hazard and safe steps; too few did here.")
    if b1[0] > AUROC_CHANCE and bh[0] > AUROC_CHANCE:
        return "shown", text + ": both intervals lie above chance (0.5)."
    if b1[0] > AUROC_CHANCE:
        return "partly shown", text + ": only the one-step interval lies above chance."
    return "not shown", text + ": the one-step interval reaches chance."
