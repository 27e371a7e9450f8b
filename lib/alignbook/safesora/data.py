"""Notebook 01 writes the synthetic SafeSora in the real layout; later notebooks read it back from there.

The folder holds ``config-train.json`` and ``config-test.json`` (lists of ``VideoPairSample``),
``videos/<prompt_id>/<video_id>.npy`` (the clips; upstream ``.mp4``), and beside them what only a
synthetic world has: ``gold.json`` (gold scores and the latent truth of every clip), ``prompts.json``
(the latent attributes) and ``embeddings.npy`` (MiniLM vectors of the prompt texts, row order in
``embedding_ids.json``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import schema, world


def embed_texts(texts: list[str], device: str = "cpu") -> np.ndarray:
    """MiniLM (all-MiniLM-L6-v2) unit vectors, float32 ``(len(texts), 384)``, computed on ``device`` (a config's
    device field: notebook 01 embeds its prompts on the CPU in every profile, notebook 03 its captions on its own)."""
    from transformers.utils import logging as hf_logging

    from ..engine import devices
    from ..pretrained.embed import load_embedder

    progress = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        return load_embedder(devices.resolve(device)).encode(texts).cpu().numpy().astype(np.float32)
    finally:
        if progress:
            hf_logging.enable_progress_bar()


def dataset_folder(where: Any) -> Path:
    """The dataset folder inside notebook 01's run folder (a config with ``run_dir``, or the run folder itself)."""
    return Path(getattr(where, "run_dir", where)) / "dataset"


def write(cfg: world.DataConfig, folder: str | Path) -> dict[str, Any]:
    """Build the world and write it under ``folder``; returns the in-memory dataset."""
    if cfg.dataset != "synthetic":
        raise ValueError(f"dataset={cfg.dataset!r}: the real SafeSora needs the hub (31.8 GB of videos); download it and "
                         "read it with alignbook.safesora.schema.load_dataset")
    folder = Path(folder)
    data = world.build(cfg)
    for vid, clip in data["clips"].items():
        v = data["videos"][vid]
        path = schema.video_file(folder / "videos", v["prompt_id"], vid, ".npy")
        path.parent.mkdir(parents=True, exist_ok=True)
        np.save(path, clip, allow_pickle=False)
    schema.write_config(folder / "config-train.json", data["train"])
    schema.write_config(folder / "config-test.json", data["test"])
    (folder / "gold.json").write_text(json.dumps(data["gold"], sort_keys=True))
    (folder / "prompts.json").write_text(json.dumps(data["prompts"], sort_keys=True))
    texts = [p["text"] for p in data["prompts"]]
    np.save(folder / "embeddings.npy", embed_texts(texts), allow_pickle=False)
    (folder / "embedding_ids.json").write_text(json.dumps([p["prompt_id"] for p in data["prompts"]]))
    return data


def read(folder: str | Path) -> dict[str, Any]:
    """The dataset back from ``folder`` through the real-layout loader: pairs, clips, gold, prompts, embeddings."""
    folder = Path(folder)
    train = schema.load_dataset(folder, "config-train.json", ext=".npy")
    test = schema.load_dataset(folder, "config-test.json", ext=".npy")
    videos = {v["video_id"]: v for v in schema.videos_of(train + test)}
    clips = {vid: schema.read_clip(v["video_path"]) for vid, v in videos.items()}
    ids = json.loads((folder / "embedding_ids.json").read_text())
    emb = np.load(folder / "embeddings.npy", allow_pickle=False)
    return {"train": train, "test": test, "videos": videos, "clips": clips,
            "gold": json.loads((folder / "gold.json").read_text()),
            "prompts": {p["prompt_id"]: p for p in json.loads((folder / "prompts.json").read_text())},
            "embedding": {pid: emb[i] for i, pid in enumerate(ids)}}


def pack(data: dict[str, Any], path: str | Path) -> str:
    """Write an in-memory dataset (as :func:`read` returns it) to one checkpoint file that the units of a
    :func:`alignbook.engine.parallel.map_units` call read back with :func:`unpack`; returns the path."""
    from ..engine import checkpoints

    payload = {k: data[k] for k in ("train", "test", "gold", "videos", "prompts") if k in data}
    payload["clip_ids"] = list(data["clips"])
    payload["clips"] = torch_stack([data["clips"][v] for v in payload["clip_ids"]])
    payload["embedding_ids"] = list(data["embedding"])
    payload["embedding"] = torch_stack([data["embedding"][p] for p in payload["embedding_ids"]])
    checkpoints.save(path, payload)
    return str(path)


def unpack(path: str | Path) -> dict[str, Any]:
    """The dataset :func:`pack` wrote, with the same keys, values and order (clips and vectors as numpy arrays)."""
    from ..engine import checkpoints

    payload = checkpoints.load(path)
    clips, embedding = payload.pop("clips").numpy(), payload.pop("embedding").numpy()
    data = dict(payload)
    data["clips"] = {v: clips[i] for i, v in enumerate(data.pop("clip_ids"))}
    data["embedding"] = {p: embedding[i] for i, p in enumerate(data.pop("embedding_ids"))}
    return data


def torch_stack(arrays: list[Any]) -> Any:
    import torch

    return torch.from_numpy(np.stack([np.asarray(a) for a in arrays])) if arrays else torch.zeros(0)


def category_counts(records: list[dict[str, Any]], level: str) -> dict[str, int]:
    """Videos (unique) flagged per harm category at ``level`` (``prompt_labels`` or ``video_labels``)."""
    videos = {v["video_id"]: v for v in schema.videos_of(records)}
    return {c: sum(bool(v[level][c]) for v in videos.values()) for c in schema.HARM_CATEGORIES}


def label_disagreement(records: list[dict[str, Any]]) -> dict[str, float]:
    """Shares of (unique) videos whose prompt-level and video-level safety differ, each way."""
    videos = list({v["video_id"]: v for v in schema.videos_of(records)}.values())
    n = max(1, len(videos))
    ps_vu = sum(v["prompt_type"] == "safety_neutral" and not v["is_safe"] for v in videos) / n
    pu_vs = sum(v["prompt_type"] == "safety_critical" and v["is_safe"] for v in videos) / n
    return {"prompt_safe_video_unsafe": ps_vu, "prompt_unsafe_video_safe": pu_vs, "any": ps_vu + pu_vs}
