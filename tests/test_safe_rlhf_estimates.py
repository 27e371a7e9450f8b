"""The Safe RLHF notebooks' work() counts (issue 31, item 4), checked against arithmetic written out by hand.

Toy prompts are TOY_PROMPT_TOKENS = 25 tokens, a toy PTX batch TOY_PTX_TOKENS = 56 tokens wide; with
max_new_tokens = 8 (max_length 512) a rollout is 25 + 8 = 33 tokens.
"""

import pytest

from alignbook.lm.sizes import DECODE_LAYER_S, shape_of
from alignbook.safe_rlhf import config as C

N = shape_of("toy-sft", "tiny").params  # 166,208 weights: hidden 64, 2 blocks
SMALL = dict(run_dir="unused", preset="tiny", iterations=3, prompt_batch_size=4, max_new_tokens=8, eval_prompts=6)


def test_the_toy_sizes_the_counts_assume():
    assert (C.TOY_PROMPT_TOKENS, C.TOY_PTX_TOKENS) == (25, 56) and N == 166_208


def test_ppo_lag_counts_rollouts_six_scoring_passes_three_updates_ptx_and_two_evaluations():
    work = C.PPOLagConfig(seeds=2, **SMALL).work()
    # one run: 3 iterations x 4 prompts of 33 tokens
    train = 3 * (3 * 4 * 33 + 4 * 56)                      # actor + 2 critics trained, PTX batch = 1860
    forward = 3 * 4 * (25 + 6 * 33) + 2 * 6 * (25 + 2 * 33)  # prefill + 6 scorers; before/after, 2 scorers = 3768
    decode = 3 * 4 * 8 + 2 * 6 * 8                          # rollouts + evaluations = 192
    assert (train, forward, decode) == (1860, 3768, 192)
    assert work.train_flops == pytest.approx(6 * N * 2 * train + 2 * N * 2 * forward)  # 2 seeds
    assert work.infer_flops == pytest.approx(2 * N * 2 * decode)
    # 4 optimiser steps an iteration; 3 x 8 + 2 x 8 = 40 generation steps a seed
    steps, decode_steps = 2 * 3 * 4, 2 * (3 * 8 + 2 * 1 * 8)
    assert work.other_seconds == pytest.approx(steps * 0.005 + decode_steps * 2 * DECODE_LAYER_S)
    assert (work.resident_params, work.trainable_params) == (6 * N, 3 * N)
    assert work.precision == "fp32" and work.devices == 1


def test_ppo_lag_under_the_launcher_counts_every_process():
    one = C.PPOLagConfig(seeds=1, **SMALL).work()
    launched = C.PPOLagConfig(seeds=1, zero_stage=3, bf16=True, device="cuda", **SMALL).work()
    assert launched.devices == 8 and launched.train_flops == pytest.approx(8 * one.train_flops)
    assert launched.precision == "bf16"


def test_the_ablation_counts_each_variant_with_its_critics_and_score_models():
    work = C.AblationConfig(seeds=1, nus=(1.0,), **SMALL).work()
    ppo = (3 * (2 * 4 * 33 + 4 * 56), 3 * 4 * (25 + 4 * 33) + 2 * 6 * 91)     # 1 critic, reward model only
    shaped = (3 * (2 * 4 * 33 + 4 * 56), 3 * 4 * (25 + 5 * 33) + 2 * 6 * 91)  # 1 critic, reward and cost models
    lag = (3 * (3 * 4 * 33 + 4 * 56), 3 * 4 * (25 + 6 * 33) + 2 * 6 * 91)
    lag_no_ptx = (3 * 3 * 4 * 33, lag[1])
    train = ppo[0] + shaped[0] + lag[0] + lag_no_ptx[0]
    forward = ppo[1] + shaped[1] + lag[1] + lag_no_ptx[1]
    assert (train, forward) == (5976, 13884)
    assert work.train_flops == pytest.approx(6 * N * train + 2 * N * forward)


def test_the_results_rounds_count_sampling_score_retraining_and_ppo_lag():
    cfg = C.ResultsConfig(rounds=1, pairs_per_round=10, score_epochs=1, score_batch_size=4, **SMALL)
    # pairs: 2 samples of 10 prompts; score models: 9 training pairs (2 x 33 tokens), 1 held out, scored twice
    score_train = 2 * 1 * 9 * 2 * 33
    score_forward = 2 * 10 * 25 + 2 * (1 + 1) * 1 * 2 * 33
    judged = 6 * 25 + 6 * 25                       # the SFT policy once, the policy after the round (no scorers)
    ppo_train, ppo_forward = 3 * (3 * 4 * 33 + 4 * 56), 3 * 4 * (25 + 6 * 33)
    train, forward = score_train + ppo_train, score_forward + judged + ppo_forward
    assert (train, forward) == (3048, 3740)
    assert cfg.work().train_flops == pytest.approx(6 * N * train + 2 * N * forward)
    nothing = C.ResultsConfig(run_dir="unused", rounds=0).work()
    assert nothing.train_flops == nothing.infer_flops == nothing.other_seconds == 0


def test_the_sft_page_only_generates_with_the_base_and_the_sft_model():
    work = C.SFTStageConfig(run_dir="unused", preset="tiny", eval_prompts=70, max_new_tokens=10).work()
    assert work.train_flops == pytest.approx(2 * N * (2 * 70 * 25))   # prefill of both models
    assert work.infer_flops == pytest.approx(2 * N * (2 * 70 * 10))
    assert work.other_seconds == pytest.approx(2 * 2 * 10 * 2 * DECODE_LAYER_S)  # 2 models x 2 batches x 10 steps
    assert work.trainable_params == 0


def test_the_real_model_page_counts_policy_critics_and_embedder():
    from alignbook.lm.sizes import llama_params
    from alignbook.safe_rlhf.real import RealPPOLagConfig

    cfg = RealPPOLagConfig(run_dir="unused", seeds=1, iterations=2, prompt_batch_size=2, max_new_tokens=8,
                           max_prompt_tokens=16, critic_hidden=16, critic_layers=1, eval_harmful=2, eval_benign=2,
                           train_benign=1)
    n = 134.5e6
    critic = (2 * 16 * 16 + 2 * 16 * 16 + 3 * 16 * 32 + 2 * 16) + 16 + 49152 * 16  # one block, norm, embedding
    assert critic == llama_params(49152, 16, 1, 32, 1) == 789_040
    seq, greedy = 16 + 8, (1 + 1) * 4 + 1                 # θ0 and one seed judge 4 prompts; 1 PTX demonstration
    # trained: RL and PTX batches; forward: prefill, the policy and its reference, the greedy answers' prefill
    policy = 6 * n * (2 * 2 * 2 * seq) + 2 * n * (2 * 2 * (16 + 2 * seq) + greedy * 16)
    critics = 6 * 2 * critic * (2 * 2 * seq) + 2 * 2 * critic * (2 * 2 * seq)
    embedder = 2 * 22.7e6 * ((2 * 2 * 2 + greedy) * (16 + 8))  # two proxy scorers per rollout, one read per answer
    assert cfg.work().train_flops == pytest.approx(policy + critics + embedder)


def test_bf16_counts_only_on_a_gpu():
    assert C.trainer_precision(True, "cuda") == C.trainer_precision(True, "cuda:1") == "bf16"
    assert C.trainer_precision(True, "cpu") == C.trainer_precision(False, "cuda") == "fp32"


def test_the_score_models_estimate_says_the_precision_the_trainer_uses():
    cpu = C.ScoreModelConfig(run_dir="unused", bf16=True).work()
    gpu = C.ScoreModelConfig(run_dir="unused", bf16=True, device="cuda").work()
    assert (cpu.precision, gpu.precision) == ("fp32", "bf16")
