"""The introduction's trainers on the device their profile names (issue 31), checked on the stand-in GPU."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch
import yaml

from alignbook.engine import devices, standin
from alignbook.intro.machine import MachineConfig, train_tiny_lm

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "intro"


def tiny(tmp_path, device):
    return MachineConfig(profile="test", run_dir=str(tmp_path / device.replace(":", "")), steps=3, batch_size=2,
                         seq_len=8, hidden_size=8, seed=0, verbose=False, device=device)


def test_the_tiny_trainer_trains_on_the_device_with_the_cpus_numbers(tmp_path):
    cpu = train_tiny_lm(tiny(tmp_path, "cpu"))
    with standin.stand_in_gpu():
        seen = []
        hook = torch.nn.modules.module.register_module_forward_pre_hook(
            lambda module, args: seen.extend(a.device.type for a in args if isinstance(a, torch.Tensor)))
        try:
            gpu = train_tiny_lm(tiny(tmp_path, "cuda"))
        finally:
            hook.remove()
    assert seen and set(seen) == {"cuda"}  # every module saw its inputs on the device
    assert gpu.history == cpu.history and gpu.metrics == cpu.metrics
    saved = json.loads((tmp_path / "cuda" / "result.json").read_text())
    assert saved["config"]["device"] == "cuda"


def test_the_tiny_trainer_refuses_a_missing_gpu_before_building_a_model(tmp_path, monkeypatch):
    monkeypatch.setattr(devices, "visible_gpus", lambda: 0)
    with pytest.raises(devices.DeviceUnavailable, match="cuda"):
        train_tiny_lm(tiny(tmp_path, "cuda"))


def test_the_intro_gpu_profiles_ask_for_a_gpu():
    for name in ("01_machine", "02_real_model"):
        spec = yaml.safe_load((NOTEBOOKS / f"{name}.yaml").read_text())
        assert [spec["profiles"][p].get("device", "cpu") for p in ("test", "smoke", "gpu", "paper")] == \
            ["cpu", "cpu", "cuda", "cuda"], name


def test_a_timed_training_step_of_the_real_model_runs_on_the_device(monkeypatch):
    from alignbook.intro import real_model

    cfg = real_model.RealModelConfig(profile="test", run_dir="unused", train_step_batch=1, train_step_tokens=8,
                                     device="cuda")
    devices_seen = []
    with standin.stand_in_gpu():
        hook = torch.nn.modules.module.register_module_forward_pre_hook(
            lambda module, args: devices_seen.extend(a.device.type for a in args if isinstance(a, torch.Tensor)))
        try:
            seconds = real_model._train_step_seconds(cfg, "last_layers")
        finally:
            hook.remove()
    assert seconds > 0
    assert devices_seen and set(devices_seen) == {"cuda"}
