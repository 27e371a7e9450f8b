"""intro/02_real_model's work() count (issue 31, item 4), checked against arithmetic written out by hand."""

import pytest

from alignbook.intro.real_model import RealModelConfig
from alignbook.lm.sizes import DECODE_LAYER_S


def test_the_real_model_survey_counts_generation_embedding_and_the_timed_steps():
    cfg = RealModelConfig(run_dir="unused", n_harmful=3, n_benign=2, max_new_tokens=10, batch_size=4,
                          train_step_batch=2, train_step_tokens=16, train_modes=("full", "lora"))
    n = 134.5e6  # SmolLM2-135M-Instruct: 30 blocks
    steps = 6 * n * (2 * 2 * 16)                 # two timed steps of 2 x 16 tokens
    prefill = 2 * n * (5 * 96)                   # 5 prompts at the assumed 96 tokens
    embedder = 2 * 22.7e6 * (5 * (96 + 10))      # every prompt and answer read once
    work = cfg.work()
    assert work.train_flops == pytest.approx(steps + prefill + embedder)
    assert work.infer_flops == pytest.approx(2 * n * 5 * 10)
    assert work.other_seconds == pytest.approx(2 * 0.005 + 2 * 10 * 30 * DECODE_LAYER_S)  # 2 batches x 10 tokens
    assert work.precision == "fp32"
