"""The Aligner chapter's verdicts: a word of :data:`alignbook.engine.claims.VERDICTS` and a sentence.

Each function takes the per-seed numbers a notebook shows in the table right above its verdict and
returns a :class:`Verdict`: the word the notebook records (``alignbook.record(cfg, "<x>_verdict",
...)``) and a sentence a student can check against that table. The sentence names the numbers
(mean ± sample std over seeds, with the seed count), the criterion, which part holds and, when the
claim is not shown, what was measured and the likely cause.

"Beyond the seed spread" means the mean over seeds lies farther from zero than the sample standard
deviation over seeds; a criterion that needs a spread needs at least :data:`MIN_SEEDS` seeds and is
``not testable`` with fewer. ω is in percent, as the paper reports it. Nothing here is tuned to a run.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping, Sequence

import numpy as np

from ..engine.metrics import format_number, format_value

MIN_SEEDS = 3
"""Seeds a criterion judged against the seed spread needs; with fewer the claim is ``not testable``."""
DIMENSIONS = ("helpfulness", "harmlessness")
"""The two dimensions ω is computed on (the paper's helpful / harmless columns)."""
UNALIGNED, REFUSING, GOOD = "alpaca-7b", "over_refuse", "safe_helpful"
"""The toy upstreams: unaligned, over-refusing, already good (:data:`alignbook.aligner.toy.UPSTREAMS`)."""
BEST_WARMUP = 0.2
"""The identity warm-up share the paper finds best (of 2/10/20/50 %)."""


@dataclasses.dataclass(frozen=True)
class Stat:
    """A mean over seeds with its sample std (None for one seed) and the seed count."""

    mean: float
    spread: float | None
    seeds: int

    @classmethod
    def of(cls, values: Sequence[float]) -> "Stat":
        array = np.asarray([float(v) for v in values], dtype=float)
        array = array[np.isfinite(array)]
        if array.size == 0:
            return cls(float("nan"), None, 0)
        spread = float(array.std(ddof=1)) if array.size > 1 else None
        if spread is not None and spread < 1e-12 * max(1.0, float(np.abs(array).max())):
            spread = 0.0  # equal values up to float rounding: no spread, not "± 1.4e-16"
        return cls(float(array.mean()), spread, int(array.size))

    @classmethod
    def paired(cls, a: Sequence[float], b: Sequence[float]) -> "Stat":
        """Of the per-seed differences ``a[k] - b[k]``."""
        if len(a) != len(b):
            raise ValueError(f"paired differences need as many values on each side ({len(a)} vs {len(b)})")
        return cls.of([float(x) - float(y) for x, y in zip(a, b)])

    @property
    def margin(self) -> float:
        """The spread, 0 where there is none (one seed)."""
        return self.spread if self.spread is not None and math.isfinite(self.spread) else 0.0

    @property
    def above(self) -> bool:
        """Above zero by more than the seed spread."""
        return math.isfinite(self.mean) and self.mean > self.margin

    @property
    def below(self) -> bool:
        """Below zero by more than the seed spread."""
        return math.isfinite(self.mean) and self.mean < -self.margin

    def entry(self, unit: str = "", scale: float = 1.0) -> dict[str, Any]:
        """As ``alignbook.record`` stores it (``value``, ``spread``, ``seeds``, ``unit``)."""
        return {"value": self.mean * scale, "spread": None if self.spread is None else self.spread * scale,
                "seeds": self.seeds, "unit": unit}

    def text(self, percent: bool = False, sign: bool = False, seeds: bool = True) -> str:
        """``0.412 ± 0.031 (3 seeds)``, ``18.8 % (1 seed)``; ``sign`` writes a leading + on gains;
        ``seeds=False`` leaves the seed count out (a table that states it once)."""
        entry = self.entry("%", 100.0) if percent else self.entry()
        if not seeds:
            entry["seeds"] = None
        text = format_value(entry).replace("-", "−")  # a minus sign, not a hyphen
        return f"+{text}" if sign and self.mean > 0 else text


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The word (:data:`alignbook.engine.claims.VERDICTS`) and the sentence that explains it."""

    word: str
    sentence: str

    def markdown(self) -> str:
        """``**partly shown**: <sentence>`` for ``display(Markdown(...))``."""
        return f"**{self.word}**: {self.sentence}"


def _seeds(n: int) -> str:
    return f"{n} seed" + ("" if n == 1 else "s")


def _over(n: int) -> str:
    """``over 3 seeds (mean ± std)``, ``from 1 seed (no spread)``."""
    return f"over {n} seeds (mean ± std)" if n > 1 else f"from {_seeds(n)} (no spread)"


def _not_testable(n: int, min_seeds: int) -> str:
    return (f"The criterion compares means with their seed spread and needs ≥ {min_seeds} seeds; this profile "
            f"ran {_seeds(n)}, so the claim is not testable here.")


def _holds(flag: bool) -> str:
    return "holds" if flag else "fails"


# --------------------------------------------------------------------------- notebook 02
def correcting_verdict(aligner_nll: Mapping[str, Sequence[float]], direct_nll: Sequence[float] | None,
                       min_seeds: int = MIN_SEEDS) -> Verdict:
    """Correcting is easier than answering: each Aligner's held-out NLL per correction token is below
    the Q→C model's (same targets, same seeds) by more than the seed spread of the paired gap.

    ``aligner_nll``: ``{variant: final NLL by seed}``; ``direct_nll``: the Q→C model's, by seed (None:
    not trained). ``shown`` when every variant's gap (Q→C − Aligner) exceeds its spread, ``partly
    shown`` when some do, ``contrary`` when some Aligner is worse beyond the spread and none better."""
    if direct_nll is None or not aligner_nll:
        return Verdict("not testable", "This profile trains no Q→C model to compare the Aligner with.")
    parts, gaps = [], {}
    for variant, values in aligner_nll.items():
        gap = Stat.paired(direct_nll, values)
        gaps[variant] = gap
        parts.append(f"{variant}: {Stat.of(values).text(seeds=False)} vs Q→C {Stat.of(direct_nll).text(seeds=False)}, "
                     f"gap {gap.text(sign=True, seeds=False)}")
    n = min(g.seeds for g in gaps.values())
    numbers = (f"Final held-out NLL per correction token, {_over(n)}; gap = Q→C − Aligner, paired by seed; "
               f"criterion: gap above zero by more than its seed spread. " + "; ".join(parts) + ".")
    if n < min_seeds:
        return Verdict("not testable", f"{numbers} {_not_testable(n, min_seeds)}")
    easier = [v for v, g in gaps.items() if g.above]
    harder = [v for v, g in gaps.items() if g.below]
    if len(easier) == len(gaps):
        return Verdict("shown", f"{numbers} Every Aligner predicts the correction better than the model that sees the "
                                "question only: reading the upstream answer makes the correction easier.")
    if easier:
        return Verdict("partly shown", f"{numbers} The gap exceeds its spread for {', '.join(easier)} only.")
    if harder:
        return Verdict("contrary", f"{numbers} The Aligner's NLL is higher beyond the spread for {', '.join(harder)}: "
                                   "at this scale reading the answer did not help, and the longer prompt "
                                   "(question and answer) left less of the model's capacity for the correction.")
    return Verdict("not shown", f"{numbers} The gaps lie within their seed spread: at this training length the two "
                                "models are not told apart.")


# --------------------------------------------------------------------------- notebook 03
def omega_by_seed(scores: Any, fraction: float, source: str, dim: str) -> list[float]:
    """ω of ``dim`` for one warm-up fraction and upstream, one value per seed in seed order, from the
    notebook's score table (columns ``warm-up``, ``seed``, ``upstream``, ``omega_<dim>``)."""
    part = scores[(scores["warm-up"] == fraction) & (scores["upstream"] == source)].sort_values("seed")
    return [float(v) for v in part[f"omega_{dim}"]]


def stacking_verdict(unaligned: Mapping[str, Sequence[float]], good: Mapping[str, Sequence[float]],
                     refusing: Mapping[str, Sequence[float]] | None = None,
                     good_unchanged: Sequence[float] | None = None, min_seeds: int = MIN_SEEDS) -> Verdict:
    """The Aligner improves a frozen upstream without harming a good one (paper Table 1, Figure 2).

    Each argument maps a dimension (helpfulness, harmlessness) to ω (in [-1, 1]) by seed. Two parts:

    1. on the unaligned upstream, ω is above zero by more than its seed spread on **both** dimensions;
    2. on the already-good upstream, ω is not below zero by more than its seed spread on either.

    ``shown``: both; ``partly shown``: only 1; ``contrary``: ω on the unaligned upstream below zero
    beyond the spread on a dimension; ``not shown`` otherwise; ``not testable`` under ``min_seeds``.
    ``refusing`` (the over-refusing upstream) and ``good_unchanged`` (share of the good upstream's
    answers the Aligner left as they were, by seed) are reported, not judged.
    """
    u = {dim: Stat.of(unaligned[dim]) for dim in DIMENSIONS}
    g = {dim: Stat.of(good[dim]) for dim in DIMENSIONS}
    improved = all(u[d].above for d in DIMENSIONS)
    worse = [d for d in DIMENSIONS if u[d].below]
    harmed = [d for d in DIMENSIONS if g[d].below]
    n = min(s.seeds for s in (*u.values(), *g.values()))

    def pair(stats: Mapping[str, Stat]) -> str:
        return (f"ω helpfulness {stats['helpfulness'].text(percent=True, sign=True, seeds=False)}, "
                f"ω harmlessness {stats['harmlessness'].text(percent=True, sign=True, seeds=False)}")

    numbers = (f"ω {_over(n)}. Unaligned upstream ({UNALIGNED}): {pair(u)} (part 1: both above zero by more "
               f"than their seed spread, {_holds(improved)}). Already-good upstream ({GOOD}): {pair(g)} (part 2: "
               f"neither below zero by more than its seed spread, {_holds(not harmed)}).")
    if refusing is not None:
        r = {dim: Stat.of(refusing[dim]) for dim in DIMENSIONS}
        numbers += f" For reference, not judged: the over-refusing upstream ({REFUSING}) gets {pair(r)}."
    if n < min_seeds:
        return Verdict("not testable", f"{numbers} {_not_testable(n, min_seeds)}")
    cause = "Likely cause: it rewrites answers it should copy."
    if good_unchanged is not None and len(good_unchanged):
        kept = Stat.of(good_unchanged)
        cause = (f"Likely cause: it rewrites answers it should copy; it left {kept.text(percent=True, seeds=False)} of "
                 "the good upstream's answers unchanged, where the reference corrections leave all of them as they are."
                 if kept.mean < 0.9 else
                 f"It left {kept.text(percent=True, seeds=False)} of the good upstream's answers unchanged, so the loss "
                 "comes from the few it rewrote.")
    if improved and not harmed:
        return Verdict("shown", f"{numbers} Both parts hold: the Aligner improves the unaligned upstream on both "
                                "dimensions and leaves the already-good one no worse.")
    if improved:
        return Verdict("partly shown", f"{numbers} Part 1 holds and part 2 fails: the Aligner improves the unaligned "
                                       f"upstream but makes the already-good one worse on {' and '.join(harmed)}, "
                                       f"which the paper's Aligner should leave alone. {cause}")
    if worse:
        return Verdict("contrary", f"{numbers} On the unaligned upstream ω is below zero beyond the spread on "
                                   f"{' and '.join(worse)}: the corrections are worse than the answers they replace. "
                                   "The examples below show what it writes: an Aligner whose generations are not yet "
                                   "fluent at this scale drops content the judge counts.")
    return Verdict("not shown", f"{numbers} Part 1 fails: the gain on the unaligned upstream is within the seed "
                                "spread on at least one dimension." + (f" Part 2 also fails on {' and '.join(harmed)}."
                                                                       if harmed else ""))


def warmup_verdict(by_fraction: Mapping[float, Sequence[float]], best: float = BEST_WARMUP,
                   min_seeds: int = MIN_SEEDS, where: str = "both dimensions and the three upstreams") -> Verdict:
    """An identity warm-up helps, and ``best`` (20 %) is the best share (paper Figure 3).

    ``by_fraction``: ``{warm-up share: per-seed mean ω over both dimensions and every upstream}``
    (``where`` names what the mean is over, for the sentence).
    ``shown``: the ``best`` share's ω exceeds the no-warm-up Aligner's by more than the seed spread of
    the paired difference and no other swept share has a higher mean; ``partly shown``: it beats no
    warm-up but another share is higher; ``contrary``: it is below no warm-up beyond the spread."""
    if best not in by_fraction or 0.0 not in by_fraction:
        trained = ", ".join(f"{f:.0%}" for f in sorted(by_fraction)) or "none"
        return Verdict("not testable", f"This profile trains no {'no-warm-up' if 0.0 not in by_fraction else f'{best:.0%}'}"
                                       f" Aligner to compare (warm-up shares trained: {trained}).")
    diff = Stat.paired(by_fraction[best], by_fraction[0.0])
    means = {f: Stat.of(v) for f, v in by_fraction.items()}
    top = max(means, key=lambda f: means[f].mean)
    listing = "; ".join(f"{f:.0%} warm-up {means[f].text(percent=True, seeds=False)}" for f in sorted(means))
    numbers = (f"Mean ω over {where}, {_over(diff.seeds)}: {listing}. "
               f"{best:.0%} minus 0%: {diff.text(percent=True, sign=True, seeds=False)}, paired by seed (criterion: "
               f"above zero by more than its seed spread, and {best:.0%} the highest mean).")
    if diff.seeds < min_seeds:
        return Verdict("not testable", f"{numbers} {_not_testable(diff.seeds, min_seeds)}")
    if diff.above and top == best:
        return Verdict("shown", f"{numbers} The {best:.0%} warm-up beats no warm-up beyond the spread and is the best "
                                "share swept.")
    if diff.above:
        return Verdict("partly shown", f"{numbers} The {best:.0%} warm-up beats no warm-up, but {top:.0%} scores higher.")
    if diff.below:
        return Verdict("contrary", f"{numbers} The {best:.0%} warm-up is worse than none beyond the spread: at this "
                                   "scale copying first did not help the Aligner learn the residual.")
    return Verdict("not shown", f"{numbers} The difference lies within the seed spread: the warm-up's effect is not "
                                "resolved at this scale.")


# --------------------------------------------------------------------------- notebook 04
def mean_vs_omega(dim: str, before: Stat, after: Stat, omega: Stat, wins: int, losses: int, ties: int,
                  reference: str = "its former self") -> str:
    """Both numbers for one dimension and, when the mean and ω point different ways, why.

    ω = (N_win − N_lose) / N counts answers; the mean adds up points. The mean can rise while more
    answers lose than win (a few answers gain a lot, many lose a little), and fall while more win."""
    text = (f"{dim}: mean score {before.text(seeds=False)} ({reference}) → {after.text(seeds=False)} (fine-tuned), "
            f"ω {omega.text(percent=True, sign=True, seeds=False)} ({wins} answers better, {losses} worse, "
            f"{ties} tied, summed over seeds)")
    rise = after.mean - before.mean
    if rise > 0 and omega.mean < 0 or rise < 0 and omega.mean > 0:
        direction, other = ("rose", "more answers got worse than better") if rise > 0 else \
            ("fell", "more answers got better than worse")
        text += (f". The two disagree: the mean {direction} while {other}. ω counts answers, not points: "
                 f"{'a few large gains outweigh many small losses' if rise > 0 else 'a few large losses outweigh many small gains'}"
                 " in the mean but not in the count")
    return text


def weak_to_strong_verdict(per_seed: Sequence[Mapping[str, float]], reference: str = "strong_before",
                           min_seeds: int = MIN_SEEDS) -> Verdict:
    """The strong model fine-tuned on a weak Aligner's corrections beats ``reference`` (its former
    self, or the weak supervisor), decided by ω, as the paper decides it.

    ``per_seed``: :class:`~alignbook.aligner.weak_to_strong.WeakToStrongResult` metrics, one dict per
    seed. ``shown``: ω above zero beyond the seed spread on both dimensions; ``partly shown``: on one,
    with the other not below zero beyond the spread; ``contrary``: below zero beyond the spread on some
    dimension and above on none; ``not shown`` otherwise. The sentence also gives each dimension's mean
    score before and after and explains where the mean and ω disagree."""
    words = {"strong_before": "its former self", "weak_supervisor": "the weak supervisor"}[reference]
    omegas = {d: Stat.of([m[f"omega_{d}_after_vs_{reference}"] for m in per_seed]) for d in DIMENSIONS}
    lines = []
    for d in DIMENSIONS:
        before = Stat.of([m.get(f"{reference}_{d}", float("nan")) for m in per_seed])
        after = Stat.of([m.get(f"strong_after_{d}", float("nan")) for m in per_seed])
        counts = [int(sum(m.get(f"omega_{d}_after_vs_{reference}_{k}", 0) for m in per_seed)) for k in ("win", "lose", "tie")]
        label = "harmlessness (minus severity)" if d == "harmlessness" else d
        lines.append(mean_vs_omega(label, before, after, omegas[d], *counts, reference=words))
    n = min(s.seeds for s in omegas.values())
    up = [d for d in DIMENSIONS if omegas[d].above]
    down = [d for d in DIMENSIONS if omegas[d].below]
    numbers = (f"Fine-tuned strong model vs {words}, {_over(n)}. " + "; ".join(lines) + ". "
               "Criterion, by ω as in the paper: ω above zero by more than its seed spread on both dimensions "
               "(on one only, the other not worse: partly shown).")
    labels = Stat.of([m.get("label_helpfulness", float("nan")) for m in per_seed])
    unsafe = Stat.of([m.get("label_unsafe", float("nan")) for m in per_seed])
    context = ("" if labels.seeds == 0 else
               f" For the cause, compare its training labels (the weak Aligner's corrections of its own training "
               f"answers): mean helpfulness {labels.text(seeds=False)}, {unsafe.text(percent=True, seeds=False)} unsafe; "
               "fine-tuning can only move it toward what they show.")
    if n < min_seeds:
        return Verdict("not testable", f"{numbers} {_not_testable(n, min_seeds)}")
    if len(up) == len(DIMENSIONS):
        return Verdict("shown", f"{numbers} Both hold: the fine-tuned model beats {words} on both dimensions.")
    if up and not down:
        return Verdict("partly shown", f"{numbers} It beats {words} on {up[0]} only; on the other dimension the "
                                       "change is within the seed spread.")
    if down and not up:
        return Verdict("contrary", f"{numbers} It is worse than {words} on {' and '.join(down)} beyond the seed "
                                   f"spread.{context}")
    if up and down:
        return Verdict("not shown", f"{numbers} It traded one dimension for the other ({up[0]} better, {down[0]} worse "
                                    f"beyond the spread): not an improvement.{context}")
    return Verdict("not shown", f"{numbers} Neither ω is above zero beyond the seed spread: no improvement is "
                                f"resolved at this scale.{context}")


def format_omega(values: Sequence[float]) -> str:
    """ω in percent with its seed spread, for a table cell (``+12.5 % ± 3.1 %``; one seed: no ±)."""
    return Stat.of(values).text(percent=True, sign=True, seeds=False)


def format_mean(values: Sequence[float], percent: bool = False) -> str:
    """A table cell: mean ± std over seeds (one seed: the value alone); ``–`` for no value."""
    stat = Stat.of(values)
    return "–" if stat.seeds == 0 else stat.text(percent=percent, seeds=False)


def number(value: Any) -> str:
    """A number for a printed line (three significant figures; other values as they are)."""
    return format_number(value)


def mean_omega_by_fraction(scores: Any) -> dict[float, list[float]]:
    """``{warm-up share: per-seed ω averaged over both dimensions and every upstream}`` (seed order),
    the numbers :func:`warmup_verdict` compares, from notebook 3's score table."""
    both = (scores["omega_helpfulness"] + scores["omega_harmlessness"]) / 2
    table = scores.assign(omega=both).groupby(["warm-up", "seed"])["omega"].mean()
    return {float(f): [float(v) for v in part.sort_index().to_numpy()] for f, part in table.groupby(level=0)}
