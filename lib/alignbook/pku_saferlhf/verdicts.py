"""The PKU-SafeRLHF chapter's verdicts: a word of :data:`alignbook.engine.claims.VERDICTS` and a
sentence, plus the tables the verdicts are read against.

Each function takes the per-seed numbers a notebook shows right above its verdict and returns a
:class:`Verdict`: the word the notebook records (``alignbook.record(cfg, "<x>_verdict", ...)``) and
a sentence that names those numbers (mean ± sample std over seeds, with the seed count), the
criterion, which part holds and, when the claim is not shown, what was measured and the likely
cause. Differences between two models are paired by seed. A criterion against the seed spread needs
:data:`MIN_SEEDS` seeds and is ``not testable`` with fewer. Nothing here is tuned to a run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..engine.metrics import format_number, format_value

MIN_SEEDS = 3
"""Seeds a criterion judged against the seed spread needs; with fewer the claim is ``not testable``."""
PUBLISHED_TOLERANCE = 0.01
"""How far (absolute share) a statistic of the pinned split may sit from the published one."""
VIOLATIONS = ("safe but severity > 0", "unsafe but severity 0", "safe but has a category", "unsafe but no category",
              "mixed pairs where safer is the unsafe one", "both-safe pairs without safer_response_id")
"""The counts of :func:`alignbook.pku_saferlhf.explore.invariants` that break a rule of the card."""

MODERATION_LABELS = {
    "binary_accuracy": "safe/unsafe accuracy", "false_positive_rate": "false-positive rate",
    "severity_accuracy": "severity accuracy, all", "severity_accuracy_1": "severity accuracy, minor",
    "severity_accuracy_2": "severity accuracy, moderate", "severity_accuracy_3": "severity accuracy, severe",
    "category_exact_match": "category set exact match", "category_macro_f1": "category macro F1",
}
"""Short names of the moderation metrics, for tables and sentences."""

DUAL_LABELS = {
    "reward_vs_true_helpfulness": "R vs true helpfulness", "cost_vs_true_harm": "C vs true harm",
    "single_vs_true_helpfulness": "S vs true helpfulness", "single_vs_true_harmlessness": "S vs true harmlessness",
    "reward_label_accuracy": "R, held-out labels", "cost_label_accuracy": "C, held-out labels",
    "cost_sign_accuracy": "C, safe/unsafe sign", "single_label_accuracy": "S, held-out labels",
}
"""Short names of notebook 3's ranking accuracies."""


@dataclasses.dataclass(frozen=True)
class Stat:
    """A mean over seeds with its sample std (None for one seed) and the seed count (NaNs dropped)."""

    mean: float
    spread: float | None
    seeds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stat":
        array = np.asarray([float(v) if v is not None else float("nan") for v in values], dtype=float)
        array = array[np.isfinite(array)]
        if array.size == 0:
            return cls(float("nan"), None, 0)
        spread = float(array.std(ddof=1)) if array.size > 1 else None
        if spread is not None and spread < 1e-12 * max(1.0, float(np.abs(array).max())):
            spread = 0.0
        return cls(float(array.mean()), spread, int(array.size))

    @classmethod
    def paired(cls, a: Sequence[float], b: Sequence[float]) -> "Stat":
        """Of the per-seed differences ``a[k] - b[k]``."""
        if len(a) != len(b):
            raise ValueError(f"paired differences need as many values on each side ({len(a)} vs {len(b)})")
        return cls.of([float(x) - float(y) for x, y in zip(a, b)])

    @property
    def margin(self) -> float:
        return self.spread if self.spread is not None and math.isfinite(self.spread) else 0.0

    @property
    def above(self) -> bool:
        return math.isfinite(self.mean) and self.mean > self.margin

    @property
    def below(self) -> bool:
        return math.isfinite(self.mean) and self.mean < -self.margin

    def entry(self, unit: str = "", scale: float = 1.0) -> dict[str, Any]:
        """As ``alignbook.record`` stores it (``value``, ``spread``, ``seeds``, ``unit``)."""
        return {"value": self.mean * scale, "spread": None if self.spread is None else self.spread * scale,
                "seeds": self.seeds, "unit": unit}

    def text(self, percent: bool = False, sign: bool = False, seeds: bool = False) -> str:
        """``0.412 ± 0.031``, ``18.8 %``; ``seeds=True`` adds ``(3 seeds)``; ``–`` for no value."""
        if self.seeds == 0:
            return "–"
        entry = self.entry("%", 100.0) if percent else self.entry()
        if not seeds:
            entry["seeds"] = None
        text = format_value(entry)
        return f"+{text}" if sign and self.mean > 0 else text


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The word (:data:`alignbook.engine.claims.VERDICTS`) and the sentence that explains it."""

    word: str
    sentence: str

    def markdown(self) -> str:
        return f"**{self.word}**: {self.sentence}"


def _pct(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{format_number(100.0 * value)} %"


def _over(n: int) -> str:
    return f"over {n} seeds (mean ± std)" if n > 1 else ("from 1 seed (no spread)" if n == 1 else "from no seed")


def _not_testable(n: int, min_seeds: int = MIN_SEEDS) -> str:
    return (f"The criterion compares means with their seed spread and needs ≥ {min_seeds} seeds; this profile "
            f"ran {n}, so the claim is not testable here.")


def _holds(flag: bool) -> str:
    return "holds" if flag else "fails"


# ------------------------------------------------------------------------ notebook 01
def violations(counts: Mapping[str, int]) -> int:
    """Rows or responses that break one of the card's rules (:data:`VIOLATIONS`)."""
    return int(sum(counts.get(key, 0) for key in VIOLATIONS))


def data_card_verdict(better_ne_safer: Sequence[float], broken: int, toy: bool, published: float,
                      tolerance: float = PUBLISHED_TOLERANCE) -> Verdict:
    """The released pairs match the paper's statistics and the card's rules: on the pinned split the
    more helpful response differs from the safer one in ``published`` of the pairs (within
    ``tolerance``) and no row breaks a rule of the card. Toy rows are calibrated to these numbers and
    labelled by construction, so they cannot test them: ``not testable``."""
    share = Stat.of(better_ne_safer)
    numbers = (f"Better ≠ safer in {share.text(percent=True)} of the loaded pairs (published: {_pct(published)}); "
               f"{broken} rows or responses break a rule of the card.")
    if toy:
        return Verdict("not testable", f"{numbers} These rows come from the toy world, whose labels follow the card's "
                                       "rules by construction and whose shares are calibrated toward the published "
                                       "ones, so they cannot test a statistic of the real data; the `paper` profile "
                                       "reads the pinned split and decides it.")
    near = abs(share.mean - published) <= tolerance
    clean = broken == 0
    numbers += (f" Criterion: within {format_number(100 * tolerance)} points of the published share "
                f"({_holds(near)}) and no broken rule ({_holds(clean)}).")
    if near and clean:
        return Verdict("shown", f"{numbers} The pinned split matches the paper's statistic and the card's rules.")
    if near or clean:
        return Verdict("partly shown", f"{numbers} One part holds; the other is listed above with its count.")
    return Verdict("not shown", f"{numbers} Neither holds: the pinned revision may differ from the one the paper "
                                "describes.")


# ------------------------------------------------------------------------ notebook 02
def paper_level_verdict(what: str, values: Sequence[float], baseline: float, paper: float, extra: str = "",
                        min_seeds: int = MIN_SEEDS) -> Verdict:
    """The moderation model reaches the paper's level on one metric: its mean minus the seed spread
    is at least the paper's number and above the majority-class predictor's. ``extra``: a sentence
    of context (another metric of the same head), reported, not judged."""
    stat = Stat.of(values)
    numbers = (f"{what.capitalize()} {_over(stat.seeds)}: {stat.text(percent=True)}; the majority class gets "
               f"{_pct(baseline)}, the paper's model {_pct(paper)} (7B-scale, real data). Criterion: mean − seed spread "
               f"≥ the paper's number and above the majority class.{(' ' + extra) if extra else ''}")
    if stat.seeds < min_seeds:
        return Verdict("not testable", f"{numbers} {_not_testable(stat.seeds, min_seeds)}")
    low = stat.mean - stat.margin
    if low >= paper and low > baseline:
        return Verdict("shown", f"{numbers} It holds on the toy world's responses (an easier task than the paper's, "
                                "see the text below).")
    if stat.mean <= baseline + stat.margin:
        return Verdict("not shown", f"{numbers} The head does no better than always predicting the majority class "
                                    "beyond the seed spread: at this training length it has not learned to separate "
                                    "the classes.")
    return Verdict("not shown", f"{numbers} The head beats the majority class but stays below the paper's level: "
                                "it needs to recognise which harmful step was written, and this profile trains a "
                                "tiny model briefly.")


def ordering_verdict(binary: Sequence[float], severity: Sequence[float], category: Sequence[float],
                     min_seeds: int = MIN_SEEDS) -> Verdict:
    """Coarse ≫ fine-grained: binary accuracy exceeds severity accuracy and category exact match, each
    difference paired by seed and above zero by more than its seed spread."""
    d_sev, d_cat = Stat.paired(binary, severity), Stat.paired(binary, category)
    n = min(d_sev.seeds, d_cat.seeds)
    numbers = (f"Safe/unsafe accuracy {Stat.of(binary).text(percent=True)}, severity accuracy "
               f"{Stat.of(severity).text(percent=True)}, category exact match {Stat.of(category).text(percent=True)} "
               f"{_over(n)}. Differences paired by seed: binary − severity {d_sev.text(percent=True, sign=True)} "
               f"({_holds(d_sev.above)}), binary − category {d_cat.text(percent=True, sign=True)} "
               f"({_holds(d_cat.above)}); each must be above zero by more than its seed spread.")
    if n < min_seeds:
        return Verdict("not testable", f"{numbers} {_not_testable(n, min_seeds)}")
    if d_sev.above and d_cat.above:
        return Verdict("shown", f"{numbers} Telling safe from unsafe is easier than grading severity or naming the "
                                "categories, as in the paper.")
    if d_sev.above or d_cat.above:
        return Verdict("partly shown", f"{numbers} Only one of the fine-grained heads is below the binary one beyond "
                                       "the spread.")
    if d_sev.below or d_cat.below:
        return Verdict("contrary", f"{numbers} A fine-grained head beats the binary one beyond the spread, the "
                                   "opposite of the paper's ordering.")
    return Verdict("not shown", f"{numbers} The differences lie within the seed spread.")


def moderation_table(values: Mapping[str, Sequence[float]], baseline: Mapping[str, float],
                     paper: Mapping[str, float]) -> Any:
    """Notebook 2's table: each metric's mean ± std over seeds beside the majority class and the paper."""
    import pandas as pd

    rows = {}
    for key, per_seed in values.items():
        rows[MODERATION_LABELS.get(key, key)] = {
            "ours": Stat.of(per_seed).text(percent=True), "majority class": _pct(baseline.get(key)),
            "paper (real data, 7B)": _pct(paper.get(key)),
        }
    return pd.DataFrame(rows).T.rename_axis("metric")


# ------------------------------------------------------------------------ notebook 03
def specialised_verdict(reward_help: Sequence[float], single_help: Sequence[float], cost_harm: Sequence[float],
                        single_harm: Sequence[float], min_seeds: int = MIN_SEEDS) -> Verdict:
    """Decoupled labels give models that each track their own truth better than one model trained on
    single (trade-off) labels: R ranks held-out responses by true helpfulness better than S does, and
    C ranks them by true harm better than S ranks them by true harmlessness (paired by seed, above
    zero by more than the seed spread)."""
    d_r, d_c = Stat.paired(reward_help, single_help), Stat.paired(cost_harm, single_harm)
    n = min(d_r.seeds, d_c.seeds)
    numbers = (f"Ranking accuracy against the ground truth (chance 50 %) {_over(n)}: helpfulness R "
               f"{Stat.of(reward_help).text(percent=True)} vs S {Stat.of(single_help).text(percent=True)}, "
               f"R − S {d_r.text(percent=True, sign=True)} ({_holds(d_r.above)}); harm C "
               f"{Stat.of(cost_harm).text(percent=True)} vs S {Stat.of(single_harm).text(percent=True)}, C − S "
               f"{d_c.text(percent=True, sign=True)} ({_holds(d_c.above)}). Each difference must be above zero by more "
               "than its seed spread.")
    if n < min_seeds:
        return Verdict("not testable", f"{numbers} {_not_testable(n, min_seeds)}")
    if d_r.above and d_c.above:
        return Verdict("shown", f"{numbers} Each specialised model tracks its own truth better than the single-label "
                                "model tracks it.")
    if d_r.above or d_c.above:
        weaker = "harm" if d_r.above else "helpfulness"
        return Verdict("partly shown", f"{numbers} On {weaker} the single-label model keeps up: its annotators' "
                                       "weighting already makes that dimension dominate its labels.")
    if d_r.below and d_c.below:
        return Verdict("contrary", f"{numbers} The single-label model tracks both truths better beyond the spread.")
    return Verdict("not shown", f"{numbers} Neither difference exceeds its seed spread at this profile's training size.")


def curve_ends(curves: Sequence[Sequence[Mapping[str, float]]]) -> list[tuple[Mapping[str, float], Mapping[str, float]]]:
    """Per seed, the trade-off points at the smallest and at the largest λ."""
    return [(min(c, key=lambda p: p["lambda"]), max(c, key=lambda p: p["lambda"])) for c in curves]


def unsafe_drop(curves: Sequence[Sequence[Mapping[str, float]]]) -> Stat:
    """Unsafe share of the chosen responses at the smallest λ minus at the largest, paired by seed."""
    ends = curve_ends(curves)
    return Stat.paired([a["unsafe_rate"] for a, _ in ends], [b["unsafe_rate"] for _, b in ends])


def tradeoff_verdict(curves: Sequence[Sequence[Mapping[str, float]]], single: Sequence[Mapping[str, float]],
                     constrained: Sequence[Mapping[str, float]], min_seeds: int = MIN_SEEDS) -> Verdict:
    """With R and C the trade-off is chosen after training: raising λ in argmax R − λC lowers the
    unsafe share of the chosen responses, from the smallest to the largest λ, by more than the seed
    spread of the paired drop. ``curves``: per seed, the points of
    :func:`alignbook.pku_saferlhf.dual.tradeoff_curve`; ``single``/``constrained``: per seed, the
    point of argmax S and of argmax R subject to C < 0 (reported, not judged)."""
    ends = curve_ends(curves)
    low = {k: [a[k] for a, _ in ends] for k in ("unsafe_rate", "helpfulness")}
    high = {k: [b[k] for _, b in ends] for k in ("unsafe_rate", "helpfulness")}
    drop = unsafe_drop(curves)
    lams = (f"{ends[0][0]['lambda']:g}", f"{ends[0][1]['lambda']:g}") if ends else ("–", "–")
    numbers = (f"Chosen responses {_over(drop.seeds)}: at λ = {lams[0]} unsafe {Stat.of(low['unsafe_rate']).text(percent=True)}, "
               f"helpfulness {Stat.of(low['helpfulness']).text()}; at λ = {lams[1]} unsafe "
               f"{Stat.of(high['unsafe_rate']).text(percent=True)}, helpfulness {Stat.of(high['helpfulness']).text()}. "
               f"Drop in the unsafe share {drop.text(percent=True, sign=True)} (paired by seed; criterion: above zero "
               "by more than its seed spread). For reference, not judged: argmax S gives unsafe "
               f"{Stat.of([p['unsafe_rate'] for p in single]).text(percent=True)}, helpfulness "
               f"{Stat.of([p['helpfulness'] for p in single]).text()}; argmax R subject to C < 0 gives unsafe "
               f"{Stat.of([p['unsafe_rate'] for p in constrained]).text(percent=True)}, helpfulness "
               f"{Stat.of([p['helpfulness'] for p in constrained]).text()}.")
    if drop.seeds < min_seeds:
        return Verdict("not testable", f"{numbers} {_not_testable(drop.seeds, min_seeds)}")
    if drop.above:
        return Verdict("shown", f"{numbers} Moving λ after training moves the deployer along the curve, with no new "
                                "labels or models.")
    if drop.below:
        return Verdict("contrary", f"{numbers} The unsafe share rises with λ: the cost model ranks harm the wrong way.")
    return Verdict("not shown", f"{numbers} The drop lies within the seed spread: the candidates' costs do not separate "
                                "safe from unsafe responses well enough at this training size.")


def accuracy_table(per_seed: Sequence[Mapping[str, float]]) -> Any:
    """Notebook 3's table: each ranking accuracy, mean ± std over seeds (in percent)."""
    import pandas as pd

    keys = list(dict.fromkeys(k for m in per_seed for k in m))
    return pd.DataFrame({"mean ± std (%)": {DUAL_LABELS.get(k, k): Stat.of([m.get(k) for m in per_seed]).text(percent=True)
                                            for k in keys}}).rename_axis("accuracy")


def curve_table(curve: Any) -> Any:
    """Notebook 3's λ sweep: helpfulness and unsafe share of the chosen responses per λ, mean ± std
    over seeds. ``curve``: :func:`alignbook.pku_saferlhf.dual.curve_frame`."""
    import pandas as pd

    rows = {}
    for lam, part in curve.sort_values("seed").groupby("lambda"):
        rows[f"{float(lam):g}"] = {"helpfulness": Stat.of(part["helpfulness"]).text(),
                                          "unsafe": Stat.of(part["unsafe_rate"]).text(percent=True)}
    return pd.DataFrame(rows).T.rename_axis("λ")
