"""The Safety-Gymnasium chapter's claims, verdicts and figure helpers, on hand-made inputs (no training)."""

import numpy as np
import pytest

from alignbook.engine import claims as ledger
from alignbook.engine import paths
from alignbook.saferl import SafeRLResult, report
from alignbook.safety_gymnasium import claims, verdicts


def test_claims_are_declared_and_name_their_notebooks():
    ids = [c.id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids)) and claims.PAPER.endswith("(arXiv 2310.12567)")
    for claim in claims.CLAIMS:
        assert claim.kind == "status" and claim.metric.endswith("_verdict") and claim.support
        assert (paths.notebooks_dir() / f"{claim.notebook}.ipynb").is_file()
        source = (paths.notebooks_dir() / f"{claim.notebook}.ipynb").read_text()
        assert f'\\"{claim.metric}\\"' in source, f"{claim.notebook} records no {claim.metric}"
    assert ledger.chapter_module("safety-gymnasium") is claims


def test_the_ledger_shows_the_recorded_word_and_the_supporting_number():
    metrics = {"safety-gymnasium/02_ppo_vs_ppolag": {
        "ppo_lag_constraint_verdict": {"value": "shown", "profile": "smoke"},
        "ppo_lag_final_cost": {"value": 16.58, "spread": 13.5, "seeds": 2},
    }}
    rows = ledger.evaluate(claims, metrics)
    first = rows[0]
    assert first["verdict"] == "shown" and first["ours"] == "PPO-Lag's final cost 16.6 ± 14 (2 seeds)"
    assert {r["verdict"] for r in rows[1:]} == {"not run"}


# -- notebook 2 ------------------------------------------------------------------------------------


def test_constraint_shown_names_the_numbers_and_the_criterion():
    word, sentence = verdicts.constraint_verdict([150.0, 160.0], [20.0, 10.0], 25.0, [1.2, 1.4])
    assert word == "shown"
    assert "155 ± 5.0" in sentence and "15.0 ± 5.0" in sentence and "2 seeds" in sentence
    assert "1.2·d = 30" in sentence and "Criterion" in sentence and "λ is 1.30 ± 0.10" in sentence


def test_constraint_not_testable_when_ppo_stays_safe_or_one_seed():
    word, sentence = verdicts.constraint_verdict([5.8, 6.0], [5.8, 6.0], 25.0, [0.0, 0.0])
    assert word == "not testable" and "never became clearly unsafe" in sentence and "Likely cause" in sentence
    word, sentence = verdicts.constraint_verdict([30.0, 10.0], [1.0, 2.0], 25.0)
    assert word == "not testable"  # mean 20 − std 10 is not above d: PPO is not clearly unsafe
    word, sentence = verdicts.constraint_verdict([150.0], [10.0], 25.0)
    assert word == "not testable" and "one seed" in sentence and "(1 seed)" in sentence and "± 0" not in sentence
    word, sentence = verdicts.constraint_verdict([np.nan, None], [1.0, 2.0], 25.0)
    assert word == "not testable" and "no episode" in sentence


def test_constraint_partly_not_shown_and_contrary():
    word, sentence = verdicts.constraint_verdict([150.0, 160.0], [50.0, 60.0], 25.0, [0.5, 0.6])
    assert word == "partly shown" and "55.0 ± 5.0" in sentence and "Likely cause" in sentence
    word, sentence = verdicts.constraint_verdict([150.0, 160.0], [100.0, 200.0], 25.0, [0.0, 0.0])
    assert word == "not shown" and "λ is still about 0" in sentence
    word, _ = verdicts.constraint_verdict([100.0, 110.0], [200.0, 210.0], 25.0)
    assert word == "contrary"


def test_return_verdict_pairs_seeds_and_needs_an_unsafe_ppo():
    word, sentence = verdicts.return_verdict([1400.0, 1200.0], [1100.0, 1000.0], [190.0, 170.0], 25.0)
    assert word == "shown" and "250 ± 50" in sentence
    word, sentence = verdicts.return_verdict([1400.0, 1000.0], [1000.0, 1300.0], [190.0, 170.0], 25.0)
    assert word == "not shown" and "within its spread" in sentence and "Likely cause" in sentence
    word, _ = verdicts.return_verdict([100.0, 110.0], [300.0, 320.0], [190.0, 170.0], 25.0)
    assert word == "contrary"
    word, sentence = verdicts.return_verdict([10.0, 12.0], [10.0, 12.0], [0.0, 0.0], 25.0)
    assert word == "not testable" and "no constraint to pay for" in sentence
    with pytest.raises(ValueError, match="one value per seed"):
        verdicts.paired_differences([1.0, 2.0], [1.0])


# -- notebook 3 ------------------------------------------------------------------------------------


def test_comparison_counts_algorithms_below_ppo():
    costs = {"SafetyHopperVelocity-v1": {"ppo": [150.0, 160.0], "ppo_lag": [20.0, 30.0], "cpo": [155.0, 160.0],
                                         "cup": [60.0, 70.0]}}
    v = verdicts.comparison_verdict(costs, 25.0)
    assert v["word"] == "partly shown" and (v["below"], v["total"]) == (2, 3)
    assert "2 of 3" in v["sentence"] and "CPO 158 ± 2.5" in v["sentence"] and "1 of them also within" in v["sentence"]
    costs["SafetyHopperVelocity-v1"]["cpo"] = [10.0, 12.0]
    assert verdicts.comparison_verdict(costs, 25.0)["word"] == "shown"
    early = {"SafetyHopperVelocity-v1": {"ppo": [22.0, 24.0], "ppo_lag": [22.0, 24.0]}}
    v = verdicts.comparison_verdict(early, 25.0)
    assert v["word"] == "not testable" and v["total"] == 0 and "not yet become unsafe" in v["sentence"]
    one_seed = {"SafetyHopperVelocity-v1": {"ppo": [150.0], "ppo_lag": [20.0]}}
    assert verdicts.comparison_verdict(one_seed, 25.0)["word"] == "not testable"


# -- notebook 4 ------------------------------------------------------------------------------------


def test_cost_limit_ordering_beyond_the_spread():
    shown = {10.0: [5.0, 7.0], 25.0: [24.0, 27.0], 50.0: [48.0, 52.0]}
    word, sentence = verdicts.cost_limit_verdict(shown, [150.0, 160.0])
    assert word == "shown" and "d = 10: 6.00 ± 1.0" in sentence
    overlap = {10.0: [5.0, 30.0], 25.0: [24.0, 27.0], 50.0: [48.0, 52.0]}
    assert verdicts.cost_limit_verdict(overlap, [150.0, 160.0])[0] == "partly shown"
    flat = {10.0: [20.0, 40.0], 25.0: [24.0, 37.0], 50.0: [22.0, 39.0]}
    assert verdicts.cost_limit_verdict(flat, [150.0, 160.0])[0] == "not shown"
    reversed_ = {10.0: [50.0, 52.0], 25.0: [24.0, 27.0], 50.0: [5.0, 7.0]}
    assert verdicts.cost_limit_verdict(reversed_, [150.0, 160.0])[0] == "contrary"
    word, sentence = verdicts.cost_limit_verdict({10.0: [4.9], 25.0: [51.0], 50.0: [109.0]}, [106.0])
    assert word == "not testable" and "in the claimed order" in sentence and "one seed" in sentence
    word, sentence = verdicts.cost_limit_verdict(shown, [3.0, 4.0])
    assert word == "not testable" and "no limit binds" in sentence


def test_lagrange_lr_shares_fall_with_a_faster_multiplier():
    assert verdicts.violation_share([None, 10.0, 30.0, 40.0, np.nan], 25.0) == pytest.approx(2 / 3)
    assert np.isnan(verdicts.violation_share([None], 25.0))
    shown = {0.0035: [0.8, 0.9], 0.035: [0.4, 0.5], 0.35: [0.1, 0.15]}
    word, sentence = verdicts.lagrange_lr_verdict(shown)
    assert word == "shown" and "λ lr 0.0035: 85.0 ± 5.0 %" in sentence
    assert verdicts.lagrange_lr_verdict({0.0035: [0.1, 0.15], 0.035: [0.4, 0.5], 0.35: [0.8, 0.9]})[0] == "contrary"
    assert verdicts.lagrange_lr_verdict({0.0035: [0.8, 0.9], 0.035: [0.5, 0.9], 0.35: [0.1, 0.15]})[0] == "partly shown"
    word, sentence = verdicts.lagrange_lr_verdict({0.0035: [0.0], 0.035: [0.0], 0.35: [0.0]})
    assert word == "not testable" and "nothing to react to" in sentence
    word, sentence = verdicts.lagrange_lr_verdict({0.0035: [0.9], 0.035: [0.5], 0.35: [0.2]})
    assert word == "not testable" and "in the claimed order" in sentence


@pytest.mark.parametrize("word", ["shown", "partly shown", "not shown", "contrary", "not testable"])
def test_verdict_words_are_the_ledgers(word):
    assert word in ledger.VERDICTS


# -- figures and tables ----------------------------------------------------------------------------


def run(algo, seed, returns, costs, lambdas=None, **config):
    history = [{"epoch": i + 1, "steps": 10_000 * (i + 1), "return": r, "cost": c,
                "lambda": None if lambdas is None else lambdas[i]} for i, (r, c) in enumerate(zip(returns, costs))]
    metrics = {"return": returns[-1], "cost": costs[-1], "lambda": None if lambdas is None else lambdas[-1],
               "steps": 10_000 * len(returns), "steps_per_s": 3000.0}
    return SafeRLResult(metrics=metrics, history=history, checkpoint="",
                        config={"env_id": "SafetyHopperVelocity-v1", "algo": algo, "seed": seed, "profile": "test",
                                "cost_window": 50, **config})


def test_identical_curves_are_drawn_once_and_explained():
    ppo = [run("ppo", s, [1.0, 2.0 + s], [0.0, 3.0]) for s in (0, 1)]
    lag = [run("ppo_lag", s, [1.0, 2.0 + s], [0.0, 3.0], [0.0, 0.0]) for s in (0, 1)]
    cup = [run("cup", s, [1.0, 5.0], [0.0, 1.0], [0.0, 0.0]) for s in (0, 1)]
    assert report.coinciding(ppo + lag + cup) == [[("ppo",), ("ppo_lag",)], [("cup",)]]
    note = report.coincidence_note(ppo + lag + cup)
    assert "**PPO = PPO-Lag**" in note and "λ was 0 at every update" in note and "CUP" not in note
    fig = report.plot_curves(ppo + lag + cup, cost_limit=25.0)
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    assert labels == ["PPO = PPO-Lag (n=2)", "CUP (n=2)", "limit d = 25"]
    fig.canvas.draw()
    ticks = [t.get_text() for t in fig.axes[0].get_xticklabels() if t.get_text()]
    assert any(t.endswith("k") for t in ticks) and not any("000" in t for t in ticks)
    moved = [run("ppo_lag", s, [1.0, 2.5 + s], [0.0, 3.0], [0.0, 0.2]) for s in (0, 1)]
    assert len(report.coinciding(ppo + moved)) == 2 and report.coincidence_note(ppo + moved) == ""


def test_summary_table_rounds_and_says_one_seed_plainly():
    runs = [run("ppo", 0, [1.0, 16.580000000000002], [0.0, 3.0], lagrange_lr=0.035),
            run("ppo_lag", 0, [1.0, 2.0], [0.0, 3.0], [0.0, 0.00123], lagrange_lr=0.0035)]
    table = report.summary_markdown(runs, by=("algo", "lagrange_lr"), with_paper=False)
    assert "16.6" in table and "16.58" not in table and "± 0" not in table and "nan" not in table.lower()
    assert "| PPO-Lag | 0.0035 |" in table and "0.00123" in table and "| 2e4 |" in table
    assert report.steps_label(240) == "240" and report.steps_label(350_000) == "3.5e5"
    assert report.label(("ppo_lag", 10.0), ("algo", "cost_limit")) == "PPO-Lag (d = 10)"
    assert report.label(("ppo", 25.0), ("algo", "cost_limit")) == "PPO (no limit)"
    assert report.label((0.35,), ("lagrange_lr",)) == "λ lr 0.35"
