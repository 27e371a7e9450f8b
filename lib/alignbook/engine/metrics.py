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


def record(
    cfg: Any,
    name: str,
    value: Any,
    description: str = "",
    *,
    spread: Any = None,
    paper: Any = None,
    unit: str = "",
    display: bool = False,
) -> Any:
    """Record a headline metric of this run.

    ``cfg`` is the notebook's resolved config (its ``profile`` and ``run_dir`` label the value).
    ``spread`` is the std or CI half-width over seeds, ``paper`` the paper's number for the same
    quantity (shown beside ours on the Results page, never in place of it). The value is also
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
    }
    (run_dir / METRICS_FILE).write_text(json.dumps(metrics, indent=2, sort_keys=True))
    try:
        from myst_nb import glue

        glue(name, value, display=display)
    except ImportError:  # outside the book (plain python, tests) gluing is meaningless
        pass
    return value


def format_value(entry: dict[str, Any]) -> str:
    value, spread, unit = entry.get("value"), entry.get("spread"), entry.get("unit") or ""
    text = f"{value:.4g}" if isinstance(value, float) else str(value)
    if spread is not None:
        text += f" ± {spread:.2g}" if isinstance(spread, float) else f" ± {spread}"
    return f"{text} {unit}".strip()
