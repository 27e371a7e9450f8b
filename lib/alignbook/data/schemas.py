"""Exact schemas of the PKU-Alignment datasets, and a validator that names the bad column.

Each schema maps a column to a check. :func:`validate_rows` runs every check on every row and
raises :class:`SchemaError` at the first problem, naming the dataset, the row and the column,
and saying what was expected.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable, Iterable, Mapping

from ..toyworld.content import HARM_CATEGORIES

BEAVERTAILS_CATEGORIES: tuple[str, ...] = (
    "animal_abuse",
    "child_abuse",
    "controversial_topics,politics",
    "discrimination,stereotype,injustice",
    "drug_abuse,weapons,banned_substance",
    "financial_crime,property_crime,theft",
    "hate_speech,offensive_language",
    "misinformation_regarding_ethics,laws_and_safety",
    "non_violent_unethical_behavior",
    "privacy_violation",
    "self_harm",
    "sexually_explicit,adult_content",
    "terrorism,organized_crime",
    "violence,aiding_and_abetting,incitement",
)
"""The 14 harm categories of BeaverTails (keys of its ``category`` dict)."""


class SchemaError(ValueError):
    """A row does not match its dataset's schema; the message names the column and the fix."""


Check = Callable[[Any], str | None]
"""A column check: returns None when the value is fine, else what was expected."""


def is_str(value: Any) -> str | None:
    return None if isinstance(value, str) else "a string"


def is_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else "a bool (true/false)"


def is_id(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and value in (0, 1)
    return None if ok else "0 or 1"


def is_severity(value: Any) -> str | None:
    ok = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 3
    return None if ok else "an integer severity level 0-3"


def is_sha256(value: Any) -> str | None:
    ok = isinstance(value, str) and len(value) == 64 and all(c in "0123456789abcdef" for c in value.lower())
    return None if ok else "a 64-character hex sha256"


def bool_dict(keys: tuple[str, ...]) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, Mapping):
            return f"a dict of {len(keys)} bools"
        missing = [k for k in keys if k not in value]
        extra = [k for k in value if k not in keys]
        if missing or extra:
            return f"a dict with exactly the {len(keys)} category keys (missing {missing[:3]}, unexpected {extra[:3]})"
        bad = [k for k in keys if not isinstance(value[k], bool)]
        return f"bool values (not for {bad[:3]})" if bad else None

    return check


def int_list(low: int, high: int) -> Check:
    def check(value: Any) -> str | None:
        ok = isinstance(value, (list, tuple)) and all(
            isinstance(v, int) and not isinstance(v, bool) and low <= v <= high for v in value
        )
        return None if ok else f"a list of category indices in [{low}, {high}]"

    return check


def one_of(values: tuple[Any, ...]) -> Check:
    return lambda value: None if value in values else f"one of {list(values)[:5]}..."


def int_range(low: int, high: int) -> Check:
    return lambda value: (
        None if isinstance(value, int) and not isinstance(value, bool) and low <= value <= high else f"an integer in [{low}, {high}]"
    )


@dataclasses.dataclass(frozen=True)
class Schema:
    """Columns of one dataset release and their checks."""

    name: str
    """Short name used by :func:`alignbook.data.load`."""
    columns: Mapping[str, Check]
    """Column name -> check, in the release's order."""
    extra_columns_allowed: bool = False
    """Whether rows may have further columns (releases that grew columns over revisions)."""
    refused_columns: Mapping[str, str] = dataclasses.field(default_factory=dict)
    """Columns a row must not have even where extra columns are allowed, each with why (those of
    another documented shape of the same release, so that exactly one shape is accepted)."""


V0_COLUMNS: dict[str, Check] = {
    "prompt": is_str,
    "response_0": is_str,
    "response_1": is_str,
    "is_response_0_safe": is_bool,
    "is_response_1_safe": is_bool,
    "better_response_id": is_id,
    "safer_response_id": is_id,
}

V1_COLUMNS: dict[str, Check] = {
    "prompt": is_str,
    "response_0": is_str,
    "response_1": is_str,
    "prompt_source": is_str,
    "response_0_source": is_str,
    "response_1_source": is_str,
    "is_response_0_safe": is_bool,
    "is_response_1_safe": is_bool,
    "response_0_harm_category": bool_dict(HARM_CATEGORIES),
    "response_1_harm_category": bool_dict(HARM_CATEGORIES),
    "response_0_severity_level": is_severity,
    "response_1_severity_level": is_severity,
    "better_response_id": is_id,
    "safer_response_id": is_id,
    "response_0_sha256": is_sha256,
    "response_1_sha256": is_sha256,
}

SCHEMAS: dict[str, Schema] = {
    "pku-saferlhf-v1": Schema("pku-saferlhf-v1", V1_COLUMNS),
    "pku-saferlhf-v0": Schema("pku-saferlhf-v0", V0_COLUMNS),
    "pku-saferlhf-single": Schema(
        "pku-saferlhf-single",
        {
            "prompt": is_str,
            "response_0": is_str,
            "response_1": is_str,
            "better_response_id": is_id,
        },
        extra_columns_allowed=True,
    ),
    # PKU-SafeRLHF-QA: one row per question-answer pair. Its card documents two shapes. At the pinned
    # revision (219fa024d11c79e28a2e2c444621d641b9689606, see hub.py) the card's YAML ``dataset_info``
    # declares prompt, response_source, severity_category (int64), safety_category (sequence of int64),
    # response, prompt_source, sha256 -- but that block, with its 149858/4635 split sizes, describes the
    # parquet upload of 3cb7410, deleted before the pin. The same card's prose says each entry carries
    # ``is_safe``, ``harm_category`` and ``severity_level``, and third-party loaders of the jsonl files the pin
    # does hold (data/<model>/{train,test}.jsonl) read ``is_safe`` (bool), ``harm_category`` (a dict of the 19
    # categories) and ``severity_level`` (0-3). This schema takes that second shape: the one of the files at
    # the pin. The other columns of those files were not seen, so extra columns are allowed, except the
    # YAML shape's own, which are refused by name: a row of the other shape fails, naming the column.
    # Not verified on a raw row of the pinned files; if they turn out to carry the YAML shape, the first
    # row fails here, naming ``is_safe``.
    "pku-saferlhf-qa": Schema(
        "pku-saferlhf-qa",
        {
            "prompt": is_str,
            "response": is_str,
            "is_safe": is_bool,
            "harm_category": bool_dict(HARM_CATEGORIES),
            "severity_level": is_severity,
        },
        extra_columns_allowed=True,
        refused_columns={
            "severity_category": "a column of the card's YAML shape (the deleted parquet), not of the jsonl files "
                                 "at the pinned revision; this schema reads severity_level",
            "safety_category": "a column of the card's YAML shape (the deleted parquet), not of the jsonl files "
                               "at the pinned revision; this schema reads harm_category",
        },
    ),
    "beavertails": Schema(
        "beavertails",
        {"prompt": is_str, "response": is_str, "category": bool_dict(BEAVERTAILS_CATEGORIES), "is_safe": is_bool},
    ),
    "beavertails-evaluation": Schema(
        "beavertails-evaluation",
        {"prompt": is_str, "category": one_of(BEAVERTAILS_CATEGORIES), "category_id": int_range(0, 13)},
    ),
    "aligner": Schema("aligner", {"question": is_str, "answer": is_str, "correction": is_str}),
    # tatsu-lab/alpaca: the demonstrations of Safe RLHF's PTX term (ppo-lag.sh --ptx_datasets alpaca);
    # the release also has a formatted ``text`` column, which upstream's loader ignores
    "alpaca": Schema("alpaca", {"instruction": is_str, "input": is_str, "output": is_str}, extra_columns_allowed=True),
}
"""Every schema the loaders know, by name."""


def validate_rows(rows: Iterable[Mapping[str, Any]], schema: Schema | str, where: str = "") -> int:
    """Check every row against ``schema``; return the number of rows or raise :class:`SchemaError`."""
    if isinstance(schema, str):
        if schema not in SCHEMAS:
            raise SchemaError(f"schema={schema!r} is unknown; choose one of {', '.join(SCHEMAS)}")
        schema = SCHEMAS[schema]
    label = f"{schema.name}{' (' + where + ')' if where else ''}"
    count = 0
    for index, row in enumerate(rows):
        if not isinstance(row, Mapping):
            raise SchemaError(f"{label}: row {index} is a {type(row).__name__}, expected a dict of columns")
        for column, check in schema.columns.items():
            if column not in row:
                raise SchemaError(
                    f"{label}: row {index} has no column {column!r} (has {sorted(row)[:8]}); "
                    f"the {schema.name} schema needs {list(schema.columns)}"
                )
            problem = check(row[column])
            if problem is not None:
                raise SchemaError(f"{label}: row {index}, column {column!r} = {row[column]!r:.80} should be {problem}")
        refused = [c for c in schema.refused_columns if c in row]
        if refused:
            raise SchemaError(f"{label}: row {index} has column {refused[0]!r}: {schema.refused_columns[refused[0]]} "
                              f"(the {schema.name} schema needs {list(schema.columns)})")
        if not schema.extra_columns_allowed:
            extra = [c for c in row if c not in schema.columns]
            if extra:
                raise SchemaError(
                    f"{label}: row {index} has unexpected column(s) {extra}; is this the right schema? "
                    f"(known: {', '.join(SCHEMAS)})"
                )
        count += 1
    return count
