"""Moderation: losses and metrics against hand-computed values, a few training steps, the
paper profile's settings, and (slow) beating the majority class on every head."""

import math

import numpy as np
import pytest
import torch

from alignbook.engine.config import ConfigError, resolve
from alignbook.pku_saferlhf.moderation import (
    ModerationConfig,
    ModerationResult,
    majority_baseline,
    moderation_loss,
    moderation_metrics,
    run_seeds,
    train_moderation,
)
from alignbook.data import toy_rows
from alignbook.engine.paths import notebooks_dir


def test_loss_matches_hand_computation():
    outputs = {
        "unsafe": torch.tensor([0.0]),
        "severity": torch.tensor([[0.0, 0.0, 0.0, 0.0]]),
        "categories": torch.zeros(1, 19),
    }
    labels = {"unsafe": torch.tensor([1.0]), "severity": torch.tensor([2]), "categories": torch.zeros(1, 19)}
    losses = moderation_loss(outputs, labels)
    assert losses["unsafe"].item() == pytest.approx(math.log(2))
    assert losses["severity"].item() == pytest.approx(math.log(4))
    assert losses["categories"].item() == pytest.approx(19 * math.log(2))  # summed over categories
    assert losses["total"].item() == pytest.approx(math.log(2) + math.log(4) + 19 * math.log(2))


def test_metrics_hand_computed():
    true_sev = np.array([0, 0, 1, 2, 3])
    true_cat = np.zeros((5, 19), dtype=bool)
    true_cat[2, 0] = true_cat[3, 1] = true_cat[4, 1] = True
    pred_unsafe = np.array([True, False, True, True, False])
    pred_sev = np.array([0, 0, 1, 1, 3])
    pred_cat = true_cat.copy()
    pred_cat[4, 1] = False
    m = moderation_metrics(true_sev, true_cat, pred_unsafe, pred_sev, pred_cat)
    assert m["binary_accuracy"] == pytest.approx(3 / 5)
    assert m["false_positive_rate"] == pytest.approx(1 / 2)
    assert (m["severity_accuracy_1"], m["severity_accuracy_2"], m["severity_accuracy_3"]) == (1.0, 0.0, 1.0)
    assert m["category_exact_match"] == pytest.approx(2 / 3)
    assert m["category_f1/Insulting Behavior"] == pytest.approx(2 * 1 / (2 * 1 + 0 + 1))
    base = majority_baseline(np.array([0, 0, 2]), np.zeros((3, 19), bool), true_sev, true_cat)
    assert base["binary_accuracy"] == pytest.approx(2 / 5) and base["false_positive_rate"] == 0.0


def test_a_few_steps_train_and_round_trip(tmp_path):
    cfg = ModerationConfig(train_size=48, test_size=16, epochs=1, batch_size=16, seeds=1, verbose=False)
    train, test = toy_rows("pku-saferlhf-qa", 48, 0), toy_rows("pku-saferlhf-qa", 16, 1)
    result = train_moderation(cfg, train, test, seed=0, output_dir=tmp_path / "run")
    assert all(np.isfinite(h["total"]) for h in result.history) and len(result.history) == 3
    loaded = ModerationResult.load(tmp_path / "run")
    assert loaded.metrics == pytest.approx(result.metrics, nan_ok=True)
    model = loaded.load_model()
    fresh, _ = __import__("alignbook.pku_saferlhf.moderation.train", fromlist=["build_model"]).build_model(cfg, 0)
    changed = any(not torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
    assert changed, "training did not change any parameter"


def test_bad_config_names_the_parameter():
    with pytest.raises(ConfigError, match="threshold"):
        ModerationConfig(threshold=1.5)
    with pytest.raises(ConfigError, match="dataset_schema"):
        ModerationConfig(dataset_schema="beavertails")


def test_paper_profile_uses_the_official_release():
    cfg = resolve(notebooks_dir() / "pku-saferlhf" / "02_moderation.yaml", "paper")
    assert cfg.dataset == "PKU-Alignment/PKU-SafeRLHF-QA"
    assert cfg.dataset_revision == "219fa024d11c79e28a2e2c444621d641b9689606"
    assert (cfg.train_size, cfg.test_size) == (149858, 4635)


@pytest.mark.slow
def test_beats_majority_on_every_head(tmp_path):
    cfg = ModerationConfig(train_size=1000, test_size=300, epochs=3, seeds=1, verbose=False, run_dir=str(tmp_path))
    results, baseline = run_seeds(cfg)
    m = results[0].metrics
    assert m["binary_accuracy"] > baseline["binary_accuracy"] + 0.2, (m, baseline)
    assert m["severity_accuracy"] > baseline["severity_accuracy"] + 0.2, (m, baseline)
    # the category head learns last: check both its exact match and its macro F1
    assert m["category_exact_match"] > baseline["category_exact_match"], (m, baseline)
    assert m["category_macro_f1"] > baseline["category_macro_f1"] + 0.05, (m, baseline)

def test_seeded_runs_reproduce_exactly():
    cfg = ModerationConfig(train_size=32, test_size=8, epochs=1, batch_size=16, seeds=1, verbose=False)
    train, test = toy_rows("pku-saferlhf-qa", 32, 0), toy_rows("pku-saferlhf-qa", 8, 1)
    first = train_moderation(cfg, train, test, seed=3)
    second = train_moderation(cfg, train, test, seed=3)
    assert [h["total"] for h in first.history] == [h["total"] for h in second.history]


# ------------------------------------------------------------------ verdicts on hand-made numbers
def test_moderation_verdicts_on_hand_made_numbers():
    from alignbook.pku_saferlhf import verdicts

    reaches = verdicts.paper_level_verdict("safe/unsafe accuracy", [0.97, 0.98, 0.99], 0.5, 0.93)
    assert reaches.word == "shown" and "98.0 ± 1.0 %" in reaches.sentence and "93.0 %" in reaches.sentence
    below = verdicts.paper_level_verdict("category set exact match", [0.40, 0.45, 0.50], 0.1, 0.713)
    assert below.word == "not shown" and "below the paper's level" in below.sentence
    floor = verdicts.paper_level_verdict("category set exact match", [0.10, 0.12, 0.08], 0.1, 0.713)
    assert floor.word == "not shown" and "majority class" in floor.sentence
    assert verdicts.paper_level_verdict("x", [0.99, 0.99], 0.5, 0.93).word == "not testable"  # 2 seeds
    assert verdicts.paper_level_verdict("x", [0.99], 0.5, 0.93).word == "not testable"

    binary, severity, category = [0.99, 0.98, 0.99], [0.6, 0.65, 0.62], [0.5, 0.55, 0.52]
    assert verdicts.ordering_verdict(binary, severity, category).word == "shown"
    assert verdicts.ordering_verdict(binary, [0.99, 0.98, 0.99], category).word == "partly shown"
    assert verdicts.ordering_verdict([0.5, 0.5, 0.5], [0.9, 0.9, 0.9], [0.9, 0.9, 0.9]).word == "contrary"


def test_moderation_table_has_no_nan_or_zero_spread_for_one_seed():
    from alignbook.pku_saferlhf import verdicts

    table = verdicts.moderation_table({"binary_accuracy": [0.9], "severity_accuracy_3": [float("nan")]},
                                      {"binary_accuracy": 0.5, "severity_accuracy_3": float("nan")},
                                      {"binary_accuracy": 0.93})
    text = table.to_string()
    assert "nan" not in text.lower() and "± 0" not in text and "90.0 %" in text and "–" in text


# ------------------------------------------------------------------ seeds as units, and the device
def test_run_seeds_gives_each_seed_what_training_it_alone_gives(tmp_path):
    """The seeds run as units of map_units; each one's numbers are those of training that seed by itself."""
    cfg = ModerationConfig(train_size=32, test_size=8, epochs=1, batch_size=16, seeds=2, verbose=False,
                           run_dir=str(tmp_path))
    results, baseline = run_seeds(cfg, output_dir=tmp_path / "models", workers=1)
    from alignbook.pku_saferlhf.moderation import load_qa_rows

    train, test = load_qa_rows(cfg)
    for seed, result in zip((0, 1), results):
        alone = train_moderation(cfg, train, test, seed=seed)
        assert [h["total"] for h in result.history] == [h["total"] for h in alone.history]
        assert result.metrics["binary_accuracy"] == alone.metrics["binary_accuracy"]
        assert ModerationResult.load(tmp_path / "models" / f"seed{seed}").metrics["seed"] == seed
    assert 0 <= baseline["binary_accuracy"] <= 1


def test_run_seeds_refuses_a_missing_gpu_before_drawing_any_data(monkeypatch, tmp_path):
    from alignbook.engine.devices import DeviceUnavailable
    from alignbook.pku_saferlhf.moderation import train as train_module

    def no_data(*args, **kwargs):
        raise AssertionError("the data were drawn before the device was checked")

    monkeypatch.setattr(train_module, "load_qa_rows", no_data)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailable, match="device='cuda'"):
        run_seeds(ModerationConfig(device="cuda", run_dir=str(tmp_path)))


def test_moderation_trains_and_predicts_on_the_device(monkeypatch, tmp_path):
    """Stand-in GPU: one training pass and the held-out evaluation with device='cuda', the model and every
    batch on it (a CPU tensor beside a cuda one raises DeviceMix), and the CPU's numbers."""
    import dataclasses

    from alignbook.engine import standin
    from alignbook.pku_saferlhf.moderation import train as train_module

    cfg = ModerationConfig(train_size=32, test_size=8, epochs=1, batch_size=16, seeds=1, verbose=False, device="cuda")
    train, test = toy_rows("pku-saferlhf-qa", 32, 0), toy_rows("pku-saferlhf-qa", 8, 1)
    cpu = train_moderation(dataclasses.replace(cfg, device="cpu"), train, test, seed=0)
    built = []
    real_build = train_module.build_model
    monkeypatch.setattr(train_module, "build_model", lambda *a, **k: built.append(real_build(*a, **k)) or built[-1])
    with standin.stand_in_gpu():
        gpu = train_moderation(cfg, train, test, seed=0, output_dir=tmp_path / "run")
    model = built[0][0]
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert [h["total"] for h in gpu.history] == [h["total"] for h in cpu.history]
    assert gpu.metrics["binary_accuracy"] == cpu.metrics["binary_accuracy"]
