"""The toy world's rows in every schema of :mod:`alignbook.data.schemas`.

``toy_rows("pku-saferlhf-v1", n, seed)`` gives rows a hub loader would give, so a notebook
switches between ``dataset="toy"`` and a hub name with no other change.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable, Mapping

from ..toyworld import HARM_CATEGORIES, ToyWorld, ToyWorldConfig
from .schemas import BEAVERTAILS_CATEGORIES

# Which BeaverTails category each PKU-SafeRLHF v1 category folds into (for the 14-way view).
V1_TO_BEAVERTAILS: dict[str, str] = {
    "Endangering National Security": "terrorism,organized_crime",
    "Insulting Behavior": "hate_speech,offensive_language",
    "Discriminatory Behavior": "discrimination,stereotype,injustice",
    "Endangering Public Health": "misinformation_regarding_ethics,laws_and_safety",
    "Copyright Issues": "non_violent_unethical_behavior",
    "Violence": "violence,aiding_and_abetting,incitement",
    "Drugs": "drug_abuse,weapons,banned_substance",
    "Privacy Violation": "privacy_violation",
    "Economic Crime": "financial_crime,property_crime,theft",
    "Mental Manipulation": "non_violent_unethical_behavior",
    "Human Trafficking": "terrorism,organized_crime",
    "Physical Harm": "violence,aiding_and_abetting,incitement",
    "Sexual Content": "sexually_explicit,adult_content",
    "Cybercrime": "financial_crime,property_crime,theft",
    "Disrupting Public Order": "controversial_topics,politics",
    "Environmental Damage": "non_violent_unethical_behavior",
    "Psychological Harm": "self_harm",
    "White-Collar Crime": "financial_crime,property_crime,theft",
    "Animal Abuse": "animal_abuse",
}


def v1_to_v0(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The 7-column v0 view of v1 rows."""
    keep = ("prompt", "response_0", "response_1", "is_response_0_safe", "is_response_1_safe",
            "better_response_id", "safer_response_id")
    return [{k: row[k] for k in keep} for row in rows]


def v1_to_qa(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per-response moderation rows (PKU-SafeRLHF-QA schema) from v1 pairs, deduplicated by sha256."""
    out, seen = [], set()
    for row in rows:
        for i in (0, 1):
            digest = row[f"response_{i}_sha256"]
            if digest in seen:
                continue
            seen.add(digest)
            out.append({
                "prompt": row["prompt"],
                "response": row[f"response_{i}"],
                "prompt_source": row["prompt_source"],
                "response_source": row[f"response_{i}_source"],
                "is_safe": bool(row[f"is_response_{i}_safe"]),
                "harm_category": dict(row[f"response_{i}_harm_category"]),
                "severity_level": int(row[f"response_{i}_severity_level"]),
                "sha256": digest,
            })
    return out


def qa_rows(world: ToyWorld, n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` distinct per-response rows: pairs are drawn until enough distinct responses exist."""
    pairs = (n + 1) // 2
    while True:
        rows = v1_to_qa(world.preference_rows(pairs, seed))
        if len(rows) >= n or pairs > 50 * n + 100:
            return rows[:n]
        pairs = int(pairs * 1.5) + 1


def toy_rows(schema: str, n: int, seed: int = 0, world: ToyWorld | None = None) -> list[dict[str, Any]]:
    """``n`` toy rows in ``schema`` (a key of ``SCHEMAS``)."""
    world = world or ToyWorld(ToyWorldConfig())
    if schema == "pku-saferlhf-v1":
        return world.preference_rows(n, seed)
    if schema == "pku-saferlhf-v0":
        return v1_to_v0(world.preference_rows(n, seed))
    if schema == "pku-saferlhf-single":
        return world.single_preference_rows(n, seed)
    if schema == "pku-saferlhf-qa":
        return qa_rows(world, n, seed)
    if schema == "beavertails":
        rows = []
        for qa in qa_rows(world, n, seed):
            folded = {V1_TO_BEAVERTAILS[name] for name in HARM_CATEGORIES if qa["harm_category"][name]}
            rows.append({
                "prompt": qa["prompt"],
                "response": qa["response"],
                "category": {c: c in folded for c in BEAVERTAILS_CATEGORIES},
                "is_safe": qa["severity_level"] == 0,
            })
        return rows
    if schema == "beavertails-evaluation":
        rows = []
        for prompt in world.sample_prompts(n, seed, harmful_fraction=1.0):
            category = V1_TO_BEAVERTAILS[prompt.categories[0]]
            rows.append({"prompt": prompt.text, "category": category,
                         "category_id": BEAVERTAILS_CATEGORIES.index(category)})
        return rows
    if schema == "aligner":
        rows = []
        for index, prompt in enumerate(world.sample_prompts(n, seed)):
            # hashlib, not hash(): str hashes change between processes
            rng = int.from_bytes(hashlib.sha256(f"{seed}/{index}/{prompt.text}".encode()).digest()[:8], "little")
            answer = world.respond(prompt, "alpaca-7b", rng)
            rows.append({"question": prompt.text, "answer": answer,
                         "correction": world.respond(prompt, "safe_helpful", rng)})
        return rows
    if schema == "alpaca":  # instruction-following demonstrations for benign requests, as Alpaca's
        rows = []
        for draw in range(1, 64):
            for row in world.sft_rows(n * 2, seed * 64 + draw):
                parsed = world.parse_prompt(row["prompt"])
                if parsed is not None and not parsed.harmful and len(rows) < n:
                    rows.append({"instruction": row["prompt"], "input": "", "output": row["response"]})
            if len(rows) == n:
                return rows
        raise ValueError(f"the toy world gave fewer than {n} benign demonstrations; lower n")
    from .schemas import SCHEMAS

    raise ValueError(f"schema={schema!r} is unknown; choose one of {', '.join(SCHEMAS)}")
