"""Section 4 of the paper in closed form: how a perturbation moves the compression rates of datasets of different sizes.

The model (the paper's idealisation, not a measurement of a trained network): a dataset is a
distribution over a finite set of ``M`` responses (the leaves of the pruned token tree). A
compressor trained to optimality on several datasets is their volume-weighted mixture, so after
pre-training on ``N_p`` units of ``P_p``, alignment on ``N_a`` units of ``P_a`` and ``l`` units of a
perturbation ``P_t``::

    p(l) = (N_p P_p + N_a P_a + l P_t) / (N + l),        N = N_p + N_a.

The ideal code length of a response ``x`` under ``p`` is ``-log p(x)``, so the expected code length of
dataset ``i`` is its cross-entropy ``H(P_i) + KL(P_i || p)``. Dividing by the raw length of a
response, ``log M`` (the code length with no model: every leaf named by a uniform code), gives the
normalised compression rate used here::

    gamma_i(l) = (H(P_i) + KL(P_i || p(l))) / log M,     so   Delta gamma_i = Delta KL_i / log M.

``H(P_i)`` does not depend on ``l`` and ``log M`` is the same for every dataset, so every statement
about changes of ``gamma_i`` (signs, ratios, the Hooke invariant) is the same statement about
``KL_i(l) = KL(P_i || p(l))``; this module works with the KL in nats and :func:`compression_rate`
converts.

Closed forms (derived in :func:`kl_derivative` and :func:`hooke_residual`):

- ``dKL_i/dl = (1 - E_{P_i}[P_t / p]) / (N + l)``;
- at ``l = 0``: ``sum_i N_i E_{P_i}[P_t / p] = sum_x N p(x) P_t(x) / p(x) = N``, hence
  ``N_p dKL_p/dl + N_a dKL_a/dl = 0`` exactly, and ``dKL_a/dl = -k dKL_p/dl`` with ``k = N_p / N_a``
  (Theorem 4.2: the small alignment set's rate moves ``k`` times faster, the other way);
- at ``l > 0``: ``sum_i N_i dKL_i/dl = l (E_{P_t}[P_t / p] - 1) / (N + l)``, which is where the
  first-order (Hooke) picture bends.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Annotated, Any

import numpy as np

from ..engine.config import BaseConfig, ConfigError, Count, Natural, OneOf, Positive, Range
from ..engine.results import TrainResult

PERTURBATIONS = ("pretrain", "harmful", "uniform")
"""Kinds of perturbation data: like the pre-training corpus, a harmful region, or uniform over leaves."""


@dataclasses.dataclass(frozen=True)
class TheoryConfig(BaseConfig):
    """The datasets, volumes and grids of the closed-form compression model."""

    leaves: Annotated[int, Range(4, 1_000_000)] = 1000
    """M: number of leaves (distinct responses) of the pruned token tree."""
    zipf_exponent: Annotated[float, Range(0.0, 4.0)] = 1.0
    """s: the pre-training distribution is Zipf, P_p(rank r) proportional to r^-s (0: uniform)."""
    aligned_leaves: Count = 10
    """Leaves in the aligned region (the responses alignment data prefers)."""
    aligned_offset: Natural = 100
    """Pre-training frequency rank (0-based) of the first aligned leaf: the region is rarer under P_p the larger this is."""
    aligned_focus: Annotated[float, Range(0.0, 1.0, min_open=True)] = 1.0
    """Share of P_a on the aligned region; the rest follows P_p (1: P_a lives on the region only; smaller: a reweighting of P_p)."""
    perturbation: Annotated[str, OneOf(PERTURBATIONS)] = "pretrain"
    """P_t: 'pretrain' (P_t = P_p, inverse alignment), 'harmful' (uniform on a harmful region), 'uniform' (1/M on every leaf)."""
    harmful_leaves: Count = 10
    """Leaves in the harmful region (perturbation 'harmful' only)."""
    harmful_offset: Natural = 500
    """Pre-training rank of the first harmful leaf; the region must not overlap the aligned one."""
    n_align: Positive = 1000.0
    """N_a: volume of the alignment data (units of data; the pre-training volume is N_p = k N_a)."""
    k: Annotated[float, Range(1.0, 1e8)] = 1000.0
    """k = N_p / N_a for the dynamics, invariant and breakdown figures."""
    k_min_exp: Annotated[float, Range(0.0, 8.0)] = 0.0
    """Smallest k of the sweep, as log10 k."""
    k_max_exp: Annotated[float, Range(0.0, 8.0)] = 6.0
    """Largest k of the sweep, as log10 k."""
    k_points: Annotated[int, Range(3, 10_000)] = 25
    """Values of k in the sweep (log-spaced)."""
    probe_l: Annotated[float, Range(0.0, 1.0, min_open=True)] = 0.01
    """The 'small but finite' perturbation of the k sweep, as a fraction of N_a (l = probe_l N_a)."""
    dynamics_l_max: Positive = 5.0
    """Largest perturbation of the dynamics figure, in units of N_a."""
    l_min: Annotated[float, Range(1e-9, 1.0)] = 1e-4
    """Smallest perturbation of the breakdown and long-run figures, in units of N_a."""
    l_max: Annotated[float, Range(1.0, 1e12)] = 1e6
    """Largest perturbation of the breakdown and long-run figures, in units of N_a."""
    l_points: Annotated[int, Range(5, 100_000)] = 200
    """Points on each l grid (linear for the dynamics, log-spaced for the breakdown)."""
    breakdown_ks: Annotated[tuple[float, ...], Range(1.0, 1e8)] = (10.0, 1000.0, 100000.0)
    """Values of k whose finite-l ratio is drawn in the breakdown figure."""
    breakdown_tolerance: Annotated[float, Range(1e-6, 1.0)] = 0.1
    """The first-order picture 'breaks' where |Delta KL_a / Delta KL_p| leaves k (1 +- this)."""
    random_checks: Count = 200
    """Random (P_p, P_a, P_t, N_p, N_a) draws on which the l = 0 identity is checked (seeded by ``seed``)."""
    random_leaves: Annotated[int, Range(2, 100_000)] = 20
    """Leaves of each random draw."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.aligned_offset + self.aligned_leaves > self.leaves:
            raise ConfigError(
                f"aligned_offset + aligned_leaves = {self.aligned_offset + self.aligned_leaves} exceeds leaves={self.leaves}; "
                "lower aligned_offset or aligned_leaves, or raise leaves")
        if self.perturbation == "harmful":
            if self.harmful_offset + self.harmful_leaves > self.leaves:
                raise ConfigError(
                    f"harmful_offset + harmful_leaves = {self.harmful_offset + self.harmful_leaves} exceeds "
                    f"leaves={self.leaves}; lower harmful_offset or harmful_leaves, or raise leaves")
            a = range(self.aligned_offset, self.aligned_offset + self.aligned_leaves)
            h = range(self.harmful_offset, self.harmful_offset + self.harmful_leaves)
            if set(a) & set(h):
                raise ConfigError(
                    f"harmful region [{h.start}, {h.stop}) overlaps the aligned region [{a.start}, {a.stop}); "
                    "move harmful_offset past the aligned region")
        if self.k_min_exp >= self.k_max_exp:
            raise ConfigError(f"k_min_exp={self.k_min_exp} must be below k_max_exp={self.k_max_exp}; widen the k sweep")
        if not self.breakdown_ks:
            raise ConfigError("breakdown_ks is empty; give at least one k, e.g. [10, 1000]")


# -- the datasets ---------------------------------------------------------------------------------


def zipf(leaves: int, exponent: float) -> np.ndarray:
    """P(rank r) proportional to r^-exponent, r = 1..leaves."""
    w = np.arange(1, leaves + 1, dtype=float) ** -exponent
    return w / w.sum()


def region(leaves: int, offset: int, size: int) -> np.ndarray:
    """Uniform on the leaves ``offset .. offset + size - 1``."""
    q = np.zeros(leaves)
    q[offset:offset + size] = 1.0 / size
    return q


def distributions(cfg: TheoryConfig) -> dict[str, np.ndarray]:
    """P_p (Zipf), P_a (the aligned region, mixed with P_p by ``1 - aligned_focus``) and P_t."""
    p_p = zipf(cfg.leaves, cfg.zipf_exponent)
    p_a = cfg.aligned_focus * region(cfg.leaves, cfg.aligned_offset, cfg.aligned_leaves) + (1 - cfg.aligned_focus) * p_p
    if cfg.perturbation == "pretrain":
        p_t = p_p.copy()
    elif cfg.perturbation == "harmful":
        p_t = region(cfg.leaves, cfg.harmful_offset, cfg.harmful_leaves)
    else:
        p_t = np.full(cfg.leaves, 1.0 / cfg.leaves)
    return {"p": p_p, "a": p_a, "t": p_t}


# -- the model and its closed forms ---------------------------------------------------------------


def mixture(p_p: np.ndarray, p_a: np.ndarray, p_t: np.ndarray, n_p: float, n_a: float, l: Any = 0.0) -> np.ndarray:
    """p(l) = (N_p P_p + N_a P_a + l P_t) / (N + l); ``l`` may be an array (one row per value)."""
    l = np.asarray(l, dtype=float)[..., None]
    return (n_p * p_p + n_a * p_a + l * p_t) / (n_p + n_a + l)


def kl(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """KL(p || q) in nats over the last axis, with 0 log 0 = 0."""
    p, q = np.broadcast_arrays(np.asarray(p, float), np.asarray(q, float))
    safe = np.where(p > 0, p, 1.0)
    return np.sum(np.where(p > 0, p * (np.log(safe) - np.log(np.where(p > 0, q, 1.0))), 0.0), axis=-1)


def kl_derivative(p_i: np.ndarray, p_t: np.ndarray, model: np.ndarray, n: float, l: Any = 0.0) -> np.ndarray:
    """dKL(P_i || p)/dl = (1 - E_{P_i}[P_t / p]) / (N + l).

    Since dp/dl = (P_t - p) / (N + l), dKL/dl = -sum_x P_i(x) (dp(x)/dl) / p(x)
    = -sum_x P_i(x) (P_t(x)/p(x) - 1) / (N + l). ``model`` is p(l) (rows matching ``l``).
    """
    l = np.asarray(l, dtype=float)
    return (1.0 - np.sum(p_i * p_t / model, axis=-1)) / (n + l)


def relative_gap(p_p: np.ndarray, p_a: np.ndarray, p_t: np.ndarray, n_p: float, n_a: float) -> np.ndarray:
    """u = P_t / p(0) - 1, computed as (N_p (P_t - P_p) + N_a (P_t - P_a)) / (N_p P_p + N_a P_a).

    Written this way the terms that cancel exactly (P_t = P_p, perturbation 'pretrain') cancel before
    any rounding, so rates of 1e-16 per unit at k = 1e6 keep their leading digits.
    """
    return (n_p * (p_t - p_p) + n_a * (p_t - p_a)) / (n_p * p_p + n_a * p_a)


def rate(p_i: np.ndarray, u: np.ndarray, n: float, l: Any = 0.0) -> np.ndarray:
    """dKL_i/dl at ``l`` from u = P_t/p(0) - 1: the closed form (1 - E_{P_i}[P_t/p(l)]) / (N + l), rounded well.

    With eps = l/(N+l): p(l) = p(0)(1 + eps u) and P_t/p(l) - 1 = (1 - eps) u / (1 + eps u), so
    dKL_i/dl = -E_{P_i}[(1 - eps) u / (1 + eps u)] / (N + l).
    """
    l = np.asarray(l, dtype=float)
    eps = (l / (n + l))[..., None]
    return -np.sum(p_i * (1 - eps) * u / (1 + eps * u), axis=-1) / (n + l)


def delta_kl(p_i: np.ndarray, u: np.ndarray, n: float, l: Any) -> np.ndarray:
    """KL_i(l) - KL_i(0) = -E_{P_i}[log1p(l/(N+l) u)], u = P_t/p(0) - 1, without the cancellation of a plain difference.

    p(l) = p(0) + l (P_t - p(0)) / (N + l) = p(0) (1 + u l/(N+l)), so log(p(0)/p(l)) = -log1p(u l/(N+l)).
    """
    l = np.asarray(l, dtype=float)[..., None]
    return -np.sum(p_i * np.log1p(l / (n + l) * u), axis=-1)


def hooke_residual(p_t: np.ndarray, model: np.ndarray, n: float, l: Any) -> np.ndarray:
    """sum_i N_i dKL_i/dl at perturbation ``l``: exactly l (E_{P_t}[P_t/p] - 1) / (N + l), zero at l = 0.

    sum_i N_i (1 - E_{P_i}[P_t/p]) = N - sum_x (N_p P_p + N_a P_a)(x) P_t(x) / p(x), and
    N_p P_p + N_a P_a = (N + l) p - l P_t, so the sum is N - (N + l) + l E_{P_t}[P_t/p].
    """
    l = np.asarray(l, dtype=float)
    return l * (np.sum(p_t * p_t / model, axis=-1) - 1.0) / (n + l)


def compression_rate(p_i: np.ndarray, model: np.ndarray) -> np.ndarray:
    """gamma_i = (H(P_i) + KL(P_i || p)) / log M: expected ideal code length over the raw (uniform-code) length."""
    leaves = p_i.shape[-1]
    safe = np.where(p_i > 0, p_i, 1.0)
    entropy = -np.sum(np.where(p_i > 0, p_i * np.log(safe), 0.0), axis=-1)
    return (entropy + kl(p_i, model)) / math.log(leaves)


def rates_at_zero(d: dict[str, np.ndarray], n_p: float, n_a: float) -> tuple[float, float]:
    """(dKL_p/dl, dKL_a/dl) at l = 0."""
    u = relative_gap(d["p"], d["a"], d["t"], n_p, n_a)
    n = n_p + n_a
    return float(rate(d["p"], u, n)), float(rate(d["a"], u, n))


def finite_changes(d: dict[str, np.ndarray], n_p: float, n_a: float, l: Any) -> tuple[np.ndarray, np.ndarray]:
    """(Delta KL_p, Delta KL_a) after ``l`` units of perturbation (arrays for an array ``l``)."""
    u = relative_gap(d["p"], d["a"], d["t"], n_p, n_a)
    n = n_p + n_a
    return delta_kl(d["p"], u, n, l), delta_kl(d["a"], u, n, l)


def finite_ratio(d: dict[str, np.ndarray], n_p: float, n_a: float, l: Any) -> np.ndarray:
    """|Delta KL_a / Delta KL_p| after ``l`` units of perturbation (an array for an array ``l``)."""
    dp, da = finite_changes(d, n_p, n_a, l)
    return np.abs(da / dp)


def random_identity_check(draws: int, leaves: int, seed: int) -> np.ndarray:
    """Relative residual |N_p dKL_p + N_a dKL_a| / max(|N_p dKL_p|, |N_a dKL_a|) at l = 0 for random datasets.

    Each draw: P_p, P_a, P_t from a flat Dirichlet over ``leaves`` leaves, log10 N_p and log10 N_a
    uniform in [0, 6]. Returns one residual per draw.
    """
    rng = np.random.default_rng(seed)
    out = np.empty(draws)
    for j in range(draws):
        p_p, p_a, p_t = rng.dirichlet(np.ones(leaves), size=3)
        n_p, n_a = 10.0 ** rng.uniform(0, 6, size=2)
        dp, da = rates_at_zero({"p": p_p, "a": p_a, "t": p_t}, n_p, n_a)
        out[j] = abs(n_p * dp + n_a * da) / max(abs(n_p * dp), abs(n_a * da))
    return out


def derivative_check(d: dict[str, np.ndarray], n_p: float, n_a: float, ls: np.ndarray) -> float:
    """Largest relative gap between :func:`rate` and a central difference of :func:`delta_kl`, over both sets and ``ls``.

    The step is 1e-4 of the scale on which p(l) bends, (N + l) / max(1, max_x |u(x)|).
    """
    n = n_p + n_a
    u = relative_gap(d["p"], d["a"], d["t"], n_p, n_a)
    worst = 0.0
    for l in ls:
        h = 1e-4 * (n + l) / max(1.0, float(np.abs(u).max()))
        for key in ("p", "a"):
            analytic = float(rate(d[key], u, n, l))
            fd = float((delta_kl(d[key], u, n, l + h) - delta_kl(d[key], u, n, l - h)) / (2 * h))
            worst = max(worst, abs(fd - analytic) / abs(analytic))
    return worst


def loglog_slope(x: np.ndarray, y: np.ndarray) -> float:
    """Least-squares slope of log10 y on log10 x."""
    return float(np.polyfit(np.log10(x), np.log10(y), 1)[0])


# -- the run --------------------------------------------------------------------------------------


@dataclasses.dataclass
class TheoryResult(TrainResult):
    """Curves of the closed-form model: ``history`` rows carry a ``curve`` key (dynamics, long_run, sweep, breakdown)."""

    missing_hint = "run notebooks/resist-alignment/01_theory.ipynb (alignbook run resist-alignment/01_theory)"

    def curve(self, name: str, **where: Any) -> dict[str, np.ndarray]:
        """The rows of curve ``name`` (optionally filtered, e.g. ``k=1000``) as arrays by column."""
        rows = [r for r in self.history if r["curve"] == name and all(r.get(key) == v for key, v in where.items())]
        keys = [key for key in rows[0] if key != "curve"] if rows else []
        return {key: np.array([r[key] for r in rows]) for key in keys}


def first_break(l_over_na: np.ndarray, ratio_over_k: np.ndarray, tolerance: float) -> float | None:
    """Smallest l/N_a where the ratio leaves k (1 +- tolerance) (None: it never does on the grid)."""
    off = np.nonzero(np.abs(ratio_over_k - 1.0) > tolerance)[0]
    return float(l_over_na[off[0]]) if off.size else None


def _share(delta: Any, gain: float) -> Any:
    """Delta KL_a as a share of what alignment gained on D_a (nan when alignment gained nothing)."""
    return np.asarray(delta) / gain if gain > 0 else np.full(np.shape(delta), np.nan)


def run_theory(cfg: TheoryConfig) -> TheoryResult:
    """Compute every curve of the theory page, save the result in ``cfg.run_dir`` and return it."""
    d = distributions(cfg)
    n_a = cfg.n_align
    history: list[dict[str, Any]] = []

    # (a) dynamics at one k: Delta KL_p(l), Delta KL_a(l), exact and first order
    n_p = cfg.k * n_a
    model0 = mixture(d["p"], d["a"], d["t"], n_p, n_a, 0.0)
    kl_p0, kl_a0 = float(kl(d["p"], model0)), float(kl(d["a"], model0))
    kl_a_base = float(kl(d["a"], d["p"]))  # before alignment the model is P_p alone
    gain = kl_a_base - kl_a0
    rate_p, rate_a = rates_at_zero(d, n_p, n_a)
    ls = np.linspace(0.0, cfg.dynamics_l_max * n_a, cfg.l_points)
    dkl_p, dkl_a = finite_changes(d, n_p, n_a, ls)
    for l, dp, da in zip(ls, dkl_p, dkl_a):
        history.append({"curve": "dynamics", "l_over_na": float(l / n_a), "delta_kl_p": float(dp), "delta_kl_a": float(da),
                        "first_order_p": rate_p * float(l), "first_order_a": rate_a * float(l)})
    # the long run on a log grid: how much of the alignment gain is undone
    grid = np.logspace(math.log10(cfg.l_min), math.log10(cfg.l_max), cfg.l_points)
    long_p, long_a = finite_changes(d, n_p, n_a, grid * n_a)
    for g, dp, da in zip(grid, long_p, long_a):
        history.append({"curve": "long_run", "l_over_na": float(g), "kl_p": kl_p0 + float(dp), "kl_a": kl_a0 + float(da),
                        "delta_kl_p": float(dp), "delta_kl_a": float(da), "share_undone": float(_share(da, gain))})
    share = _share(long_a, gain)
    half = np.nonzero(share >= 0.5)[0]

    # (b) the k sweep: first-order and finite-l ratios; (c) the invariant's deviation at each k
    probe = cfg.probe_l * n_a
    ks = np.logspace(cfg.k_min_exp, cfg.k_max_exp, cfg.k_points)
    first, finite, invariant, invariant_finite = [], [], [], []
    for k in ks:
        rp, ra = rates_at_zero(d, k * n_a, n_a)
        fp, fa = (float(x) for x in finite_changes(d, k * n_a, n_a, probe))
        first.append(abs(ra / rp))
        finite.append(abs(fa / fp))
        invariant.append(abs(k * n_a * rp + n_a * ra) / max(abs(k * n_a * rp), abs(n_a * ra)))
        invariant_finite.append(abs(k * n_a * fp + n_a * fa) / abs(n_a * fa))
        history.append({"curve": "sweep", "k": float(k), "rate_p": rp, "rate_a": ra, "first_order_ratio": first[-1],
                        "finite_ratio": finite[-1], "delta_kl_p": fp, "delta_kl_a": fa,
                        "invariant_rel_dev": invariant[-1], "invariant_rel_dev_finite": invariant_finite[-1]})

    # (d) where the first-order picture breaks: finite-l ratio / k over l / N_a
    breaks: dict[str, float | None] = {}
    for k in sorted(set(cfg.breakdown_ks) | {cfg.k}):
        ratio = finite_ratio(d, k * n_a, n_a, grid * n_a) / k
        breaks[f"{k:g}"] = first_break(grid, ratio, cfg.breakdown_tolerance)
        if k in cfg.breakdown_ks:
            history += [{"curve": "breakdown", "k": float(k), "l_over_na": float(g), "ratio_over_k": float(r)}
                        for g, r in zip(grid, ratio)]

    random_dev = random_identity_check(cfg.random_checks, cfg.random_leaves, cfg.seed)
    probe_p, probe_a = (float(x) for x in finite_changes(d, n_p, n_a, probe))
    at_na = float(finite_changes(d, n_p, n_a, n_a)[1])
    metrics = {
        "k": cfg.k, "n_align": n_a, "kl_p0": kl_p0, "kl_a0": kl_a0, "kl_a_before_alignment": kl_a_base,
        "rate_p": rate_p, "rate_a": rate_a, "rate_ratio": -rate_a / rate_p,
        "probe_delta_kl_p": probe_p, "probe_delta_kl_a": probe_a,
        "probe_invariant_rel_dev": abs(n_p * probe_p + n_a * probe_a) / abs(n_a * probe_a),
        "alignment_gain_undone_at_na": float(_share(at_na, gain)),
        "half_undone_l_over_na": float(grid[half[0]]) if half.size else None,
        "slope_first_order": loglog_slope(ks, np.array(first)),
        "slope_finite": loglog_slope(ks, np.array(finite)),
        "invariant_max_rel_dev_first_order": float(max(invariant)),
        "invariant_max_rel_dev_finite": float(max(invariant_finite)),
        "random_identity_max_rel_dev": float(random_dev.max()),
        "derivative_fd_max_rel_gap": derivative_check(d, n_p, n_a, np.array([cfg.probe_l, 0.5, cfg.dynamics_l_max]) * n_a),
        "breakdown_l_over_na": breaks,
        "breakdown_at_k": breaks[f"{cfg.k:g}"],
    }
    result = TheoryResult(metrics=metrics, history=history, checkpoint=None, config=dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


# -- tables and figures ---------------------------------------------------------------------------


def _k_text(k: float) -> str:
    return f"{k:,.0f}" if k >= 1 else f"{k:.3g}"


def _sci(x: float | None) -> str:
    if x is None:
        return "not on the grid"
    if x == 0:
        return "0"
    return f"{x:.3f}" if 1e-2 <= abs(x) < 1e4 else f"{x:.2e}"


def summary_markdown(result: TheoryResult) -> str:
    """The headline numbers of the dynamics at one k."""
    m = result.metrics
    rows = [
        ("k = N_p / N_a", _k_text(m["k"])),
        ("KL(P_p ‖ p(0)), pre-training set after alignment (nats)", _sci(m["kl_p0"])),
        ("KL(P_a ‖ p(0)), alignment set after alignment (nats)", _sci(m["kl_a0"])),
        ("KL(P_a ‖ P_p), alignment set before alignment (nats)", _sci(m["kl_a_before_alignment"])),
        ("dKL_p/dl at l = 0 (nats per unit)", _sci(m["rate_p"])),
        ("dKL_a/dl at l = 0 (nats per unit)", _sci(m["rate_a"])),
        ("−(dKL_a/dl) / (dKL_p/dl) at l = 0", _sci(m["rate_ratio"])),
        ("ΔKL_p at l = probe (nats)", _sci(m["probe_delta_kl_p"])),
        ("ΔKL_a at l = probe (nats)", _sci(m["probe_delta_kl_a"])),
        ("share of the alignment gain on D_a undone at l = N_a", f"{m['alignment_gain_undone_at_na']:.4f}"),
        ("l / N_a that undoes half the alignment gain", _sci(m["half_undone_l_over_na"])),
        ("first-order picture breaks at l / N_a", _sci(m["breakdown_at_k"])),
    ]
    return "\n".join(["| quantity | value |", "|---|---|"] + [f"| {a} | {b} |" for a, b in rows])


def sweep_markdown(result: TheoryResult, rows: int = 7) -> str:
    """The k sweep at about ``rows`` values of k: rates, ratios and the invariant's relative deviation."""
    s = result.curve("sweep")
    idx = np.unique(np.linspace(0, len(s["k"]) - 1, rows).round().astype(int))
    lines = ["| k | dKL_p/dl | dKL_a/dl | first-order ratio / k | finite-l ratio / k | Hooke deviation, first order | Hooke deviation, finite l |",
             "|---|---|---|---|---|---|---|"]
    for i in idx:
        k = s["k"][i]
        lines.append(f"| {_k_text(k)} | {s['rate_p'][i]:.2e} | {s['rate_a'][i]:.2e} | {s['first_order_ratio'][i] / k:.4f} "
                     f"| {s['finite_ratio'][i] / k:.4f} | {s['invariant_rel_dev'][i]:.1e} | {s['invariant_rel_dev_finite'][i]:.1e} |")
    return "\n".join(lines)


def compare_perturbations(cfg: TheoryConfig) -> dict[str, dict[str, Any]]:
    """The headline metrics for each kind of perturbation, the rest of ``cfg`` unchanged (runs in sub-folders)."""
    out = {}
    for kind in PERTURBATIONS:
        run = dataclasses.replace(cfg, perturbation=kind, run_dir=str(Path(cfg.run_dir) / f"perturbation-{kind}"))
        out[kind] = run_theory(run).metrics
    return out


def perturbations_markdown(by_kind: dict[str, dict[str, Any]]) -> str:
    """First-order ratio, Hooke deviation at l = 0 and at the probe, and where the picture breaks, per perturbation."""
    lines = ["| perturbation P_t | dKL_p/dl | dKL_a/dl | −(dKL_a/dl) / (dKL_p/dl) / k at l = 0 | Hooke deviation, l = 0 (max over k) "
             "| Hooke deviation at the probe | breaks at l / N_a | half the alignment gain undone at l / N_a |",
             "|---|---|---|---|---|---|---|---|"]
    for kind, m in by_kind.items():
        lines.append(f"| {kind} | {m['rate_p']:.2e} | {m['rate_a']:.2e} | {m['rate_ratio'] / m['k']:.6f} "
                     f"| {m['invariant_max_rel_dev_first_order']:.1e} | {m['probe_invariant_rel_dev']:.1e} "
                     f"| {_sci(m['breakdown_at_k'])} | {_sci(m['half_undone_l_over_na'])} |")
    return "\n".join(lines)


def breakdown_markdown(result: TheoryResult) -> str:
    """Where the finite-l ratio leaves k (1 ± tolerance), for each k drawn."""
    tol = result.config["breakdown_tolerance"]
    lines = [f"| k | first l / N_a where the ratio leaves k (1 ± {tol:g}) |", "|---|---|"]
    for k, at in result.metrics["breakdown_l_over_na"].items():
        lines.append(f"| {_k_text(float(k))} | {_sci(at)} |")
    return "\n".join(lines)


def plot_dynamics(result: TheoryResult):
    """(a) Delta KL_a and Delta KL_p over l at one k (left), and KL_a over a long log grid of l (right)."""
    import matplotlib.pyplot as plt

    from ..plotting import COLUMN_WIDTH

    c = result.curve("dynamics")
    long = result.curve("long_run")
    m = result.metrics
    fig, axes = plt.subplots(1, 2, figsize=(COLUMN_WIDTH, 3.0))
    ax = axes[0]
    ax.plot(c["l_over_na"], c["delta_kl_a"], label="alignment set $D_a$")
    ax.plot(c["l_over_na"], c["delta_kl_p"], label="pre-training set $D_p$")
    ax.plot(c["l_over_na"], c["first_order_a"], "k:", lw=0.9, label="first order")
    ax.plot(c["l_over_na"], c["first_order_p"], "k:", lw=0.9)
    ax.set_xlabel("perturbation $l / N_a$")
    ax.set_ylabel("ΔKL($P_i$ ‖ $p(l)$) (nats)")
    ax.ticklabel_format(axis="y", style="sci", scilimits=(-2, 3))
    ax.legend(fontsize=7)
    ax = axes[1]
    ax.semilogx(long["l_over_na"], long["kl_a"], label="KL($P_a$ ‖ $p(l)$)")
    ax.axhline(m["kl_a_before_alignment"], color="grey", lw=0.8, ls="--", label="before alignment")
    ax.axhline(m["kl_a0"], color="grey", lw=0.8, ls=":", label="after alignment")
    ax.set_xlabel("perturbation $l / N_a$")
    ax.set_ylabel("nats")
    ax.legend(fontsize=7)
    fig.suptitle(f"k = {_k_text(m['k'])}", fontsize=10)
    fig.tight_layout()
    return fig


def plot_sweep(result: TheoryResult):
    """(b) |ratio| of the alignment set's change to the pre-training set's against k, log-log."""
    import matplotlib.pyplot as plt

    from ..plotting import COLUMN_WIDTH

    s = result.curve("sweep")
    m = result.metrics
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.4))
    ax.loglog(s["k"], s["first_order_ratio"], "o", ms=4, label=f"first order (slope {m['slope_first_order']:.3f})")
    ax.loglog(s["k"], s["finite_ratio"], "x", ms=5,
              label=f"finite $l$ = {result.config['probe_l']:g} $N_a$ (slope {m['slope_finite']:.3f})")
    ax.loglog(s["k"], s["k"], color="grey", lw=0.8, ls=":", label="$y = k$")
    ax.set_xlabel("$k = N_p / N_a$")
    ax.set_ylabel("|ΔKL$_a$ / ΔKL$_p$|")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_invariant(result: TheoryResult):
    """(c) |N_p ΔKL_p| and |N_a ΔKL_a| over l at one k (log-log): equal while Hooke's law holds."""
    import matplotlib.pyplot as plt

    from ..plotting import COLUMN_WIDTH

    c = result.curve("long_run")
    n_a = result.metrics["n_align"]
    n_p = result.metrics["k"] * n_a
    l = c["l_over_na"] * n_a
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.2))
    ax.loglog(c["l_over_na"], np.abs(n_p * c["delta_kl_p"]), label="$|N_p$ ΔKL$_p|$ (exact)")
    ax.loglog(c["l_over_na"], np.abs(n_a * c["delta_kl_a"]), "--", label="$|N_a$ ΔKL$_a|$ (exact)")
    ax.loglog(c["l_over_na"], np.abs(n_a * result.metrics["rate_a"] * l), "k:", lw=0.9, label="first order (both)")
    ax.set_xlabel("perturbation $l / N_a$")
    ax.set_ylabel("volume × change of KL (nats × units)")
    ax.set_title(f"k = {_k_text(result.metrics['k'])}", fontsize=10)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_breakdown(result: TheoryResult):
    """(d) the finite-l ratio divided by k over l / N_a, with the tolerance band."""
    import matplotlib.pyplot as plt

    from ..plotting import COLUMN_WIDTH

    tol = result.config["breakdown_tolerance"]
    fig, ax = plt.subplots(figsize=(COLUMN_WIDTH, 3.2))
    for k in result.config["breakdown_ks"]:
        c = result.curve("breakdown", k=float(k))
        ax.loglog(c["l_over_na"], c["ratio_over_k"], label=f"k = {_k_text(float(k))}")
    ax.axhspan(1 - tol, 1 + tol, color="grey", alpha=0.2, label=f"k (1 ± {tol:g})")
    ax.set_xlabel("perturbation $l / N_a$")
    ax.set_ylabel("|ΔKL$_a$ / ΔKL$_p$| / k")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig
