"""The survey's frame (RICE, the alignment cycle) and its two tables, read from the CSV files in ``data/``.

The tables are facts typed for this book from the survey's figures (see ``data/README.md``): the
method x RICE relation table (the survey's Figure/Table in Section 1: filled circles for primary,
unfilled for secondary objectives) and the chart of safety-evaluation datasets (its Table 3).
"""

from __future__ import annotations

import csv
import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.config import BaseConfig

DATA = Path(__file__).parent / "data"
"""The chapter's tables (read by path: the install is editable)."""

RICE = ("robustness", "interpretability", "controllability", "ethicality")
"""The four principles, in the survey's order."""

DEFINITIONS = {
    "robustness": "the system's stability needs to be guaranteed across various environments",
    "interpretability": "the operation and decision-making process of the system should be clear and understandable",
    "controllability": "the system should be under the guidance and control of humans",
    "ethicality": "the system should adhere to society's norms and values",
}
"""The survey's one-line definitions (README of PKU-Alignment/AlignmentSurvey, 'Core Concepts')."""

CYCLE = {
    "forward alignment": ("learning from feedback", "learning under distribution shift"),
    "backward alignment": ("assurance", "governance"),
}
"""The alignment cycle: forward alignment (alignment training) and backward alignment (alignment refinement)."""

MARKS = {"strong": "●", "weaker": "○", "": ""}
"""A relation as the survey draws it: ● primary objective, ○ secondary objective."""


@dataclasses.dataclass(frozen=True)
class FrameConfig(BaseConfig):
    """Notebook 01: the survey's tables from data; nothing is trained."""


def read_csv(name: str) -> list[dict[str, str]]:
    """Rows of ``data/<name>`` as dicts of strings."""
    with open(DATA / name, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def relations() -> list[dict[str, str]]:
    """The method x RICE table: one row per method, each principle ``strong``, ``weaker`` or empty."""
    return read_csv("rice_relations.csv")


def datasets() -> list[dict[str, str]]:
    """The safety-evaluation chart: one row per (target, dataset)."""
    return read_csv("safety_datasets.csv")


def relation_matrix(rows: list[dict[str, str]]) -> np.ndarray:
    """Methods x principles: 2 for ●, 1 for ○, 0 for no mark."""
    code = {"strong": 2, "weaker": 1, "": 0}
    return np.array([[code[r[p]] for p in RICE] for r in rows], dtype=int)


def mark_counts(rows: list[dict[str, str]]) -> dict[str, dict[str, int]]:
    """``{principle: {"strong": n, "weaker": m}}``."""
    return {p: {k: sum(r[p] == k for r in rows) for k in ("strong", "weaker")} for p in RICE}


def release_year(text: str) -> float | None:
    """``"18/05"`` → 2018.33 (year + (month − 1)/12); ``"-"`` → None."""
    if not text or text.strip() == "-":
        return None
    yy, mm = text.split("/")
    return 2000 + int(yy) + (int(mm) - 1) / 12


def summary(rel: list[dict[str, str]], data: list[dict[str, str]]) -> dict[str, Any]:
    """Counts a reader can check against the survey's figures."""
    m = relation_matrix(rel)
    return {
        "methods": len(rel), "strong_marks": int((m == 2).sum()), "weaker_marks": int((m == 1).sum()),
        "relations_verified": sum(r["verified"] == "yes" for r in rel),
        "dataset_rows": len(data), "distinct_datasets": len({d["dataset"] for d in data}),
        "datasets_verified": sum(d["verified"] == "yes" for d in data),
        "datasets_without_release": sum(release_year(d["release"]) is None for d in data),
    }


def definitions_markdown() -> str:
    """RICE with the survey's definitions."""
    lines = ["| principle | the survey's definition |", "|---|---|"]
    lines += [f"| **{p.capitalize()}** | {DEFINITIONS[p]} |" for p in RICE]
    return "\n".join(lines)


def cycle_markdown() -> str:
    """The alignment cycle as a table."""
    lines = ["| part of the cycle | what it does | its areas |", "|---|---|---|",
             "| forward alignment | alignment training: produces trained systems from alignment requirements | "
             + ", ".join(CYCLE["forward alignment"]) + " |",
             "| backward alignment | alignment refinement: gains evidence of alignment and revises the requirements | "
             + ", ".join(CYCLE["backward alignment"]) + " |"]
    return "\n".join(lines)


def relations_markdown(rows: list[dict[str, str]]) -> str:
    """The relation table with ● and ○."""
    lines = ["| area | direction | method | R | I | C | E |", "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['category']} | {r['direction']} | {r['method']} | "
                     + " | ".join(MARKS[r[p]] for p in RICE) + " |")
    return "\n".join(lines)


def datasets_markdown(rows: list[dict[str, str]]) -> str:
    """The safety-evaluation chart (dataset, target, release, size, institution, form)."""
    lines = ["| target | dataset | release (YY/MM) | size | institution | form |", "|---|---|---|---|---|---|"]
    lines += [f"| {d['target']} | {d['dataset']} | {d['release']} | {d['size']} | {d['institution']} | {d['form']} |"
              for d in rows]
    return "\n".join(lines)


def plot_heatmap(rows: list[dict[str, str]]):
    """The relation table as a heatmap: methods down, principles across."""
    from matplotlib.colors import ListedColormap

    from ..plotting import figure

    m = relation_matrix(rows)
    fig, ax = figure(height=7.0)
    ax.imshow(m, cmap=ListedColormap(["#f4f4f4", "#9ecae1", "#08519c"]), vmin=0, vmax=2, aspect="auto")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            if m[i, j]:
                ax.text(j, i, "●" if m[i, j] == 2 else "○", ha="center", va="center",
                        color="white" if m[i, j] == 2 else "black", fontsize=8)
    ax.set_xticks(range(len(RICE)), [p.capitalize() for p in RICE])
    ax.set_yticks(range(len(rows)), [r["method"] for r in rows], fontsize=7)
    starts = [i for i in range(1, len(rows)) if rows[i]["category"] != rows[i - 1]["category"]]
    for s in starts:
        ax.axhline(s - 0.5, color="black", lw=0.8)
    ax.set_xlabel("RICE principle (● primary, ○ secondary objective)")
    ax.set_ylabel("method, by area of the survey")
    return fig


def plot_timeline(rows: list[dict[str, str]]):
    """Release month of each safety-evaluation dataset, one row per evaluation target."""
    from ..plotting import figure

    targets = list(dict.fromkeys(d["target"] for d in rows))
    fig, ax = figure(height=3.8)
    for k, target in enumerate(targets):
        group = sorted((d for d in rows if d["target"] == target and release_year(d["release"]) is not None),
                       key=lambda d: release_year(d["release"]))
        xs = [release_year(d["release"]) for d in group]
        ax.scatter(xs, [k] * len(xs), s=28, zorder=3)
        for j, (x, d) in enumerate(zip(xs, group)):
            ax.annotate(d["dataset"], (x, k), xytext=(0, (7, -12, 16, -21)[j % 4]), textcoords="offset points",
                        fontsize=6, ha="center")
    ax.set_yticks(range(len(targets)), targets)
    ax.set_ylim(-0.7, len(targets) - 0.3)
    ax.set_xlabel("first release (year)")
    ax.set_ylabel("evaluation target")
    ax.grid(axis="x", alpha=0.3)
    return fig
