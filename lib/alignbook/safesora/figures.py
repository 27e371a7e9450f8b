"""Notebook 01's tables and the clip figure."""

from __future__ import annotations

from typing import Any


from ..engine.metrics import format_number
from . import world
from .schema import HARM_CATEGORIES, PAPER_STATS


def _pct(x: float) -> str:
    return f"{format_number(100 * x, 3)}%"


def stats_markdown(stats: dict[str, Any]) -> str:
    """Our dataset's statistics beside the paper's (the paper's column is the paper's, not ours)."""
    rows = [("prompts", f"{stats['prompts']:,}", f"{PAPER_STATS['prompts']:,}"),
            ("videos", f"{stats['videos']:,}", f"{PAPER_STATS['videos']:,}"),
            ("preference pairs", f"{stats['pairs']:,}", f"{PAPER_STATS['pairs']:,}"),
            ("train / test pairs", f"{stats['train_pairs']} / {stats['test_pairs']}",
             f"{PAPER_STATS['train_pairs']} / {PAPER_STATS['test_pairs']}"),
            ("unsafe prompts", _pct(stats["unsafe_prompts"]), _pct(PAPER_STATS["unsafe_prompts"])),
            ("unsafe prompt–video pairs", _pct(stats["unsafe_videos"]), _pct(PAPER_STATS["unsafe_videos"]))]
    lines = ["| | ours (synthetic) | the paper (real) |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    lines += ["", "The paper's column is the paper's (arXiv 2406.14477 and the dataset card); ours is this run's synthetic world."]
    return "\n".join(lines)


def pair_markdown(pair: dict[str, Any]) -> str:
    """One pair's fields, nested as stored (paths shortened to the layout, labels to the categories set)."""
    def labels(d: dict[str, bool]) -> str:
        on = [k for k, v in d.items() if v]
        return ", ".join(on) if on else "none"

    lines = ["| field | value |", "|---|---|"]
    for k in ("pair_id", "prompt_id", "prompt_text", "prompt_type", "helpfulness", "harmlessness"):
        lines.append(f"| {k} | {pair[k]} |")
    for k, v in pair["sub_preferences"].items():
        lines.append(f"| sub_preferences.{k} | {v} |")
    for side in ("video_0", "video_1"):
        v = pair[side]
        lines.append(f"| {side}.video_id | {v['video_id']} |")
        lines.append(f"| {side}.video_path | videos/{v['prompt_id']}/{v['video_id']}.npy |")
        lines.append(f"| {side}.generated_from | {v['generated_from']} |")
        lines.append(f"| {side}.is_safe | {v['is_safe']} |")
        lines.append(f"| {side}.prompt_labels (true) | {labels(v['prompt_labels'])} |")
        lines.append(f"| {side}.video_labels (true) | {labels(v['video_labels'])} |")
    return "\n".join(lines)


def disagreement_markdown(dis: dict[str, float], prompt_counts: dict[str, int], video_counts: dict[str, int]) -> str:
    lines = [f"Prompt-safe but video-unsafe: {_pct(dis['prompt_safe_video_unsafe'])} of videos; prompt-unsafe but "
             f"video-safe: {_pct(dis['prompt_unsafe_video_safe'])}.", "",
             "| category | videos flagged at prompt level | videos flagged at video level |", "|---|---|---|"]
    lines += [f"| {c} | {prompt_counts[c]} | {video_counts[c]} |" for c in HARM_CATEGORIES]
    return "\n".join(lines)


def plot_clips(ds: dict[str, Any]) -> Any:
    """Frames 0, 3 and 7 of one prompt's four clips (one row per generator)."""
    from ..plotting import figure

    pid = next(r["prompt_id"] for r in ds["train"] if r["prompt_type"] == "safety_critical")
    fig, axes = figure(ncols=3, nrows=4, height=6.4)
    for g in range(4):
        vid = f"{pid}-v{g}"
        clip = ds["clips"][vid]
        for k, f in enumerate((0, 3, 7)):
            ax = axes[g, k]
            ax.imshow(clip[f], cmap="gray", vmin=0, vmax=255)
            ax.set_xticks([])
            ax.set_yticks([])
            if k == 0:
                ax.set_ylabel(world.GENERATOR_NAMES[g], fontsize=8)
            if g == 3:
                ax.set_xlabel(f"frame {f}", fontsize=8)
    fig.suptitle("One safety-critical prompt, four generators: " + ds["videos"][f"{pid}-v0"]["prompt_text"][:60], fontsize=8)
    return fig


