import math

import pytest
import torch

from alignbook.engine.distributed import cosine_schedule, deepspeed_config, wrap


def _linear(seed=0):
    torch.manual_seed(seed)
    return torch.nn.Linear(3, 1)


def test_grad_accumulation_equals_one_big_batch():
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    big, small = _linear(), _linear()
    e_big = wrap(big, lr=0.1, betas=(0.9, 0.95))
    e_small = wrap(small, lr=0.1, betas=(0.9, 0.95), grad_accum=2)
    e_big.backward(torch.nn.functional.mse_loss(big(x), y))
    assert e_big.step() is True
    for half in (slice(0, 4), slice(4, 8)):
        e_small.backward(torch.nn.functional.mse_loss(small(x[half]), y[half]))
        stepped = e_small.step()
    assert stepped and e_small.global_step == 1
    for a, b in zip(big.parameters(), small.parameters()):
        torch.testing.assert_close(a, b)


def test_first_adamw_step_moves_each_weight_by_lr():
    model = _linear()
    before = [p.detach().clone() for p in model.parameters()]
    engine = wrap(model, lr=0.01)
    engine.backward(model(torch.ones(1, 3)).sum())
    engine.step()
    for b, p in zip(before, model.parameters()):
        # Adam's first step is lr * sign(grad) (bias-corrected m/sqrt(v) = ±1, eps negligible)
        torch.testing.assert_close((b - p).abs(), torch.full_like(p, 0.01), atol=1e-6, rtol=1e-4)


def test_cosine_schedule_shape():
    f = cosine_schedule(warmup_steps=2, total_steps=12)
    assert f(0) == 0.0 and f(1) == pytest.approx(0.5) and f(2) == pytest.approx(1.0)
    assert f(7) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert f(12) == pytest.approx(0.0) and f(50) == pytest.approx(0.0)


def test_max_grad_norm_clips(monkeypatch):
    seen = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(params, max_norm):
        params = list(params)
        original(params, max_norm)
        seen.append(torch.cat([p.grad.flatten() for p in params]).norm().item())

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    model = _linear()
    engine = wrap(model, lr=1.0, max_grad_norm=1e-3)
    engine.backward(1e6 * model(torch.ones(1, 3)).sum())
    engine.step()
    assert seen and seen[0] == pytest.approx(1e-3, rel=1e-3)


def test_no_weight_decay_on_biases_and_norms():
    model = torch.nn.Sequential(torch.nn.Linear(3, 3), torch.nn.LayerNorm(3))
    engine = wrap(model, lr=0.1, weight_decay=0.5)
    decay = {id(p): g["weight_decay"] for g in engine.optimizer.param_groups for p in g["params"]}
    assert decay[id(model[0].weight)] == 0.5
    assert decay[id(model[0].bias)] == decay[id(model[1].weight)] == decay[id(model[1].bias)] == 0.0


def test_zero_stage_is_ignored_in_one_process():
    engine = wrap(_linear(), lr=0.1, zero_stage=3)
    assert not engine.uses_deepspeed and engine.world_size == 1 and engine.is_main


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="grad_accum"):
        wrap(_linear(), lr=0.1, grad_accum=0)
    with pytest.raises(ValueError, match="zero_stage"):
        wrap(_linear(), lr=0.1, zero_stage=4)


def test_deepspeed_config_batch_arithmetic(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    cfg = deepspeed_config(zero_stage=3, bf16=True, grad_accum=8, micro_batch_size=4, max_grad_norm=1.0)
    assert cfg["train_batch_size"] == 4 * 8 * 2
    assert cfg["zero_optimization"]["stage"] == 3 and cfg["bf16"]["enabled"] and cfg["gradient_clipping"] == 1.0
