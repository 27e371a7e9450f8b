"""pku-saferlhf/03_dual_preference's work() count (issue 31, item 4), checked by hand."""

import pytest

from alignbook.lm.sizes import shape_of
from alignbook.pku_saferlhf.dual import DualPreferenceConfig


def test_the_dual_preference_page_counts_three_score_models_a_seed():
    cfg = DualPreferenceConfig(run_dir="unused", seeds=2, epochs=1, train_size=20, eval_prompts=5, batch_size=8,
                               max_length=32, preset="tiny")
    n = shape_of("toy-scratch", "tiny").params
    runs = 3 * 2                                      # reward, cost, single; 2 seeds
    train = runs * 1 * 20 * 2 * 32                    # every pair: two sequences of 32 tokens
    # 8 held-out pairs scored after the epoch and at the end; 5 prompts x 7 candidate responses
    forward = runs * ((1 + 1) * 8 * 2 + 5 * 7) * 32
    work = cfg.work()
    assert work.train_flops == pytest.approx(6 * n * train + 2 * n * forward)
    assert work.other_seconds == pytest.approx(runs * 3 * 0.005)  # ceil(20 / 8) = 3 steps a model
