"""The chapter's verdicts, computed from the numbers the notebooks measured.

Each function takes plain per-seed numbers (final costs, returns, shares of epochs) and returns the
verdict word (:data:`alignbook.engine.claims.VERDICTS`) and a sentence a reader can check against the
table printed above it: the numbers used (mean ± std over seeds, with the seed count), the criterion,
and, when a claim is not shown, what was measured instead and the likely cause. Nothing here knows
what a run "should" give; a criterion that fails is reported as failing.

"Final" always means the last value of a run's history: the mean over its last ``cost_window``
finished episodes (SafePO: 50) when training stopped. Spreads are the standard deviation over
seeds (numpy's ``std``, as in :func:`alignbook.saferl.report.final_stats`).
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from ..engine.metrics import format_number
from ..saferl.report import ALGO_LABELS

NEAR = 1.2
"""PPO-Lag's cost counts as near or below the limit d up to ``NEAR`` · d: a final cost is the mean
of the last 50 episodes and still moves by a few units from epoch to epoch around its fixed point."""

MIN_SEEDS = 2
"""Seeds a comparison needs before it can say anything beyond seed noise."""


def _finite(values: Any) -> np.ndarray:
    """The finite entries of ``values`` (``None`` and NaN dropped) as floats."""
    array = np.array([np.nan if v is None else v for v in np.atleast_1d(values)], dtype=float)
    return array[np.isfinite(array)]


def _num(value: float, digits: int = 3) -> str:
    return format_number(float(value), digits)


def spread_text(values: Any, unit: str = "", seeds: bool = True) -> str:
    """``153 ± 6 (2 seeds)``, ``51 (1 seed)``, or ``no finished episode``; ``unit`` is appended to
    the numbers (``%``); ``seeds=False`` leaves the seed count out (a sentence that says it once)."""
    v = _finite(values)
    if not len(v):
        return "no finished episode"
    if len(v) == 1:
        return f"{_num(v[0])}{unit}" + (" (1 seed)" if seeds else "")
    return f"{_num(v.mean())} ± {_num(v.std(), 2)}{unit}" + (f" ({len(v)} seeds)" if seeds else "")


def _seeds(*samples: np.ndarray) -> str:
    n = min(len(s) for s in samples)
    return "1 seed" if n == 1 else f"{n} seeds, mean ± std"


def _above(values: np.ndarray, limit: float) -> bool:
    """Above ``limit`` beyond the seed spread, or, for a single seed, above it at all (so that a
    one-seed run is reported as not testable for the more basic reason when it is below)."""
    return values.mean() - (values.std() if len(values) > 1 else 0.0) > limit


def paired_differences(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    """``a[i] − b[i]`` for the seeds where both are finite (runs of the same seed, in the same order)."""
    a = np.array([np.nan if v is None else v for v in a], dtype=float)
    b = np.array([np.nan if v is None else v for v in b], dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"paired differences need one value per seed on both sides, got {len(a)} and {len(b)}")
    both = np.isfinite(a) & np.isfinite(b)
    return a[both] - b[both]


# -- notebook 2: PPO against PPO-Lag ---------------------------------------------------------------


def constraint_verdict(ppo_costs: Sequence[float], lag_costs: Sequence[float], limit: float,
                       lag_lambdas: Sequence[float] = ()) -> tuple[str, str]:
    """PPO-Lag keeps the cost near or below the limit where PPO exceeds it.

    Shown when, over at least :data:`MIN_SEEDS` seeds, PPO's final cost exceeds ``limit`` beyond its
    seed spread (mean − std > d) and PPO-Lag's mean final cost is at most :data:`NEAR` · d. Not
    testable when PPO itself does not exceed d that clearly (nothing to constrain), with one seed, or
    without finished episodes. Partly shown when PPO-Lag's cost is below PPO's beyond both spreads
    but still above ``NEAR`` · d; contrary when PPO-Lag's cost is above PPO's beyond its spread.
    """
    ppo, lag, lam = _finite(ppo_costs), _finite(lag_costs), _finite(lag_lambdas)
    d, near = f"{limit:g}", f"{NEAR * limit:g}"
    criterion = (f"Criterion: over at least {MIN_SEEDS} seeds, PPO's final cost minus its std exceeds d = {d} and "
                 f"PPO-Lag's mean final cost is at most {NEAR:g}·d = {near}.")
    if not len(ppo) or not len(lag):
        return "not testable", f"**Not testable**: a run finished no episode, so there is no final cost. {criterion}"
    pt, lt = spread_text(ppo, seeds=False), spread_text(lag, seeds=False)
    head = f"({_seeds(ppo, lag)})"
    lam_text = f" PPO-Lag's final λ is {spread_text(lam, seeds=False)}." if len(lam) else ""
    pm, ps, lm, ls = ppo.mean(), ppo.std(), lag.mean(), lag.std()
    if not _above(ppo, limit):
        return "not testable", (
            f"**Not testable at this budget** {head}: PPO's final cost, {pt}, is not above the limit d = {d}"
            f"{' beyond its spread' if len(ppo) > 1 else ''}, so PPO never became clearly unsafe and the multiplier "
            f"had nothing to correct (PPO-Lag: {lt}).{lam_text} Likely cause: the run is too short for PPO to learn "
            f"to violate the constraint. {criterion}")
    if min(len(ppo), len(lag)) < MIN_SEEDS:
        return "not testable", (f"**Not testable** {head}: PPO ends at cost {pt} and PPO-Lag at {lt}, but one seed "
                                f"cannot separate them from seed noise.{lam_text} {criterion}")
    if lm <= NEAR * limit:
        return "shown", (f"**Shown** {head}: PPO ends at cost {pt}, above d = {d} beyond its spread, while PPO-Lag "
                         f"ends at {lt}, within {NEAR:g}·d = {near}.{lam_text} {criterion}")
    if lm - ls > pm:
        return "contrary", (f"**Contrary** {head}: PPO-Lag ends at cost {lt}, above PPO's {pt} beyond its spread: "
                            f"the multiplier did not lower the cost.{lam_text} {criterion}")
    if len(lam) and lam.mean() < 1e-3:
        cause = "λ is still about 0, so PPO-Lag had barely begun to penalise the cost when training stopped"
    else:
        cause = ("λ starts near 0 and grows by about its learning rate per epoch, so the cost comes down only some "
                 "epochs after it first exceeds d, and the run stopped before it got there (see the λ curve)")
    if lm + ls < pm - ps:
        return "partly shown", (f"**Partly shown** {head}: PPO-Lag lowers the cost below PPO's beyond both spreads "
                                f"({lt} against {pt}), but not to within {NEAR:g}·d = {near}.{lam_text} Likely "
                                f"cause: {cause}. {criterion}")
    return "not shown", (f"**Not shown** {head}: PPO ends at cost {pt}, above d = {d}; PPO-Lag ends at {lt}, neither "
                         f"within {NEAR:g}·d = {near} nor below PPO's cost beyond the spreads.{lam_text} Likely cause: "
                         f"{cause}. {criterion}")


def return_verdict(ppo_returns: Sequence[float], lag_returns: Sequence[float], ppo_costs: Sequence[float],
                   limit: float) -> tuple[str, str]:
    """Meeting the constraint costs return: PPO's final return minus PPO-Lag's, paired by seed.

    Judged only where PPO exceeds the limit beyond its seed spread (otherwise λ stays near 0 and
    PPO-Lag trains like PPO: not testable). Shown when the difference's mean − std > 0, contrary when
    its mean + std < 0, otherwise not shown (within the seed spread).
    """
    ppo_c = _finite(ppo_costs)
    gaps = paired_differences(ppo_returns, lag_returns)
    criterion = (f"Criterion: where PPO's final cost minus its std exceeds d = {limit:g}, PPO's final return minus "
                 f"PPO-Lag's, paired by seed, is above 0 by more than its std (at least {MIN_SEEDS} seeds).")
    returns = f"PPO {spread_text(ppo_returns, seeds=False)}, PPO-Lag {spread_text(lag_returns, seeds=False)}"
    if not len(ppo_c) or not _above(ppo_c, limit):
        return "not testable", (
            f"**Not testable at this budget** ({_seeds(ppo_c) if len(ppo_c) else 'no finished episode'}): PPO's final "
            f"cost, {spread_text(ppo_c, seeds=False)}, is not above d = {limit:g}"
            f"{' beyond its spread' if len(ppo_c) > 1 else ''}, so PPO-Lag had no constraint to pay for, and the final "
            f"returns ({returns}) compare two runs of nearly the same algorithm. {criterion}")
    if len(gaps) < MIN_SEEDS:
        return "not testable", (f"**Not testable** ({len(gaps)} seed with a final return on both sides: {returns}): "
                                f"the comparison needs at least {MIN_SEEDS}. {criterion}")
    head = f"({_seeds(gaps)})"
    gt = spread_text(gaps, seeds=False)
    if gaps.mean() - gaps.std() > 0:
        return "shown", (f"**Shown** {head}: PPO-Lag pays for its lower cost in return: PPO's final return minus "
                         f"PPO-Lag's is {gt} ({returns}). {criterion}")
    if gaps.mean() + gaps.std() < 0:
        return "contrary", (f"**Contrary** {head}: PPO-Lag ends with *more* return than PPO beyond the spread (PPO − "
                            f"PPO-Lag: {gt}; {returns}). {criterion}")
    return "not shown", (f"**Not shown** {head}: PPO's final return minus PPO-Lag's is {gt}, within its spread "
                         f"({returns}). Likely cause: the return varies more from seed to seed than the gap between the "
                         f"algorithms (for instance one PPO-Lag seed turning over-conservative while another does "
                         f"not); more seeds would resolve it. {criterion}")


# -- notebook 3: the constrained algorithms against PPO --------------------------------------------


def comparison_verdict(costs: Mapping[str, Mapping[str, Sequence[float]]], limit: float,
                       reference: str = "ppo") -> dict[str, Any]:
    """Every constrained algorithm ends with a lower cost than unconstrained PPO.

    ``costs`` is ``{task: {algo: per-seed final costs}}``. A task is testable when PPO (``reference``)
    exceeds the limit beyond its seed spread over at least :data:`MIN_SEEDS` seeds; there, an
    algorithm counts as below PPO when its mean + std is below PPO's mean − std. Shown when every
    constrained algorithm on every testable task is below, partly shown when some are, not shown when
    none is, not testable when no task is testable. Returns ``word``, ``sentence``, ``below`` and
    ``total`` (algorithm-task pairs judged).
    """
    d, near = f"{limit:g}", f"{NEAR * limit:g}"
    parts, below, total, causes = [], 0, 0, []
    for task, by_algo in costs.items():
        ppo = _finite(by_algo.get(reference, ()))
        others = {algo: _finite(v) for algo, v in by_algo.items() if algo != reference}
        samples = [ppo, *others.values()]
        pt = spread_text(ppo, seeds=False)
        if len(ppo) and not _above(ppo, limit):
            parts.append(f"on {task} ({_seeds(*samples)}) PPO ends at cost {pt}, not above d = {d}"
                         + (" beyond its spread" if len(ppo) > 1 else ""))
            causes.append("at this budget PPO has not yet become unsafe, so there is nothing for the constrained "
                          "algorithms to correct (an early-training snapshot)")
            continue
        if min(len(s) for s in samples) < MIN_SEEDS:
            parts.append(f"on {task} ({_seeds(*samples)}) PPO ends at cost {pt}, and one seed per algorithm cannot "
                         "separate the algorithms from seed noise")
            causes.append("too few seeds")
            continue
        threshold = ppo.mean() - ppo.std()
        lower = [a for a, v in others.items() if v.mean() + v.std() < threshold]
        near_ones = [a for a in lower if others[a].mean() <= NEAR * limit]
        missing = [f"{ALGO_LABELS.get(a, a)} {spread_text(others[a], seeds=False)}" for a in others if a not in lower]
        below, total = below + len(lower), total + len(others)
        parts.append(f"on {task} ({_seeds(*samples)}) PPO ends at cost {pt}, above d = {d} beyond its spread, and "
                     f"{len(lower)} of {len(others)} constrained algorithms end below it beyond both spreads "
                     f"({len(near_ones)} of them also within {NEAR:g}·d = {near})"
                     + (f"; not below it: {', '.join(missing)}" if missing else ""))
    criterion = (f"Criterion: on every task where PPO's final cost minus its std exceeds d = {d} (at least "
                 f"{MIN_SEEDS} seeds), each constrained algorithm's final cost plus its std is below PPO's minus its "
                 "std; partly shown when some are.")
    findings = "; ".join(parts) if parts else "no task was run"
    if total == 0:
        word = "not testable"
        known = "; ".join(dict.fromkeys(c for c in causes if c != "too few seeds"))
        cause = f" Likely cause: {known}." if known else ""
        sentence = f"**Not testable**: {findings}.{cause} {criterion}"
    else:
        word = "shown" if below == total else "not shown" if below == 0 else "partly shown"
        cause = "" if word == "shown" else (
            " Likely cause: the algorithms that are not below PPO had not yet brought their cost down at this budget "
            "(a multiplier or a constraint step acts only after the cost exceeds d), or their cost varies more across "
            "seeds than the gap to PPO; see their curves.")
        sentence = f"**{word.capitalize()}**: {findings}.{cause} {criterion}"
    return {"word": word, "sentence": sentence, "below": below, "total": total}


# -- notebook 4: the ablations ---------------------------------------------------------------------


def violation_share(costs: Sequence[float | None], limit: float) -> float:
    """The share of a run's epochs whose cost (the mean of the last episodes) exceeds ``limit``;
    epochs before the first finished episode (``None``/NaN) are left out; NaN if none is left."""
    c = _finite(costs)
    return float(np.mean(c > limit)) if len(c) else float("nan")


def violation_shares(runs: Sequence[Any], limit: float) -> list[float]:
    """:func:`violation_share` of each run (``SafeRLResult``), in seed order."""
    ordered = sorted(runs, key=lambda r: r.config["seed"])
    return [violation_share(r.curve("cost"), limit) for r in ordered]


def _ordering(samples: list[np.ndarray], rising: bool) -> tuple[int, int]:
    """How many consecutive steps move in the claimed direction beyond both spreads, and how many
    move against it beyond both spreads."""
    with_claim = against = 0
    for lo, hi in zip(samples, samples[1:]):
        up = hi.mean() - hi.std() > lo.mean() + lo.std()
        down = lo.mean() - lo.std() > hi.mean() + hi.std()
        with_claim += up if rising else down
        against += down if rising else up
    return with_claim, against


def _in_claimed_order(samples: list[np.ndarray], rising: bool) -> bool:
    means = [s.mean() for s in samples]
    return all((b > a) if rising else (b < a) for a, b in zip(means, means[1:]))


def cost_limit_verdict(costs_by_limit: Mapping[float, Sequence[float]],
                       ppo_costs: Sequence[float] = ()) -> tuple[str, str]:
    """A tighter limit makes PPO-Lag settle at a lower cost.

    ``costs_by_limit`` is ``{d: per-seed final costs}``. Shown when the cost rises with d at every
    step beyond both seed spreads (at least :data:`MIN_SEEDS` seeds), partly shown when some steps
    do, contrary when a step goes the other way beyond both spreads, otherwise not shown. Not
    testable with one seed, or when PPO's own cost (``ppo_costs``, the run without a limit) does not
    exceed the smallest limit beyond its spread (then no limit binds).
    """
    limits = sorted(costs_by_limit)
    samples = [_finite(costs_by_limit[limit]) for limit in limits]
    listing = ", ".join(f"d = {limit:g}: {spread_text(s, seeds=False)}" for limit, s in zip(limits, samples))
    criterion = (f"Criterion: over at least {MIN_SEEDS} seeds, PPO-Lag's final cost rises with the limit at every "
                 f"step ({' < '.join(f'{x:g}' for x in limits)}) by more than both seed spreads; partly shown when "
                 "some steps do; not testable when PPO's own cost does not exceed the smallest limit.")
    if len(limits) < 2 or any(not len(s) for s in samples):
        return "not testable", f"**Not testable**: the final costs are {listing}. {criterion}"
    head = f"({_seeds(*samples)})"
    ppo = _finite(ppo_costs)
    if len(ppo) and not _above(ppo, limits[0]):
        return "not testable", (f"**Not testable at this budget** {head}: PPO's own final cost, "
                                f"{spread_text(ppo, seeds=False)}, is not above the smallest limit d = {limits[0]:g}"
                                f"{' beyond its spread' if len(ppo) > 1 else ''}, so no limit binds and PPO-Lag's "
                                f"costs ({listing}) say nothing about the limit. {criterion}")
    if min(len(s) for s in samples) < MIN_SEEDS:
        order = "in the claimed order" if _in_claimed_order(samples, True) else "not in the claimed order"
        return "not testable", (f"**Not testable** {head}: PPO-Lag's final costs are {listing} ({order}), but one "
                                f"seed cannot separate an effect of the limit from seed noise. {criterion}")
    with_claim, against = _ordering(samples, rising=True)
    steps = len(limits) - 1
    if against:
        return "contrary", (f"**Contrary** {head}: PPO-Lag's final cost falls as the limit grows, beyond both spreads, "
                            f"at {against} of {steps} steps ({listing}). {criterion}")
    if with_claim == steps:
        return "shown", f"**Shown** {head}: PPO-Lag's final cost rises with the limit: {listing}. {criterion}"
    word = "partly shown" if with_claim else "not shown"
    return word, (f"**{word.capitalize()}** {head}: {with_claim} of {steps} steps between limits separate beyond both "
                  f"seed spreads ({listing}). Likely cause: the cost of one run still moves around its limit by more "
                  f"than the gap between neighbouring limits, or λ had not settled by the end (see the λ curves). "
                  f"{criterion}")


def lagrange_lr_verdict(shares_by_lr: Mapping[float, Sequence[float]]) -> tuple[str, str]:
    """A slower multiplier leaves the cost above the limit for longer.

    ``shares_by_lr`` is ``{λ learning rate: per-seed share of epochs whose cost exceeds d}`` (see
    :func:`violation_share`). Shown when the share falls at every step from the slowest to the
    fastest rate beyond both seed spreads (at least :data:`MIN_SEEDS` seeds), partly shown when some
    steps do, contrary when a step rises beyond both spreads. Not testable with one seed or when
    no run's cost ever exceeded d (nothing to react to).
    """
    rates = sorted(shares_by_lr)
    samples = [100 * _finite(shares_by_lr[lr]) for lr in rates]
    listing = ", ".join(f"λ lr {lr:g}: {spread_text(s, ' %', seeds=False)}" for lr, s in zip(rates, samples))
    criterion = (f"Criterion: over at least {MIN_SEEDS} seeds, the share of epochs whose cost exceeds d falls at every "
                 f"step from the slowest λ learning rate to the fastest by more than both seed spreads; partly shown "
                 "when some steps do.")
    if len(rates) < 2 or any(not len(s) for s in samples):
        return "not testable", f"**Not testable**: the shares of epochs over the limit are {listing}. {criterion}"
    head = f"({_seeds(*samples)})"
    if all(not s.any() for s in samples):
        return "not testable", (f"**Not testable at this budget** {head}: no run's cost exceeded the limit in any "
                                f"epoch ({listing}), so the multiplier had nothing to react to. {criterion}")
    if min(len(s) for s in samples) < MIN_SEEDS:
        order = "in the claimed order" if _in_claimed_order(samples, False) else "not in the claimed order"
        return "not testable", (f"**Not testable** {head}: the shares of epochs over the limit are {listing} "
                                f"({order}), but one seed cannot separate an effect of the learning rate from seed "
                                f"noise. {criterion}")
    with_claim, against = _ordering(samples, rising=False)
    steps = len(rates) - 1
    if against:
        return "contrary", (f"**Contrary** {head}: a faster multiplier leaves the cost over the limit *longer* at "
                            f"{against} of {steps} steps, beyond both spreads ({listing}). {criterion}")
    if with_claim == steps:
        return "shown", (f"**Shown** {head}: the faster λ learns, the fewer epochs the cost spends over the limit: "
                         f"{listing}. {criterion}")
    word = "partly shown" if with_claim else "not shown"
    return word, (f"**{word.capitalize()}** {head}: {with_claim} of {steps} steps between learning rates separate beyond "
                  f"both seed spreads ({listing}). Likely cause: the cost first exceeds d at different times in "
                  f"different seeds, which moves the share by more than the learning rate does at this budget. "
                  f"{criterion}")
