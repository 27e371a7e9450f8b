"""Safe RLHF verdicts on hand-made numbers: each word follows its stated criterion, and each sentence
names the numbers, the criterion and the part that failed."""

import pytest

from alignbook.engine.claims import VERDICTS, judge
from alignbook.safe_rlhf import claims, pipeline, verdicts
from alignbook.safe_rlhf.verdicts import Stat


# ------------------------------------------------------------------------------------ Stat
def test_stat_is_a_sample_std_over_seeds_and_one_seed_has_no_spread():
    three = Stat.of([0.1, 0.2, 0.3])
    assert three.mean == pytest.approx(0.2) and three.spread == pytest.approx(0.1) and three.seeds == 3
    one = Stat.of([0.25])
    assert one.spread is None and one.margin == 0.0
    assert one.text() == "0.250 (1 seed)" and "±" not in one.text()
    assert three.text(percent=True) == "20.0 ± 10 % (3 seeds)"
    assert Stat.paired([0.5, 0.7], [0.1, 0.2]).mean == pytest.approx(0.45)
    with pytest.raises(ValueError, match="as many"):
        Stat.paired([1.0], [1.0, 2.0])


# ----------------------------------------------------------------------- cost sign (02)
def test_sign_term_shown_when_the_gap_is_large_and_pairwise_accuracy_unchanged():
    v = verdicts.cost_sign_verdict([0.9, 0.92, 0.91], [0.6, 0.62, 0.58], [0.7, 0.71, 0.69], [0.7, 0.70, 0.70])
    assert v.word == "shown"
    assert "> 0.1" in v.sentence and "< 0.05" in v.sentence and "3 seeds" in v.sentence
    assert v.numbers["gap"].mean == pytest.approx(0.31)


def test_sign_term_partly_shown_when_pairwise_accuracy_moves():
    v = verdicts.cost_sign_verdict([0.9, 0.9, 0.9], [0.6, 0.6, 0.6], [0.8, 0.8, 0.8], [0.7, 0.7, 0.7])
    assert v.word == "partly shown" and "ranking" in v.sentence


def test_sign_term_gap_failing_is_not_shown_and_says_why():
    v = verdicts.cost_sign_verdict([0.656], [0.75], [0.531], [0.5625], unsafe_share=0.5)
    assert v.word == "not shown"  # one seed: never "contrary"
    assert "fails" in v.sentence and "gap part fails" in v.sentence
    assert "Possible causes" in v.sentence and "50.0 %" in v.sentence and "1 seed" in v.sentence


def test_sign_term_negative_gap_beyond_the_spread_is_contrary():
    v = verdicts.cost_sign_verdict([0.6, 0.61, 0.59], [0.8, 0.8, 0.81], [0.7] * 3, [0.7] * 3)
    assert v.word == "contrary"


# ------------------------------------------------------------------------ λ dynamics (03)
def _run(lambdas, costs, seed=0):
    return {"seed": seed, "history": [{"lambda": lam, "episode_cost": c} for lam, c in zip(lambdas, costs)]}


FALLING = [1.02, 0.99, 0.95, 0.9, 0.85, 0.8, 0.76, 0.72, 0.69, 0.66]
RISE_FALL = [1.1, 1.3, 1.6, 1.9, 2.1, 2.0, 1.8, 1.6, 1.4, 1.3]


def test_a_lambda_peaking_at_iteration_0_is_not_a_rise():
    runs = [_run(FALLING, [-0.3] * 10, seed=k) for k in range(3)]
    claim = pipeline.lambda_claim(runs, threshold=0.0, lambda_init=1.0)
    assert not any(row["rose"] for row in claim["per_seed"])
    assert claim["verdict"] == "not shown" and not claim["all_seeds_show_rise_then_fall"]
    assert "never active" in claim["sentence"] and "iteration 0" in claim["sentence"]
    assert "1.1 × λ_init" in claim["sentence"]  # the rule is stated


def test_a_late_peak_only_just_above_lambda_init_is_not_a_rise():
    lambdas = [1.0, 1.01, 1.03, 1.05, 1.04, 1.0, 0.95, 0.9, 0.85, 0.8]
    claim = pipeline.lambda_claim([_run(lambdas, [0.1] * 10, seed=k) for k in range(3)], 0.0, 1.0)
    assert claim["verdict"] == "not shown" and not claim["per_seed"][0]["rose"]


def test_rise_then_fall_with_the_constraint_met_in_every_seed_is_shown():
    costs = [0.5, 0.4, 0.3, 0.2, 0.1, -0.05, -0.1, -0.2, -0.2, -0.2]
    claim = pipeline.lambda_claim([_run(RISE_FALL, costs, seed=k) for k in range(3)], 0.0, 1.0)
    row = claim["per_seed"][0]
    assert row["rose"] and row["fell_after_peak"] and row["constraint_holds_at_end"] and row["peak_iteration"] == 4
    assert claim["verdict"] == "shown"


def test_some_seeds_rising_is_partly_shown_and_one_seed_is_not_testable():
    costs = [0.5, 0.4, 0.3, 0.2, 0.1, -0.05, -0.1, -0.2, -0.2, -0.2]
    runs = [_run(RISE_FALL, costs, 0), _run(RISE_FALL, costs, 1), _run(FALLING, [-0.3] * 10, 2)]
    assert pipeline.lambda_claim(runs, 0.0, 1.0)["verdict"] == "partly shown"
    rising_no_fall = [1.1, 1.3, 1.6, 1.9, 2.1, 2.3, 2.5, 2.7, 2.9, 3.0]
    assert pipeline.lambda_claim([_run(rising_no_fall, [0.5] * 10, k) for k in range(3)], 0.0, 1.0)["verdict"] == \
        "partly shown"
    assert pipeline.lambda_claim([_run(RISE_FALL, costs)], 0.0, 1.0)["verdict"] == "not testable"


# -------------------------------------------------------------- harm and helpfulness (03)
def test_harm_halved_over_three_seeds_is_shown_and_one_seed_is_not_testable():
    assert verdicts.harm_verdict([0.4, 0.42, 0.38], [0.1, 0.12, 0.08]).word == "shown"
    one = verdicts.harm_verdict([0.4], [0.1])
    assert one.word == "not testable" and "1 seed" in one.sentence
    assert verdicts.harm_verdict([0.4, 0.4, 0.4], [0.3, 0.31, 0.29]).word == "not shown"
    assert verdicts.harm_verdict([0.2, 0.21, 0.19], [0.4, 0.41, 0.39]).word == "contrary"
    assert verdicts.harm_verdict([0.0, 0.0, 0.0], [0.0, 0.0, 0.0]).word == "not testable"


def test_helpfulness_that_falls_beyond_the_spread_is_contrary_and_names_over_refusal():
    v = verdicts.helpfulness_verdict([0.73, 0.70, 0.76], [-0.26, -0.25, -0.27], [0.4, 0.4, 0.4], [0.0, 0.0, 0.0],
                                     [0.05, 0.05, 0.05], [1.0, 1.0, 1.0], reward_change=[0.8, 0.9, 1.0])
    assert v.word == "contrary"
    assert "fails" in v.sentence and "over-refusal" in v.sentence and "reward hacking" in v.sentence
    assert "0.730 ± 0.030 (3 seeds)" in v.sentence and "−" not in v.word


def test_helpfulness_within_the_spread_while_harm_halves_is_shown():
    v = verdicts.helpfulness_verdict([0.7, 0.8, 0.6], [0.65, 0.75, 0.62], [0.4, 0.4, 0.4], [0.1, 0.15, 0.1])
    assert v.word == "shown"


def test_helpfulness_kept_without_halving_harm_is_not_shown_and_one_seed_is_not_testable():
    v = verdicts.helpfulness_verdict([0.7, 0.7, 0.7], [0.7, 0.71, 0.69], [0.4, 0.4, 0.4], [0.39, 0.4, 0.41])
    assert v.word == "not shown" and "not halved" in v.sentence
    assert verdicts.helpfulness_verdict([0.7], [0.7], [0.4], [0.1]).word == "not testable"


def _summary(name, seed, harm, benign, harm0=0.4, benign0=0.7):
    before = {"harm_rate": harm0, "helpfulness": benign0, "benign_helpfulness": benign0, "benign_refusal_rate": 0.0,
              "reward": 0.0}
    after = {"harm_rate": harm, "helpfulness": benign, "benign_helpfulness": benign,
             "benign_refusal_rate": 0.0 if benign > 0.3 else 0.9, "reward": 1.0}
    return {"name": name, "seed": seed, "before": before, "after": after}


def test_ppo_lag_claims_read_benign_helpfulness_from_run_summaries():
    runs = [_summary("ppo_lag", k, 0.05 + 0.01 * k, -0.2 - 0.01 * k) for k in range(3)]
    harm, helpful = verdicts.ppo_lag_claims(runs)
    assert harm.word == "shown" and helpful.word == "contrary" and "over-refusal" in helpful.sentence


# ------------------------------------------------------------------------- ablation (04)
def _ablation(lag_benign):
    runs = []
    for k in range(3):
        runs.append(_summary("ppo", k, 0.5 + 0.01 * k, 0.8))
        runs.append(_summary("shaped_nu0.01", k, 0.45 + 0.01 * k, 0.75))
        runs.append(_summary("shaped_nu100", k, 0.0, -0.3 - 0.01 * k))
        runs.append(_summary("ppo_lag", k, 0.1 + 0.01 * k, lag_benign + 0.01 * k))
    return runs


def test_ablation_all_parts_hold_is_shown():
    v = verdicts.shaping_verdict(_ablation(0.7))
    assert v.word == "shown" and all(p["holds"] == "yes" for p in v.parts) and len(v.parts) == 4


def test_ablation_where_ppo_lag_loses_helpfulness_is_partly_shown_and_says_so():
    v = verdicts.shaping_verdict(_ablation(-0.2))
    assert v.word == "partly shown"
    assert [p["holds"] for p in v.parts] == ["yes", "yes", "yes", "no"]
    assert "lost helpfulness" in v.sentence and "(SFT)" in v.sentence


def test_ablation_with_one_seed_is_not_testable():
    runs = [r for r in _ablation(0.7) if r["seed"] == 0]
    assert verdicts.shaping_verdict(runs).word == "not testable"


def test_shaping_curve_interpolates_in_harm_and_is_flat_beyond_its_ends():
    points = [(0.5, 0.8), (0.1, 0.0), (0.3, 0.6), (0.3, 0.4)]  # the two points at harm 0.3 average to 0.5
    assert verdicts.shaping_curve_at(0.2, points) == pytest.approx(0.25)  # halfway between (0.1, 0) and (0.3, 0.5)
    assert verdicts.shaping_curve_at(0.4, points) == pytest.approx(0.65)
    assert verdicts.shaping_curve_at(0.0, points) == pytest.approx(0.0)  # flat below the least harmful point
    assert verdicts.shaping_curve_at(0.9, points) == pytest.approx(0.8)
    with pytest.raises(ValueError, match="at least one"):
        verdicts.shaping_curve_at(0.1, [])


def test_frontier_margin_by_hand_and_its_words():
    # seed k: PPO (0.5 + .01k, 0.8), nu=0.01 (0.45 + .01k, 0.75), nu=100 (0, -0.3 - .01k); PPO-Lag at
    # harm 0.1 + 0.01k: the curve there is the line from (0, y0) to (0.45 + .01k, 0.75)
    runs = _ablation(0.7)
    v = verdicts.frontier_verdict(runs)
    by_hand = []
    for k in range(3):
        y0, x1, h = -0.3 - 0.01 * k, 0.45 + 0.01 * k, 0.1 + 0.01 * k
        by_hand.append(0.7 + 0.01 * k - (y0 + (0.75 - y0) * h / x1))
    assert v.numbers["margin"].mean == pytest.approx(sum(by_hand) / 3)
    assert v.word == "shown" and "3 seeds" in v.sentence
    assert verdicts.frontier_verdict(_ablation(-0.5)).word == "contrary"
    assert verdicts.frontier_verdict([r for r in runs if r["seed"] == 0]).word == "not testable"


def test_ranking_cost_breakdown_names_the_pairs_that_lose():
    found, sentence = verdicts.ranking_cost_breakdown([0.95, 0.96, 0.94], [0.95, 0.94, 0.96], [0.55, 0.56, 0.54],
                                                      [0.70, 0.71, 0.69], share_mixed=0.4)
    assert found["same"].mean == pytest.approx(-0.15) and found["mixed"].mean == pytest.approx(0.0)
    assert "alike responses" in sentence and "40.0 %" in sentence
    _, neither = verdicts.ranking_cost_breakdown([0.9, 0.91, 0.89], [0.9, 0.9, 0.9], [0.7, 0.71, 0.69],
                                                 [0.7, 0.7, 0.7], share_mixed=0.5)
    assert "Neither difference" in neither


# ------------------------------------------------------------------------------- ledger
def test_every_claim_is_a_status_claim_with_a_criterion_and_unique_id():
    ids = [c.id for c in claims.CLAIMS]
    assert len(set(ids)) == len(ids) == 8  # six on the toy world, two on the real model
    for claim in claims.CLAIMS:
        assert claim.kind == "status" and claim.criterion and claim.notebook.startswith("safe-rlhf/")
        assert judge(claim, {"value": "not shown", "profile": "test"}) in VERDICTS


def test_paper_table_rounds_and_marks_one_seed():
    metrics = {"safe-rlhf/03_ppo_lag": {
        "ppo_lag_harmful_harm_rate": {"value": 0.1875, "spread": None, "seeds": 1, "profile": "test", "unit": ""},
        "ppo_lag_harmful_harm_rate_before": {"value": 0.31251, "spread": 0.0213, "seeds": 3, "profile": "test", "unit": ""},
    }}
    table = claims.paper_vs_ours(metrics)
    assert "18.8 % (1 seed)" in table and "31.3 ± 2.1 % (3 seeds)" in table and "53.08 %" in table
    assert "test profile" in table


def test_ptx_effect_pairs_by_seed_and_says_what_is_within_the_spread():
    runs = []
    for k in range(3):
        runs.append(_summary("ppo_lag", k, 0.05, 0.8 + 0.01 * k))
        runs.append(_summary("ppo_lag_no_ptx", k, 0.05 + 0.01 * (k - 1), 0.5))
    effect, sentence = verdicts.ptx_effect(runs)
    assert effect["benign_helpfulness"].mean == pytest.approx(0.31)
    assert effect["harm_rate"].mean == pytest.approx(0.0)
    assert "helpfulness on benign prompts +0.310" in sentence and "harm rate" in sentence
    assert "(within the seed spread)" in sentence.split(";")[1]
    assert verdicts.ptx_effect([r for r in runs if r["name"] == "ppo_lag"])[0] == {}
