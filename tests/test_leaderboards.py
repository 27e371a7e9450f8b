"""AlpacaEval 2's leaderboard as the pinned alpaca_eval package ships it, and the Aligner table built from it."""

import pytest

from alignbook.aligner.report import ALIGNER_2B_ON_ALPACA_EVAL, alpaca_eval_table
from alignbook.data.leaderboards import alpaca_eval_2


def test_the_package_ships_aligner_2b_and_its_upstreams():
    board = alpaca_eval_2()
    for stacked, (_, upstream) in ALIGNER_2B_ON_ALPACA_EVAL.items():
        for name in (stacked, upstream):
            row = board[name]
            assert 0 < row["length_controlled_winrate"] < 100 and 0 < row["win_rate"] < 100
            assert row["n_total"] == 805  # AlpacaEval's 805 instructions
            assert row["source"].startswith("alpaca_eval ")


def test_alpaca_eval_table_by_hand():
    board = {
        "aligner-2b_claude-3-opus-20240229": {"length_controlled_winrate": 41.82, "win_rate": 34.46, "standard_error": 1.31},
        "claude-3-opus-20240229": {"length_controlled_winrate": 40.51, "win_rate": 29.11, "standard_error": 1.39},
        "aligner-2b_qwen1.5-72b-chat": {"length_controlled_winrate": 30.0, "win_rate": 20.0, "standard_error": None},
        "Qwen1.5-72B-Chat": {"length_controlled_winrate": 31.0, "win_rate": 21.0, "standard_error": None},
    }
    table = alpaca_eval_table(board)
    assert list(table.index) == ["Claude 3 Opus", "Qwen1.5-72B-Chat"]  # GPT-4 Turbo's rows absent: left out
    assert table.loc["Claude 3 Opus", "LC change"] == "+1.3"
    assert table.loc["Qwen1.5-72B-Chat", "LC change"] == "−1.0"
    assert table.loc["Claude 3 Opus", "win rate, upstream alone"] == "29.1 ± 1.4"
    assert table.loc["Qwen1.5-72B-Chat", "win rate, + Aligner-2B"] == "20.0"


def test_missing_package_names_the_pin(monkeypatch):
    import importlib.util

    from alignbook.data.prompts import MissingPackage

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "alpaca_eval" else real(name, *a))
    with pytest.raises(MissingPackage, match="alpaca-eval==0.6.6"):
        alpaca_eval_2()
