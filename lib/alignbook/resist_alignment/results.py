"""The chapter's claims as data: the paper's statement and number, the metric that tests it, the criterion.

Each claim names the notebook and recorded metric it is judged on and how: a recorded verdict
(``status``, written by the notebook from its intervals), an interval against a threshold
(``above``/``below``: the recorded value ± its recorded 95% half-width), or a closed-form check
(``near``). :func:`evaluate` applies the criteria to the measured metrics; nothing here is typed
from a run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from ..engine.config import BaseConfig


@dataclasses.dataclass(frozen=True)
class ResistResultsConfig(BaseConfig):
    """Notebook 05: each claim of the paper beside this chapter's measurement and verdict."""


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of the paper and how this chapter tests it."""

    claim: str
    """The paper's statement, in short."""
    paper: str
    """The paper's evidence (numbers from a secondary summary of v6 where marked)."""
    notebook: str
    """The notebook whose recorded metric decides it."""
    metric: str
    """The recorded metric (``alignbook.record``)."""
    kind: str
    """``status`` (a recorded verdict word), ``above``/``below`` (the 95% interval against ``threshold``),
    or ``near`` (|value − threshold| < ``tolerance``)."""
    threshold: float = 0.0
    tolerance: float = 0.0
    setting: str = ""
    """Where it is tested (model, data, profile-independent part)."""


SECONDARY = "secondary summary of v6"

CLAIMS: tuple[Claim, ...] = (
    Claim("Theorem 4.2: the alignment set's compression rate moves k times faster than the pre-training set's, "
          "with opposite sign (k: pre-training size over alignment size)", "derivation (Section 4)", "resist-alignment/01_theory",
          "theory_slope_first_order", "near", threshold=1.0, tolerance=1e-3,
          setting="closed-form volume-weighted model: log-log slope of the rate ratio against k"),
    Claim("Resistance: inverse alignment reaches a lower training loss than forward alignment, for every pair "
          "of slices", f"Table 1, Llama2-7B on Alpaca: inverse − forward −0.043 on average over 3 pairs ({SECONDARY})",
          "resist-alignment/02_resistance", "resistance_loss_verdict", "status",
          setting="SmolLM2-135M-Instruct, refusal SFT slices, training loss"),
    Claim("Resistance, with the target's own peakedness removed", "not in the paper (this chapter's control "
          "for a confound)", "resist-alignment/02_resistance", "resistance_excess_verdict", "status",
          setting="SmolLM2-135M-Instruct, excess loss"),
    Claim("Control: the resistance asymmetry shrinks without pre-training", "not in the paper (the issue's "
          "control)", "resist-alignment/02_resistance", "resistance_control_verdict", "status",
          setting="the same pipeline from a small model with no pre-training, excess loss relative to forward loss"),
    Claim("Rebound: after more alignment data, fewer unsafe samples bring the model back within KL ε = 0.01",
          f"Table 3, Llama2-7B: 961 / 844 / 801 / 729 after 1k / 2k / 5k / 10k safe samples ({SECONDARY})",
          "resist-alignment/03_rebound", "rebound_verdict_epsilon", "status",
          setting="SmolLM2-135M-Instruct, exact per-token KL to θ0"),
    Claim("Rebound: a more aligned model falls back faster at first", "Section 5 (figures)",
          "resist-alignment/03_rebound", "rebound_verdict_slope", "status",
          setting="SmolLM2-135M-Instruct, initial KL slope, largest minus smallest N_a"),
    Claim("The same, relative to how far the model has to fall (secondary: added after the first smoke run)",
          "not in the paper", "resist-alignment/03_rebound", "rebound_verdict_relative_slope", "status",
          setting="SmolLM2-135M-Instruct, initial slope as a share of the KL after alignment"),
    Claim("Elasticity: performance falls fast, then slowly once near the pre-training distribution",
          "abstract, Section 5", "resist-alignment/03_rebound", "rebound_verdict_shape", "status",
          setting="SmolLM2-135M-Instruct, early/late KL drop"),
    Claim("Elasticity grows with the amount of pre-training", "Section 5 (TinyLlama checkpoints)",
          "resist-alignment/04_toy", "toy_amount_effect", "above",
          setting="toy transformer, exact KL: share of the shift undone, most − least pre-training"),
    Claim("Elasticity grows with model size", "Section 5 (Qwen 0.5B–7B)", "resist-alignment/04_toy",
          "toy_size_effect", "above", setting="toy transformer, exact KL: largest − smallest model"),
    Claim("The pull is toward the model's own pre-training distribution (not any data's optimum)",
          "implied by the elasticity account", "resist-alignment/04_toy", "toy_own_vs_foreign", "above",
          setting="toy transformer: own prior minus a foreign prior, gap closed"),
)
"""Every claim this chapter tests, in the page's order."""


def judge(claim: Claim, entry: dict | None) -> str:
    """``shown`` / ``not shown`` / ``contrary`` / ``not testable`` / ``missing`` for one claim."""
    if entry is None:
        return "missing"
    value, spread = entry.get("value"), entry.get("spread")
    if claim.kind == "status":
        return str(value).removesuffix(" here")
    if claim.kind == "near":
        return "shown" if abs(float(value) - claim.threshold) < claim.tolerance else "not shown"
    if spread is None or not math.isfinite(float(spread)):
        return "not testable"
    lo, hi = float(value) - float(spread), float(value) + float(spread)
    above, below = lo > claim.threshold, hi < claim.threshold
    if claim.kind == "above":
        return "shown" if above else "contrary" if below else "not shown"
    if claim.kind == "below":
        return "shown" if below else "contrary" if above else "not shown"
    raise ValueError(f"claim kind {claim.kind!r}: expected status, near, above or below")


def _number(entry: dict | None) -> str:
    if entry is None:
        return "–"
    value, spread = entry.get("value"), entry.get("spread")
    if not isinstance(value, (int, float)):
        return "see its notebook"
    text = f"{value:.3f}" if 1 <= abs(value) < 1000 else f"{value:.3g}" if abs(value) >= 1e-3 or value == 0 \
        else f"{value:.1e}"
    if spread is not None and math.isfinite(spread):
        text += f" ± {spread:.2g}"
    return text


def evaluate(metrics: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """One row per claim: the claim, the paper's evidence, ours, the profile, the verdict."""
    rows = []
    for claim in CLAIMS:
        entry = metrics.get(claim.notebook, {}).get(claim.metric)
        rows.append({"claim": claim.claim, "paper": claim.paper, "setting": claim.setting,
                     "ours": _number(entry), "profile": entry["profile"] if entry else "–",
                     "verdict": judge(claim, entry), "notebook": claim.notebook})
    return rows


def claims_markdown(rows: list[dict[str, str]], numbers: dict[str, str] | None = None) -> str:
    """The claims table; ``numbers`` may replace the "ours" cell of a claim by its metric's own words."""
    lines = ["| claim | the paper | tested here on | ours | profile | verdict |", "|---|---|---|---|---|---|"]
    for row in rows:
        ours = (numbers or {}).get(row["claim"], row["ours"])
        lines.append(f"| {row['claim']} | {row['paper']} | {row['setting']} | {ours} | {row['profile']} | "
                     f"**{row['verdict']}** |")
    return "\n".join(lines)


SUPPORT = {
    "resistance_loss_verdict": ("resistance_loss_difference", "inverse − forward"),
    "resistance_excess_verdict": ("resistance_excess_difference", "inverse − forward"),
    "resistance_control_verdict": ("resistance_control_excess_difference", "control's inverse − forward"),
    "rebound_verdict_slope": ("rebound_slope_difference", "slope difference per 100 samples"),
    "rebound_verdict_relative_slope": ("rebound_relative_slope_difference", "difference, points of its KL per sample"),
}
"""For claims judged by a recorded verdict: the recorded number behind it (same notebook) and its words."""


def supporting_numbers(metrics: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The "ours" cell of claims judged by a recorded verdict: the number behind the verdict."""
    out = {}
    for claim in CLAIMS:
        if claim.metric in SUPPORT:
            name, words = SUPPORT[claim.metric]
            entry = metrics.get(claim.notebook, {}).get(name)
            if entry is not None:
                out[claim.claim] = f"{words} {_number(entry)}"
    return out
