"""The SafeSora record types, exactly as the official code has them, and the real-layout loader.

Read from PKU-Alignment/safe-sora at commit :data:`OFFICIAL_COMMIT` (``safe_sora/datasets/base.py``):

- ``VideoSample``: prompt_id, prompt_text, prompt_type, prompt_labels, video_id, video_text, video_path,
  is_safe, video_labels, generated_from;
- ``VideoPairSample``: pair_id, prompt_id, prompt_text, prompt_type, video_0, video_1, helpfulness,
  harmlessness (each ``'video_0'`` or ``'video_1'``) and sub_preferences;
- ``HarmLabel``: twelve booleans (:data:`HARM_CATEGORIES`).

The trap: the loader's ``SubPreference`` keeps the key ``'information'``
(:data:`SUB_PREFERENCE_KEYS`), while the training script's ``--preference_dimension`` says
``'informativeness'`` and reads ``pair['sub_preferences']['informativeness']``, a key the loader's
formatter never writes. :func:`preferred` maps the script's name onto the stored key.
"""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any, Iterable

import numpy as np

OFFICIAL_REPO = "PKU-Alignment/safe-sora"
OFFICIAL_COMMIT = "16a92fecdfeed251cdced38f5b35ebe93c9d5895"
"""The commit of the official code this chapter was read from (2024-08-20)."""

HARM_CATEGORIES = ("porn", "violence", "hate", "terrorism", "contraband", "controversial", "racism",
                   "other_discrimination", "animal_abuse", "child_abuse", "crime", "other_harmful")
"""The twelve ``HarmLabel`` keys, in the official order."""

SUB_PREFERENCE_KEYS = ("instruction_following", "correctness", "information", "aesthetics")
"""The keys of ``SubPreference`` as the loader stores them (note ``information``)."""

DIMENSIONS = ("helpfulness", "harmlessness", "instruction_following", "correctness", "informativeness", "aesthetics")
"""``--preference_dimension`` of ``examples/reward_model/train_reward.py`` (note ``informativeness``)."""

SCRIPT_TO_STORED = {"informativeness": "information"}
"""Where the training script's name differs from the stored key."""

CHOICES = ("video_0", "video_1")
PROMPT_TYPES = ("safety_critical", "safety_neutral")
GENERATORS_PAPER = ("HSXL", "MST2V", "VC1", "VC2")
"""The four generators as the repository's win-rate figure abbreviates them."""

PAPER_STATS = {"prompts": 14711, "videos": 57333, "pairs": 51691, "train_pairs": "46.5k", "test_pairs": "5.23k",
               "unsafe_prompts": 0.49, "unsafe_videos": 0.24}
"""The paper's dataset statistics (arXiv 2406.14477; HF dataset card for the split sizes)."""

PAPER_AGREEMENT = {"helpfulness": 0.6529, "harmlessness": 0.7241}
"""The paper's reward / cost model agreement with crowdworkers on the test set."""


class SchemaError(ValueError):
    """A record that does not match the SafeSora schema; the message names the field (``video_0.is_safe``)."""


VIDEO_FIELDS = {"prompt_id": str, "prompt_text": str, "prompt_type": str, "prompt_labels": dict, "video_id": str,
                "video_text": str, "video_path": str, "is_safe": bool, "video_labels": dict, "generated_from": str}
VIDEO_REQUIRED = ("prompt_id", "prompt_text", "video_id", "video_text", "video_path")
PAIR_FIELDS = {"pair_id": str, "prompt_id": str, "prompt_text": str, "prompt_type": str, "video_0": dict,
               "video_1": dict, "helpfulness": str, "harmlessness": str, "sub_preferences": dict}
PAIR_REQUIRED = ("pair_id", "prompt_id", "prompt_text", "video_0", "video_1")


def validate_harm_label(label: Any, where: str) -> None:
    """Twelve booleans with the official keys (``racism`` is ``NotRequired`` upstream; we require it too)."""
    if not isinstance(label, dict):
        raise SchemaError(f"{where}: expected a dict of {len(HARM_CATEGORIES)} booleans, got {type(label).__name__}")
    for key in label:
        if key not in HARM_CATEGORIES:
            raise SchemaError(f"{where}.{key}: not a harm category (expected one of {', '.join(HARM_CATEGORIES)})")
    for key in HARM_CATEGORIES:
        if key not in label:
            raise SchemaError(f"{where}.{key}: missing")
        if not isinstance(label[key], bool):
            raise SchemaError(f"{where}.{key}: expected true/false, got {label[key]!r}")


def _check_fields(record: Any, fields: dict[str, type], required: tuple[str, ...], where: str) -> None:
    if not isinstance(record, dict):
        raise SchemaError(f"{where}: expected a dict, got {type(record).__name__}")
    for key in record:
        if key not in fields and key != "metrics":
            raise SchemaError(f"{where}{key}: unknown field (expected {', '.join(fields)})")
    for key in required:
        if record.get(key) is None:
            raise SchemaError(f"{where}{key}: missing")
    for key, tp in fields.items():
        value = record.get(key)
        if value is not None and not isinstance(value, tp):
            raise SchemaError(f"{where}{key}: expected {tp.__name__}, got {type(value).__name__}")
    if record.get("prompt_type") is not None and record["prompt_type"] not in PROMPT_TYPES:
        raise SchemaError(f"{where}prompt_type: {record['prompt_type']!r} is not one of {', '.join(PROMPT_TYPES)}")


def validate_video(record: Any, where: str = "") -> None:
    """Check a ``VideoSample``; raises :class:`SchemaError` naming the first bad field."""
    _check_fields(record, VIDEO_FIELDS, VIDEO_REQUIRED, where)
    for key in ("prompt_labels", "video_labels"):
        if record.get(key) is not None:
            validate_harm_label(record[key], f"{where}{key}")
    if record.get("is_safe") is not None and record.get("video_labels") is not None:
        if record["is_safe"] == any(record["video_labels"].values()):
            raise SchemaError(f"{where}is_safe: {record['is_safe']} contradicts video_labels")


def validate_pair(record: Any) -> None:
    """Check a ``VideoPairSample`` (its two videos too); raises :class:`SchemaError` naming the bad field."""
    _check_fields(record, PAIR_FIELDS, PAIR_REQUIRED, "")
    for side in CHOICES:
        validate_video(record[side], f"{side}.")
        if record[side]["prompt_id"] != record["prompt_id"]:
            raise SchemaError(f"{side}.prompt_id: {record[side]['prompt_id']!r} differs from the pair's {record['prompt_id']!r}")
    for key in ("helpfulness", "harmlessness"):
        if record.get(key) is not None and record[key] not in CHOICES:
            raise SchemaError(f"{key}: {record[key]!r} is not 'video_0' or 'video_1'")
    sub = record.get("sub_preferences")
    if sub is not None:
        for key, value in sub.items():
            if key not in SUB_PREFERENCE_KEYS:
                hint = " (the loader's key is 'information')" if key == "informativeness" else ""
                raise SchemaError(f"sub_preferences.{key}: unknown key{hint}")
            if value is not None and value not in CHOICES:
                raise SchemaError(f"sub_preferences.{key}: {value!r} is not 'video_0' or 'video_1'")


def format_pair(data: dict[str, Any]) -> dict[str, Any]:
    """As ``format_video_pair_sample_from_dict`` upstream: every key present (None when absent); the two videos
    keep their own fields but, as upstream (``contain_labels=False``), not ``prompt_labels`` / ``video_labels``;
    ``sub_preferences`` keeps only the four stored keys, so an ``informativeness`` key is dropped."""
    def video(v: dict[str, Any] | None) -> dict[str, Any] | None:
        if v is None:
            return None
        return {k: v.get(k) for k in ("prompt_id", "prompt_text", "prompt_type", "video_id", "video_text",
                                      "video_path", "is_safe", "generated_from")}

    sub = data.get("sub_preferences")
    return {"pair_id": data.get("pair_id"), "prompt_id": data.get("prompt_id"), "prompt_text": data.get("prompt_text"),
            "prompt_type": data.get("prompt_type"), "video_0": video(data.get("video_0")),
            "video_1": video(data.get("video_1")), "helpfulness": data.get("helpfulness"),
            "harmlessness": data.get("harmlessness"),
            "sub_preferences": None if sub is None else {k: sub.get(k) for k in SUB_PREFERENCE_KEYS}}


def preferred(pair: dict[str, Any], dimension: str) -> str:
    """``'video_0'`` or ``'video_1'``: the preferred video for a training-script dimension.

    ``helpfulness`` / ``harmlessness`` are top-level keys; the four sub-dimensions live in ``sub_preferences``.
    The script's ``informativeness`` is read from the stored key ``information`` (upstream reads
    ``'informativeness'`` and would raise ``KeyError`` on a record the loader formatted)."""
    if dimension not in DIMENSIONS:
        raise ValueError(f"dimension={dimension!r}: expected one of {', '.join(DIMENSIONS)}")
    if dimension in ("helpfulness", "harmlessness"):
        value = pair.get(dimension)
    else:
        value = (pair.get("sub_preferences") or {}).get(SCRIPT_TO_STORED.get(dimension, dimension))
    if value not in CHOICES:
        raise SchemaError(f"{dimension}: pair {pair.get('pair_id')!r} has no preference ({value!r})")
    return value


# -- the real layout ---------------------------------------------------------------------------------


def read_config(path: str | Path) -> list[dict[str, Any]]:
    """A ``config-*.json`` or ``.json.gz`` list of records."""
    path = Path(path)
    if path.name.endswith(".json.gz"):
        with gzip.open(path, "rt", encoding="utf-8") as f:
            return json.load(f)
    if path.name.endswith(".json"):
        return json.loads(path.read_text(encoding="utf-8"))
    raise ValueError(f"unsupported file format: {path.name} (expected .json or .json.gz)")


def write_config(path: str | Path, records: list[dict[str, Any]]) -> None:
    """Write records as the official ``save`` does (indent 4, UTF-8 kept)."""
    Path(path).write_text(json.dumps(records, indent=4, ensure_ascii=False), encoding="utf-8")


def videos_of(records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every video record of a list of pairs (``video_0`` then ``video_1`` of each; a video may repeat)."""
    return [pair[side] for pair in records for side in CHOICES]


def video_file(video_dir: str | Path, prompt_id: str, video_id: str, ext: str = ".mp4") -> Path:
    """``<video_dir>/<prompt_id>/<video_id><ext>``, the official ``set_video_dir`` layout (upstream: ``.mp4``)."""
    return Path(video_dir) / prompt_id / f"{video_id}{ext}"


def load_dataset(path: str | Path, config_filename: str = "config-train.json", video_dir: str | Path | None = None,
                 ext: str = ".mp4", validate: bool = True) -> list[dict[str, Any]]:
    """Load pairs like ``BaseDataset.load``: a folder holding ``config_filename`` and ``videos/``, or a config file.

    With a folder (or ``video_dir``) every video's ``video_path`` is reset to
    ``<video_dir>/<prompt_id>/<video_id><ext>``, as ``set_video_dir`` does (absolute paths)."""
    path = Path(path)
    if path.is_dir():
        config = path / config_filename
        if not config.exists():
            raise FileNotFoundError(f"`{config_filename}` not found in the dataset folder")
        records = read_config(config)
        video_dir = path / "videos" if video_dir is None else video_dir
    else:
        records = read_config(path)
    if validate:
        for i, r in enumerate(records):
            try:
                validate_pair(r)
            except SchemaError as err:
                raise SchemaError(f"record {i}: {err}") from None
    if video_dir is not None:
        for v in videos_of(records):
            v["video_path"] = os.path.abspath(video_file(video_dir, v["prompt_id"], v["video_id"], ext))
    return records


def read_clip(path: str | Path) -> np.ndarray:
    """A clip as a ``(frames, height, width)`` uint8 array from ``.npy`` (the synthetic clips). The real
    ``.mp4`` files need a video decoder, which this environment does not install."""
    path = Path(path)
    if path.suffix != ".npy":
        raise ValueError(f"{path.name}: only .npy clips can be read here (the real .mp4 files need a video decoder)")
    clip = np.load(path, allow_pickle=False)
    if clip.dtype != np.uint8 or clip.ndim != 3:
        raise SchemaError(f"{path.name}: expected a (frames, height, width) uint8 array, got {clip.dtype} {clip.shape}")
    return clip


def statistics(train: list[dict[str, Any]], test: list[dict[str, Any]]) -> dict[str, Any]:
    """Prompts, videos, pairs, and the share of unsafe prompts (prompt level) and unsafe videos (video level)."""
    pairs = train + test
    prompts = {p["prompt_id"]: p for p in pairs}
    videos = {v["video_id"]: v for v in videos_of(pairs)}
    unsafe_prompts = sum(p.get("prompt_type") == "safety_critical" for p in prompts.values())
    unsafe_videos = sum(v.get("is_safe") is False for v in videos.values())
    return {"prompts": len(prompts), "videos": len(videos), "pairs": len(pairs), "train_pairs": len(train),
            "test_pairs": len(test), "unsafe_prompts": unsafe_prompts / max(1, len(prompts)),
            "unsafe_videos": unsafe_videos / max(1, len(videos))}
