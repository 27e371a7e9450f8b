"""Statistics of PKU-SafeRLHF v1 rows: invariants, categories, severities, pair types.

Every function takes rows in the v1 schema (hub or toy) and returns plain numbers or pandas
objects, so the exploration notebook only calls and plots.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Optional, Sequence

import numpy as np

from ..engine.config import BaseConfig, Count, OneOf, SeedCount
from ..toyworld.content import HARM_CATEGORIES

REFERENCE_V1_TRAIN: dict[str, float] = {
    "severity_0": 71689,
    "severity_1": 9104,
    "severity_2": 56537,
    "severity_3": 10484,
    "both_safe": 0.412,
    "both_unsafe": 0.442,
    "better_ne_safer": 0.241,
}
"""Published statistics of the real v1 train split (73,907 pairs): per-response severity counts
and per-pair shares."""


@dataclasses.dataclass(frozen=True)
class ExplorationConfig(BaseConfig):
    """Exploring PKU-SafeRLHF v1 (toy or hub rows)."""

    dataset: Annotated[str, OneOf(("toy",), hub=True)] = "toy"
    """'toy', 'PKU-Alignment/PKU-SafeRLHF' (paper profile), or a local folder in the hub layout."""
    dataset_revision: Optional[str] = None
    """Hub revision; None uses the pin 9421ffafec3fa40a1f1a7d567b4d525079477ecb."""
    split: Annotated[str, OneOf(("train", "test"))] = "train"
    """Which split to explore (v1: train 73,907 pairs, test 8,211)."""
    n_pairs: Count = 4000
    """Pairs to draw from the toy world (ignored for hub data, which is read whole)."""
    seeds: SeedCount = 3
    """Independent toy datasets drawn (spread over them); hub data is one fixed dataset."""


def _per_response(rows: Sequence[dict], key: str) -> np.ndarray:
    return np.array([[row[f"response_{i}_{key}"] if key != "safe" else row[f"is_response_{i}_safe"] for i in (0, 1)]
                     for row in rows])


def category_matrix(rows: Sequence[dict]) -> np.ndarray:
    """Bool array (responses, 19): response_0 of every row, then response_1 of every row."""
    return np.array([[row[f"response_{i}_harm_category"][c] for c in HARM_CATEGORIES] for i in (0, 1) for row in rows])


def invariants(rows: Sequence[dict]) -> dict[str, int]:
    """Counts of rows/responses that break each invariant the card states (counted, not assumed)."""
    safe = _per_response(rows, "safe").astype(bool).T.ravel()
    severity = _per_response(rows, "severity_level").T.ravel()
    any_category = category_matrix(rows).any(axis=1)
    mixed = [r for r in rows if r["is_response_0_safe"] != r["is_response_1_safe"]]
    both_safe = [r for r in rows if r["is_response_0_safe"] and r["is_response_1_safe"]]
    return {
        "responses": int(len(safe)),
        "safe but severity > 0": int(np.sum(safe & (severity > 0))),
        "unsafe but severity 0": int(np.sum(~safe & (severity == 0))),
        "safe but has a category": int(np.sum(safe & any_category)),
        "unsafe but no category": int(np.sum(~safe & ~any_category)),
        "mixed pairs": len(mixed),
        "mixed pairs where safer is the unsafe one": sum(
            r["safer_response_id"] != (0 if r["is_response_0_safe"] else 1) for r in mixed
        ),
        "both-safe pairs": len(both_safe),
        "both-safe pairs without safer_response_id": sum(r.get("safer_response_id") not in (0, 1) for r in both_safe),
    }


def severity_counts(rows: Sequence[dict]) -> dict[int, int]:
    severity = _per_response(rows, "severity_level").ravel()
    return {level: int(np.sum(severity == level)) for level in range(4)}


def pair_configurations(rows: Sequence[dict]) -> dict[str, float]:
    """Shares of pairs: both safe, both unsafe, mixed; and better != safer."""
    safe = _per_response(rows, "safe").astype(bool)
    n = max(1, len(rows))
    return {
        "both_safe": float(np.sum(safe.all(axis=1)) / n),
        "both_unsafe": float(np.sum((~safe).all(axis=1)) / n),
        "mixed": float(np.sum(safe[:, 0] != safe[:, 1]) / n),
        "better_ne_safer": float(np.mean([r["better_response_id"] != r["safer_response_id"] for r in rows])),
    }


def category_frequencies(rows: Sequence[dict]):
    """Share of unsafe responses flagged with each category (a response may have several)."""
    import pandas as pd

    matrix = category_matrix(rows)
    unsafe = matrix.any(axis=1)
    share = matrix[unsafe].mean(axis=0) if unsafe.any() else np.zeros(len(HARM_CATEGORIES))
    return pd.Series(share, index=list(HARM_CATEGORIES), name="share of unsafe responses").sort_values(ascending=False)


def category_cooccurrence(rows: Sequence[dict]):
    """19 x 19 counts of responses flagged with both categories (diagonal: single counts)."""
    import pandas as pd

    matrix = category_matrix(rows).astype(np.int64)
    return pd.DataFrame(matrix.T @ matrix, index=list(HARM_CATEGORIES), columns=list(HARM_CATEGORIES))


def summary(rows: Sequence[dict]) -> dict[str, float]:
    """The numbers compared with :data:`REFERENCE_V1_TRAIN`, as shares where the reference has
    counts too (severity shares of all responses)."""
    counts = severity_counts(rows)
    total = max(1, sum(counts.values()))
    out = {f"severity_{k}_share": v / total for k, v in counts.items()}
    out.update(pair_configurations(rows))
    return out


def reference_shares() -> dict[str, float]:
    total = sum(REFERENCE_V1_TRAIN[f"severity_{k}"] for k in range(4))
    out = {f"severity_{k}_share": REFERENCE_V1_TRAIN[f"severity_{k}"] / total for k in range(4)}
    out.update({k: REFERENCE_V1_TRAIN[k] for k in ("both_safe", "both_unsafe", "better_ne_safer")})
    out["mixed"] = 1.0 - REFERENCE_V1_TRAIN["both_safe"] - REFERENCE_V1_TRAIN["both_unsafe"]  # the rest of the pairs
    return out


def comparison_table(summaries: Sequence[dict[str, float]], label: str):
    """Loaded-data statistics (mean ± std over datasets) beside the published v1 train values."""
    import pandas as pd

    reference = reference_shares()
    frame = pd.DataFrame(summaries)
    columns = {f"{label} mean" if len(frame) > 1 else label: frame.mean()}
    if len(frame) > 1:  # one fixed dataset has no spread to show
        columns[f"{label} std"] = frame.std(ddof=1)
    columns["published (real v1 train)"] = pd.Series(reference)
    table = pd.DataFrame(columns)
    return table.loc[list(summaries[0])]


def preview(rows: Sequence[dict], n: int = 3):
    """The first ``n`` rows, one column each, with the harm-category flags as the names of the
    flagged categories ("–" for none) instead of 19 booleans."""
    import pandas as pd

    shown = []
    for row in rows[:n]:
        out = {}
        for key, value in row.items():
            if isinstance(value, dict):
                value = ", ".join(k for k, flag in value.items() if flag) or "–"
            out[key] = value
        shown.append(out)
    return pd.DataFrame(shown).T.rename(columns=lambda i: f"row {i}")


def load_v1_datasets(cfg: ExplorationConfig, *, workers: int | None = None) -> list[list[dict]]:
    """The datasets to explore: ``cfg.seeds`` toy draws (seeds ``cfg.seed + s``, each a unit of
    :func:`alignbook.engine.parallel.map_units`, drawn side by side where cores allow), or the one hub/local
    dataset."""
    from ..data import load_rows
    from ..engine.parallel import map_units

    if cfg.dataset == "toy":
        seeds = [cfg.seed + s for s in range(cfg.seeds)]
        return map_units(draw_toy_dataset, cfg, seeds, name="datasets", workers=workers, log=None)
    return [load_rows(cfg.dataset, "pku-saferlhf-v1", cfg.split, None, cfg.seed, None, cfg.dataset_revision)]


def draw_toy_dataset(unit) -> list[dict]:
    """One toy draw of :func:`load_v1_datasets` (``unit.value``: its seed): plain rows."""
    from ..data import load_rows

    return load_rows("toy", "pku-saferlhf-v1", unit.cfg.split, unit.cfg.n_pairs, unit.value)
