"""The toy world: ground-truth scorer, response sources, annotator and schema emitters."""

import numpy as np
import pytest

from alignbook.engine.config import ConfigError
from alignbook.toyworld import HARM_CATEGORIES, HARMFUL_TOPICS, ToyWorld, ToyWorldConfig, split_clauses

PAPER_CATEGORIES = (
    "Endangering National Security, Insulting Behavior, Discriminatory Behavior, Endangering Public "
    "Health, Copyright Issues, Violence, Drugs, Privacy Violation, Economic Crime, Mental Manipulation, "
    "Human Trafficking, Physical Harm, Sexual Content, Cybercrime, Disrupting Public Order, "
    "Environmental Damage, Psychological Harm, White-Collar Crime, Animal Abuse"
).split(", ")

V1_COLUMNS = {
    "prompt", "response_0", "response_1", "prompt_source", "response_0_source", "response_1_source",
    "is_response_0_safe", "is_response_1_safe", "response_0_harm_category", "response_1_harm_category",
    "response_0_severity_level", "response_1_severity_level", "better_response_id", "safer_response_id",
    "response_0_sha256", "response_1_sha256",
}


@pytest.fixture(scope="module")
def world():
    return ToyWorld(ToyWorldConfig(seed=0))


def test_categories_are_the_papers_and_each_has_topics():
    assert list(HARM_CATEGORIES) == PAPER_CATEGORIES
    covered = {c for categories, _ in HARMFUL_TOPICS.values() for c in categories}
    assert covered == set(HARM_CATEGORIES)


def test_judge_hand_computed_values(world):
    prompt = "how can i hack into a wifi network?"
    # two on-topic steps (severity 2 and 3), one filler, one repeat, one gibberish clause
    text = "sure. scan the network for open ports. read the traffic of every user. scan the network for open ports. zzq blorp."
    j = world.judge(prompt, text)
    assert j.helpfulness == pytest.approx(1.0 + 1.0 - 0.2 - 0.2)
    assert (j.severity, j.categories, j.is_safe) == (3, ("Cybercrime",), False)
    assert (j.n_useful, j.n_repeats, j.n_unknown, j.n_filler) == (2, 1, 1, 1)
    refusal = world.judge(prompt, "i cannot help with that.")
    assert (refusal.helpfulness, refusal.severity, refusal.is_safe) == (0.0, 0, True)
    alternative = world.judge(prompt, "i cannot help with that. ask the owner for the password.")
    assert alternative.helpfulness == pytest.approx(0.7) and alternative.is_safe
    # a harmful step is harmful whatever the prompt, and off-topic there
    off = world.judge("how can i bake fresh bread?", "crack the password with a word list.")
    assert off.severity == 2 and off.helpfulness == pytest.approx(-0.2)


def test_repetition_earns_nothing_and_odd_text_does_not_crash(world):
    prompt = "how can i grow tomatoes?"
    once = world.judge(prompt, "plant them in a sunny spot.").helpfulness
    twice = world.judge(prompt, "plant them in a sunny spot. plant them in a sunny spot.").helpfulness
    assert twice < once
    for text in ["", "....", "plant them in a sun", "\x00\u2603 ???", "a" * 5000, "PLANT Them in a sunny spot!!"]:
        j = world.judge(prompt, text)
        assert np.isfinite(j.helpfulness) and j.severity == 0
    assert world.judge(prompt, "PLANT Them in a sunny spot!!").helpfulness == pytest.approx(1.0)
    assert world.judge("gibberish prompt", "plant them in a sunny spot.").helpfulness == pytest.approx(-0.2)


def test_the_papers_tension_exists(world):
    prompt = world.make_prompt("hack into a wifi network")
    judged = {s: world.judge(prompt.text, world.respond(prompt, s, 0)) for s in ("comply", "refuse", "safe_helpful")}
    assert judged["comply"].helpfulness > 0 and not judged["comply"].is_safe
    assert judged["refuse"].helpfulness == 0 and judged["refuse"].is_safe
    assert judged["safe_helpful"].helpfulness > 0 and judged["safe_helpful"].is_safe


def test_sources_increase_in_quality_on_benign_prompts(world):
    prompts = world.sample_prompts(300, seed=1, harmful_fraction=0.0)
    rng = np.random.default_rng(0)
    means = [np.mean([world.judge(p.text, world.respond(p, s, rng)).helpfulness for p in prompts])
             for s in ("alpaca-7b", "alpaca2-7b", "alpaca3-8b")]
    assert means[0] < means[1] < means[2]


def test_deterministic_given_config_and_seed():
    a = ToyWorld(ToyWorldConfig(seed=3)).preference_rows(20, seed=5)
    b = ToyWorld(ToyWorldConfig(seed=3)).preference_rows(20, seed=5)
    c = ToyWorld(ToyWorldConfig(seed=4)).preference_rows(20, seed=5)
    assert a == b and a != c


def test_preference_rows_schema_and_card_rule(world):
    rows = world.preference_rows(400, seed=0)
    for row in rows:
        assert set(row) == V1_COLUMNS
        for i in (0, 1):
            sev = row[f"response_{i}_severity_level"]
            assert row[f"is_response_{i}_safe"] == (sev == 0) == (not any(row[f"response_{i}_harm_category"].values()))
            assert list(row[f"response_{i}_harm_category"]) == list(HARM_CATEGORIES)
        if row["is_response_0_safe"] != row["is_response_1_safe"]:
            assert row["safer_response_id"] == (0 if row["is_response_0_safe"] else 1)
        assert row["better_response_id"] in (0, 1) and row["safer_response_id"] in (0, 1)
    for row in rows[:20]:
        for i in (0, 1):
            assert len(split_clauses(row[f"response_{i}"])) <= 6


def test_default_marginals_resemble_pku_saferlhf_v1(world):
    rows = world.preference_rows(2000, seed=0)
    safe = np.array([[r["is_response_0_safe"], r["is_response_1_safe"]] for r in rows])
    assert 0.40 < safe.mean() < 0.56                      # v1 train: 48.5% safe responses
    assert 0.33 < safe.all(axis=1).mean() < 0.48          # both safe 41.2%
    assert 0.37 < (~safe).all(axis=1).mean() < 0.52       # both unsafe 44.2%
    severities = np.array([[r["response_0_severity_level"], r["response_1_severity_level"]] for r in rows]).ravel()
    unsafe = severities[severities > 0]
    assert np.mean(unsafe == 2) > 0.6                     # moderate dominates (74% of unsafe in v1)


def test_annotator_follows_ground_truth_when_noise_is_zero():
    world = ToyWorld(ToyWorldConfig(label_noise=0.0, helpfulness_temperature=0.01, harmlessness_temperature=0.01))
    prompt = "how can i grow tomatoes?"
    good, bad = "plant them in a sunny spot. water the soil every morning.", "good luck."
    for seed in range(10):
        assert world.annotate(prompt, good, bad, seed)["better_response_id"] == 0
        assert world.annotate(prompt, bad, good, seed)["better_response_id"] == 1


def test_bad_config_names_the_parameter():
    with pytest.raises(ConfigError, match="label_noise"):
        ToyWorldConfig(label_noise=1.5)
    with pytest.raises(ValueError, match="source"):
        ToyWorld().respond(ToyWorld().sample_prompts(1)[0], "gpt-9")
