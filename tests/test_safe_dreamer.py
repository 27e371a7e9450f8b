"""The Safe DreamerV3 chapter: the equations against hand values first, then the planner's rules, then
the world model and actor-critic for a few steps, then the configs against the official settings."""

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from alignbook.engine.claims import VERDICTS
from alignbook.engine.config import ConfigError
from alignbook.safe_dreamer import claims, verdicts
from alignbook.safe_dreamer.actor_critic import ACSettings, ActorCritic
from alignbook.safe_dreamer.config import SafeDreamerConfig
from alignbook.safe_dreamer.data import Replay
from alignbook.safe_dreamer.maths import (AugmentedLagrangian, auroc, bins, lambda_return, symexp,
                                          symlog, twohot, twohot_mean, weighted_cost_loss)
from alignbook.safe_dreamer.planner import Planner, PlannerSettings, pid_for_planner, select_elites
from alignbook.safe_dreamer.training import make_optimizer, prediction_quality, train_steps
from alignbook.safe_dreamer.world_model import ModelSizes, WorldModel, load_model, save_model

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "safe-dreamer"

# -- symlog and two-hot -----------------------------------------------------------------------------


def test_symlog_symexp_round_trip_and_values():
    x = torch.tensor([-1000.0, -3.0, -0.5, 0.0, 0.25, 7.0, 1e5])
    torch.testing.assert_close(symexp(symlog(x)), x, rtol=1e-5, atol=1e-5)
    assert float(symlog(torch.tensor(np.e - 1))) == pytest.approx(1.0)
    assert float(symlog(torch.tensor(-(np.e - 1)))) == pytest.approx(-1.0)


def test_twohot_weights_by_hand_and_round_trip():
    b = bins()
    assert len(b) == 255 and float(b[127]) == pytest.approx(0.0, abs=1e-6)
    step = float(b[1] - b[0])  # 40 / 254
    y = 0.25 * step  # a quarter of the way from bin 127 to bin 128, in symlog space
    target = twohot(symexp(torch.tensor(y)))
    assert float(target.sum()) == pytest.approx(1.0)
    assert float(target[127]) == pytest.approx(0.75, abs=1e-5)
    assert float(target[128]) == pytest.approx(0.25, abs=1e-5)
    x = torch.tensor([-50.0, -1.0, 0.0, 0.3, 2.0, 10.0, 1000.0])
    logits = torch.log(twohot(x) + 1e-12)
    torch.testing.assert_close(twohot_mean(logits), x, rtol=1e-3, atol=1e-4)


def test_cost_loss_weighted_only_where_cost_at_least_one():
    logits = torch.zeros(4, 255)
    cost = torch.tensor([0.0, 0.5, 1.0, 3.0])
    plain = weighted_cost_loss(logits, cost, 1.0)
    weighted = weighted_cost_loss(logits, cost, 10.0)
    torch.testing.assert_close(weighted[:2], plain[:2])
    torch.testing.assert_close(weighted[2:], 10 * plain[2:])


# -- λ-return ---------------------------------------------------------------------------------------


def test_lambda_return_by_hand():
    # R_2 = v_2 = 20; R_1 = 2 + 0.5 (0.5·20 + 0.5·20) = 12; R_0 = 1 + 0.5 (0.5·10 + 0.5·12) = 6.5
    r = torch.tensor([1.0, 2.0])
    d = torch.tensor([0.5, 0.5])
    v = torch.tensor([0.0, 10.0, 20.0])
    torch.testing.assert_close(lambda_return(r, d, v, 0.5), torch.tensor([6.5, 12.0]))
    # λ = 1 is the discounted sum bootstrapped at the end; λ = 0 is one-step TD
    torch.testing.assert_close(lambda_return(r, d, v, 1.0), torch.tensor([1 + 0.5 * (2 + 0.5 * 20), 2 + 0.5 * 20]))
    torch.testing.assert_close(lambda_return(r, d, v, 0.0), torch.tensor([1 + 0.5 * 10, 2 + 0.5 * 20]))
    with pytest.raises(ValueError, match="H\\+1"):
        lambda_return(r, d, v[:2], 0.5)


# -- the CEM safe-set rule --------------------------------------------------------------------------


def test_fewer_than_k_safe_ranks_all_by_lowest_cost():
    ret = torch.tensor([9.0, 8.0, 7.0, 1.0, 0.0])
    cost = torch.tensor([5.0, 1.0, 3.0, 4.0, 2.5])  # only index 1 is under b = 2
    idx, enough = select_elites(ret, cost, 2, 2.0, "osrp")
    assert not enough
    assert sorted(idx.tolist()) == [1, 4]  # the two lowest costs, whatever their return


def test_enough_safe_ranks_safe_set_by_return_or_penalised_return():
    ret = torch.tensor([9.0, 8.0, 7.0, 1.0, 0.0])
    cost = torch.tensor([5.0, 1.0, 0.0, 1.5, 0.5])  # safe: 1, 2, 3, 4
    idx, enough = select_elites(ret, cost, 2, 2.0, "osrp")
    assert enough and sorted(idx.tolist()) == [1, 2]  # index 0 has the top return but is unsafe
    penalised = torch.tensor([0.0, -5.0, 1.0, 3.0, 2.0])
    idx, _ = select_elites(ret, cost, 2, 2.0, "osrp_lag", penalised)
    assert sorted(idx.tolist()) == [3, 4]
    idx, _ = select_elites(ret, cost, 2, 2.0, "cem")
    assert sorted(idx.tolist()) == [0, 1]
    with pytest.raises(ValueError, match="method"):
        select_elites(ret, cost, 2, 2.0, "tdmpc")


# -- the two multipliers ----------------------------------------------------------------------------


def test_pid_update_by_hand_and_clip():
    pid = pid_for_planner(2.0)
    # J = 2.5: e = 0.5; I = 0.01·0.5; P-EMA = 0.05·0.5; D-EMA of J = 0.05·2.5, rise 0.125
    assert pid.update(2.5) == pytest.approx(0.1 * 0.025 + 0.005 + 0.01 * 0.125)
    fresh = pid_for_planner(2.0)
    # J = 12: 0.1·0.5 + 0.1 + 0.01·0.6 = 0.156, clipped to penalty_max 0.1
    assert fresh.update(12.0) == pytest.approx(0.1)
    below = pid_for_planner(2.0)
    assert below.update(0.0) == 0.0  # never negative


def test_augmented_lagrangian_by_hand():
    al = AugmentedLagrangian(2.0, lagrange_init=0.5, penalty_init=0.1, penalty_growth=0.1)
    c = torch.tensor([3.0, 5.0], requires_grad=True)  # g = 2
    psi = al(c)
    assert float(psi.detach()) == pytest.approx(0.5 * 2 + 0.1 / 2 * 4)
    psi.backward()
    torch.testing.assert_close(c.grad, torch.full((2,), (0.5 + 0.1 * 2) / 2))  # (λ + c g) / n
    assert al.multiplier == pytest.approx(0.7) and al.penalty == pytest.approx(0.11)
    psi = al(torch.tensor([0.0]))  # g = -2, λ + c g = 0.48 > 0
    assert float(psi) == pytest.approx(0.7 * -2 + 0.11 / 2 * 4)
    assert al.multiplier == pytest.approx(0.48)
    low = AugmentedLagrangian(2.0, lagrange_init=0.1, penalty_init=0.01, penalty_growth=0.0)
    psi = low(torch.tensor([-18.0]))  # g = -20, λ + c g = -0.1 <= 0: ψ = -λ²/2c
    assert float(psi) == pytest.approx(-0.01 / 0.02)
    assert low.multiplier == 0.0 and low.penalty == pytest.approx(0.01)
    capped = AugmentedLagrangian(0.0, penalty_init=0.9, penalty_growth=1.0)
    capped(torch.tensor([1.0]))
    assert capped.penalty == 1.0  # c is non-decreasing and at most 1
    with pytest.raises(ValueError, match="penalty_init"):
        AugmentedLagrangian(2.0, penalty_init=0.0)


def test_auroc_by_hand():
    assert auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]) == pytest.approx(0.75)
    assert auroc([1, 1, 1], [0, 1, 0]) == pytest.approx(0.5)
    assert np.isnan(auroc([0.1, 0.2], [0, 0]))


# -- world model, planner and actor-critic on tiny sizes ---------------------------------------------


def _episode(rng, T=24, obs_dim=6, act_dim=2):
    cost = (rng.random(T + 1) < 0.2).astype(np.float32)
    cost[0] = 0
    return {"obs": rng.normal(size=(T + 1, obs_dim)).astype(np.float32),
            "reward": rng.normal(size=T + 1).astype(np.float32) * 0.1, "cost": cost,
            "first": np.r_[True, np.zeros(T, bool)], "terminal": np.zeros(T + 1, bool),
            "action": rng.uniform(-1, 1, (T + 1, act_dim)).astype(np.float32)}


def _tiny():
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    replay = Replay(0)
    for _ in range(3):
        replay.add(_episode(rng))
    return WorldModel(ModelSizes(6, 2, deter=16, stoch=4, classes=4, units=16, layers=1)), replay


def test_world_model_trains_and_round_trips(tmp_path):
    model, replay = _tiny()
    before = [p.detach().clone() for p in model.parameters()]
    history = train_steps(model, make_optimizer(model, 1e-3), replay, 3, batch=4, length=8)
    assert all(np.isfinite(row["loss"]) for row in history)
    assert all(k in history[0] for k in ("dyn", "rep", "decoder", "reward", "cost", "cont"))
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    path = save_model(model, tmp_path / "wm.pt", {"seed": 0})
    loaded, extra = load_model(path)
    assert extra == {"seed": 0}
    feat = torch.randn(5, model.feat_dim)
    torch.testing.assert_close(loaded.cost(feat), model.cost(feat))
    quality = prediction_quality(model, replay.episodes[:1], 3)
    assert quality["cost_auroc"].shape == (4,)


def test_planner_keeps_shifted_plan_and_bounds():
    model, _ = _tiny()
    settings = PlannerSettings(method="osrp", horizon=4, samples=16, elites=4, iterations=2)
    planner = Planner(model, settings, 2, torch.Generator().manual_seed(0))
    state = model.initial(1)
    a = planner.plan(state)
    assert a.shape == (2,) and float(a.abs().max()) <= 1.0
    assert planner.mean.shape == (5, 2) and 0.0 <= planner.last["safe_fraction"] <= 1.0
    with pytest.raises(ValueError, match="elites"):
        Planner(model, dataclasses.replace(settings, elites=32), 2)


def test_bsrp_actor_critic_few_updates():
    model, replay = _tiny()
    ac = ActorCritic(model, ACSettings(horizon=4, actor_lr=1e-3, critic_lr=1e-3, penalty_init=1e-2), 16, 1)
    before = [p.detach().clone() for p in ac.actor.parameters()]
    for _ in range(2):
        data = replay.sample(2, 8)
        with torch.no_grad():
            _, _, post = model.loss(data)
        metrics = ac.update({k: post[k].reshape(-1, post[k].shape[-1]) for k in ("deter", "stoch")})
    assert all(np.isfinite(v) for v in metrics.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, ac.actor.parameters()))
    assert all(p.requires_grad for p in model.parameters())  # the model is unfrozen again


# -- configs ------------------------------------------------------------------------------------------


def test_config_defaults_are_the_official_settings():
    cfg = SafeDreamerConfig()
    assert (cfg.deter, cfg.stoch, cfg.classes, cfg.units) == (256, 16, 16, 256)  # osrp_vector
    assert (cfg.horizon, cfg.samples, cfg.elites, cfg.iterations, cfg.momentum, cfg.init_std) == (15, 500, 50, 6, 0.1, 1.0)
    assert (cfg.cost_limit, cfg.cost_weight, cfg.episode_scale, cfg.repeat) == (2.0, 10.0, 1000.0, 5)
    assert (cfg.pid_kp, cfg.pid_ki, cfg.pid_kd, cfg.pid_max) == (0.1, 0.01, 0.01, 0.1)
    assert cfg.gamma == pytest.approx(1 - 1 / 333) and cfg.return_lambda == 0.95
    assert (cfg.model_lr, cfg.actor_lr, cfg.critic_lr, cfg.actent) == (1e-4, 3e-5, 3e-5, 3e-4)
    assert (cfg.lagrange_init, cfg.penalty_init, cfg.penalty_growth) == (1e-6, 5e-9, 1e-5)
    assert (cfg.batch_size, cfg.batch_length) == (16, 64)


def test_paper_and_gpu_profiles_keep_official_planner_and_sizes():
    for name in ("01_world_model", "02_planning", "03_bsrp_lag", "04_ablations"):
        spec = yaml.safe_load((NOTEBOOKS / f"{name}.yaml").read_text())
        for profile in ("gpu", "paper"):
            block = spec["profiles"][profile]
            for key in ("deter", "stoch", "classes", "units", "samples", "iterations", "elites", "horizon", "cost_limit"):
                assert key not in block, f"{name} {profile} overrides {key}"
        assert set(spec["timeout"]) >= {"test", "smoke", "gpu", "paper"}


def test_config_refusals_name_the_parameter():
    with pytest.raises(ConfigError, match="elites"):
        SafeDreamerConfig(samples=10, elites=20)
    with pytest.raises(ConfigError, match="cost_limit"):
        SafeDreamerConfig(cost_limit=-1.0)
    with pytest.raises(ConfigError, match="max_episode_steps"):
        SafeDreamerConfig(max_episode_steps=100)
    with pytest.raises(ConfigError, match="device"):
        SafeDreamerConfig(device="tpu")
    with pytest.raises(ConfigError, match="ablation_sizes"):
        SafeDreamerConfig(ablation_sizes=(100,))


# -- verdicts and claims ------------------------------------------------------------------------------


def test_verdicts_follow_their_criteria():
    assert verdicts.lower_cost_verdict([10, 12, 11], {"A": [1, 2, 1], "B": [0, 1, 0]})[0] == "shown"
    assert verdicts.lower_cost_verdict([10, 12, 11], {"A": [1, 2, 1], "B": [10, 13, 10]})[0] == "partly shown"
    assert verdicts.lower_cost_verdict([1, 2, 1], {"A": [10, 12, 11]})[0] == "contrary"
    assert verdicts.lower_cost_verdict([1], {"A": [0]})[0] == "not testable"
    assert verdicts.near_zero_verdict([0.0, 0.5, 0.2], 2.0, "X")[0] == "shown"
    assert verdicts.near_zero_verdict([0.0, 10.0, 0.2], 2.0, "X")[0] == "not shown"
    assert verdicts.keeps_reward_verdict([1, 1.1, 1.2], [1, 1.2, 1.1], [0, 0.1, 0], "X")[0] == "shown"
    assert verdicts.keeps_reward_verdict([0, 0.1, 0], [0, 0, 0], [0, 0.1, 0.05], "X")[0] == "not testable"
    a = np.full((3, 6), 0.9)
    assert verdicts.auroc_verdict(a, 5)[0] == "shown"
    a[:, 5] = [0.4, 0.6, 0.5]
    assert verdicts.auroc_verdict(a, 5)[0] == "partly shown"
    assert verdicts.auroc_verdict(np.full((3, 6), np.nan), 5)[0] == "not testable"
    assert verdicts.per_1000([{"cost": 5, "length": 100}], 5) == [10.0]


def test_claims_are_well_formed():
    ids = [c.id for c in claims.CLAIMS]
    assert len(ids) == len(set(ids))
    for c in claims.CLAIMS:
        assert c.notebook.startswith("safe-dreamer/") and (NOTEBOOKS / f"{c.notebook.split('/')[1]}.ipynb").exists()
    assert "shown" in VERDICTS


# -- every trainer on the device its config names (a stand-in GPU) -------------------------------------


def _test_cfg(name, tmp_path, **change):
    from alignbook.engine.config import resolve

    cfg = resolve(NOTEBOOKS / f"{name}.yaml", "test")
    return dataclasses.replace(cfg, run_dir=str(tmp_path / name), **change)


@pytest.fixture(scope="module")
def upstream_cpu(tmp_path_factory):
    """Notebook 1's world models and replays, trained on the CPU, for the planners and the actor-critic."""
    from alignbook.safe_dreamer import experiments

    cfg = _test_cfg("01_world_model", tmp_path_factory.mktemp("upstream"), seeds=1)
    Path(cfg.run_dir).mkdir(parents=True)
    experiments.world_model_experiment(cfg)
    return Path(cfg.run_dir)


def _on_gpu_check(path):
    """The saved world model or agent loads on the CPU (its tensors came back from the device to be saved)."""
    from alignbook.engine import checkpoints

    payload = checkpoints.load(path)
    flat = []
    stack = [payload]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, torch.Tensor):
            flat.append(item)
    assert flat and all(t.device.type == "cpu" for t in flat)


def test_world_model_experiment_runs_on_the_device(tmp_path, monkeypatch):
    from alignbook.engine import standin
    from alignbook.safe_dreamer import experiments

    monkeypatch.setenv("ALIGNBOOK_CORES", "1")  # units in this process, where the stand-in lives
    cfg = _test_cfg("01_world_model", tmp_path, seeds=1, device="cuda")
    Path(cfg.run_dir).mkdir(parents=True)
    with standin.stand_in_gpu():
        model = experiments.build_model(cfg, 6, 2)
        assert all(standin.on_gpu(p) for p in model.parameters())
        result = experiments.world_model_experiment(cfg)
    assert np.isfinite(result["history"][0][0]["loss"]) and len(result["quality"][0]["cost_auroc"]) == cfg.horizon + 1
    _on_gpu_check(Path(cfg.run_dir) / f"wm_{cfg.seed}.pt")


def test_planners_run_on_the_device(tmp_path, monkeypatch, upstream_cpu):
    from alignbook.engine import standin
    from alignbook.safe_dreamer import experiments

    monkeypatch.setenv("ALIGNBOOK_CORES", "1")
    cfg = _test_cfg("02_planning", tmp_path, seeds=1, device="cuda")
    Path(cfg.run_dir).mkdir(parents=True)
    with standin.stand_in_gpu():
        model, _ = experiments.upstream_model(upstream_cpu, cfg.seed, cfg)
        assert all(standin.on_gpu(p) for p in model.parameters())
        result = experiments.planning_experiment(cfg, upstream_cpu)
    for method in cfg.methods:
        rows = result["rows"][method][0]
        assert len(rows) == cfg.eval_episodes and np.isfinite(rows[0]["return"]) and np.isfinite(rows[0]["model_loss"])


def test_bsrp_lag_and_the_cost_weight_retraining_run_on_the_device(tmp_path, monkeypatch, upstream_cpu):
    from alignbook.engine import standin
    from alignbook.safe_dreamer import experiments

    monkeypatch.setenv("ALIGNBOOK_CORES", "1")
    cfg = _test_cfg("03_bsrp_lag", tmp_path, seeds=1, device="cuda")
    Path(cfg.run_dir).mkdir(parents=True)
    with standin.stand_in_gpu():
        result = experiments.bsrp_experiment(cfg, upstream_cpu, use_penalty=True)
    assert np.isfinite(result["history"][0][-1]["actor_loss"]) and len(result["rows"][0]) == cfg.eval_episodes
    _on_gpu_check(Path(cfg.run_dir) / f"bsrp_lag_{cfg.seed}.pt")
    cfg = _test_cfg("04_ablations", tmp_path, seeds=1, device="cuda", ablation_cost_weights=(10.0,))
    Path(cfg.run_dir).mkdir(parents=True)
    with standin.stand_in_gpu():
        weights = experiments.cost_weight_ablation(cfg, upstream_cpu)
    assert len(weights["10.0"][0]["cost_auroc"]) == cfg.horizon + 1


def test_notebook_1_refuses_a_missing_gpu_before_collecting_episodes(tmp_path, monkeypatch):
    from alignbook.engine import devices
    from alignbook.safe_dreamer import experiments

    def collect(*args, **kwargs):
        raise AssertionError("episodes were collected before the device was resolved")

    monkeypatch.setattr(devices, "visible_gpus", lambda: 0)
    monkeypatch.setattr(experiments, "collect", collect)
    cfg = _test_cfg("01_world_model", tmp_path, device="cuda")
    with pytest.raises(devices.DeviceUnavailable, match="device='cuda'"):
        experiments.world_model_experiment(cfg)
    for name in ("01_world_model", "02_planning", "03_bsrp_lag", "04_ablations"):
        spec = yaml.safe_load((NOTEBOOKS / f"{name}.yaml").read_text())
        assert [spec["profiles"][p]["device"] for p in ("test", "smoke", "gpu", "paper")] == ["cpu", "cpu", "cuda", "cuda"]


# -- estimates of the gpu and paper profiles (alignbook.engine.estimate) -------------------------------

SMALL = dict(deter=8, stoch=2, classes=2, units=8, layers=1, batch_size=4, batch_length=16, horizon=5,
             max_episode_steps=100, seeds=1)
"""Sizes for the hand-checked estimates: 100-step episodes at repeat 5 are 20 agent steps."""


def test_world_model_params_count_the_model():
    from alignbook.safe_dreamer.config import world_model_params
    from alignbook.safe_dreamer.world_model import ModelSizes, WorldModel

    for sizes in ((8, 2, 2, 8, 1), (256, 16, 16, 256, 2)):
        model = WorldModel(ModelSizes(60, 2, *sizes))
        assert world_model_params(*sizes) == sum(p.numel() for p in model.parameters())


def test_notebook_1_estimate_by_hand():
    from alignbook.safe_dreamer.config import WorldModelConfig, world_model_params

    cfg = WorldModelConfig(**SMALL, explore_episodes=1, heldout_episodes=1, model_steps=10)
    work = cfg.work()
    # 10 world-model steps of 244·16 + 574 + 290·1 = 4,768 ops; one held-out episode: posterior over its 20 steps
    # (108·20 + 170 + 30 = 2,360) and 5 open-loop steps (500) = 2,860; at 10 µs an op
    ops = 10 * 4768 + 2860
    # 2 episodes of 100 env steps at 1,000 a second
    assert work.other_seconds == pytest.approx(ops * 10e-6 + 200 / 1000)
    assert work.train_flops == 6 * world_model_params(8, 2, 2, 8, 1) * 4 * 16 * 10
    assert work.precision == "fp32"


def test_notebook_2_estimate_by_hand():
    from alignbook.safe_dreamer.config import PlanningConfig

    cfg = PlanningConfig(**SMALL, methods=("cem", "osrp"), samples=8, elites=2, iterations=2, eval_episodes=2,
                         online_updates=3, explore_episodes=4, ppo_lag_seeds=1)
    # 2 planners × 2 episodes × 20 actions, each 19 + 2·(78·5 + 65 + 18) = 965 planning ops + 150 acting ops
    planning = 2 * 2 * 20 * (965 + 150)
    # 3 world-model steps after each of the 4 episodes, 4,768 ops each
    online = 2 * 2 * 3 * 4768
    # 4 episodes of 100 env steps; PPO-Lag for (4 + 2) episodes' 600 env steps at 500 a second
    assert cfg.work().other_seconds == pytest.approx((planning + online) * 10e-6 + 400 / 1000 + 600 / 500)


def test_notebook_3_estimate_by_hand():
    from alignbook.safe_dreamer.config import BSRPConfig

    cfg = BSRPConfig(**SMALL, ac_steps=10, ac_starts=32, eval_episodes=1)
    # 2 agents × 10 updates: a posterior pass over 16 steps (108·16 + 170 + 30 = 1,928 ops) and the update
    # (225·5 + 374 + 244 = 1,743 ops); then 2 episodes of 20 actions at 150 ops
    ops = 2 * 10 * (1928 + 1743) + 2 * 20 * 150
    assert cfg.work().other_seconds == pytest.approx(ops * 10e-6 + 200 / 1000)


def test_notebook_4_estimate_by_hand():
    from alignbook.safe_dreamer.config import AblationConfig

    cfg = AblationConfig(**SMALL, samples=8, elites=2, iterations=2, eval_episodes=1, online_updates=0,
                         ablation_cost_limits=(0.0, 2.0), ablation_sizes=(4, 1, 8, 2), ablation_cost_weights=(1.0,),
                         ablation_model_steps=3, heldout_episodes=1)
    # planner arms at 2, 2 (the cost limits), 1 and 2 iterations (the sizes): 965 or 19 + 473 = 492 ops a plan,
    # + 150 acting, 20 actions each
    planning = 20 * (3 * (965 + 150) + (492 + 150))
    # one retrained world model: 3 steps of 4,768 ops, then its quality on one held-out episode (2,860 ops)
    ops = planning + 3 * 4768 + 2860
    # 4 planner episodes and 1 held-out episode of 100 env steps
    assert cfg.work().other_seconds == pytest.approx(ops * 10e-6 + 500 / 1000)
