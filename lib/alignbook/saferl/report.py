"""Tables and figures of trained runs (they read saved results; nothing retrains)."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..engine.metrics import format_number
from ..plotting import PALETTE, figure, legend_outside, mean_band, si_ticks
from .trainer import SafeRLResult

OMNISAFE_1E7 = {
    "SafetyPointGoal1-v0": {
        "ppo": (25.4, 55.7), "ppo_lag": (13.0, 25.8), "cpo": (20.5, 28.8), "pcpo": (18.6, 23.0),
        "focops": (15.0, 33.7), "cup": (14.4, 19.0),
    },
}
"""OmniSafe's published benchmark (1e7 steps, cost limit 25): (episode return, episode cost), from
the OmniSafe on-policy benchmark tables. Only these cells are quoted; the others are left empty
rather than guessed."""

ALGO_LABELS = {"ppo": "PPO", "ppo_lag": "PPO-Lag", "cppo_pid": "CPPO-PID", "trpo_lag": "TRPO-Lag", "cpo": "CPO",
               "pcpo": "PCPO", "focops": "FOCOPS", "cup": "CUP", "rcpo": "RCPO"}
"""How each algorithm is named on a page."""

COLORS = PALETTE + ["#17becf", "#bcbd22"]
"""Enough colours for the nine algorithms on one panel."""

COINCIDE_RTOL = 1e-3
"""Curves whose every point agrees to this relative tolerance, seed by seed, are drawn once."""

def group(results: Sequence[SafeRLResult], by=("env_id", "algo")) -> dict[tuple, list[SafeRLResult]]:
    out: dict[tuple, list[SafeRLResult]] = {}
    for r in results:
        out.setdefault(tuple(r.config[k] for k in by), []).append(r)
    return out


def label(key: tuple, by: Sequence[str]) -> str:
    """A group's name on a page: ``PPO-Lag``, ``PPO-Lag (d = 10)``, ``PPO (no limit)``, ``λ lr 0.35``,
    ``PPO (SafetyHopperVelocity-v1)``."""
    values = dict(zip(by, key))
    main = ALGO_LABELS.get(values["algo"], str(values["algo"])) if "algo" in values else ""
    extras = []
    for name, value in values.items():
        if name == "cost_limit":
            extras.append("no limit" if values.get("algo") in ("ppo", "trpo") else f"d = {float(value):g}")
        elif name == "lagrange_lr":
            extras.append(f"λ lr {float(value):g}")
        elif name != "algo":
            extras.append(str(value))
    if main:
        return f"{main} ({', '.join(extras)})" if extras else main
    return ", ".join(extras)


def steps_label(steps: int) -> str:
    """``240``, ``5e4``, ``3.5e5``, ``1e7``: a step budget as the chapter writes it."""
    if steps < 1000:
        return str(int(steps))
    exponent = int(np.floor(np.log10(steps)))
    return f"{steps / 10**exponent:g}e{exponent}"


def mean_spread(values: Sequence[float | None]) -> str:
    """``1396 ± 302`` over seeds, the value alone for one seed, ``–`` when there is none."""
    v = np.array([np.nan if x is None else x for x in values], dtype=float)
    v = v[np.isfinite(v)]
    if not len(v):
        return "–"
    if len(v) == 1:
        return format_number(float(v[0]))
    return f"{format_number(float(v.mean()))} ± {format_number(float(v.std()), 2)}"


def summary_markdown(results: Sequence[SafeRLResult], by=("env_id", "algo"), with_paper: bool = True) -> str:
    """Final return, cost and λ per group (mean ± std over seeds) as a Markdown table, with the budget,
    the throughput and, for the tasks OmniSafe published, its 1e7-step numbers; a line under the
    table says what the numbers are."""
    names = {"env_id": "task", "algo": "algorithm", "cost_limit": "limit d", "lagrange_lr": "λ lr"}
    groups = group(results, by)
    paper = with_paper and "algo" in by and any(
        r.config["env_id"] in OMNISAFE_1E7 for r in results)
    header = [names.get(b, b) for b in by] + ["return", "cost", "final λ", "seeds", "steps", "steps/s"]
    if paper:
        header.append("OmniSafe 1e7: return / cost")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for key, runs in groups.items():
        cells = []
        for name, value in zip(by, key):
            if name == "algo":
                cells.append(ALGO_LABELS.get(value, str(value)))
            elif name == "cost_limit":
                cells.append("none (PPO)" if runs[0].config["algo"] == "ppo" else f"{float(value):g}")
            elif name == "lagrange_lr":
                cells.append(f"{float(value):g}")
            else:
                cells.append(str(value))
        lam = [r.metrics["lambda"] for r in runs]
        cells += [mean_spread([r.metrics["return"] for r in runs]), mean_spread([r.metrics["cost"] for r in runs]),
                  mean_spread(lam) if None not in lam else "–", str(len(runs)), steps_label(runs[0].metrics["steps"]),
                  format_number(float(np.mean([r.metrics["steps_per_s"] for r in runs])), 2)]
        if paper:
            published = OMNISAFE_1E7.get(runs[0].config["env_id"], {}).get(runs[0].config["algo"])
            cells.append(f"{published[0]} / {published[1]}" if published else "–")
        lines.append("| " + " | ".join(cells) + " |")
    first = results[0].config if results else {}
    window = first.get("cost_window", 50)
    lines += ["", f"Final values: the mean over the last {window} finished episodes when training stopped, "
              f"mean ± std over seeds (a single seed: its value); profile `{first.get('profile', '?')}`. "
              "steps/s: environment steps per wall-clock second of one run."
              + (" The OmniSafe column is their published 1e7-step result, not a run of this book." if paper else "")]
    return "\n".join(lines)


def final_stats(runs: Sequence[SafeRLResult], key: str) -> tuple[float, float]:
    values = np.array([r.metrics[key] if r.metrics[key] is not None else np.nan for r in runs], float)
    if not np.isfinite(values).any():
        return float("nan"), float("nan")
    return float(np.nanmean(values)), float(np.nanstd(values))


def final_values(runs: Sequence[SafeRLResult], key: str) -> list[float]:
    """``key`` at the end of each run, in seed order (NaN where a run has none)."""
    ordered = sorted(runs, key=lambda r: r.config["seed"])
    return [float(r.metrics[key]) if r.metrics[key] is not None else float("nan") for r in ordered]


def _same_curves(a: Sequence[SafeRLResult], b: Sequence[SafeRLResult], keys: Sequence[str],
                 rtol: float = COINCIDE_RTOL) -> bool:
    """Whether two groups' curves agree seed by seed on every key both have (to ``rtol``)."""
    if len(a) != len(b):
        return False
    for ra, rb in zip(sorted(a, key=lambda r: r.config["seed"]), sorted(b, key=lambda r: r.config["seed"])):
        if ra.config["seed"] != rb.config["seed"] or len(ra.history) != len(rb.history):
            return False
        for key in keys:
            ca, cb = ra.curve(key), rb.curve(key)
            if np.isnan(ca).all() or np.isnan(cb).all():  # PPO has no λ: compare where both have one
                continue
            if not np.array_equal(np.isfinite(ca), np.isfinite(cb)):
                return False
            both = np.isfinite(ca)
            scale = max(1.0, float(np.abs(ca[both]).max(initial=0.0)))
            if not np.allclose(ca[both], cb[both], rtol=rtol, atol=rtol * scale):
                return False
    return True


def coinciding(results: Sequence[SafeRLResult], by=("algo",), keys=("return", "cost", "lambda")) -> list[list[tuple]]:
    """The groups of ``group(results, by)`` clustered by identical curves (return and cost always
    compared, with ``keys``); each cluster is drawn once. Clusters keep the groups' order."""
    groups = group(results, by)
    compared = tuple(dict.fromkeys(("return", "cost", *keys)))
    clusters: list[list[tuple]] = []
    for key, runs in groups.items():
        for cluster in clusters:
            if _same_curves(groups[cluster[0]], runs, compared):
                cluster.append(key)
                break
        else:
            clusters.append([key])
    return clusters


def plot_curves(results: Sequence[SafeRLResult], keys=("return", "cost", "lambda"), by=("algo",),
                cost_limit: float | None = None, title: str = "", merge: bool = True):
    """One panel per key: mean ± std over seeds against environment steps, one line per group.

    Groups whose curves coincide (:func:`coinciding`, e.g. PPO-Lag while its λ is 0 and PPO) are drawn
    once, named ``PPO = PPO-Lag`` in the legend; :func:`coincidence_note` says why they coincide.
    """
    tasks = sorted({r.config["env_id"] for r in results})
    if len(tasks) > 1 and "env_id" not in by:
        raise ValueError(f"plot_curves got runs of {len(tasks)} tasks ({', '.join(tasks)}) but by={by!r} would "
                         "average them into one line; plot one task at a time with "
                         "report.select(results, env_id=...), or add 'env_id' to by")
    groups = group(results, by)
    clusters = coinciding(results, by, keys) if merge else [[k] for k in groups]
    fig, axes = figure(len(keys), 1, squeeze=False)
    for ax, key in zip(axes[0], keys):
        for i, cluster in enumerate(clusters):
            # one colour per cluster in every panel, even where it has no curve (PPO has no λ)
            drawn = [k for k in cluster if not np.all(np.isnan([r.curve(key) for r in groups[k]]))]
            if not drawn:
                continue
            runs = groups[drawn[0]]
            curves = np.array([r.curve(key) for r in runs])
            steps = np.array([row["steps"] for row in runs[0].history])
            mean_band(ax, steps, curves, " = ".join(label(k, by) for k in cluster), color=COLORS[i % len(COLORS)])
        if key == "cost" and cost_limit is not None:
            ax.axhline(cost_limit, color="k", ls="--", lw=1, label=f"limit d = {cost_limit:g}")
        ax.set_xlabel("environment steps")
        ax.set_ylabel({"return": "episode return", "cost": "episode cost", "lambda": "λ"}.get(key, key))
        si_ticks(ax, "x")
    legend_outside(fig, ncol=min(3, max(1, len(clusters) + (cost_limit is not None))))
    if title:
        fig.suptitle(title)
    return fig


_LAGRANGIAN = {"ppo_lag", "cppo_pid", "trpo_lag", "rcpo", "focops", "cup"}
_PPO_FAMILY = {"ppo", "ppo_lag", "cppo_pid"}
_TRPO_FAMILY = {"trpo_lag", "rcpo", "cpo", "pcpo"}


def _why_plain(runs: Sequence[SafeRLResult]) -> list[str]:
    """What the logged statistics of these runs say about why their update was the unconstrained one."""
    algo = runs[0].config["algo"]
    rows = [row for r in runs for row in r.history]
    reasons = []
    if algo in _LAGRANGIAN and all(row.get("lambda") == 0 for row in rows):
        reasons.append("λ was 0 at every update")
    if algo == "cpo" and all(row.get("cpo_case") in (3, 4) for row in rows):
        reasons.append("the whole trust region was feasible at every update (CPO's cases 3–4: a TRPO step)")
    if algo == "pcpo" and all(row.get("pcpo_correction") == 0 for row in rows):
        reasons.append("the projection was never needed")
    if algo in ("trpo_lag", "cpo", "pcpo") and all(row.get("accepted_step") == 1 for row in rows):
        reasons.append("the line search accepted the full step every time")
    return reasons


def coincidence_note(results: Sequence[SafeRLResult], by=("algo",), keys=("return", "cost", "lambda")) -> str:
    """A sentence for under a figure of :func:`plot_curves`: which curves were drawn once because they
    coincide, and what the runs' own statistics say about why; empty when none coincide."""
    groups = group(results, by)
    merged = [c for c in coinciding(results, by, keys) if len(c) > 1]
    if not merged:
        return ""
    parts = []
    for cluster in merged:
        names = " = ".join(label(k, by) for k in cluster)
        algos = {groups[k][0].config["algo"] for k in cluster}
        why = []
        for k in cluster:
            reasons = _why_plain(groups[k])
            if reasons:
                why.append(f"{label(k, by)}: {' and '.join(reasons)}")
        if algos <= _PPO_FAMILY and why:
            outcome = "each took PPO's update, since (Â_R − 0·Â_C)/(1 + 0) = Â_R"
        elif algos <= _TRPO_FAMILY and why:
            outcome = "each took the same full natural-gradient (TRPO) step"
        elif why:
            outcome = "their updates reduced to the same step"
        else:
            outcome = "the runs' logged statistics do not say why (their updates differ in principle)"
        if len(algos) == 1:  # the same algorithm with different settings (a limit or λ lr that never acted)
            lam = all(row.get("lambda") == 0 for k in cluster for r in groups[k] for row in r.history)
            outcome = ("λ was 0 at every update of each, so the setting that differs never acted" if lam
                       else "the setting that differs did not change the curves")
            why = []
        parts.append(f"- **{names}**: {outcome}" + (f". {'; '.join(why)}." if why else "."))
    return ("Curves drawn once because they coincide, seed by seed, to within "
            f"{format_number(100 * COINCIDE_RTOL, 1)} % at every point:\n\n" + "\n".join(parts))


def select(results: Sequence[SafeRLResult], **conditions) -> list[SafeRLResult]:
    """The results whose config matches every ``name=value`` given."""
    return [r for r in results if all(r.config[k] == v for k, v in conditions.items())]


def sorted_by(results: Sequence[SafeRLResult], key: str) -> list[SafeRLResult]:
    """The results ordered by the config field ``key``, then by seed (a figure's legend in order)."""
    return sorted(results, key=lambda r: (r.config[key], r.config["seed"]))
