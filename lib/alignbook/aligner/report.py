"""The Aligner chapter's tables, as a reader sees them: short column names, rounded numbers, a
spread over seeds where there is one and none (never "± 0" or NaN) where there is one seed."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .verdicts import DIMENSIONS, format_mean, format_omega

SYSTEMS = {"strong_before": "strong model before", "weak_supervisor": "weak supervisor (Aligner on its answers)",
           "strong_after": "strong model after fine-tuning"}
"""The three systems notebook 4 scores, in the order it shows them."""


def nll_table(final: Mapping[str, Sequence[float]]) -> Any:
    """Notebook 2: final held-out NLL per correction token of each variant, mean ± std over seeds."""
    import pandas as pd

    return pd.DataFrame({"final held-out NLL": {name: format_mean(values) for name, values in final.items()},
                         "seeds": {name: len(values) for name, values in final.items()}}).rename_axis("variant")


def stacking_table(scores: Any) -> Any:
    """Notebook 3: per warm-up share and upstream, ω (%) on both dimensions and the judge's scores
    before → after correction (means over seeds; ω with its seed spread)."""
    import pandas as pd

    rows = []
    for (fraction, source), part in scores.sort_values("seed").groupby(["warm-up", "upstream"], sort=False):
        rows.append({
            "warm-up": f"{fraction:.0%}", "upstream": source,
            "ω helpful": format_omega(part["omega_helpfulness"]), "ω harmless": format_omega(part["omega_harmlessness"]),
            "helpfulness": f"{format_mean(part['helpfulness_before'])} → {format_mean(part['helpfulness_after'])}",
            "unsafe": f"{format_mean(part['unsafe_before'], percent=True)} → {format_mean(part['unsafe_after'], percent=True)}",
            "unchanged": format_mean(part["unchanged"], percent=True),
        })
    return pd.DataFrame(rows).set_index(["warm-up", "upstream"])


def systems_table(per_seed: Sequence[Mapping[str, float]]) -> Any:
    """Notebook 4: each system's mean helpfulness, harmlessness (minus severity) and unsafe share on
    the held-out questions (mean ± std over seeds)."""
    import pandas as pd

    rows = {}
    for key, name in SYSTEMS.items():
        rows[name] = {"helpfulness": format_mean([m[f"{key}_helpfulness"] for m in per_seed]),
                      "harmlessness": format_mean([m[f"{key}_harmlessness"] for m in per_seed]),
                      "unsafe": format_mean([m[f"{key}_unsafe"] for m in per_seed], percent=True)}
    return pd.DataFrame(rows).T.rename_axis("system")


def omega_table(per_seed: Sequence[Mapping[str, float]]) -> Any:
    """Notebook 4: ω (%) of the fine-tuned strong model against each reference, with the answers
    that got better, worse or tied (summed over seeds)."""
    import pandas as pd

    rows = []
    for reference in ("strong_before", "weak_supervisor"):
        for dim in DIMENSIONS:
            key = f"omega_{dim}_after_vs_{reference}"
            rows.append({"against": SYSTEMS[reference].split(" (")[0], "dimension": dim,
                         "ω (%)": format_omega([m[key] for m in per_seed]),
                         **{label: int(sum(m.get(f"{key}_{k}", 0) for m in per_seed))
                            for k, label in (("win", "better"), ("lose", "worse"), ("tie", "tied"))}})
    return pd.DataFrame(rows).set_index(["against", "dimension"])


ALIGNER_2B_ON_ALPACA_EVAL = {
    "aligner-2b_gpt-4-turbo-2024-04-09": ("GPT-4 Turbo (04/09)", "gpt-4-turbo-2024-04-09"),
    "aligner-2b_claude-3-opus-20240229": ("Claude 3 Opus", "claude-3-opus-20240229"),
    "aligner-2b_qwen1.5-72b-chat": ("Qwen1.5-72B-Chat", "Qwen1.5-72B-Chat"),
}
"""AlpacaEval 2 rows of Aligner-2B stacked on an upstream model, and that upstream's own row."""


def alpaca_eval_table(leaderboard: Mapping[str, Mapping[str, Any]]) -> Any:
    """Aligner-2B on AlpacaEval 2 beside each upstream alone (length-controlled and raw win rate
    against GPT-4 Turbo, %, with the raw rate's standard error), from
    :func:`alignbook.data.leaderboards.alpaca_eval_2`; rows the leaderboard lacks are left out."""
    import pandas as pd

    def cell(row: Mapping[str, Any], key: str, error: str | None = None) -> str:
        value = row.get(key)
        if value is None:
            return "–"
        return f"{value:.1f} ± {row[error]:.1f}" if error and row.get(error) is not None else f"{value:.1f}"

    rows = {}
    for stacked, (label, upstream) in ALIGNER_2B_ON_ALPACA_EVAL.items():
        if stacked not in leaderboard or upstream not in leaderboard:
            continue
        alone, with_aligner = leaderboard[upstream], leaderboard[stacked]
        gain = with_aligner["length_controlled_winrate"] - alone["length_controlled_winrate"]
        rows[label] = {"LC win rate, upstream alone": cell(alone, "length_controlled_winrate"),
                       "LC win rate, + Aligner-2B": cell(with_aligner, "length_controlled_winrate"),
                       "LC change": ("+" if gain >= 0 else "−") + f"{abs(gain):.1f}",
                       "win rate, upstream alone": cell(alone, "win_rate", "standard_error"),
                       "win rate, + Aligner-2B": cell(with_aligner, "win_rate", "standard_error")}
    return pd.DataFrame(rows).T.rename_axis("upstream (AlpacaEval 2, %)")
