"""The survey chapter: exact formulas first, then the tables, then each demonstration on tiny sizes."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from alignbook.survey import assurance, distribution_shift, frame, goal_misgeneralisation, reward_hacking, rlhf_dpo
from alignbook.survey.common import ci_bounds, mean_ci


@pytest.fixture(autouse=True)
def units_in_process(monkeypatch):
    """map_units runs every unit in this process (fast tests; the stand-in GPU lives in this process
    only); test_units_give_the_same_numbers_in_process_and_in_workers checks the worker path."""
    monkeypatch.setenv("ALIGNBOOK_CORES", "1")


# -- exact formulas ---------------------------------------------------------------------------------


def test_kl_bon_hand_values():
    assert reward_hacking.kl_bon(1) == 0.0
    assert reward_hacking.kl_bon(2) == pytest.approx(math.log(2) - 0.5, abs=1e-15)
    assert reward_hacking.kl_bon(4) == pytest.approx(math.log(4) - 0.75, abs=1e-15)


def test_kl_optimum_hand_case():
    # pi_ref = (1/2, 1/2), r = (0, log 3), beta = 1  =>  pi* = (1/4, 3/4)
    ref = np.log([[0.5, 0.5]])
    pi = rlhf_dpo.kl_optimum(ref, np.array([[0.0, math.log(3)]]), 1.0)
    np.testing.assert_allclose(pi, [[0.25, 0.75]], atol=1e-15)
    # beta = 2 halves the exponent: pi* ∝ (1, sqrt 3)
    pi2 = rlhf_dpo.kl_optimum(ref, np.array([[0.0, math.log(3)]]), 2.0)
    np.testing.assert_allclose(pi2, [[1 / (1 + math.sqrt(3)), math.sqrt(3) / (1 + math.sqrt(3))]], atol=1e-15)


def test_kl_optimum_maximises_the_regularised_objective():
    rng = np.random.default_rng(0)
    ref = np.log(np.full((1, 5), 0.2))
    r = rng.standard_normal((1, 5))
    beta = 0.7
    best = rlhf_dpo.kl_optimum(ref, r, beta)

    def objective(p):
        return float((p * r).sum() - beta * (p * (np.log(p) - ref)).sum())

    for _ in range(50):
        other = rng.dirichlet(np.ones(5))[None]
        assert objective(best) >= objective(other) - 1e-12


def test_dpo_loss_hand_case():
    # log pi(y_w) = log 0.6, log pi(y_l) = log 0.2, reference 0.5 / 0.5, beta = 0.5:
    # -log sigmoid(0.5 * (log 1.2 - log 0.4)) = -log sigmoid(0.5 log 3) = log(1 + 1/sqrt 3)
    def t(v):
        return torch.tensor(v, dtype=torch.float64)
    loss = rlhf_dpo.dpo_loss(t(math.log(0.6)), t(math.log(0.2)), t(math.log(0.5)), t(math.log(0.5)), 0.5)
    assert float(loss) == pytest.approx(math.log(1 + 1 / math.sqrt(3)), abs=1e-12)
    # equal log-ratios: log 2
    assert float(rlhf_dpo.dpo_loss(t(0.0), t(0.0), t(0.0), t(0.0), 3.0)) == pytest.approx(math.log(2))


def test_t_interval_by_hand():
    m, half = mean_ci([1.0, 2.0, 3.0])
    assert m == 2.0 and half == pytest.approx(4.303 * 1.0 / math.sqrt(3))
    assert mean_ci([5.0]) == (5.0, None) and ci_bounds([5.0]) is None


def test_group_dro_and_vrex_by_hand():
    q = distribution_shift.group_dro_weights(torch.full((2,), 0.5), torch.tensor([0.0, math.log(3)]), 1.0)
    np.testing.assert_allclose(q.numpy(), [0.25, 0.75], atol=1e-7)
    assert float(distribution_shift.vrex_loss(torch.tensor([1.0, 3.0]), 2.0)) == pytest.approx(2.0 + 2.0 * 1.0)


def test_gold_reward_and_gao_fit():
    x = np.array([[1.0, 2.0, 0.0]])
    assert reward_hacking.gold_reward(x, 1.0)[0] == pytest.approx(1 + 2 - 4)
    kl = np.array([0.0, 1.0, 4.0, 9.0])
    d = np.sqrt(kl)
    alpha, beta = reward_hacking.gao_fit(kl, d * (2.0 - 0.5 * d))
    assert alpha == pytest.approx(2.0) and beta == pytest.approx(0.5)


# -- the tables ------------------------------------------------------------------------------------


def test_relation_table_rows_and_marks():
    rel = frame.relations()
    assert len(rel) == 24
    m = frame.relation_matrix(rel)
    assert int((m == 2).sum()) == 42 and int((m == 1).sum()) == 18
    by = {r["method"]: r for r in rel}
    assert [by["RLHF"][p] for p in frame.RICE] == ["weaker", "", "strong", "strong"]
    assert [by["CIRL"][p] for p in frame.RICE] == ["weaker", "weaker", "strong", "weaker"]
    assert [by["Red Teaming"][p] for p in frame.RICE] == ["strong", "", "weaker", "strong"]
    assert all(r[p] == "strong" for r in rel if r["category"] == "Governance" for p in frame.RICE)
    assert {r["category"] for r in rel} == {"Learning from Feedback", "Learning under Distribution Shift", "Assurance", "Governance"}
    assert all(r["verified"] == "yes" for r in rel)


def test_dataset_table_rows():
    data = frame.datasets()
    assert len(data) == 25
    counts = {t: sum(d["target"] == t for d in data) for t in {d["target"] for d in data}}
    assert counts == {"Bias": 11, "Toxicity": 6, "Power Seeking": 2, "Situation Awareness": 2, "Hallucination": 4}
    beaver = [d for d in data if d["dataset"] == "BeaverTails"]
    assert len(beaver) == 2 and all(d["release"] == "23/06" and d["institution"] == "PKU" for d in beaver)
    assert frame.release_year("18/05") == pytest.approx(2018 + 4 / 12) and frame.release_year("-") is None


# -- the demonstrations, tiny ------------------------------------------------------------------------


def test_reward_hacking_tiny_runs_and_reproduces(tmp_path):
    cfg = reward_hacking.RewardHackingConfig(run_dir=str(tmp_path / "a"), pairs=100, fit_steps=20, max_log2_n=4,
                                             trials=10, seeds=2)
    a = reward_hacking.run(cfg)
    b = reward_hacking.run(reward_hacking.RewardHackingConfig(**{**cfg.to_dict(), "run_dir": str(tmp_path / "b")}))
    assert a.metrics == b.metrics
    assert reward_hacking.verdict(a)[0] in ("shown", "not shown", "contrary")
    w = reward_hacking.fit_proxy(cfg, "correct", np.random.default_rng(0))
    assert np.isfinite(w).all() and np.abs(w).sum() > 0


def test_goal_policy_trains(tmp_path):
    cfg = goal_misgeneralisation.GoalConfig(run_dir=str(tmp_path), iterations=3, batch=8, test_episodes=20, seeds=1,
                                            shares=(0.0, 1.0))
    torch.manual_seed(0)
    before = [p.detach().clone() for p in goal_misgeneralisation.make_policy(cfg).parameters()]
    policy, log = goal_misgeneralisation.train(cfg, 1.0, 0)
    assert any(not torch.equal(a, b) for a, b in zip(before, policy.parameters()))
    ev = goal_misgeneralisation.evaluate(policy, cfg, 1.0, 0)
    assert all(0.0 <= v <= 1.0 for v in ev.values())
    result = goal_misgeneralisation.run(cfg)
    assert goal_misgeneralisation.verdict(result)[0] == "not testable"  # one seed


def test_bandit_population_dpo_equals_rlhf(tmp_path):
    cfg = rlhf_dpo.BanditConfig(run_dir=str(tmp_path), contexts=2, actions=3, betas=(0.5,), steps=100, seeds=1)
    b = rlhf_dpo.make_bandit(cfg, np.random.default_rng(0))
    pop = rlhf_dpo.population(b)
    dpo = rlhf_dpo.fit_dpo(pop, b["ref_logp"], 0.5, 100)
    oracle = rlhf_dpo.kl_optimum(b["ref_logp"], b["reward"], 0.5)
    assert rlhf_dpo.tv(dpo, oracle) < 1e-5
    rm = rlhf_dpo.fit_reward_model(pop, (2, 3), 0.0, 100)
    assert rlhf_dpo.tv(rlhf_dpo.kl_optimum(b["ref_logp"], rm, 0.5), oracle) < 1e-5


def test_distribution_shift_and_loop_tiny(tmp_path):
    cfg = distribution_shift.ShiftConfig(run_dir=str(tmp_path / "s"), n_train=100, n_test=200, steps=10, seeds=2)
    r = distribution_shift.run(cfg)
    assert all(0 <= row["worst_group_acc"] <= row["test_acc"] + 1e-9 or row["worst_group_acc"] <= 1 for row in r.metrics["runs"])
    assert distribution_shift.verdict(r, "group_dro")[0] in ("shown", "not shown", "contrary")
    lc = assurance.LoopConfig(run_dir=str(tmp_path / "l"), n_initial=40, rounds=1, candidates=100, budget=5, steps=10,
                              n_eval=200, seeds=2)
    loop = assurance.run(lc)
    assert len(loop.history) == 2 * 2 * 2
    assert all(0.0 <= h["failure"] <= 1.0 for h in loop.history)


# -- every torch trainer on the device its profile names (a stand-in GPU) ----------------------------


def test_bandit_fits_on_the_configured_device(tmp_path, monkeypatch):
    from alignbook.engine import standin

    seen = []
    lbfgs = rlhf_dpo._lbfgs
    monkeypatch.setattr(rlhf_dpo, "_lbfgs", lambda params, loss, steps: (seen.append(standin.on_gpu(params)),
                                                                          lbfgs(params, loss, steps))[1])
    cfg = rlhf_dpo.BanditConfig(run_dir=str(tmp_path), contexts=2, actions=3, betas=(0.5,), pairs=4, steps=2, seeds=1,
                                device="cuda")
    with standin.stand_in_gpu():
        result = rlhf_dpo.run(cfg)
    assert seen and all(seen)  # every reward model and DPO fit ran on the device
    assert all(np.isfinite(v) for row in result.history for v in row.values())


def test_distribution_shift_trains_on_the_configured_device(tmp_path):
    from alignbook.engine import standin

    cfg = distribution_shift.ShiftConfig(run_dir=str(tmp_path), n_train=50, n_test=60, steps=1, seeds=1, device="cuda")
    envs = [distribution_shift.sample(50, 0.9, cfg, np.random.default_rng(0)) for _ in range(2)]
    with standin.stand_in_gpu():
        for method in distribution_shift.METHODS:
            model = distribution_shift.train(method, envs, cfg, 0)
            assert all(standin.on_gpu(p) for p in model.parameters())
            acc = distribution_shift.accuracies(model, envs[0])
            assert 0.0 <= acc["worst_group_acc"] <= 1.0
        result = distribution_shift.run(cfg)
    assert len(result.metrics["runs"]) == len(distribution_shift.METHODS)


def test_goal_policy_trains_on_the_configured_device(tmp_path):
    from alignbook.engine import standin

    cfg = goal_misgeneralisation.GoalConfig(run_dir=str(tmp_path), iterations=1, batch=4, test_episodes=4, seeds=1,
                                            shares=(0.0,), hidden=8, device="cuda")
    with standin.stand_in_gpu():
        policy, log = goal_misgeneralisation.train(cfg, 0.0, 0)
        assert all(standin.on_gpu(p) for p in policy.parameters())
        ev = goal_misgeneralisation.evaluate(policy, cfg, 0.0, 0)
        result = goal_misgeneralisation.run(cfg)
    assert all(0.0 <= v <= 1.0 for v in ev.values()) and len(result.metrics["runs"]) == 1


def test_assurance_loop_trains_on_the_configured_device(tmp_path):
    from alignbook.engine import standin

    cfg = assurance.LoopConfig(run_dir=str(tmp_path), n_initial=20, rounds=1, candidates=50, budget=3, steps=1,
                               n_eval=50, seeds=1, hidden=8, device="cuda")
    x = np.random.default_rng(0).uniform(-3, 3, (20, 2))
    with standin.stand_in_gpu():
        net = assurance.fit(x, x[:, 0] > 0, cfg, 0)
        assert all(standin.on_gpu(p) for p in net.parameters())
        assert assurance.refuses(net, x).dtype == bool
        result = assurance.run(cfg)
    assert len(result.history) == 2 * 2


def test_units_give_the_same_numbers_in_process_and_in_workers(tmp_path, monkeypatch):
    """Every trainer's seeds are map_units units: one process or two workers, bit-identical results."""
    configs = {
        rlhf_dpo: rlhf_dpo.BanditConfig(contexts=2, actions=3, betas=(0.5,), pairs=4, steps=5, seeds=2),
        distribution_shift: distribution_shift.ShiftConfig(n_train=40, n_test=40, steps=3, seeds=2),
        goal_misgeneralisation: goal_misgeneralisation.GoalConfig(iterations=2, batch=4, test_episodes=4, seeds=2,
                                                                  shares=(0.0, 1.0), hidden=8),
        assurance: assurance.LoopConfig(n_initial=20, rounds=1, candidates=50, budget=3, steps=2, n_eval=50, seeds=2,
                                        hidden=8),
        reward_hacking: reward_hacking.RewardHackingConfig(pairs=20, fit_steps=3, max_log2_n=3, trials=4, seeds=2),
    }
    for module, cfg in configs.items():
        out = []
        for cores in ("1", "2"):
            monkeypatch.setenv("ALIGNBOOK_CORES", cores)
            run_dir = tmp_path / module.__name__ / cores
            run_dir.mkdir(parents=True)
            out.append(module.run(type(cfg)(**{**cfg.to_dict(), "run_dir": str(run_dir)})))
        assert out[0].history == out[1].history and out[0].metrics == out[1].metrics, module.__name__
        assert (Path(out[1].config["run_dir"]) / "units").is_dir()


# -- estimates of the gpu and paper profiles (alignbook.engine.estimate) -------------------------------


def test_goal_estimate_by_hand():
    from alignbook.survey.goal_misgeneralisation import GoalConfig

    cfg = GoalConfig(shares=(0.0, 1.0), iterations=5, batch=16, test_episodes=50, seeds=2, horizon=20, hidden=64)
    # 2 shares × 2 seeds, each 5 updates of 100·20 + 43 ops and two test roll-outs of 41·20 ops, at 10 µs
    assert cfg.work().other_seconds == pytest.approx(4 * (5 * 2043 + 2 * 820) * 10e-6)


def test_bandit_estimate_by_hand():
    from alignbook.survey.rlhf_dpo import BanditConfig

    cfg = BanditConfig(contexts=3, actions=4, betas=(0.3, 3.0), steps=50, seeds=2)
    # 2 seeds × (2 reward models + 2 betas × 2 data sets) = 12 fits of at most 50 iterations, 352 ops each
    assert cfg.work().other_seconds == pytest.approx(12 * 50 * 352 * 10e-6)


def test_shift_estimate_by_hand():
    from alignbook.survey.distribution_shift import ShiftConfig

    work = ShiftConfig(n_train=200, n_test=400, steps=30, seeds=2, noise_dims=5).work()
    # 2 seeds × (30 steps × (42 + 99 + 74) ops + 3 × 18)
    assert work.other_seconds == pytest.approx(2 * (30 * 215 + 54) * 10e-6)
    # 2 seeds × 3 methods × 30 steps × 6 × 8 weights (2 features, 5 noise, bias) × 400 examples
    assert work.train_flops == 2 * 3 * 30 * 6 * 8 * 400 == 3_456_000


def test_loop_estimate_by_hand():
    from alignbook.survey.assurance import LoopConfig

    work = LoopConfig(n_initial=60, rounds=1, candidates=200, budget=10, steps=20, n_eval=500, seeds=2, hidden=32).work()
    # 2 seeds × 2 arms × 2 rounds = 8 fits of 20 steps × 108 ops + 32
    assert work.other_seconds == pytest.approx(8 * (20 * 108 + 32) * 10e-6)
    # 1,185 weights (3·32 + 32² + 32 + 32 + 1); 2 seeds × 2 arms × (60 + 70) examples × 20 steps × 6;
    # 8 fits each scoring 500 + 200 inputs at 2 FLOPs a weight
    assert work.train_flops == 6 * 1185 * 20 * 520 + 2 * 1185 * 8 * 700 == 87_216_000
