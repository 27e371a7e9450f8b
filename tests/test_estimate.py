"""Estimates of time and device memory, checked on hand-computed values (issue: the GPU path)."""

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
