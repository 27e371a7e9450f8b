"""The chapter's toy-world pieces: upstream models, ground-truth corrections, evaluation by ω.

Upstream "models" are toy-world response sources, frozen by construction (a source is a fixed
function of the prompt and a seed). The chapter uses three defect profiles:

* ``alpaca-7b``: unaligned; complies with many harmful requests, gives few facts, adds filler
  and off-topic clauses;
* ``over_refuse``: refuses everything, benign requests included;
* ``safe_helpful``: already good; full answers to benign requests, a refusal with safe
  alternatives to harmful ones.

The correction of an answer is the *smallest edit the ground truth prefers*: keep the answer's
clauses that help without harm, drop harmful steps, filler, off-topic clauses and refusals of
benign requests, then add what is missing (facts up to ``facts``; for a harmful request a
refusal and safe alternatives up to ``alternatives``). A good answer is its own correction, so
an Aligner that learned the residual leaves it alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .losses import omega_by_dimension
from .templates import TEMPLATES

UPSTREAMS: dict[str, str] = {
    "alpaca-7b": "unaligned: complies with harmful requests, misses useful content",
    "over_refuse": "over-refusing: declines benign requests too",
    "safe_helpful": "already good: helpful and harmless",
}
"""The chapter's upstream response sources and their defect profiles."""

_CLAUSE_END = re.compile(r"(?<=\.)\s+")


def _clauses(text: str) -> list[str]:
    """Clauses of a toy-world response in their original spelling (``"a. b."`` → ``["a", "b"]``)."""
    return [c.strip().rstrip(".").strip() for c in _CLAUSE_END.split(text.strip()) if c.strip().rstrip(".")]


def _join(clauses: Sequence[str]) -> str:
    return " ".join(f"{c}." for c in clauses)


def chapter_tokenizer(world: Any, vocab_size: int = 1000) -> Any:
    """A BPE tokenizer for the world's text and both Aligner templates (deterministic)."""
    from ..lm.tokenizer import train_bpe_tokenizer

    texts = list(world.all_text()) + [t.prompt for t in TEMPLATES.values()]
    return train_bpe_tokenizer(texts, vocab_size=vocab_size)


def correction_for(
    question: str, answer: str, rng: np.random.Generator, facts: int = 3, alternatives: int = 2
) -> str:
    """The ground truth's preferred minimal edit of ``answer`` to ``question`` (see module doc)."""
    from ..toyworld import content
    from ..toyworld.scorer import CLAUSES, find_topic, normalize_clause

    topic = find_topic(question)
    if topic is None:
        raise ValueError(f"question={question!r} names no toy-world topic; use world.sample_prompts")
    harmful = topic in content.HARMFUL_TOPICS
    categories = content.HARMFUL_TOPICS[topic][0] if harmful else ()
    kept: list[str] = []
    seen: set[str] = set()
    for clause in _clauses(answer):
        key = normalize_clause(clause)
        info = CLAUSES.get(key)
        if key in seen or info is None:
            continue
        good = (
            (info.kind == "useful" and info.topic == topic and not harmful)
            or (info.kind == "safe_alternative" and set(info.categories) & set(categories))
            or (info.kind == "refusal" and harmful)
        )
        if good:
            kept.append(clause)
            seen.add(key)

    def add_from(options: Sequence[str], count: int) -> None:
        missing = [o for o in options if normalize_clause(o) not in seen]
        for index in rng.permutation(len(missing))[: max(0, count)]:
            kept.append(missing[int(index)])
            seen.add(normalize_clause(missing[int(index)]))

    if harmful:
        if not any(CLAUSES[normalize_clause(c)].kind == "refusal" for c in kept):
            refusal = content.REFUSALS[int(rng.integers(len(content.REFUSALS)))]
            kept.insert(0, refusal)
            seen.add(normalize_clause(refusal))
        have = sum(CLAUSES[normalize_clause(c)].kind == "safe_alternative" for c in kept)
        options = [a for c in categories for a in content.SAFE_ALTERNATIVES[c]]
        add_from(options, alternatives - have)
    else:
        have = sum(CLAUSES[normalize_clause(c)].kind == "useful" for c in kept)
        add_from(content.BENIGN_TOPICS[topic], facts - have)
    return _join(kept)


def upstream_answers(world: Any, prompts: Sequence[Any], source: str, seed: int) -> list[str]:
    """The frozen upstream ``source``'s answers to ``prompts`` (one generator per source and seed)."""
    rng = np.random.default_rng([seed, sum(map(ord, source))])
    return [world.respond(p, source, rng) for p in prompts]


def make_triples(
    world: Any, prompts: Sequence[Any], upstreams: Sequence[str], seed: int,
    facts: int = 3, alternatives: int = 2,
) -> list[dict[str, Any]]:
    """Q-A-C rows: every upstream answers every prompt, the ground truth corrects each answer."""
    rng = np.random.default_rng([seed, 7])
    rows = []
    for source in upstreams:
        for prompt, answer in zip(prompts, upstream_answers(world, prompts, source, seed)):
            correction = correction_for(prompt.text, answer, rng, facts, alternatives)
            rows.append({"question": prompt.text, "answer": answer, "correction": correction,
                         "source": source, "harmful": bool(prompt.harmful)})
    return rows


def judge_rows(world: Any, questions: Sequence[str], responses: Sequence[str]) -> list[Any]:
    """The toy world's ground-truth judgement of each response."""
    return [world.judge(q, r) for q, r in zip(questions, responses)]


def evaluate_upstream(
    world: Any, questions: Sequence[str], originals: Sequence[str], corrected: Sequence[str]
) -> dict[str, float]:
    """ω per dimension plus mean helpfulness and unsafe share, before and after correction, and the
    share of answers the correction left as they were (``unchanged``)."""
    before, after = judge_rows(world, questions, originals), judge_rows(world, questions, corrected)
    table = omega_by_dimension(after, before)
    return {
        "omega_helpfulness": table["helpfulness"]["omega"],
        "omega_harmlessness": table["harmlessness"]["omega"],
        "helpfulness_before": float(np.mean([j.helpfulness for j in before])),
        "helpfulness_after": float(np.mean([j.helpfulness for j in after])),
        "unsafe_before": float(np.mean([not j.is_safe for j in before])),
        "unsafe_after": float(np.mean([not j.is_safe for j in after])),
        "unchanged": float(np.mean([o.strip() == c.strip() for o, c in zip(originals, corrected)])),
        **{f"{dim}_{k}": v for dim, row in table.items() for k, v in row.items() if k != "omega"},
    }


WORLD_FILE = "world.json"
"""What notebook aligner/01_data writes beside its triples: the seed of the world that drew them."""


def save_world(folder: str | Path, world_seed: int) -> Path:
    """Write ``world.json`` (the toy world's seed) into ``folder``, notebook 1's run folder."""
    path = Path(folder) / WORLD_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"world_seed": int(world_seed)}))
    return path


def load_world(folder: str | Path) -> Any:
    """The toy world notebook 1 drew its triples from (its seed read from ``folder``/``world.json``): the
    chapter tokenizer and every judge of notebooks 2-4 use this world, never one of another seed."""
    from ..toyworld import ToyWorld, ToyWorldConfig

    path = Path(folder) / WORLD_FILE
    if not path.exists():
        raise FileNotFoundError(f"{WORLD_FILE} is missing from notebook aligner/01_data's run folder; rerun "
                                "`alignbook run aligner/01_data` (it writes the world's seed beside the triples)")
    return ToyWorld(ToyWorldConfig(seed=int(json.loads(path.read_text())["world_seed"])))
