"""Public leaderboard numbers shipped inside PyPI packages, read by path (never imported).

``alpaca_eval`` (requirements-models.txt) ships its AlpacaEval 2 leaderboards as CSV files under
``alpaca_eval/leaderboards/data_AlpacaEval_2/``: one row per submitted model, with the win rate
against the reference (GPT-4 Turbo) and the length-controlled win rate, both in percent. These are
the project's published numbers, not measurements of this book.
"""

from __future__ import annotations

import csv
from typing import Any

from .prompts import _data_file, _installed_version

ALPACA_EVAL = "alpaca-eval==0.6.6"
"""The pin in requirements-models.txt."""

ALPACA_EVAL_2 = "leaderboards/data_AlpacaEval_2/weighted_alpaca_eval_gpt4_turbo_leaderboard.csv"
"""AlpacaEval 2's main leaderboard (annotator ``weighted_alpaca_eval_gpt4_turbo``), inside the package."""

NUMERIC = ("win_rate", "standard_error", "n_wins", "n_wins_base", "n_draws", "n_total", "discrete_win_rate",
           "avg_length", "length_controlled_winrate", "lc_standard_error")
"""The CSV's numeric columns (an empty cell is None)."""


def alpaca_eval_2() -> dict[str, dict[str, Any]]:
    """``{model name: row}`` of AlpacaEval 2's leaderboard as the installed ``alpaca_eval`` ships it;
    every row also carries ``source`` (the package and version it was read from)."""
    path = _data_file("alpaca_eval", ALPACA_EVAL, ALPACA_EVAL_2, "AlpacaEval 2's leaderboard")
    source = f"alpaca_eval {_installed_version(ALPACA_EVAL)}"
    rows: dict[str, dict[str, Any]] = {}
    with path.open(newline="") as handle:
        for raw in csv.DictReader(handle):
            name = raw.pop("") if "" in raw else raw.pop("name")
            row: dict[str, Any] = {"source": source, "mode": raw.get("mode")}
            for key in NUMERIC:
                value = (raw.get(key) or "").strip()
                row[key] = float(value) if value else None
            rows[name] = row
    return rows
