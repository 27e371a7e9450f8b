"""The toy world of the resist-alignment chapter: exact probabilities and KL, fresh optimizers, reproducibility."""

import dataclasses
import itertools
import json
import math

import pytest
import torch

from alignbook.engine.config import ConfigError
from alignbook.lm.runtime import torch_threads
from alignbook.resist_alignment import toy

TINY = dict(n_prompts=3, vocab=3, length=2, b_tokens=1, widths=(4, 8), depths=(1, 1), heads=2,
            pretrain_amounts=(64, 128), pretrain_batch=32, align_samples=16, align_epochs=2, align_batch=8,
            inverse_steps=6, inverse_batch=8, knee_window=2, reference_size=0, seeds=2)


@pytest.fixture(autouse=True)
def one_thread():
    """Models this small run much faster on one torch thread (see alignbook.lm.runtime)."""
    with torch_threads(1):
        yield


def cfg(**kw):
    return toy.ToyElasticityConfig(**{**TINY, **kw})


def test_response_space_is_every_sequence_once():
    r = toy.all_responses(3, 2)
    assert r.shape == (9, 2)
    assert {tuple(x) for x in r.tolist()} == set(itertools.product(range(3), repeat=2))
    assert toy.all_responses(4, 1).shape == (4, 1)


def test_source_rows_sum_to_one_with_the_behaviour_prior():
    c = cfg(prior_a=0.7)
    table = toy.make_source(c, 0.7, seed=3)
    assert torch.allclose(table.sum(-1), torch.ones(c.n_prompts, dtype=torch.float64))
    b = toy.behaviour_b(c)
    assert torch.allclose(table[:, b].sum(-1), torch.full((c.n_prompts,), 0.3, dtype=torch.float64))
    # the shifted source keeps the order inside each behaviour, only the prior changes
    shifted = toy.make_source(c, 0.5, seed=3)
    assert torch.equal(table[:, ~b].argsort(-1), shifted[:, ~b].argsort(-1))


def test_exact_sequence_probabilities_sum_to_one():
    c = toy.ToyElasticityConfig()  # the full default space: 125 responses
    model = toy.build_model(c, 0, seed=1)
    logp = toy.exact_logprobs(model, c.n_prompts, toy.all_responses(c.vocab, c.length))
    assert logp.shape == (c.n_prompts, c.vocab ** c.length)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(c.n_prompts, dtype=torch.float64), atol=1e-5)


def test_exact_kl_equals_an_explicit_loop_and_is_zero_on_itself():
    c = cfg()
    responses = toy.all_responses(c.vocab, c.length)
    m1, m2 = toy.build_model(c, 0, seed=1), toy.build_model(c, 0, seed=2)
    lp, lq = toy.exact_logprobs(m1, c.n_prompts, responses), toy.exact_logprobs(m2, c.n_prompts, responses)
    kl = toy.exact_kl(lp, lq)
    for prompt in range(c.n_prompts):
        total = 0.0
        for seq in itertools.product(range(c.vocab), repeat=c.length):
            # probability of the sequence token by token, straight from the model's softmax
            p = q = 1.0
            for pos in range(c.length):
                prefix = torch.tensor([list(seq)])
                with torch.no_grad():
                    p *= math.exp(float(m1(torch.tensor([prompt]), prefix)[0, pos, seq[pos]]))
                    q *= math.exp(float(m2(torch.tensor([prompt]), prefix)[0, pos, seq[pos]]))
            total += p * math.log(p / q)
        assert float(kl[prompt]) == pytest.approx(total, rel=1e-4, abs=1e-7)
    assert torch.all(kl > 0)
    assert torch.allclose(toy.exact_kl(lp, lp), torch.zeros(c.n_prompts, dtype=torch.float64))


def test_kl_from_a_source_table_matches_exact_kl_and_skips_zero_mass():
    table = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]], dtype=torch.float64)
    logq = torch.log(torch.tensor([[0.25, 0.25, 0.5], [0.2, 0.3, 0.5]], dtype=torch.float64))
    kl = toy.kl_from_table(table, logq)
    assert float(kl[0]) == pytest.approx(math.log(2))
    assert float(kl[1]) == pytest.approx(0.0)


def test_training_steps_change_parameters_and_reduce_loss():
    c = cfg()
    responses = toy.all_responses(c.vocab, c.length)
    model = toy.build_model(c, 1, seed=0)
    before = [p.detach().clone() for p in model.parameters()]
    prompts = torch.tensor([0, 1, 2, 0])
    batch = responses[torch.tensor([0, 4, 8, 1])]
    opt = toy.fresh_optimizer(model, 1e-2)
    losses = [toy.train_step(model, opt, prompts, batch) for _ in range(20)]
    assert losses[-1] < losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_every_phase_starts_with_a_fresh_optimizer():
    c = cfg()
    model = toy.build_model(c, 0, seed=0)
    a, b = toy.fresh_optimizer(model, 1e-3), toy.fresh_optimizer(model, 1e-3)
    assert a is not b and len(a.state) == 0
    _, _, logs = toy.run_seed(c, seed=0)
    assert logs["pretrain_s0"] == 0 and logs["pretrain_shifted"] == 0
    for name, phases in logs.items():
        if isinstance(phases, dict):
            assert phases == {"align": 0, "inverse": 0}, name


def test_knee_step_finds_the_slow_down():
    b = [1.0, 0.8, 0.6, 0.4, 0.38, 0.37, 0.37, 0.37]
    assert toy.knee_step(b, fraction=0.2, window=1) == 4
    assert toy.knee_step([0.5] * 5, fraction=0.2, window=1) == 4  # never falls: the last step


def test_half_return_interpolates_between_steps():
    import numpy as np

    kl = np.array([1.0, 0.8, 0.4, 0.2])
    assert toy.half_return_samples(kl, np.array([0.0, 10.0, 20.0, 30.0])) == pytest.approx(10 + 10 * 0.3 / 0.4)
    assert math.isnan(toy.half_return_samples(np.array([1.0, 0.9, 0.8]), np.array([0.0, 1.0, 2.0])))


def test_t_interval_and_its_sign():
    ci = toy.t_interval([1.0, 1.5, 2.0])
    assert ci["mean"] == pytest.approx(1.5)
    assert ci["half"] == pytest.approx(4.303 * 0.5 / math.sqrt(3))
    assert toy.sign_of(ci) == 1
    assert toy.sign_of(toy.t_interval([-1.0, 1.0])) == 0
    assert toy.sign_of(toy.t_interval([-3.0, -2.0, -2.5])) == -1
    assert toy.t_quantile(4) == pytest.approx(2.776)


def test_config_rejects_bad_combinations():
    with pytest.raises(ConfigError, match="b_tokens"):
        cfg(b_tokens=3)
    with pytest.raises(ConfigError, match="heads"):
        cfg(widths=(4, 6), heads=4)
    with pytest.raises(ConfigError, match="pretrain_batch"):
        cfg(pretrain_amounts=(64, 100))
    with pytest.raises(ConfigError, match="shifted_prior_a"):
        cfg(prior_a=0.5, shifted_prior_a=0.5)


def test_seeded_runs_reproduce_exactly_and_verdicts_come_from_the_numbers(tmp_path):
    c1 = cfg(run_dir=str(tmp_path / "a"))
    r1, r2 = toy.run_toy(c1), toy.run_toy(dataclasses.replace(c1, run_dir=str(tmp_path / "b")))
    assert json.dumps(r1.history) == json.dumps(r2.history)  # NaN-safe exact equality
    assert json.dumps(r1.metrics["pipelines"]) == json.dumps(r2.metrics["pipelines"])
    names = {r["pipeline"] for r in r1.metrics["pipelines"]}
    assert names == {"s0_n64", "s0_n128", "s1_n64", "s1_n128", "shifted", "foreign"}
    # the verdict follows the interval: flipping the measured contrast flips the words
    s = r1.metrics["summary"]
    fake = dict(s["contrasts"], amount_effect={"mean": 0.1, "half": 0.05, "lo": 0.05, "hi": 0.15, "n": 3})
    assert toy.verdicts(c1, s["per_pipeline"], fake, s["main"])["amount_effect"].startswith("Shown")
    fake["amount_effect"] = {"mean": -0.1, "half": 0.05, "lo": -0.15, "hi": -0.05, "n": 3}
    assert toy.verdicts(c1, s["per_pipeline"], fake, s["main"])["amount_effect"].startswith("Contrary")
    for table in (toy.grid_markdown(r1), toy.controls_markdown(r1), toy.contrasts_markdown(r1),
                  toy.verdicts_markdown(r1)):
        assert "nan" not in table.lower() and "tensor(" not in table and "e-0" not in table  # formatted, no reprs
    loaded = toy.ToyElasticityResult.load(tmp_path / "a")
    assert loaded.metrics["summary"]["verdicts"] == s["verdicts"]


def test_the_toy_trains_and_measures_on_the_gpu(tmp_path, monkeypatch):
    from alignbook.engine import standin

    built = []
    real_build = toy.build_model
    monkeypatch.setattr(toy, "build_model", lambda *a, **k: built.append(real_build(*a, **k)) or built[-1])
    monkeypatch.setenv("ALIGNBOOK_CORES", "1")  # units in this process, where the stand-in GPU is
    c = cfg(seeds=2, inverse_steps=4, run_dir=str(tmp_path), device="cuda")
    with standin.stand_in_gpu():
        result = toy.run_toy(c)
    trained = [m for m in built if any(p.device.type == "cuda" for p in m.parameters())]
    assert trained and all(p.device.type == "cuda" for m in trained for p in m.parameters())
    assert all(math.isfinite(r["kl_theta0_end"]) for r in result.metrics["pipelines"])


def test_the_estimate_counts_weights_and_steps_by_hand():
    from alignbook.resist_alignment.toy import ToyElasticityConfig, build_model

    cfg = ToyElasticityConfig(profile="test", run_dir="unused", seeds=2, n_prompts=3, vocab=3, length=2, b_tokens=1,
                              widths=(4,), depths=(1,), heads=2, pretrain_amounts=(64,), pretrain_batch=32,
                              align_samples=16, align_epochs=2, align_batch=8, inverse_steps=6, inverse_batch=8,
                              knee_window=2, reference_size=0)
    # embeddings (3 + 3)·4 + 2·4; one block 12·16 + 13·4; final norm 2·4; head 4·3 + 3
    assert cfg.model_params(0) == 24 + 8 + 244 + 8 + 15 == sum(p.numel() for p in build_model(cfg, 0, 0).parameters())
    work = cfg.work()
    # per seed: 2 pre-training runs (original, shifted) of 64/32 = 2 steps; 3 pipelines (1 grid + 2 controls) of
    # 2 × ⌈16/8⌉ = 4 alignment steps, 6 inverse steps and 8 exact distributions (counted as steps)
    assert work.other_seconds == pytest.approx(2 * (2 * 2 + 3 * (4 + 6 + 6 + 2)) * 0.005)
    per_pipeline = 6 * 299 * (4 * 8 + 6 * 8) * 2 + 2 * 299 * 8 * (3 * 3 ** 2) * 2
    assert work.train_flops == pytest.approx(2 * (2 * 6 * 299 * 2 * 32 * 2 + 3 * per_pipeline))
