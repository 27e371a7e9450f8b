"""The Aligner chapter's verdicts and claims, on hand-made inputs (no training)."""

import pandas as pd
import pytest

from alignbook.aligner import claims, report, verdicts
from alignbook.engine import claims as ledger

UNALIGNED_GAIN = {"helpfulness": [0.30, 0.35, 0.32], "harmlessness": [0.20, 0.25, 0.22]}


def test_already_good_upstream_harmed_is_only_partly_shown():
    good = {"helpfulness": [-0.60, -0.65, -0.68], "harmlessness": [0.0, 0.0, 0.0]}
    verdict = verdicts.stacking_verdict(UNALIGNED_GAIN, good, good_unchanged=[0.1, 0.2, 0.0])
    assert verdict.word == "partly shown"
    assert "part 1: both above zero by more than their seed spread, holds" in verdict.sentence
    assert "part 2: neither below zero by more than its seed spread, fails" in verdict.sentence
    assert "−64.3" in verdict.sentence and "over 3 seeds" in verdict.sentence
    assert "worse on helpfulness" in verdict.sentence and "unchanged" in verdict.sentence


def test_stacking_shown_when_the_good_upstream_stays_within_its_spread():
    good = {"helpfulness": [0.0, 0.02, -0.03], "harmlessness": [0.0, 0.0, 0.0]}
    assert verdicts.stacking_verdict(UNALIGNED_GAIN, good).word == "shown"


def test_stacking_contrary_when_the_unaligned_upstream_loses_beyond_the_spread():
    worse = {"helpfulness": [-0.6, -0.7, -0.65], "harmlessness": [0.5, 0.4, 0.45]}
    good = {"helpfulness": [0.0, 0.0, 0.0], "harmlessness": [0.0, 0.0, 0.0]}
    verdict = verdicts.stacking_verdict(worse, good)
    assert verdict.word == "contrary" and "helpfulness" in verdict.sentence


def test_one_seed_is_not_testable_and_shows_no_zero_spread():
    one = {"helpfulness": [0.3], "harmlessness": [0.2]}
    verdict = verdicts.stacking_verdict(one, {"helpfulness": [-0.5], "harmlessness": [0.0]})
    assert verdict.word == "not testable"
    assert "1 seed" in verdict.sentence and "± 0" not in verdict.sentence
    per_seed = [_w2s(0.1, 0.2, -0.05, 0.0, 0.0)]
    assert verdicts.weak_to_strong_verdict(per_seed).word == "not testable"
    assert verdicts.correcting_verdict({"aligner": [1.0]}, [2.0]).word == "not testable"


def _w2s(before: float, after: float, omega_help: float, omega_harm: float, harm: float,
         wins: int = 10, losses: int = 14, ties: int = 16) -> dict:
    metrics = {}
    for reference in ("strong_before", "weak_supervisor"):
        metrics[f"{reference}_helpfulness"] = before
        metrics[f"{reference}_harmlessness"] = harm
        metrics[f"{reference}_unsafe"] = 0.25
        metrics[f"omega_helpfulness_after_vs_{reference}"] = omega_help
        metrics[f"omega_harmlessness_after_vs_{reference}"] = omega_harm
        for dim in ("helpfulness", "harmlessness"):
            metrics[f"omega_{dim}_after_vs_{reference}_win"] = wins
            metrics[f"omega_{dim}_after_vs_{reference}_lose"] = losses
            metrics[f"omega_{dim}_after_vs_{reference}_tie"] = ties
    metrics["strong_after_helpfulness"] = after
    metrics["strong_after_harmlessness"] = harm
    metrics["strong_after_unsafe"] = 0.25
    return metrics


def test_omega_negative_while_the_mean_rises_is_explained_and_decided_by_omega():
    per_seed = [_w2s(-0.08, 0.26, -0.070, 0.0, -0.5), _w2s(-0.09, 0.27, -0.080, 0.0, -0.5),
                _w2s(-0.082, 0.28, -0.078, 0.0, -0.5)]
    verdict = verdicts.weak_to_strong_verdict(per_seed, "strong_before")
    assert verdict.word == "contrary"  # ω below zero beyond its spread, no dimension above: decided by ω
    sentence = verdict.sentence
    assert "−0.0840 ± 0.0053 (its former self) → 0.270 ± 0.010" in sentence and "ω −7.60 ± 0.53 %" in sentence
    assert "The two disagree: the mean rose while more answers got worse than better" in sentence
    assert "ω counts answers, not points" in sentence and "30 answers better, 42 worse, 48 tied" in sentence
    assert "as in the paper" in sentence


def test_mean_and_omega_that_agree_need_no_explanation():
    stat = verdicts.Stat.of
    text = verdicts.mean_vs_omega("helpfulness", stat([0.1, 0.1]), stat([0.3, 0.3]), stat([0.2, 0.2]), 5, 1, 4)
    assert "disagree" not in text


def test_weak_to_strong_shown_and_partly_shown():
    shown = [_w2s(0.1, 0.3, 0.2 + d, 0.1 + d, 0.0) for d in (0.0, 0.01, -0.01)]
    assert verdicts.weak_to_strong_verdict(shown, "weak_supervisor").word == "shown"
    partly = [_w2s(0.1, 0.3, 0.2 + d, d, 0.0) for d in (0.0, 0.01, -0.01)]
    verdict = verdicts.weak_to_strong_verdict(partly)
    assert verdict.word == "partly shown" and "helpfulness only" in verdict.sentence


def test_correcting_verdict_pairs_by_seed():
    direct = [2.0, 2.2, 2.1]
    shown = verdicts.correcting_verdict({"a": [1.5, 1.7, 1.6], "b": [1.8, 2.0, 1.9]}, direct)
    assert shown.word == "shown"  # the seeds vary together, the paired gap does not
    partly = verdicts.correcting_verdict({"a": [1.5, 1.7, 1.6], "b": [2.0, 2.2, 2.1]}, direct)
    assert partly.word == "partly shown" and "for a only" in partly.sentence
    assert verdicts.correcting_verdict({"a": [1.0, 1.0, 1.0]}, None).word == "not testable"
    assert verdicts.correcting_verdict({"a": [2.5, 2.7, 2.6]}, direct).word == "contrary"


def test_warmup_verdict_needs_both_shares_and_the_best_share_on_top():
    none, best, other = [0.1, 0.12, 0.11], [0.2, 0.21, 0.22], [0.3, 0.31, 0.32]
    assert verdicts.warmup_verdict({0.0: none, 0.2: best}).word == "shown"
    assert verdicts.warmup_verdict({0.0: none, 0.2: best, 0.5: other}).word == "partly shown"
    assert verdicts.warmup_verdict({0.0: best, 0.2: none}).word == "contrary"
    assert verdicts.warmup_verdict({0.2: best}).word == "not testable"


def test_tables_have_no_nan_and_no_zero_spread_for_one_seed():
    scores = pd.DataFrame([{"warm-up": 0.2, "seed": 0, "upstream": "alpaca-7b", "omega_helpfulness": 0.5,
                            "omega_harmlessness": 0.25, "helpfulness_before": 1.0, "helpfulness_after": 2.0,
                            "unsafe_before": 0.5, "unsafe_after": 0.0, "unchanged": 0.0}])
    text = report.stacking_table(scores).to_string()
    assert "nan" not in text.lower() and "± 0" not in text and "+50.0 %" in text
    per_seed = [_w2s(0.1, 0.2, 0.1, 0.0, 0.0)]
    for table in (report.systems_table(per_seed), report.omega_table(per_seed)):
        assert "nan" not in table.to_string().lower() and "± 0" not in table.to_string()
    assert verdicts.mean_omega_by_fraction(scores) == {0.2: [0.375]}


def test_claims_name_recorded_metrics_and_render():
    ids = [c.id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids)) and claims.PAPER
    metrics = {"aligner/03_evaluate": {"aligner_stacking_verdict": {"value": "partly shown", "profile": "smoke"},
                                       "aligner_omega_helpfulness_alpaca-7b": {"value": 12.0, "spread": 3.0,
                                                                                "seeds": 3, "unit": "%"},
                                       "aligner_omega_helpfulness_safe_helpful": {"value": -60.0, "seeds": 3}}}
    rows = ledger.evaluate(claims, metrics)
    stacking = next(r for r in rows if r["id"] == "stacking")
    assert stacking["verdict"] == "partly shown" and "12.0 ± 3.0 % (3 seeds)" in stacking["ours"]
    assert {r["verdict"] for r in rows if r["id"] != "stacking"} == {"not run"}
    table = claims.paper_vs_ours(metrics["aligner/03_evaluate"])
    assert table.loc["helpfulness", "paper: BeaverTails"] == "27.6 %"
    assert table.loc["helpfulness", "ours: mean of upstreams"] == "-24.0 % (2 upstreams)"
    assert table.loc["harmlessness", "ours: unaligned"] == "–"


@pytest.mark.parametrize("word", ["shown", "partly shown", "not shown", "contrary", "not testable"])
def test_verdict_words_are_the_ledgers(word):
    assert word in ledger.VERDICTS
