"""Safe RLHF benchmarks: reward-model training throughput (ours vs TRL), PPO-Lagrangian iteration
time, and (on a GPU) tokens/s and model-FLOPs utilisation of a ~1B Llama reward model.

Run as a module; each part prints one JSON line and, with ``--out``, appends it to a file::

    python -m alignbook.safe_rlhf.bench reward-cpu   # ours vs trl.RewardTrainer, same model & data
    python -m alignbook.safe_rlhf.bench ppo-cpu      # rollout + update seconds per iteration
    python -m alignbook.safe_rlhf.bench reward-gpu   # ~1B Llama, seq 1024, bf16: tokens/s and MFU

``reward-gpu --tiny`` runs the same code path with a toy-sized model (a CPU check of the script).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path
from typing import Any

import torch

PEAK_BF16_FLOPS = {"H100": 989e12, "H200": 989e12, "A100": 312e12}
"""Dense bf16 peak FLOP/s per GPU (NVIDIA data sheets, SXM parts, no sparsity)."""


def _device_info() -> dict[str, Any]:
    from alignbook.engine.repro import device_name

    return {"device": device_name(), "torch_threads": torch.get_num_threads()}


def _toy(preset: str, n_pairs: int):
    from alignbook.toyworld import ToyWorld, ToyWorldConfig

    world = ToyWorld(ToyWorldConfig(seed=0))
    return world, world.tokenizer(), world.sft_model(preset), world.preference_rows(n_pairs, seed=11)


def bench_reward_cpu(preset: str = "tiny", n_pairs: int = 512, batch_size: int = 16, max_length: int = 96,
                     with_trl: bool = True) -> dict[str, Any]:
    """Tokens/s of one reward-model epoch: ``train_reward_model`` vs ``trl.RewardTrainer``.

    Same backbone weights, same pairs (chosen = ``better_response_id``), same batch size, learning
    rate and max length, one thread each. Tokens are the non-padding tokens of both responses.
    """
    from alignbook.safe_rlhf import ScoreModel, train_reward_model
    from alignbook.safe_rlhf.config import ScoreModelConfig
    from alignbook.safe_rlhf.data import tokenize_pairs

    world, tok, sft, rows = _toy(preset, n_pairs)
    pairs = tokenize_pairs(rows, tok, "reward", max_length)
    tokens = sum(len(s) for s in pairs.high) + sum(len(s) for s in pairs.low)
    cfg = ScoreModelConfig(epochs=1, batch_size=batch_size, lr=1e-4, lr_scheduler="constant", warmup_ratio=0.0,
                           weight_decay=0.0, max_length=max_length, verbose=False, eval_size=1)
    out: dict[str, Any] = {"bench": "reward-cpu", "preset": preset, "pairs": n_pairs, "batch_size": batch_size,
                           "tokens": tokens, **_device_info()}
    torch.manual_seed(0)
    model = ScoreModel(world.sft_model(preset))
    start = time.perf_counter()
    train_reward_model(model, tok, rows, rows[:1], cfg)
    ours = time.perf_counter() - start
    out["alignbook_seconds"] = ours
    out["alignbook_tokens_per_s"] = tokens / ours
    if with_trl:
        out.update(_bench_trl(sft, tok, rows, batch_size, max_length, tokens))
    return out


def _bench_trl(sft, tok, rows, batch_size: int, max_length: int, tokens: int) -> dict[str, Any]:
    import tempfile

    from datasets import Dataset
    from transformers import LlamaForSequenceClassification
    from trl import RewardConfig, RewardTrainer

    from alignbook.safe_rlhf.data import PROMPT_TEMPLATE

    config = sft.config.__class__(**{**sft.config.to_dict(), "num_labels": 1})
    model = LlamaForSequenceClassification(config)
    missing = model.model.load_state_dict(sft.model.state_dict())  # same backbone weights as ours
    assert not missing.missing_keys
    data = []
    for r in rows:
        better = int(r["better_response_id"])
        prompt = PROMPT_TEMPLATE.format(input=r["prompt"])
        data.append({"chosen": prompt + " " + r[f"response_{better}"],
                     "rejected": prompt + " " + r[f"response_{1 - better}"]})
    with tempfile.TemporaryDirectory() as tmp:
        args = RewardConfig(output_dir=tmp, per_device_train_batch_size=batch_size, num_train_epochs=1,
                            learning_rate=1e-4, lr_scheduler_type="constant", max_length=max_length,
                            report_to=[], logging_steps=10**6, save_strategy="no", use_cpu=True,
                            dataloader_num_workers=0, disable_tqdm=True, seed=0)
        trainer = RewardTrainer(model=model, args=args, train_dataset=Dataset.from_list(data), processing_class=tok)
        from alignbook.lm import torch_threads

        with torch_threads(1):  # the same single thread our trainer picks for a tiny model
            start = time.perf_counter()
            trainer.train()
            seconds = time.perf_counter() - start
    import trl

    return {"trl_version": trl.__version__, "trl_seconds": seconds, "trl_tokens_per_s": tokens / seconds}


def bench_ppo_cpu(preset: str = "small", iterations: int = 5, batch: int = 16, max_new_tokens: int = 32) -> dict[str, Any]:
    """Seconds per PPO-Lagrangian iteration (rollout and the whole iteration) on the toy world."""
    from alignbook.safe_rlhf import ScoreModel
    from alignbook.safe_rlhf.config import PPOLagConfig
    from alignbook.safe_rlhf.ppo_lag import train_ppo_lag

    world, tok, sft, _ = _toy(preset, 1)
    reward, cost = ScoreModel(world.sft_model("tiny")), ScoreModel(world.sft_model("tiny"))
    prompts = [p.text for p in world.sample_prompts(256, seed=3)]
    cfg = PPOLagConfig(iterations=iterations, prompt_batch_size=batch, max_new_tokens=max_new_tokens,
                       temperature=0.7, verbose=False)
    torch.manual_seed(0)
    result = train_ppo_lag(sft, tok, reward, cost, prompts, cfg, judge=world.judge)
    hist = result.history[1:] or result.history  # the first iteration pays one-off warm-up
    return {"bench": "ppo-cpu", "policy_preset": preset, "score_preset": "tiny", "batch": batch,
            "max_new_tokens": max_new_tokens, "iterations": len(hist),
            "rollout_s": sum(h["rollout_s"] for h in hist) / len(hist),
            "iteration_s": sum(h["iteration_s"] for h in hist) / len(hist), **_device_info()}


def llama_1b_config(tiny: bool = False):
    """A ~1.1B-parameter Llama (TinyLlama-1.1B's shape), or a toy-sized one with ``tiny``."""
    from transformers import LlamaConfig

    if tiny:
        return LlamaConfig(vocab_size=512, hidden_size=64, intermediate_size=176, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=4, max_position_embeddings=1024,
                           pad_token_id=0)
    return LlamaConfig(vocab_size=32000, hidden_size=2048, intermediate_size=5632, num_hidden_layers=22,
                       num_attention_heads=32, num_key_value_heads=4, max_position_embeddings=2048,
                       pad_token_id=0, attn_implementation="sdpa")


def flops_per_token(config, n_params: int, seq_len: int) -> float:
    """Training FLOPs per token: 6·N for the weights plus 12·layers·hidden·seq for attention scores
    (the PaLM-paper estimate). Pass N without embeddings; a score model has no vocabulary head."""
    return 6 * n_params + 12 * config.num_hidden_layers * config.hidden_size * seq_len


def bench_reward_gpu(pairs_per_step: int = 8, seq_len: int = 1024, steps: int = 12, warmup: int = 3,
                     tiny: bool = False, compile_model: bool = False, gradient_checkpointing: bool = False) -> dict[str, Any]:
    """Reward-model training tokens/s and MFU of a ~1B Llama at ``seq_len`` (bf16 autocast, fused AdamW).

    Every sequence is full length (the throughput ceiling); one step = one forward/backward over
    ``2·pairs_per_step`` sequences and one optimiser step, exactly the reward loss of the chapter.
    """
    from transformers import LlamaModel

    from alignbook.safe_rlhf import ScoreModel, reward_loss

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch.manual_seed(0)
    config = llama_1b_config(tiny)
    model = ScoreModel(LlamaModel(config)).to(device)
    if gradient_checkpointing:
        model.gradient_checkpointing_enable()
    n_params = sum(p.numel() for p in model.parameters())
    fused = device == "cuda"
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-5, betas=(0.9, 0.95), fused=fused)
    step_fn = torch.compile(model) if compile_model else model
    ids = torch.randint(1, config.vocab_size, (2 * pairs_per_step, seq_len), device=device)
    mask = torch.ones_like(ids)
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    times = []
    for step in range(warmup + steps):
        if device == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.autocast(device_type=device, dtype=dtype, enabled=device == "cuda"):
            end = step_fn(ids, mask).end_scores
        better, worse = end.float().chunk(2)
        loss = reward_loss(better, worse)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if device == "cuda":
            torch.cuda.synchronize()
        if step >= warmup:
            times.append(time.perf_counter() - start)
    tokens_per_step = ids.numel()
    tokens_per_s = tokens_per_step / (sum(times) / len(times))
    # the embedding lookup does no matmul work, so MFU counts the non-embedding parameters
    matmul_params = n_params - config.vocab_size * config.hidden_size
    achieved = tokens_per_s * flops_per_token(config, matmul_params, seq_len)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "cpu"
    peak = next((v for k, v in PEAK_BF16_FLOPS.items() if k in name), None)
    return {"bench": "reward-gpu", "params": n_params, "seq_len": seq_len, "sequences_per_step": 2 * pairs_per_step,
            "tokens_per_s": tokens_per_s, "achieved_tflops": achieved / 1e12,
            "mfu": achieved / peak if peak else math.nan, "compile": compile_model,
            "gradient_checkpointing": gradient_checkpointing, "tiny": tiny,
            "max_memory_gb": torch.cuda.max_memory_allocated() / 2**30 if device == "cuda" else math.nan,
            **_device_info()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["reward-cpu", "ppo-cpu", "reward-gpu"])
    parser.add_argument("--pairs", type=int, default=512, help="reward-cpu: preference pairs in the epoch")
    parser.add_argument("--preset", default=None, help="toy-world preset (reward-cpu: tiny, ppo-cpu: small)")
    parser.add_argument("--iterations", type=int, default=5, help="ppo-cpu: iterations to time")
    parser.add_argument("--no-trl", action="store_true", help="reward-cpu: skip the TRL run")
    parser.add_argument("--tiny", action="store_true", help="reward-gpu: toy-sized model (checks the script)")
    parser.add_argument("--compile", action="store_true", help="reward-gpu: torch.compile the model")
    parser.add_argument("--pairs-per-step", type=int, default=8, help="reward-gpu: pairs per step")
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--out", default=None, help="append the JSON line to this file")
    args = parser.parse_args(argv)
    if args.what == "reward-cpu":
        result = bench_reward_cpu(args.preset or "tiny", args.pairs, with_trl=not args.no_trl)
    elif args.what == "ppo-cpu":
        result = bench_ppo_cpu(args.preset or "small", args.iterations)
    else:
        result = bench_reward_gpu(args.pairs_per_step, tiny=args.tiny, compile_model=args.compile,
                                  gradient_checkpointing=args.gradient_checkpointing,
                                  seq_len=64 if args.tiny else 1024, steps=3 if args.tiny else 12)
    line = json.dumps(result, default=str)
    print(line)
    if args.out:
        with Path(args.out).open("a") as fh:
            fh.write(line + "\n")


if __name__ == "__main__":
    main()
