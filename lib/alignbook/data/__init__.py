"""Dataset layer: exact schemas, pinned hub loaders, and the toy world's rows in the same schemas.

``load_rows(dataset, schema, split, n, seed)`` is what notebooks call: ``dataset="toy"`` gives
toy-world rows, a hub name or a local folder gives the release's rows; both are validated.
"""

from __future__ import annotations

from typing import Any

from .hub import HUB_DATASETS, DatasetUnavailableError, HubDataset, load, write_hub_layout
from .schemas import BEAVERTAILS_CATEGORIES, SCHEMAS, Schema, SchemaError, validate_rows
from .toy import toy_rows, v1_to_qa, v1_to_v0


def load_rows(
    dataset: str,
    schema: str,
    split: str = "train",
    n: int | None = None,
    seed: int = 0,
    world: Any = None,
    revision: str | None = None,
) -> list[dict[str, Any]]:
    """Rows for a notebook: the toy world's (``dataset="toy"``, ``n`` rows, split picks the seed
    stream) or a release's (hub name or local folder, first ``n`` rows), validated against ``schema``."""
    if dataset == "toy":
        if n is None:
            raise ValueError("dataset='toy' needs n= (how many rows to generate)")
        stream = {"train": 0, "test": 1_000_003, "validation": 2_000_003}.get(split, 3_000_017)
        rows = toy_rows(schema, n, seed + stream, world)
        validate_rows(rows, schema, where=f"toy:{split}")
        return rows
    return load(dataset, split, revision=revision, limit=n, schema=schema)


__all__ = [
    "BEAVERTAILS_CATEGORIES",
    "HUB_DATASETS",
    "SCHEMAS",
    "DatasetUnavailableError",
    "HubDataset",
    "Schema",
    "SchemaError",
    "load",
    "load_rows",
    "toy_rows",
    "v1_to_qa",
    "v1_to_v0",
    "validate_rows",
    "write_hub_layout",
]
