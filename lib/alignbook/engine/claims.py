"""The book's claims ledger: each chapter's claims as data, judged from recorded metrics.

A chapter declares what it tests in ``alignbook.<chapter>.claims``: ``PAPER`` (the paper, in
words) and ``CLAIMS``, a tuple of :class:`Claim`. Each claim names the notebook and the recorded
metric (``alignbook.record``) that decides it, and the criterion, in words a student can check
against the notebook's table. The notebooks compute the numbers; nothing in a ledger is typed from
a run.

The verdict words are :data:`VERDICTS`. A claim is judged from the metrics of *valid* results only
(see :mod:`alignbook.engine.store`): a notebook that has not run, failed or is out of date gives
``not run``, never an old number.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
from typing import Any

from .metrics import format_value

VERDICTS = ("shown", "partly shown", "not shown", "contrary", "not testable")
"""What a reproduction can conclude about a claim:

- ``shown``: the criterion holds, beyond the seed spread where it asks for one;
- ``partly shown``: some declared parts hold and others do not (the notebook says which);
- ``not shown``: the criterion does not hold, but the measurement does not contradict the claim
  either (an interval that contains the threshold, a part that fails within noise);
- ``contrary``: the measurement points the other way, beyond the spread;
- ``not testable``: this setting cannot decide it (e.g. one seed where a spread is needed).

``not run`` is added by the ledger where the notebook has no valid result in a profile."""

NOT_RUN = "not run"

KINDS = ("status", "above", "below", "near")


@dataclasses.dataclass(frozen=True)
class Claim:
    """One claim of a paper and how a chapter tests it."""

    id: str
    """Short identifier, unique in its chapter (``lambda-dynamics``); the ledger's anchor."""
    claim: str
    """The paper's statement, in short."""
    paper: str
    """The paper's evidence: its number or the section/figure it rests on."""
    notebook: str
    """The notebook whose recorded metric decides it (``safe-rlhf/03_ppo_lag``)."""
    metric: str
    """The recorded metric that decides it."""
    criterion: str
    """When it counts as shown, in words (the same test the code applies)."""
    kind: str = "status"
    """``status``: the metric's value is a verdict word the notebook computed (:data:`VERDICTS`);
    ``above``/``below``: the value ± its recorded spread lies wholly above/below ``threshold``;
    ``near``: |value − threshold| < ``tolerance``."""
    threshold: float = 0.0
    tolerance: float = 0.0
    setting: str = ""
    """Where it is tested (model, data)."""
    support: str = ""
    """For a ``status`` claim: the recorded metric (same notebook) whose number stands in the
    ledger's "ours" column; empty: the decisive metric itself."""
    support_words: str = ""
    """Words before that number (``inverse − forward``)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"claim {self.id!r}: kind {self.kind!r}; expected one of {', '.join(KINDS)}")
        if not self.criterion.strip():
            raise ValueError(f"claim {self.id!r}: no criterion; say when it counts as shown")


def judge(claim: Claim, entry: dict[str, Any] | None) -> str:
    """The verdict on ``claim`` from its metric's recorded ``entry`` (None: ``not run``)."""
    if entry is None:
        return NOT_RUN
    value, spread = entry.get("value"), entry.get("spread")
    if claim.kind == "status":
        word = str(value).removesuffix(" here")
        if word not in VERDICTS:
            raise ValueError(f"{claim.notebook}: {claim.metric} = {value!r} is not a verdict ({', '.join(VERDICTS)})")
        return word
    if not isinstance(value, (int, float)) or not math.isfinite(float(value)):
        return "not testable"
    if claim.kind == "near":
        return "shown" if abs(float(value) - claim.threshold) < claim.tolerance else "not shown"
    if spread is None or not isinstance(spread, (int, float)) or not math.isfinite(float(spread)):
        return "not testable"
    lo, hi = float(value) - float(spread), float(value) + float(spread)
    if claim.kind == "above":
        return "shown" if lo > claim.threshold else "contrary" if hi < claim.threshold else "not shown"
    return "shown" if hi < claim.threshold else "contrary" if lo > claim.threshold else "not shown"


def ours(claim: Claim, metrics: dict[str, dict[str, Any]]) -> str:
    """The "ours" cell: the supporting number (or the decisive one), with spread, seeds and unit."""
    recorded = metrics.get(claim.notebook, {})
    name = claim.support or claim.metric
    entry = recorded.get(name)
    if entry is None:
        return "–"
    if not isinstance(entry.get("value"), (int, float)):
        return "see the notebook"
    text = format_value(entry)
    return f"{claim.support_words} {text}".strip() if claim.support else text


def chapter_module(chapter: str) -> Any | None:
    """``alignbook.<chapter>.claims`` for a notebook folder (``safe-rlhf``), or None if it declares none."""
    name = f"alignbook.{chapter.replace('-', '_')}.claims"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as err:
        if err.name in (name, name.rsplit(".", 1)[0]):
            return None
        raise


def declared(chapters: list[str]) -> dict[str, Any]:
    """``{chapter: its claims module}`` for the chapters (in order) that declare claims."""
    out = {}
    for chapter in chapters:
        module = chapter_module(chapter)
        if module is not None:
            ids = [c.id for c in module.CLAIMS]
            if len(set(ids)) != len(ids):
                raise ValueError(f"{module.__name__}: claim ids repeat: {sorted(i for i in ids if ids.count(i) > 1)}")
            out[chapter] = module
    return out


def evaluate(module: Any, metrics: dict[str, dict[str, Any]]) -> list[dict[str, str]]:
    """One row per claim of a chapter from ``{notebook: {metric: entry}}`` (valid results only)."""
    rows = []
    for claim in module.CLAIMS:
        entry = metrics.get(claim.notebook, {}).get(claim.metric)
        rows.append({"id": claim.id, "claim": claim.claim, "paper": claim.paper, "criterion": claim.criterion,
                     "setting": claim.setting, "ours": ours(claim, metrics),
                     "profile": entry["profile"] if entry else "–", "verdict": judge(claim, entry),
                     "notebook": claim.notebook})
    return rows


def tally(rows: list[dict[str, str]]) -> str:
    """``2 shown, 1 partly shown, 6 not shown`` (zero counts left out); ``not run`` when none ran."""
    counts = {word: sum(r["verdict"] == word for r in rows) for word in (*VERDICTS, NOT_RUN)}
    if counts[NOT_RUN] == len(rows):
        return NOT_RUN
    return ", ".join(f"{n} {word}" for word, n in counts.items() if n)


def markdown_table(rows: list[dict[str, str]], link: Any = None) -> str:
    """The chapter's claims as a table (claim, paper, criterion, ours, verdict with its profile); ``link(notebook)``
    gives the Markdown link to the notebook that decides each claim."""
    lines = ["| claim | the paper | shown when | ours | verdict |", "|---|---|---|---|---|"]
    for row in rows:
        where = f" ({link(row['notebook'])})" if link else ""
        profile = f" ({row['profile']})" if row["profile"] != "–" else ""
        lines.append(f"| {_cell(row['claim'])}{where} | {_cell(row['paper'])} | {_cell(row['criterion'])} | "
                     f"{_cell(row['ours'])} | **{row['verdict']}**{profile} |")
    return "\n".join(lines)


def _cell(text: Any) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
