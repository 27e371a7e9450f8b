"""Notebook 04: tokens an annotator reads per comparison, with and without shared prefixes.

Reading a chain comparison means reading both answers: ``len(a) + len(b)`` tokens. A tree comparison
shows the shared prefix once, then both suffixes: ``len(a) + len(b) - shared(a, b)``. The trees and
chains are notebook 03's SmolLM2 generations (token ids of its tokenizer); every leaf pair of a prompt
is one comparison.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.config import BaseConfig, Count
from ..engine.metrics import format_number

PAPER_HH_TOKENS = (427.0, 364.3, 315.5)
"""Tokens per comparison on HH-RLHF as a secondary summary quotes them (the paper's annotation-cost table; the meaning
of each column could not be checked against the paper here)."""


MIN_PROMPTS = 5
"""Below this many prompts the bootstrap interval of the saving is not trusted: not testable."""


@dataclasses.dataclass(frozen=True)
class AnnotationConfig(BaseConfig):
    """Notebook 04: annotation cost of notebook 03's trees and chains."""

    bootstrap: Count = 1000
    """Bootstrap resamples of prompts for the interval of the saving."""


def shared_tokens(a: list[int], b: list[int]) -> int:
    """Length of the common leading token run of two answers."""
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def costs(trees: list[list[dict[str, Any]]], chains: list[list[list[int]]]) -> list[dict[str, float]]:
    """Per prompt: mean tokens per comparison for chain pairs, tree pairs read in full, tree pairs with the prefix shown once."""
    out = []
    for leaves, answers in zip(trees, chains):
        ids = [l["ids"] for l in leaves]
        tp = list(itertools.combinations(range(len(ids)), 2))
        cp = list(itertools.combinations(range(len(answers)), 2))
        full = [len(ids[i]) + len(ids[j]) for i, j in tp]
        once = [len(ids[i]) + len(ids[j]) - shared_tokens(ids[i], ids[j]) for i, j in tp]
        chain = [len(answers[i]) + len(answers[j]) for i, j in cp]
        out.append({"chain": float(np.mean(chain)), "tree_full": float(np.mean(full)), "tree_once": float(np.mean(once))})
    return out


def saving(rows: list[dict[str, float]]) -> float:
    """1 − (tokens with the prefix shown once) / (tokens read in full), over all tree comparisons."""
    return 1 - sum(r["tree_once"] for r in rows) / sum(r["tree_full"] for r in rows)


def run(cfg: AnnotationConfig, trees_path: Path) -> dict[str, Any]:
    data = json.loads(Path(trees_path).read_text())
    rows = costs(data["trees"], data["chains"])
    rng = np.random.default_rng(cfg.seed)
    boots = [saving([rows[i] for i in rng.integers(0, len(rows), len(rows))]) for _ in range(cfg.bootstrap)]
    low, high = np.percentile(boots, [2.5, 97.5])
    return {"rows": rows, "saving": saving(rows), "low": float(low), "high": float(high), "prompts": len(rows)}


def summary_markdown(res: dict[str, Any]) -> str:
    rows = res["rows"]
    m = {k: float(np.mean([r[k] for r in rows])) for k in ("chain", "tree_full", "tree_once")}
    return ("| comparison shown as | tokens per comparison (mean over prompts) |\n|---|---|\n"
            f"| chain pair, both answers | {format_number(m['chain'], 4)} |\n"
            f"| tree pair, both answers in full | {format_number(m['tree_full'], 4)} |\n"
            f"| tree pair, shared prefix once | {format_number(m['tree_once'], 4)} |\n\n"
            f"Saving from showing the prefix once: {format_number(100 * res['saving'], 3)}% "
            f"(95% bootstrap interval over {res['prompts']} prompts: {format_number(100 * res['low'], 3)}% to "
            f"{format_number(100 * res['high'], 3)}%).")


def verdict(res: dict[str, Any]) -> tuple[str, str]:
    """Fewer tokens with shared prefixes: shown when the bootstrap interval of the saving lies above 0 (at least MIN_PROMPTS prompts)."""
    text = (f"saving {format_number(100 * res['saving'], 3)}% (95% bootstrap interval {format_number(100 * res['low'], 3)}% to "
            f"{format_number(100 * res['high'], 3)}%, {res['prompts']} prompts); a secondary summary quotes about 21% for the paper.")
    if res["prompts"] < MIN_PROMPTS:
        return "not testable", text
    return ("shown" if res["low"] > 0 else "not shown"), text


def plot(res: dict[str, Any]) -> Any:
    from ..plotting import figure

    fig, ax = figure()
    m = [float(np.mean([r[k] for r in res["rows"]])) for k in ("chain", "tree_full", "tree_once")]
    ax.bar(["chain pair", "tree pair, in full", "tree pair, prefix once"], m, color=["C0", "C1", "C2"])
    ax.set_xlabel("how a comparison is shown")
    ax.set_ylabel("tokens read per comparison")
    ax.set_title("Annotation cost of notebook 03's answers")
    return fig
