"""Notebook 02: moderation from the prompt only against moderation from prompt and video.

Both moderators are multi-label classifiers over the twelve categories trained on the **video-level**
``video_labels`` of the training videos (binary cross-entropy); the text-only one sees the MiniLM
vector of the prompt, the other also the clip (frame encoder, max over frames). A video is flagged
unsafe when any category's probability exceeds a threshold, one per moderator, chosen for the best
macro-F1 on the training videos (without it the text-only moderator, which cannot know whether a
generator complied, never reaches 0.5 and flags nothing). Metrics on the test videos: per-label F1,
macro-F1 over the categories present in the test set, and unsafe recall / precision.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..engine.config import BaseConfig, Count, NonNegative, Positive, Width, SeedCount
from ..engine.devices import Device
from ..engine.metrics import format_number
from ..stats import ci_text, interval_note, mean_ci, seed_list, side
from ..engine import devices
from .models import Moderator
from .schema import HARM_CATEGORIES, videos_of


@dataclasses.dataclass(frozen=True)
class ModerationConfig(BaseConfig):
    """Notebook 02: text-only against text + video moderators."""

    epochs: Count = 12
    """Passes over the training videos."""
    batch_size: Count = 128
    """Videos per step."""
    lr: Positive = 3e-3
    """Adam learning rate."""
    weight_decay: NonNegative = 0.0
    """Adam weight decay."""
    hidden: Width = 64
    """Width of the moderators."""
    seeds: SeedCount = 3
    """Paired seeds (initialisation and batch order); both moderators share each seed."""
    device: Device = "cpu"
    """Where the moderators train and predict: 'cpu', 'cuda', 'cuda:N' or 'auto'."""

    STEP_OPS = {False: 109, True: 207}
    """Dispatched torch ops of one training step of the text-only and the text + video moderator (forward, loss,
    backward, Adam), counted on :func:`train_moderator`."""

    def work(self):
        """What notebook 02 computes (:mod:`alignbook.engine.estimate`): both moderators for every seed, ``epochs``
        passes over the training videos in steps of ``batch_size`` (6 FLOPs per multiply-accumulate and video),
        every video scored once more for the threshold and the test. The data's size is notebook 01's in the same
        profile (:data:`.world.PROFILE_PROMPTS`, 4 videos a prompt, 10 % of prompts held out)."""
        from ..engine.estimate import Work
        from .models import TEXT_DIM, moderator_macs
        from .world import PROFILE_PROMPTS, SECONDS_PER_OP

        prompts = PROFILE_PROMPTS[self.profile]
        train = 4 * (prompts - max(1, round(0.1 * prompts)))
        videos = 4 * prompts
        steps = self.epochs * -(-train // self.batch_size)
        macs = {video: moderator_macs(self.hidden, video) for video in (False, True)}
        ops = self.seeds * steps * sum(self.STEP_OPS.values())
        h = self.hidden
        params = (TEXT_DIM + 1) * h + 208 + 1168 + 1025 * h + (2 * h + 1) * h + 13 * 12  # the video moderator, the larger
        return Work(train_flops=self.seeds * sum(6.0 * m * self.epochs * train + 2.0 * m * (train + videos)
                                                 for m in macs.values()),
                    resident_params=params, trainable_params=params, other_seconds=ops * SECONDS_PER_OP, precision="fp32",
                    notes=[f"2 moderators × {self.seeds} seeds × {self.epochs} epochs × {train:,} videos "
                           f"(notebook 01's {prompts:,} prompts, assumed)",
                           f"{ops:.3g} torch ops at {SECONDS_PER_OP * 1e6:g} µs each (launch-bound; assumed)", "fp32"])


def arrays(data: dict[str, Any], records: list[dict[str, Any]]) -> dict[str, Any]:
    """Unique videos of ``records``: text vectors, clips, 12-column video labels, prompt-level unsafe flags."""
    videos = list({v["video_id"]: v for v in videos_of(records)}.values())
    return {"ids": [v["video_id"] for v in videos],
            "text": torch.tensor(np.stack([data["embedding"][v["prompt_id"]] for v in videos])),
            "clips": torch.tensor(np.stack([data["clips"][v["video_id"]] for v in videos])),
            "y": torch.tensor([[float(v["video_labels"][c]) for c in HARM_CATEGORIES] for v in videos]),
            "prompt_unsafe": np.array([v["prompt_type"] == "safety_critical" for v in videos])}


def train_moderator(cfg: ModerationConfig, train: dict[str, Any], video: bool, seed: int) -> Moderator:
    """Fit one moderator with Adam on binary cross-entropy over the twelve labels, on ``cfg.device`` (the
    training videos go there once; the batch order is drawn on the CPU from ``seed``)."""
    device = devices.resolve(cfg.device)
    torch.manual_seed(seed)
    model = Moderator(len(HARM_CATEGORIES), cfg.hidden, video=video).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    text, clips, y = (train[k].to(device) for k in ("text", "clips", "y"))
    n = len(y)
    g = torch.Generator().manual_seed(seed)
    for _ in range(cfg.epochs):
        for idx in torch.randperm(n, generator=g).split(cfg.batch_size):
            idx = idx.to(device)
            logits = model(text[idx], clips[idx] if video else None)
            loss = F.binary_cross_entropy_with_logits(logits, y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
    return model.eval()


def predict(model: Moderator, part: dict[str, Any]) -> np.ndarray:
    """Probabilities ``(videos, 12)``, computed on the model's device."""
    device = next(model.parameters()).device
    with torch.no_grad():
        clips = part["clips"].to(device) if model.video else None
        return torch.sigmoid(model(part["text"].to(device), clips)).cpu().numpy()


def f1(y: np.ndarray, p: np.ndarray) -> float:
    """F1 of boolean predictions ``p`` against truth ``y`` (0 when there is nothing to find and nothing found is false)."""
    tp, fp, fn = float((y & p).sum()), float((~y & p).sum()), float((y & ~p).sum())
    return 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else 1.0


def scores(y: np.ndarray, prob: np.ndarray, threshold: float = 0.5) -> dict[str, Any]:
    """Per-label F1 (categories present in ``y``), macro-F1, unsafe recall and precision at ``threshold``."""
    y, pred = y.astype(bool), prob > threshold
    present = [i for i in range(y.shape[1]) if y[:, i].any()]
    per = {HARM_CATEGORIES[i]: f1(y[:, i], pred[:, i]) for i in present}
    uy, up = y.any(1), pred.any(1)
    return {"per_label": per, "macro_f1": float(np.mean(list(per.values()))),
            "unsafe_recall": float((uy & up).sum() / max(1, uy.sum())),
            "unsafe_precision": float((uy & up).sum() / max(1, up.sum()))}


THRESHOLDS = tuple(np.round(np.arange(0.05, 0.951, 0.05), 2))


def tune_threshold(y: np.ndarray, prob: np.ndarray) -> float:
    """The probability threshold (one for all labels) with the best macro-F1 on the training videos."""
    return float(max(THRESHOLDS, key=lambda t: scores(y, prob, t)["macro_f1"]))


def run(cfg: ModerationConfig, data: dict[str, Any], *, workers: int | None = None) -> dict[str, Any]:
    """Both moderators over the paired seeds; their test scores and (CPU) state dicts.

    Each (moderator, seed) is a unit of :func:`alignbook.engine.parallel.map_units` (:func:`train_unit`; side
    by side where cores allow, ``workers=1`` keeps them in this process): the dataset is written once to
    ``<run_dir>/inputs/dataset.pt`` (:func:`.data.pack`), each unit writes its weights to
    ``<run_dir>/moderators/<kind>-<seed>.pt``."""
    from ..engine import checkpoints
    from ..engine.parallel import map_units
    from .data import pack

    devices.resolve(cfg.device)
    test = arrays(data, data["test"])
    inputs = pack(data, Path(cfg.run_dir) / "inputs" / "dataset.pt")
    seeds = seed_list(cfg.seed, cfg.seeds)
    units = [{"kind": kind, "seed": s} for s in seeds for kind in ("text", "video")]
    done = map_units(train_unit, cfg, units, name="moderators", context=inputs, workers=workers, log=None)
    out: dict[str, Any] = {"seeds": seeds, "text": [], "video": [], "states": {}}
    for unit, result in zip(units, done):
        out[unit["kind"]].append(result)
        key = f"{unit['kind']}-{unit['seed']}"
        out["states"][key] = checkpoints.load(Path(cfg.run_dir) / "moderators" / f"{key}.pt")
    out["test_videos"] = len(test["ids"])
    return out


def train_unit(unit) -> dict[str, Any]:
    """One moderator of :func:`run` (``unit.value``: ``{"kind": "text" | "video", "seed": s}``; ``unit.context``:
    the packed dataset): trains it, saves its weights, returns its test scores and threshold."""
    from ..engine import checkpoints
    from .data import unpack

    cfg, kind, seed = unit.cfg, unit.value["kind"], unit.value["seed"]
    data = unpack(unit.context)
    train, test = arrays(data, data["train"]), arrays(data, data["test"])
    model = train_moderator(cfg, train, kind == "video", seed)
    threshold = tune_threshold(train["y"].numpy(), predict(model, train))
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    checkpoints.save(Path(cfg.run_dir) / "moderators" / f"{kind}-{seed}.pt", state)
    return {**scores(test["y"].numpy(), predict(model, test), threshold), "threshold": threshold}


def differences(res: dict[str, Any], key: str) -> list[float]:
    """Per seed: text + video minus text only."""
    return [v[key] - t[key] for v, t in zip(res["video"], res["text"])]


def table_markdown(res: dict[str, Any]) -> str:
    """Macro-F1, unsafe recall and precision for both moderators (mean ± 95% CI over seeds), and the paired difference."""
    lines = ["| metric | text only | text + video | text + video − text only |", "|---|---|---|---|"]
    for key, name in (("macro_f1", "macro-F1"), ("unsafe_recall", "unsafe recall"), ("unsafe_precision", "unsafe precision")):
        lines.append(f"| {name} | {ci_text([r[key] for r in res['text']], seeds=False)} | "
                     f"{ci_text([r[key] for r in res['video']], seeds=False)} | {ci_text(differences(res, key), seeds=False)} |")
    lines += ["", interval_note(differences(res, "macro_f1"))]
    return "\n".join(lines)


def per_label_markdown(res: dict[str, Any]) -> str:
    """Per-label F1, mean over seeds."""
    cats = list(res["video"][0]["per_label"])
    lines = ["| category | F1 text only | F1 text + video |", "|---|---|---|"]
    for c in cats:
        t = np.mean([r["per_label"][c] for r in res["text"]])
        v = np.mean([r["per_label"][c] for r in res["video"]])
        lines.append(f"| {c} | {format_number(float(t), 2)} | {format_number(float(v), 2)} |")
    return "\n".join(lines)


MIN_DISAGREEMENT = 0.01
"""Each kind of prompt/video label disagreement must reach this share of test videos (fixed before any run)."""


def verdict(res: dict[str, Any], disagreement: dict[str, float]) -> tuple[str, str]:
    """Shown: both kinds of disagreement ≥ MIN_DISAGREEMENT of test videos, and the paired 95% intervals of
    text + video − text only above 0 for macro-F1 and for unsafe recall (≥ 2 seeds)."""
    d_f1, d_rec = differences(res, "macro_f1"), differences(res, "unsafe_recall")
    text = (f"Prompt-safe but video-unsafe {format_number(100 * disagreement['prompt_safe_video_unsafe'], 2)}% and "
            f"prompt-unsafe but video-safe {format_number(100 * disagreement['prompt_unsafe_video_safe'], 2)}% of test videos; "
            f"text + video − text only: macro-F1 {ci_text(d_f1)}, unsafe recall {ci_text(d_rec)}.")
    if len(d_f1) < 2:
        return "not testable", text + " One seed cannot give an interval."
    kinds = (disagreement["prompt_safe_video_unsafe"] >= MIN_DISAGREEMENT
             and disagreement["prompt_unsafe_video_safe"] >= MIN_DISAGREEMENT)
    sides = (side(d_f1), side(d_rec))
    if kinds and sides == ("above", "above"):
        return "shown", text
    if "below" in sides:
        return "contrary", text
    if kinds and "above" in sides:
        return "partly shown", text
    return "not shown", text


def plot(res: dict[str, Any]) -> Any:
    from ..plotting import figure

    fig, ax = figure()
    keys = (("macro_f1", "macro-F1"), ("unsafe_recall", "unsafe recall"), ("unsafe_precision", "unsafe precision"))
    x = np.arange(len(keys))
    for k, (kind, label) in enumerate((("text", "text only"), ("video", "text + video"))):
        m = [mean_ci([r[key] for r in res[kind]]) for key, _ in keys]
        ax.bar(x + (k - 0.5) * 0.38, [a for a, _ in m], 0.38, yerr=[b or 0 for _, b in m], label=label, capsize=3)
    ax.set_xticks(x, [name for _, name in keys])
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("score on test videos")
    ax.set_xlabel("metric (95% CI over seeds)")
    ax.set_title("Moderating the video, not only the prompt")
    ax.legend(loc="lower right")
    return fig
