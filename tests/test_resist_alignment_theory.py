"""The closed-form compression model of Section 4 (Theorem 4.2): formulas against hand values and each other."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from alignbook.engine.config import ConfigError
from alignbook.resist_alignment import theory
from alignbook.resist_alignment.theory import TheoryConfig, TheoryResult


def _data(p_p, p_a, p_t):
    return {"p": np.asarray(p_p, float), "a": np.asarray(p_a, float), "t": np.asarray(p_t, float)}


# -- a two-leaf example computed by hand ----------------------------------------------------------
# P_p = (1/2, 1/2), P_a = (1, 0), P_t = (0, 1), N_p = 3, N_a = 1 (k = 3).
# p(l) = ((2.5, 1.5) + l (0, 1)) / (4 + l); p(0) = (0.625, 0.375).
# KL_a(l) = -log p_1(l) = log((4 + l) / 2.5), so dKL_a/dl = 1 / (4 + l) = 1/4 at l = 0.
# dKL_p/dl at 0 = (1 - (0.5 * 0 / 0.625 + 0.5 * 1 / 0.375)) / 4 = (1 - 4/3) / 4 = -1/12.
# KL_p(0) = 0.5 log(0.5/0.625) + 0.5 log(0.5/0.375) = 0.5 log(16/15).
TWO = _data([0.5, 0.5], [1.0, 0.0], [0.0, 1.0])


def test_two_leaf_example_by_hand():
    model0 = theory.mixture(TWO["p"], TWO["a"], TWO["t"], 3.0, 1.0, 0.0)
    assert np.allclose(model0, [0.625, 0.375])
    assert theory.kl(TWO["p"], model0) == pytest.approx(0.5 * math.log(16 / 15), rel=1e-12)
    assert theory.kl(TWO["a"], model0) == pytest.approx(math.log(1.6), rel=1e-12)
    rate_p, rate_a = theory.rates_at_zero(TWO, 3.0, 1.0)
    assert rate_a == pytest.approx(0.25, rel=1e-12)
    assert rate_p == pytest.approx(-1 / 12, rel=1e-12)
    assert 3.0 * rate_p + 1.0 * rate_a == pytest.approx(0.0, abs=1e-15)
    # finite l: KL_a(4) - KL_a(0) = log(8/2.5) - log(4/2.5) = log 2
    dp, da = theory.finite_changes(TWO, 3.0, 1.0, 4.0)
    assert float(da) == pytest.approx(math.log(2), rel=1e-12)
    # KL_p(4): p(4) = (2.5, 5.5) / 8
    kl_p4 = 0.5 * math.log(0.5 / (2.5 / 8)) + 0.5 * math.log(0.5 / (5.5 / 8))
    assert float(dp) == pytest.approx(kl_p4 - 0.5 * math.log(16 / 15), rel=1e-12)
    # the Hooke residual at l: l (E_{P_t}[P_t/p] - 1) / (N + l) = 4 (8/5.5 - 1) / 8
    model4 = theory.mixture(TWO["p"], TWO["a"], TWO["t"], 3.0, 1.0, 4.0)
    assert float(theory.hooke_residual(TWO["t"], model4, 4.0, 4.0)) == pytest.approx(4 * (8 / 5.5 - 1) / 8, rel=1e-12)


# -- the derivative: the code's closed form, the formula written out, and a finite difference -----


@pytest.mark.parametrize("l", [0.0, 0.3, 5.0, 250.0])
def test_derivative_matches_the_formula_and_a_finite_difference(l):
    rng = np.random.default_rng(1)
    d = _data(*rng.dirichlet(np.ones(12), size=3))
    n_p, n_a = 40.0, 7.0
    n = n_p + n_a
    u = theory.relative_gap(d["p"], d["a"], d["t"], n_p, n_a)
    model = theory.mixture(d["p"], d["a"], d["t"], n_p, n_a, l)
    h = 1e-5 * (n + l)
    for key in ("p", "a"):
        code = float(theory.rate(d[key], u, n, l))
        formula = (1 - np.sum(d[key] * d["t"] / model)) / (n + l)  # (1 - E_{P_i}[P_t / p]) / (N + l), written out
        assert code == pytest.approx(formula, rel=1e-10)
        assert float(theory.kl_derivative(d[key], d["t"], model, n, l)) == pytest.approx(formula, rel=1e-12)
        # a central difference of the plain KL (not of the code's Delta KL)
        kl = [float(theory.kl(d[key], theory.mixture(d["p"], d["a"], d["t"], n_p, n_a, x))) for x in (l - h, l + h)]
        assert (kl[1] - kl[0]) / (2 * h) == pytest.approx(code, rel=1e-5)


def test_delta_kl_equals_a_plain_difference_of_kls():
    rng = np.random.default_rng(2)
    d = _data(*rng.dirichlet(np.ones(9), size=3))
    ls = np.array([0.0, 1.0, 30.0, 1e4])
    dp, da = theory.finite_changes(d, 20.0, 5.0, ls)
    models = theory.mixture(d["p"], d["a"], d["t"], 20.0, 5.0, ls)
    assert np.allclose(dp, theory.kl(d["p"], models) - theory.kl(d["p"], models[0]), rtol=1e-9, atol=1e-14)
    assert np.allclose(da, theory.kl(d["a"], models) - theory.kl(d["a"], models[0]), rtol=1e-9, atol=1e-14)


# -- Theorem 4.2 at l = 0 -------------------------------------------------------------------------


def test_hooke_identity_holds_for_random_distributions():
    residual = theory.random_identity_check(draws=300, leaves=15, seed=3)
    assert residual.max() < 1e-8
    rng = np.random.default_rng(4)
    for _ in range(50):
        d = _data(*rng.dirichlet(np.ones(30) * 0.3, size=3))
        n_p, n_a = 10.0 ** rng.uniform(0, 5, size=2)
        rp, ra = theory.rates_at_zero(d, n_p, n_a)
        assert ra / rp == pytest.approx(-n_p / n_a, rel=1e-8)  # the alignment set moves k times faster, the other way


def test_identity_fails_away_from_l_zero_as_the_residual_formula_says():
    """The identity is first order only: a test that could not fail would prove nothing."""
    d = _data([0.7, 0.2, 0.1], [0.05, 0.05, 0.9], [0.1, 0.8, 0.1])
    n_p, n_a, l = 30.0, 3.0, 10.0
    u = theory.relative_gap(d["p"], d["a"], d["t"], n_p, n_a)
    total = n_p * float(theory.rate(d["p"], u, n_p + n_a, l)) + n_a * float(theory.rate(d["a"], u, n_p + n_a, l))
    model = theory.mixture(d["p"], d["a"], d["t"], n_p, n_a, l)
    assert abs(total) > 1e-3
    assert total == pytest.approx(float(theory.hooke_residual(d["t"], model, n_p + n_a, l)), rel=1e-10)


def test_compression_rate_changes_are_kl_changes_over_log_m():
    d = _data([0.6, 0.3, 0.1, 0.0], [0.0, 0.1, 0.1, 0.8], [0.25, 0.25, 0.25, 0.25])
    m0, m1 = theory.mixture(d["p"], d["a"], d["t"], 10.0, 2.0, np.array([0.0, 3.0]))
    for key in ("p", "a"):
        change = theory.compression_rate(d[key], m1) - theory.compression_rate(d[key], m0)
        assert change == pytest.approx((theory.kl(d[key], m1) - theory.kl(d[key], m0)) / math.log(4), rel=1e-12)


# -- the config and the run -----------------------------------------------------------------------


def _tiny(tmp_path, **kw):
    base = dict(leaves=60, aligned_offset=10, aligned_leaves=4, harmful_offset=30, harmful_leaves=4, k_points=5,
                l_points=12, l_max=1e4, breakdown_ks=(10.0,), random_checks=5, run_dir=str(tmp_path))
    base.update(kw)
    return TheoryConfig(**base)


def test_config_refuses_bad_regions(tmp_path):
    with pytest.raises(ConfigError, match="aligned_offset"):
        _tiny(tmp_path, aligned_offset=58)
    with pytest.raises(ConfigError, match="overlaps"):
        _tiny(tmp_path, perturbation="harmful", harmful_offset=12)
    with pytest.raises(ConfigError, match="k_min_exp"):
        _tiny(tmp_path, k_min_exp=3.0, k_max_exp=2.0)
    with pytest.raises(ConfigError, match="out of range"):
        _tiny(tmp_path, perturbation="adversarial")
    _tiny(tmp_path, perturbation="harmful", aligned_offset=58, aligned_leaves=2)  # fits: 58 + 2 = 60


def test_run_gives_slope_one_and_saves_a_result(tmp_path):
    cfg = _tiny(tmp_path)
    result = theory.run_theory(cfg)
    m = result.metrics
    assert m["slope_first_order"] == pytest.approx(1.0, abs=1e-8)
    assert abs(m["slope_finite"] - 1.0) < 0.05
    assert m["invariant_max_rel_dev_first_order"] < 1e-8
    assert m["derivative_fd_max_rel_gap"] < 1e-4
    assert m["rate_p"] < 0 < m["rate_a"]  # pre-training-like data: D_p compresses better, D_a worse
    assert m["rate_ratio"] == pytest.approx(cfg.k, rel=1e-8)
    loaded = TheoryResult.load(tmp_path)
    assert loaded.metrics["slope_first_order"] == m["slope_first_order"]
    sweep = loaded.curve("sweep")
    assert len(sweep["k"]) == cfg.k_points and sweep["k"][0] == pytest.approx(1.0)
    # the same seed reproduces the numbers exactly
    again = theory.run_theory(dataclasses.replace(cfg, run_dir=str(tmp_path / "again")))
    assert again.metrics == m


def test_every_perturbation_keeps_the_identity_and_tables_are_clean(tmp_path):
    by_kind = theory.compare_perturbations(_tiny(tmp_path))
    assert set(by_kind) == set(theory.PERTURBATIONS)
    for m in by_kind.values():
        assert m["rate_ratio"] == pytest.approx(m["k"], rel=1e-8)
    # a harmful region the model rarely produces breaks the first-order picture far earlier
    assert by_kind["harmful"]["breakdown_at_k"] < by_kind["pretrain"]["breakdown_at_k"]
    result = TheoryResult.load(tmp_path / "perturbation-pretrain")
    text = "\n".join([theory.summary_markdown(result), theory.sweep_markdown(result), theory.breakdown_markdown(result),
                      theory.perturbations_markdown(by_kind)])
    assert "0000000" not in text and "9999999" not in text and str(tmp_path) not in text


def test_figures_draw(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    result = theory.run_theory(_tiny(tmp_path))
    for plot in (theory.plot_dynamics, theory.plot_sweep, theory.plot_invariant, theory.plot_breakdown):
        fig = plot(result)
        assert fig.axes
        plt.close(fig)
