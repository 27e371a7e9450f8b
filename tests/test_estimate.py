"""Estimates of time and device memory, checked on hand-computed values (issue: the GPU path)."""

import dataclasses

import pytest

from alignbook.engine import estimate as est


def test_flop_counts_are_the_dense_transformer_rules():
    assert est.train_flops(1e9, 1e6) == 6e15
    assert est.infer_flops(135e6, 1000) == 2.7e11


def test_a_minute_of_training_at_the_stated_utilisation():
    work = est.Work(train_flops=989e12 * 0.35 * 60, resident_params=1e9, trainable_params=1e9)
    e = est.estimate(work, "gpu")
    assert e.seconds == pytest.approx(60.0)
    assert e.text().startswith("estimated: 60 s, ") and "one H100-80GB" in e.text()


def test_a_7b_full_fine_tune_fits_only_when_zero_3_shards_it_over_eight_gpus():
    # bf16 weights 2 B + fp32 gradients 4 B + fp32 master 4 B + Adam 8 B per parameter
    alone = est.Work(resident_params=7e9, trainable_params=7e9)
    assert est.state_bytes(alone) == 7e9 * 18
    assert not est.estimate(alone, "gpu").fits  # 7e9 * 18 B = 117 GiB (x 1.15) > 80 GiB
    sharded = est.Work(resident_params=7e9, trainable_params=7e9, devices=8, zero_stage=3)
    assert est.state_bytes(sharded) == pytest.approx(7e9 * 18 / 8)
    assert est.estimate(sharded, "paper").fits


def test_activations_follow_the_per_layer_rule():
    assert est.activation_bytes(batch=4, seq=512, hidden=4096, layers=32) == 34 * 512 * 4 * 4096 * 32
    assert est.activation_bytes(4, 512, 4096, 32, checkpointing=True) == 2 * 512 * 4 * 4096 * 32


def test_llama_parameter_counts_match_the_published_models():
    from alignbook.lm.sizes import llama_params, shape_of

    assert llama_params(32000, 4096, 32, 11008, 32, None, tied=False) == 6_738_415_616  # LLaMA-7B
    assert llama_params(49152, 576, 30, 1536, 9, 3, tied=True) == 134_515_008  # SmolLM2-135M
    assert shape_of("PKU-Alignment/alpaca-7b-reproduced").params == 6.74e9
    assert shape_of("toy-sft", "small").hidden == 128 and shape_of("someone/unknown-model") is None


def test_lm_work_counts_training_scoring_generation_and_steps():
    work = est.lm_work(1e6, 64, 2, train_tokens=1e3, forward_tokens=1e3, decode_tokens=10, steps=10)
    assert work.train_flops == 6e9 + 2e9 and work.infer_flops == 2e7
    assert work.other_seconds == pytest.approx(10 * est.STEP_OVERHEAD_S)
    assert work.activation_bytes == est.activation_bytes(1, 1, 64, 2, "fp32")
    assert "10 steps at 5 ms of overhead each" in work.notes


def test_fp32_work_runs_at_the_fp32_peak_not_tf32():
    # torch leaves TF32 matmuls off by default, and the book never turns them on
    e = est.estimate(est.Work(train_flops=66.9e12 * 0.35 * 60, precision="fp32"), "gpu")
    assert e.seconds == pytest.approx(60.0)


def test_a_launched_config_is_estimated_over_its_processes():
    from alignbook.safe_rlhf.config import ScoreModelConfig

    cfg = ScoreModelConfig(profile="paper", run_dir="unused", backbone="PKU-Alignment/alpaca-7b-reproduced",
                           bf16=True, zero_stage=3, gradient_checkpointing=True, seeds=1)
    one, eight = est.of_config(cfg, 1), est.of_config(cfg, 8)
    assert not one.fits and eight.fits and eight.seconds < one.seconds
    assert "ZeRO-3 over 8" in eight.text()
    assert est.of_config(dataclasses.replace(cfg, backbone="someone/unknown-model")) is None


def test_the_dry_run_describes_a_gpu_notebook_here_with_its_estimate(capsys, monkeypatch):
    from alignbook.engine import cli, devices

    monkeypatch.setattr(devices, "visible_gpus", lambda: 0)
    assert cli.main(["run", "safe-rlhf/02_reward_cost", "--profile", "gpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "needs a GPU, and none is visible here" in out
    assert "estimated: " in out and "on one H100-80GB" in out


def _gpu_notebooks():
    from alignbook.engine import runner

    return runner.all_notebooks()


@pytest.mark.parametrize("profile", ["gpu", "paper"])
def test_every_notebook_that_asks_for_a_gpu_has_an_estimate(profile, monkeypatch):
    """Issue 31, item 4: a `gpu` or `paper` notebook that puts torch work on a GPU says, before it runs,
    how long it will take and how much memory it needs; one that runs on the CPU says so instead."""
    from alignbook.engine import devices, runner
    from alignbook.engine.estimate import of_config

    monkeypatch.setattr(devices, "visible_gpus", lambda: 0)
    missing, over = [], []
    for job in runner.plan([], profile, check_devices=False):
        if not any(devices.wants_gpu(v) for v in devices.device_fields(job.config).values()):
            continue
        launch = (job.spec.get("launch") or {}).get(profile) or {}
        guess = of_config(job.config, int(launch.get("nprocs", 1)))
        if guess is None:
            missing.append(job.name)
        elif profile == "gpu" and guess.seconds > job.timeout:
            over.append(f"{job.name} ({guess.seconds:.0f} s > guard {job.timeout:.0f} s)")
    assert not missing, f"no estimate in the {profile} profile for: {', '.join(missing)}"
    assert not over, f"gpu estimates over their guards: {', '.join(over)}"


def test_the_dry_run_says_when_a_profile_runs_on_the_cpu(capsys):
    from alignbook.engine import cli

    assert cli.main(["run", "safety-gymnasium/02_ppo_vs_ppolag", "--profile", "gpu", "--dry-run"]) == 0
    assert "runs on the CPU in this profile" in capsys.readouterr().out
