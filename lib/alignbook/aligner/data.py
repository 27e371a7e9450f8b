"""Question-answer-correction triples: validation, identity warm-up data, tokenisation, the hub loader.

A triple is ``{"question", "answer", "correction"}`` (the column names of ``aligner/aligner-20K``),
plus an optional ``"source"`` naming the upstream model that wrote the answer. Tokenisation puts
the template's prompt before the correction and masks the prompt's labels with ``-100``, so the
supervised loss counts the correction tokens only (the Aligner is never taught to reproduce the
question or the upstream answer, only to map them to a correction).
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any, Iterable, Sequence

from ..engine.config import ConfigError
from .templates import AlignerTemplate, get_template

IGNORE_INDEX = -100
"""Label value the loss skips (the PyTorch ``cross_entropy`` default ``ignore_index``)."""

COLUMNS = ("question", "answer", "correction")
"""Columns of ``aligner/aligner-20K`` and of the book's triples."""

ALIGNER_20K = "aligner/aligner-20K"
"""Hub id of the paper's training set (question, answer, correction)."""

ALIGNER_20K_REVISION: str | None = None
"""Revision the ``paper`` profile loads. None: unpinned (no commit hash could be verified from this
workplace), so the latest revision is loaded with a warning; pass ``dataset_revision=<sha>`` to pin."""


def validate_triples(rows: Iterable[dict[str, Any]], where: str = "triples") -> list[dict[str, Any]]:
    """Check that every row has string ``question``, ``answer`` and ``correction``; return a list."""
    rows = list(rows)
    if not rows:
        raise ConfigError(f"{where}: no rows; the Aligner needs at least one question-answer-correction triple")
    for i, row in enumerate(rows):
        missing = [c for c in COLUMNS if c not in row]
        if missing:
            raise ConfigError(
                f"{where}[{i}] lacks columns {missing}; each row needs {list(COLUMNS)} "
                f"(the aligner-20K schema), got {sorted(row)}"
            )
        bad = [c for c in COLUMNS if not isinstance(row[c], str)]
        if bad:
            raise ConfigError(f"{where}[{i}]: columns {bad} must be strings")
    return rows


def identity_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Q-A-A rows: the same questions and answers with ``correction := answer``."""
    return [{**row, "correction": row["answer"]} for row in rows]


def warmup_split(
    rows: Sequence[dict[str, Any]], fraction: float, seed: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Identity warm-up data and main data for the two-stage Aligner schedule.

    The warm-up stage trains on ``round(fraction * len(rows))`` randomly chosen rows turned into
    Q-A-A (learn to copy the answer: the identity mapping), then the main stage trains on every
    row as Q-A-C. ``fraction=0`` is the plain, no-warm-up Aligner. The paper's Figure 3 sweeps
    2/10/20/50% and finds 20% best.
    """
    if not 0.0 <= fraction <= 1.0:
        raise ConfigError(f"warmup_fraction={fraction!r} must lie in [0, 1], e.g. 0.2 for 20%")
    rows = list(rows)
    count = int(round(fraction * len(rows)))
    chosen = random.Random(seed).sample(range(len(rows)), count)
    return identity_rows([rows[i] for i in sorted(chosen)]), rows


def direct_rows(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Q→C rows for the same-size baseline that answers the question without seeing an answer."""
    return [{"question": r["question"], "correction": r["correction"]} for r in rows]


def encode_example(
    tokenizer: Any,
    template: str | AlignerTemplate | None,
    row: dict[str, Any],
    max_length: int,
    direct_prompt: str = "{question}",
) -> dict[str, list[int]]:
    """Token ids and labels of one training example; prompt labels are ``IGNORE_INDEX``.

    With a ``template`` the prompt is ``template.format(question, answer)``; with
    ``template=None`` it is ``direct_prompt.format(question=...)`` (the Q→C baseline, which never
    sees an upstream answer). The target is the correction (after the template's
    ``correction_prefix``) and EOS. Layout, masking and truncation are those of
    :func:`alignbook.lm.data.encode_pair`: ``bos prompt | correction eos`` with ``bos`` and the
    prompt masked, prompt and target tokenised separately so no BPE merge crosses the boundary.
    """
    from ..lm.data import encode_pair

    if template is None:
        prompt, target = direct_prompt.format(question=row["question"]), " " + row["correction"]
    else:
        tpl = get_template(template)
        prompt = tpl.format(row["question"], row["answer"])
        target = tpl.correction_prefix + row["correction"]
    return encode_pair(tokenizer, prompt, target, max_length=max_length)


def save_triples(path: str | Path, splits: dict[str, list[dict[str, Any]]]) -> Path:
    """Write ``{"train": [...], "eval": [...]}`` as JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(splits, indent=1))
    return path


def load_triples(path: str | Path) -> dict[str, list[dict[str, Any]]]:
    """Read the splits written by :func:`save_triples`, validating each."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; run notebook aligner/01_data first")
    splits = json.loads(path.read_text())
    return {name: validate_triples(rows, f"{path}:{name}") for name, rows in splits.items()}


def load_aligner_20k(
    split: str = "train", revision: str | None = ALIGNER_20K_REVISION, limit: int | None = None,
    source: str = ALIGNER_20K,
) -> list[dict[str, Any]]:
    """The paper's training set from the hub (``paper`` profile only; needs network access), or, with
    ``source`` a local folder in the hub's layout (:func:`alignbook.data.write_hub_layout`, a rehearsal's
    stand-in), from that folder."""
    import warnings

    local = Path(source).expanduser()
    if source != ALIGNER_20K and local.is_dir():
        from ..data import hub

        rows, _ = hub._read_local(local, split, "aligner")
        rows = [{c: r[c] for c in COLUMNS if c in r} for r in rows]
        return validate_triples(rows[:limit] if limit else rows, str(local))
    from datasets import load_dataset

    if revision is None:
        warnings.warn(f"{ALIGNER_20K} is loaded at the latest revision, not a pinned commit: pass "
                      "dataset_revision=<commit sha> to make the run reproducible", stacklevel=2)
    dataset = load_dataset(ALIGNER_20K, split=split, revision=revision)
    rows = [{c: r[c] for c in COLUMNS} for r in dataset]
    return validate_triples(rows[:limit] if limit else rows, f"{ALIGNER_20K}@{revision or 'latest'}")


def load_json_triples(path: str | Path) -> list[dict[str, Any]]:
    """Triples from a local JSON list with the aligner-20K columns (e.g. the repository's sample)."""
    rows = json.loads(Path(path).read_text())
    return validate_triples([{c: r[c] for c in COLUMNS if c in r} for r in rows], str(path))
