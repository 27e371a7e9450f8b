import pytest

from alignbook.engine.launch import launch, launch_command, ranks_that_ran, read_config, write_config
from alignbook.intro.machine import MachineConfig, train_tiny_lm


def test_config_file_round_trip(tmp_path):
    cfg = MachineConfig(profile="smoke", seed=3, run_dir=str(tmp_path), steps=7, zero_stage=3)
    assert read_config(write_config(cfg, tmp_path / "c.json")) == cfg


def test_launch_commands():
    cmd = launch_command("pkg.mod:train", "/r/config.json", 8, "deepspeed", port=1234)
    assert cmd[:5] == ["deepspeed", "--num_gpus", "8", "--master_port", "1234"]
    assert cmd[5:] == ["--module", "alignbook.engine.launch", "--entry", "pkg.mod:train", "--config", "/r/config.json"]
    cmd = launch_command("pkg.mod:train", "c.json", 4, "accelerate")
    assert cmd[:4] == ["accelerate", "launch", "--num_processes", "4"] and "-m" in cmd
    with pytest.raises(ValueError, match="launcher"):
        launch_command("a:b", "c", 2, "mpirun")


def test_in_process_launch_returns_metrics(tmp_path):
    cfg = MachineConfig(run_dir=str(tmp_path), steps=3, batch_size=2, verbose=False)
    metrics = launch("alignbook.intro.machine:train_tiny_lm", cfg, nprocs=1)
    assert metrics["world_size"] == 1 and not metrics["deepspeed"]


def test_seeded_cpu_runs_reproduce_exactly(tmp_path):
    a = train_tiny_lm(MachineConfig(run_dir=str(tmp_path / "a"), steps=4, batch_size=2, verbose=False))
    b = train_tiny_lm(MachineConfig(run_dir=str(tmp_path / "b"), steps=4, batch_size=2, verbose=False))
    c = train_tiny_lm(MachineConfig(seed=1, run_dir=str(tmp_path / "c"), steps=4, batch_size=2, verbose=False))
    assert a.column("loss") == b.column("loss")
    assert a.column("loss") != c.column("loss")


@pytest.mark.slow
def test_zero3_two_cpu_processes_train_tiny_lm(tmp_path):
    """DeepSpeed ZeRO-3 across 2 CPU processes: both ranks ran, the loss fell, weights were gathered."""
    from transformers import LlamaForCausalLM

    cfg = MachineConfig(run_dir=str(tmp_path), steps=25, zero_stage=3, verbose=False)
    metrics = launch("alignbook.intro.machine:train_tiny_lm", cfg, nprocs=2, launcher="deepspeed", timeout=600)
    ranks = ranks_that_ran(tmp_path)
    assert sorted(r["rank"] for r in ranks) == [0, 1]
    assert all(r["world_size"] == 2 for r in ranks)
    assert metrics["deepspeed"] is True and metrics["world_size"] == 2
    assert metrics["final_loss"] < metrics["initial_loss"] - 0.1
    model = LlamaForCausalLM.from_pretrained(tmp_path / "checkpoint")  # full (gathered) weights
    assert model.config.hidden_size == cfg.hidden_size
    assert all(p.numel() > 0 for p in model.parameters())
