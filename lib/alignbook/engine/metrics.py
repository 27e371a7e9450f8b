"""Headline numbers: glued into the page and appended to the run's ``metrics.json``.

The book's Results page is built from every run's ``metrics.json``, so each number there
carries the profile that produced it. Figures and tables read these files; they never retrain.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

METRICS_FILE = "metrics.json"


def _jsonable(value: Any) -> Any:
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def load_metrics(run_dir: str | Path) -> dict[str, dict[str, Any]]:
    path = Path(run_dir) / METRICS_FILE
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def reproducible(metrics: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The metrics a seeded rerun must reproduce exactly: all but wall-clock measurements (``timing``)."""
    return {name: entry for name, entry in metrics.items() if not (isinstance(entry, dict) and entry.get("timing"))}


def record(
    cfg: Any,
    name: str,
    value: Any,
    description: str = "",
    *,
    spread: Any = None,
    paper: Any = None,
    unit: str = "",
    seeds: int | None = None,
    display: bool = False,
    timing: bool = False,
) -> Any:
    """Record a headline metric of this run.

    ``cfg`` is the notebook's resolved config (its ``profile`` and ``run_dir`` label the value).
    ``spread`` is the std or CI half-width over seeds and ``seeds`` how many there were (a value
    from one seed is shown as "1 seed", not "± 0"); ``paper`` is the paper's number for the same
    quantity (shown beside ours on the Results page, never in place of it). ``timing`` marks a
    wall-clock measurement of this machine (seconds, tokens/s): it differs between any two runs, so
    it is left out wherever runs are compared number for number (:func:`reproducible`). The value is also
    glued (``myst_nb.glue``) under ``name`` so prose can cite it with ``{glue:text}`.
    """
    value = _jsonable(value)
    run_dir = Path(cfg.run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    metrics = load_metrics(run_dir)
    metrics[name] = {
        "value": value,
        "spread": _jsonable(spread),
        "paper": paper,
        "unit": unit,
        "description": description,
        "profile": cfg.profile,
        "seed": cfg.seed,
        "seeds": seeds,
    }
    if timing:
        metrics[name]["timing"] = True
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    try:
        from myst_nb import glue

        glue(name, value, display=display)
    except ImportError:  # outside the book (plain python, tests) gluing is meaningless
        pass
    return value


def format_number(value: Any, digits: int = 3) -> str:
    """A number for a page: ``digits`` significant figures, no float noise (``16.58``, not
    ``16.580000000000002``), integers as they are, very small or large values in e-notation."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}".replace(",", " ") if abs(value) >= 10_000 else str(value)
    if not math.isfinite(value):
        return "not available"
    if value == 0:
        return "0"
    if 1e-3 <= abs(value) < 1e5:
        magnitude = math.floor(math.log10(abs(value)))
        decimals = max(digits - 1 - magnitude, 0)
        text = f"{value:.{decimals}f}"
        return "0" if float(text) == 0 else text
    return f"{value:.{digits - 1}e}"


def format_value(entry: dict[str, Any]) -> str:
    """A recorded metric as a reader sees it: value, ± spread and how many seeds, unit.

    ``0.412 ± 0.031 (3 seeds)``, ``12.5 % (1 seed)``, ``81.3 s``; a spread without a seed count is
    shown alone; a value of one seed never carries a spread.
    """
    value, spread, unit = entry.get("value"), entry.get("spread"), entry.get("unit") or ""
    seeds = entry.get("seeds")
    text = format_number(value)
    if isinstance(value, (int, float)) and not isinstance(value, bool) and unit:
        text += f" {unit}"
    if seeds == 1:
        return f"{text} (1 seed)"
    if isinstance(spread, (int, float)) and not isinstance(spread, bool) and math.isfinite(spread):
        text += f" ± {format_number(float(spread), 2)}"
        if unit and isinstance(value, (int, float)):
            text = text.replace(f" {unit} ±", " ±") + f" {unit}"
    if isinstance(seeds, int) and seeds > 1:
        text += f" ({seeds} seeds)"
    return text
