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


def _per_source(*splits: str, suffix: str = ".jsonl") -> dict[str, tuple[str, ...]]:
    """``data/<model>/<split><suffix>`` for each of the three response sources (the v1-era layout)."""
    return {split: tuple(f"data/{s}/{split}{suffix}" for s in _V1_SOURCES) for split in splits}


# Every pin below is a 40-hex commit read on the hub's own pages (commit lists, trees, blobs) unless its
# comment says otherwise; the evidence for each is in the comment beside it (research notes: issue 32,
# item 3). No PKU-Alignment code or card names a revision for any of these ids: safe-rlhf, aligner and
# safe-sora all load them without ``revision=``. Where a layout was not seen at the pinned revision the
# comment says so; a pinned load reads exactly the layout's files (``data_files``), so a wrong path fails
# there, loudly.
HUB_DATASETS: dict[str, HubDataset] = {
    "PKU-Alignment/PKU-SafeRLHF": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF",
        # main head "Update README.md" (jijiaming): its 7-hex prefix 9421ffa is shown as main on
        # https://huggingface.co/datasets/PKU-Alignment/PKU-SafeRLHF/tree/main ; the 40-hex form was seen only in
        # third-party pins of hub URLs (e.g. .../PKU-SafeRLHF/raw/9421ffafec3fa40a1f1a7d567b4d525079477ecb/README.md,
        # several independent repositories). A README-only commit: same data as d79b19b2043c4b168d8d64c61ef4ba4ed1ffe2c0
        # ("Remove noisy data points", 2024-09-10). The card's default config lists exactly these six files.
        "9421ffafec3fa40a1f1a7d567b4d525079477ecb",
        "pku-saferlhf-v1",
        {"train": 73907, "test": 8211},
        _per_source("train", "test"),
    ),
    "PKU-Alignment/PKU-SafeRLHF-v0": HubDataset(
        # the card links the branch .../PKU-SafeRLHF/tree/v0; no page seen names the commit it points at, so it
        # stays a branch name: UNPINNED. v0-era trees (e.g. .../tree/ff7ba91063016c78a225b0f74e1c0860bb18230f/round0,
        # .../tree/2d8577a5fe215c81d01854497c2549942446b533/round0) hold round0/{train,test}.jsonl.xz
        "PKU-Alignment/PKU-SafeRLHF", "v0", "pku-saferlhf-v0", {"train": None, "test": None},
        {"train": ("round0/train.jsonl.xz",), "test": ("round0/test.jsonl.xz",)},
    ),
    "PKU-Alignment/PKU-SafeRLHF-30K": HubDataset(
        # UNPINNED: no page seen names a commit. Layout not seen (the split came from PKU-SafeRLHF's
        # round0/30k/*.jsonl.xz, commit ff7ba910...); the unpinned load follows the card, not this layout
        "PKU-Alignment/PKU-SafeRLHF-30K", None, "pku-saferlhf-v0", {"train": None, "test": None},
        {"train": ("train.jsonl",), "test": ("test.jsonl",)},
    ),
    "PKU-Alignment/PKU-SafeRLHF-10K": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF-10K",
        # latest commit seen, "Remove samples with duplicate responses" (2023-07-20):
        # https://huggingface.co/datasets/PKU-Alignment/PKU-SafeRLHF-10K/commits/c8ee87634695ae44c5fa9bcdc5f1a5e7c5ae8e47
        # (.../tree/c8ee876... shows the round0 folder). File name inferred, not seen at this commit: round0/train.jsonl.gz
        # at b436f4bdafff8e943baa45d714e58051849d3a69, then the parent commit 95aa3d1 "Use `xz` compression method"
        "c8ee87634695ae44c5fa9bcdc5f1a5e7c5ae8e47", "pku-saferlhf-v0", {"train": None},
        {"train": ("round0/train.jsonl.xz",)},
    ),
    "PKU-Alignment/PKU-SafeRLHF-single-dimension": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF-single-dimension",
        # main head "Update README" (3 commits):
        # https://huggingface.co/datasets/PKU-Alignment/PKU-SafeRLHF-single-dimension/tree/877416778ed53479d63315795558fe83495276d8
        # The card has no configs; it puts each model's responses "in the corresponding folders under /data".
        # Sizes (72,996 / 8,109) come from a third party only: not asserted.
        "877416778ed53479d63315795558fe83495276d8", "pku-saferlhf-single", {"train": None, "test": None},
        _per_source("train", "test"),
    ),
    "PKU-Alignment/PKU-SafeRLHF-QA": HubDataset(
        "PKU-Alignment/PKU-SafeRLHF-QA",
        # "Update README" (Donghai, 2024-06-14), the last commit touching data/ (7-hex 219fa02 on
        # https://huggingface.co/datasets/PKU-Alignment/PKU-SafeRLHF-QA/tree/main/data and in the commit list
        # .../commits/a4200bf784bad53d73fa0536ab4306e475644143); the 40-hex form was read on a mirror of the hub's
        # blob page, hf.xwall.us.kg./datasets/PKU-Alignment/PKU-SafeRLHF-QA/blob/219fa024d11c79e28a2e2c444621d641b9689606/README.md.
        # Same data as main head a4200bf784bad53d73fa0536ab4306e475644143 (later commits change the README only).
        # Files: data/{Alpaca-7B,Alpaca2-7B,Alpaca3-8B}/{train,test}.jsonl, added by 4dac4aa ("Update dataset",
        # 2024-06-12; tree .../tree/33af7cdcada81d439ff33a89f8d4616b4000b6c8/data/Alpaca-7B). The parquet files
        # data/{train,test}-00000-of-00001.parquet (3cb7410) are gone, yet the card at this commit still declares
        # their configs (data/train-*, matching no file) and features -- see the schema's note in schemas.py --
        # so a pinned load reads the layout's files explicitly. The card's 149858/4635 describe that parquet:
        # sizes not asserted.
        "219fa024d11c79e28a2e2c444621d641b9689606",
        "pku-saferlhf-qa",
        {"train": None, "test": None},
        _per_source("train", "test"),
    ),
    "PKU-Alignment/BeaverTails": HubDataset(
        "PKU-Alignment/BeaverTails",
        # main head "Re-upload BeaverTails-30k and refactoring" (2023-10-17):
        # https://huggingface.co/datasets/PKU-Alignment/BeaverTails/tree/8401fe609d288129cc684a9b3be6a93e41cfe678/round0/30k
        # and .../commits/main. Card configs: round0/330k/*.jsonl.xz, round0/30k/*.jsonl.gz
        "8401fe609d288129cc684a9b3be6a93e41cfe678", "beavertails",
        {"330k_train": None, "330k_test": None, "30k_train": None, "30k_test": None},
        {"330k_train": ("round0/330k/train.jsonl.xz",), "330k_test": ("round0/330k/test.jsonl.xz",),
         "30k_train": ("round0/30k/train.jsonl.gz",), "30k_test": ("round0/30k/test.jsonl.gz",)},
    ),
    "PKU-Alignment/BeaverTails-Evaluation": HubDataset(
        # UNPINNED: main head seen only as 7-hex a93205d ("Use `xz` compression method",
        # https://huggingface.co/datasets/PKU-Alignment/BeaverTails-Evaluation/commits/main). Layout not seen at
        # main (v1/test.jsonl.gz at 464b97a); the unpinned load follows the card, not this layout
        "PKU-Alignment/BeaverTails-Evaluation", None, "beavertails-evaluation", {"test": None},
        {"test": ("data/test.jsonl",)},
    ),
    # UNPINNED: no page seen names a commit of aligner/aligner-20K; layout not seen (the unpinned load follows the card)
    "aligner/aligner-20K": HubDataset(
        "aligner/aligner-20K", None, "aligner", {"train": None}, {"train": ("train.jsonl",)},
    ),
    # Safe RLHF's PTX demonstrations (safe_rlhf/datasets/raw/alpaca.py loads 'tatsu-lab/alpaca', train)
    "tatsu-lab/alpaca": HubDataset(
        "tatsu-lab/alpaca",
        # main head "Update README.md" (rtaori, 8 commits):
        # https://huggingface.co/datasets/tatsu-lab/alpaca/commits/dce01c9b08f87459cf36a430d809084718273017/README.md
        # and .../tree/main; the parquet was added by ad0d1bfba0420c623c7adafce3482ded744d4e21 (.../tree/ad0d1bf.../data)
        "dce01c9b08f87459cf36a430d809084718273017", "alpaca", {"train": 52002},
        {"train": ("data/train-00000-of-00001-a09b74b3ef9c3b56.parquet",)},
    ),
}
"""The releases this book reads. Unpinned ones (revision None or a branch) warn when loaded."""

HUB_MODELS: dict[str, str | None] = {
    # main head "Update README.md" (2024-05-09): https://huggingface.co/PKU-Alignment/alpaca-7b-reproduced/tree/f4f1d993c68a98b2f953bb87208992eab221d1dc
    # and .../commits/main. Same weights, config and tokenizer as c3c3c2d302639221403664c57946392bf6b26b80
    # ("Convert model checkpoint to safetensors", 2024-04-19); revisions before it ship a slow tokenizer
    "PKU-Alignment/alpaca-7b-reproduced": "f4f1d993c68a98b2f953bb87208992eab221d1dc",
    # UNPINNED: gated; no hub page of it is readable here. The only lead, 01c7f73d771dfac7d292323805ebc428287df4f9,
    # comes from third-party cache paths, not from the hub: not used
    "meta-llama/Llama-2-7b-hf": None,
    # UNPINNED: safesora/03's paper backbone (safe-sora's finetune_reward_model.sh). Only third-party leads
    # (cache snapshot aecae02b7dee5c249e096dcb0ce546eb6f811806 in a Space); not used
    "LanguageBind/Video-LLaVA-7B": None,
}
"""Hub models the ``paper`` profiles load, with the commit each is pinned to. None means
*unpinned*: no commit hash could be verified on the hub's pages, so the latest revision is loaded,
with a warning. Pin one by writing its commit hash here or by passing ``<field>_revision=<sha>``; the
dry run (``alignbook run ... --dry-run``) shows each."""


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
    """The data files of ``split`` in a local copy of a hub repository (README ``configs``, else by name)."""
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
                    files = [f for pattern in paths for f in sorted(path.glob(pattern))]
                    if files:
                        return files
    # no card, or a stale one whose configs match no file (PKU-SafeRLHF-QA's card at its pin): the files by name
    return [f for suffix in DATA_SUFFIXES for pattern in (f"**/{split}{suffix}", f"**/{split}-*{suffix}")
            for f in sorted(path.glob(pattern))]


DATA_SUFFIXES = (".jsonl", ".jsonl.xz", ".jsonl.gz", ".json", ".json.gz", ".parquet")
"""The data-file formats a local copy of a hub repository may hold (those the releases use)."""


def _suffix(file: str | Path) -> str:
    name = Path(file).name
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if name.endswith(suffix):
            return suffix
    raise ValueError(f"{file}: unknown data-file format; the local reader knows {', '.join(DATA_SUFFIXES)}")


def _open_text(file: Path, mode: str = "rt") -> Any:
    """``file`` opened as UTF-8 text, through lzma or gzip where its name says it is compressed."""
    if file.name.endswith(".xz"):
        import lzma

        return lzma.open(file, mode, encoding="utf-8")
    if file.name.endswith(".gz"):
        import gzip

        return gzip.open(file, mode, encoding="utf-8")
    return open(file, mode[0], encoding="utf-8")


def _pyarrow() -> Any:
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError as error:  # pragma: no cover - pyarrow is in the venv
        raise ImportError("reading or writing .parquet data files needs pyarrow (pip install pyarrow); it could "
                          f"not be imported: {error}") from error
    return pyarrow


def read_data_file(file: str | Path) -> list[dict[str, Any]]:
    """The rows of one data file of a hub repository: ``.jsonl`` (plain, ``.xz`` or ``.gz``), ``.json``
    (a list of rows, plain or ``.gz``) or ``.parquet`` (through pyarrow)."""
    file = Path(file)
    suffix = _suffix(file)
    if suffix == ".parquet":
        return _pyarrow().parquet.read_table(file).to_pylist()
    with _open_text(file) as handle:
        if suffix.startswith(".jsonl"):
            return [json.loads(line) for line in handle if line.strip()]
        return json.load(handle)


def write_data_file(rows: Iterable[Mapping[str, Any]], file: str | Path) -> Path:
    """Write ``rows`` to ``file`` in the format its name says (the inverse of :func:`read_data_file`)."""
    file = Path(file)
    suffix = _suffix(file)
    rows = [dict(row) for row in rows]
    file.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".parquet":
        pa = _pyarrow()
        pa.parquet.write_table(pa.Table.from_pylist(rows), file)
        return file
    with _open_text(file, "wt") as handle:
        if suffix.startswith(".jsonl"):
            handle.writelines(json.dumps(row) + "\n" for row in rows)
        else:
            json.dump(rows, handle)
    return file


def _read_local(path: Path, split: str, schema_name: str | None) -> tuple[list[dict[str, Any]], str | None]:
    """Rows of ``split`` from a local folder in the hub's layout (README configs; jsonl, jsonl.xz, jsonl.gz,
    json, json.gz or parquet files).

    Read with the standard library (lzma, gzip; pyarrow for parquet) so it works where ``datasets``
    cannot be imported.
    """
    marker = path / "alignbook_dataset.json"
    if schema_name is None and marker.exists():
        schema_name = json.loads(marker.read_text()).get("schema")
    files = _split_files(path, split)
    if not files:
        raise FileNotFoundError(
            f"{path} has no data files for split={split!r}; expected the hub layout (README.md configs "
            f"listing data files: {', '.join(DATA_SUFFIXES)}) as written by alignbook.data.write_hub_layout"
        )
    rows: list[dict[str, Any]] = []
    for file in files:
        rows += read_data_file(file)
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
    # At the pinned revision the layout is the files the release has there: read exactly those (the card's
    # configs may be stale, as PKU-SafeRLHF-QA's are). Another revision, or none, follows its own card.
    data_files = {split: list(spec.layout[split])} if spec.pinned and revision == spec.revision and split in spec.layout else None
    try:
        import datasets

        dataset = datasets.load_dataset(spec.hub_id, revision=revision, split=split, data_files=data_files)
    except Exception as error:  # offline, missing cache, gated repo: all end the same way
        raise DatasetUnavailableError(_offline_message(name, spec, error)) from error
    rows = _rows_from_dataset(dataset, limit)
    if validate:
        validate_rows(rows, schema or spec.schema, where=f"{name}@{revision}:{split}")
    return rows


def write_hub_layout(rows_by_split: Mapping[str, Iterable[Mapping[str, Any]]], folder: str | Path, name: str) -> Path:
    """Write rows into ``folder`` laid out like the hub repository of ``name``.

    Each file is written in the format its name in ``HUB_DATASETS[name].layout`` says (``.jsonl``,
    ``.jsonl.xz``, ``.jsonl.gz``, ``.parquet``), so the folder is an exact copy of the release's layout.
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
            # spread rows over the per-source files, each in the format its name says (.jsonl.xz, .parquet, ...)
            write_data_file(rows[index :: len(files)], folder / relative)
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
