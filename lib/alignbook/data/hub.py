"""Loaders for the hub releases, with pinned revisions, exact schemas and no silent fallback.

``load("PKU-Alignment/PKU-SafeRLHF", "train")`` downloads (or reads from the ``HF_HOME`` cache)
the pinned revision with ``datasets.load_dataset`` and validates every row. A local folder laid
out like the hub repository (see :func:`write_hub_layout`) is accepted in place of the name.
Offline, asking for a hub name raises :class:`DatasetUnavailableError` explaining how to get the
data; it never falls back to the toy world.
"""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from pathlib import Path
from typing import Any, Iterable, Mapping

from .schemas import SCHEMAS, validate_rows


class DatasetUnavailableError(RuntimeError):
    """A hub dataset could not be loaded (offline, not cached, or no access)."""


@dataclasses.dataclass(frozen=True)
class HubDataset:
    """One hub release."""

    hub_id: str
    """Repository id on the Hugging Face hub."""
    revision: str | None
    """Pinned commit (40 hex digits), a branch/tag, or None where this project could not pin one."""
    schema: str
    """Key of :data:`alignbook.data.schemas.SCHEMAS` its rows follow."""
    splits: Mapping[str, int | None]
    """Split names and their published sizes (None: size not checked)."""
    layout: Mapping[str, tuple[str, ...]] = dataclasses.field(default_factory=dict)
    """Data files of each split inside the repository (for :func:`write_hub_layout`)."""

    @property
    def pinned(self) -> bool:
        return self.revision is not None and len(self.revision) == 40


_V1_SOURCES = ("Alpaca-7B", "Alpaca2-7B", "Alpaca3-8B")

HUB_DATASETS: dict[str, HubDataset] = {
    "PKU-Alignment/PKU-SafeRLHF": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF",
        "9421ffafec3fa40a1f1a7d567b4d525079477ecb",
        "pku-saferlhf-v1",
        {"train": 73907, "test": 8211},
        {split: tuple(f"data/{s}/{split}.jsonl" for s in _V1_SOURCES) for split in ("train", "test")},
    ),
    "PKU-Alignment/PKU-SafeRLHF-v0": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF", "v0", "pku-saferlhf-v0", {"train": None, "test": None},
        {"train": ("data/train.jsonl",), "test": ("data/test.jsonl",)},
    ),
    "PKU-Alignment/PKU-SafeRLHF-30K": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF-30K", None, "pku-saferlhf-v0", {"train": None, "test": None},
        {"train": ("train.jsonl",), "test": ("test.jsonl",)},
    ),
    "PKU-Alignment/PKU-SafeRLHF-10K": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF-10K", None, "pku-saferlhf-v0", {"train": None},
        {"train": ("train.jsonl",)},
    ),
    "PKU-Alignment/PKU-SafeRLHF-single-dimension": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF-single-dimension", None, "pku-saferlhf-single", {"train": None, "test": None},
        {"train": ("data/train.jsonl",), "test": ("data/test.jsonl",)},
    ),
    "PKU-Alignment/PKU-SafeRLHF-QA": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF-QA",
        "219fa024d11c79e28a2e2c444621d641b9689606",
        "pku-saferlhf-qa",
        {"train": 149858, "test": 4635},
        {"train": ("data/train-00000-of-00001.jsonl",), "test": ("data/test-00000-of-00001.jsonl",)},
    ),
    "PKU-Alignment/BeaverTails": HubDataset(
        "PKU-Alignment/BeaverTails", None, "beavertails",
        {"330k_train": None, "330k_test": None, "30k_train": None, "30k_test": None},
        {s: (f"round0/{s.split('_')[0]}/{s.split('_')[1]}.jsonl",) for s in ("330k_train", "330k_test", "30k_train", "30k_test")},
    ),
    "PKU-Alignment/BeaverTails-Evaluation": HubDataset(
        "PKU-Alignment/BeaverTails-Evaluation", None, "beavertails-evaluation", {"test": None},
        {"test": ("data/test.jsonl",)},
    ),
    "aligner/aligner-20K": HubDataset(
        "aligner/aligner-20K", None, "aligner", {"train": None}, {"train": ("train.jsonl",)},
    ),
    # Safe RLHF's PTX demonstrations (safe_rlhf/datasets/raw/alpaca.py loads 'tatsu-lab/alpaca', train)
    "tatsu-lab/alpaca": HubDataset(
        "tatsu-lab/alpaca", None, "alpaca", {"train": 52002}, {"train": ("data/train.jsonl",)},
    ),
}
"""The releases this book reads. Unpinned ones (revision None or a branch) warn when loaded."""

HUB_MODELS: dict[str, str | None] = {
    "PKU-Alignment/alpaca-7b-reproduced": None,
    "meta-llama/Llama-2-7b-hf": None,
}
"""Hub models the ``paper`` profiles load, with the commit each is pinned to. None means
*unpinned*: no commit hash could be verified from this workplace (the hub is unreachable here),
so the latest revision is loaded, with a warning. Pin one by writing its commit hash here or by
passing ``<field>_revision=<sha>``; the dry run (``alignbook run ... --dry-run``) shows each."""


def pin_of(name: str) -> tuple[bool, str | None]:
    """``(known, revision)`` for a hub dataset or model name: whether the book knows it, and its pin."""
    if name in HUB_DATASETS:
        spec = HUB_DATASETS[name]
        return True, spec.revision if spec.pinned else None
    if name in HUB_MODELS:
        return True, HUB_MODELS[name]
    return False, None


def model_revision(name: str, revision: str | None = None) -> str | None:
    """The revision to load hub model ``name`` at: ``revision`` if given, else its pin (warns if none)."""
    if revision:
        return revision
    pinned = HUB_MODELS.get(name)
    if pinned is None:
        warnings.warn(f"{name} is loaded at the latest revision, not a pinned commit: pass its "
                      "*_revision=<commit sha> to make the run reproducible", stacklevel=2)
    return pinned


def _offline_message(name: str, spec: HubDataset, error: BaseException) -> str:
    revision = spec.revision or "main"
    return (
        f"could not load the hub dataset {name!r} (revision {revision}): {type(error).__name__}: {error}.\n"
        "To get it, either\n"
        f"  * go online once (unset HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) and it is cached under HF_HOME;\n"
        f"  * or point HF_HOME at a cache that already holds {spec.hub_id}@{revision};\n"
        f"  * or download the repository files ({', '.join(next(iter(spec.layout.values()), ()))} ...) and "
        "pass the local folder as the dataset name.\n"
        "The toy world is never used in its place: ask for dataset='toy' explicitly."
    )


def _rows_from_dataset(dataset: Any, limit: int | None) -> list[dict[str, Any]]:
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    return [dict(row) for row in dataset]


def _split_files(path: Path, split: str) -> list[Path]:
    """The data files of ``split`` in a local copy of a hub repository (README ``configs``)."""
    import yaml

    readme = path / "README.md"
    if readme.exists() and readme.read_text().startswith("---"):
        card = yaml.safe_load(readme.read_text().split("---")[1]) or {}
        for config in card.get("configs") or []:
            if config.get("config_name", "default") != "default":
                continue
            for entry in config.get("data_files") or []:
                if entry.get("split") == split:
                    paths = entry["path"] if isinstance(entry["path"], list) else [entry["path"]]
                    return [f for pattern in paths for f in sorted(path.glob(pattern))]
    return sorted(path.glob(f"**/{split}.jsonl")) + sorted(path.glob(f"**/{split}-*.jsonl"))


def _read_local(path: Path, split: str, schema_name: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of ``split`` from a local folder in the hub's layout (README configs, jsonl/json files).

    Read with the standard library so it works where ``datasets`` cannot be imported.
    """
    marker = path / "alignbook_dataset.json"
    if schema_name is None and marker.exists():
        schema_name = json.loads(marker.read_text()).get("schema")
    files = _split_files(path, split)
    if not files:
        raise FileNotFoundError(
            f"{path} has no data files for split={split!r}; expected the hub layout (README.md configs "
            "listing jsonl files) as written by alignbook.data.write_hub_layout"
        )
    rows: list[dict[str, Any]] = []
    for file in files:
        if file.suffix == ".jsonl":
            rows += [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
        elif file.suffix == ".json":
            rows += json.loads(file.read_text())
        else:
            raise ValueError(f"{file}: only .jsonl and .json files are read locally; convert {file.suffix} first")
    return rows, schema_name


def load(
    name: str,
    split: str = "train",
    *,
    revision: str | None = None,
    limit: int | None = None,
    schema: str | None = None,
    validate: bool = True,
) -> list[dict[str, Any]]:
    """Rows of ``split`` of a hub release (or of a local folder in its layout), validated.

    ``name`` is a key of :data:`HUB_DATASETS` or a local folder; ``revision`` overrides the pin;
    ``schema`` is needed for a local folder written elsewhere than :func:`write_hub_layout`.
    """
    local = Path(os.path.expanduser(name))
    if local.exists():
        rows, schema_name = _read_local(local, split, schema)
        if limit is not None:
            rows = rows[:limit]
        if validate:
            if schema_name is None:
                raise ValueError(
                    f"dataset={name!r} is a local folder without alignbook_dataset.json; pass schema= "
                    f"(one of {', '.join(SCHEMAS)})"
                )
            validate_rows(rows, schema_name, where=f"{name}:{split}")
        return rows
    if name not in HUB_DATASETS:
        raise ValueError(
            f"dataset={name!r} is neither a local folder nor a known hub release; use 'toy', a local "
            f"folder, or one of: {', '.join(HUB_DATASETS)}"
        )
    spec = HUB_DATASETS[name]
    if split not in spec.splits:
        raise ValueError(f"split={split!r} is not a split of {name}; choose one of {list(spec.splits)}")
    revision = revision or spec.revision
    if not spec.pinned and revision == spec.revision:
        warnings.warn(
            f"{name} is loaded at {revision or 'the latest revision'}, not a pinned commit: pass "
            "revision='<commit sha>' to make the run reproducible", stacklevel=2
        )
    try:
        import datasets

        dataset = datasets.load_dataset(spec.hub_id, revision=revision, split=split)
    except Exception as error:  # offline, missing cache, gated repo: all end the same way
        raise DatasetUnavailableError(_offline_message(name, spec, error)) from error
    rows = _rows_from_dataset(dataset, limit)
    if validate:
        validate_rows(rows, schema or spec.schema, where=f"{name}@{revision}:{split}")
    return rows


def write_hub_layout(rows_by_split: Mapping[str, Iterable[Mapping[str, Any]]], folder: str | Path, name: str) -> Path:
    """Write rows into ``folder`` laid out like the hub repository of ``name``.

    The README's ``configs`` block lists each split's files as the hub card does, so
    ``datasets.load_dataset(folder, split=...)`` (and :func:`load`) read it as they would the hub.
    Used to test the ``paper`` profile's code path offline with toy rows.
    """
    import yaml

    if name not in HUB_DATASETS:
        raise ValueError(f"name={name!r} must be one of {', '.join(HUB_DATASETS)}")
    spec = HUB_DATASETS[name]
    folder = Path(folder)
    data_files = []
    for split, rows in rows_by_split.items():
        if split not in spec.layout:
            raise ValueError(f"split={split!r} is not a split of {name}; choose from {list(spec.layout)}")
        rows = list(rows)
        files = spec.layout[split]
        for index, relative in enumerate(files):
            target = folder / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            part = rows[index :: len(files)]  # spread rows over the per-source files
            target.write_text("".join(json.dumps(row) + "\n" for row in part))
        data_files.append({"split": split, "path": list(files)})
    card = {"configs": [{"config_name": "default", "data_files": data_files}]}
    (folder / "README.md").write_text("---\n" + yaml.safe_dump(card, sort_keys=False) + "---\n# local copy in the hub layout\n")
    (folder / "alignbook_dataset.json").write_text(json.dumps({"name": name, "schema": spec.schema}))
    return folder


def offline() -> bool:
    """Whether the hub may not be reached (``HF_HUB_OFFLINE`` set, as on the machines that build the book)."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def cached(name: str, revision: str | None = None) -> bool:
    """Whether hub model or dataset ``name`` (at ``revision``, else its pin) is in the local hub cache."""
    from huggingface_hub import try_to_load_from_cache

    if name in HUB_DATASETS:
        spec = HUB_DATASETS[name]
        repo, kind, probe = spec.hub_id, "dataset", "README.md"
        revision = revision or spec.revision
    else:
        repo, kind, probe = name, "model", "config.json"
        revision = revision or HUB_MODELS.get(name)
    found = try_to_load_from_cache(repo, probe, revision=revision or "main", repo_type=kind)
    return isinstance(found, str)


def missing_offline(fields: Mapping[str, str], revisions: Mapping[str, str | None]) -> list[str]:
    """The ``field=hub id`` pairs among ``fields`` that cannot be loaded here: the hub is offline and the
    id is not in the local cache (``revisions`` holds each field's ``<field>_revision`` where it has one)."""
    if not offline():
        return []
    return [f"{field}={name}" for field, name in fields.items() if not cached(name, revisions.get(field))]
