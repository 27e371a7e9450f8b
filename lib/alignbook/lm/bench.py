"""Measure training and sampling speed of the presets on this machine, to size a profile.

``python -m alignbook.lm.bench`` prints one row per preset. Numbers depend on the CPU, its load
and the thread count, so each row says which it used; ``tokens/cpu-s`` divides by the CPU time
the process actually got, which on a shared machine estimates what an idle one would do.
"""

from __future__ import annotations

import argparse
import time

import torch

from .data import IGNORE_INDEX
from .models import PRESETS, build_causal_lm, count_parameters
from .runtime import auto_threads, torch_threads
from .sft import causal_lm_loss


class _VocabOnly:
    """Just enough of a tokenizer to build a model of a given vocabulary size."""

    pad_token_id, bos_token_id, eos_token_id = 0, 1, 2

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def __len__(self) -> int:
        return self.vocab_size


def sft_throughput(
    preset: str,
    vocab_size: int = 2048,
    seq_len: int = 128,
    batch_size: int = 32,
    steps: int = 5,
    threads: int | None = None,
    device: str = "cpu",
) -> dict:
    """Tokens per second of full training steps (forward, backward, AdamW) on random tokens."""
    model = build_causal_lm(preset, _VocabOnly(vocab_size), seed=0).to(device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95))
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, vocab_size, (batch_size, seq_len), generator=gen).to(device)
    mask = torch.ones_like(ids)
    labels = ids.clone()
    labels[:, : seq_len // 2] = IGNORE_INDEX  # SFT: half the positions are prompt
    chosen = auto_threads(model, threads)
    with torch_threads(chosen):
        timings, cpu_timings = [], []
        for step in range(steps + 1):  # step 0 warms up allocators and kernels
            started, cpu_started = time.perf_counter(), time.process_time()
            loss = causal_lm_loss(model(input_ids=ids, attention_mask=mask).logits, labels)
            loss.backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            if device.startswith("cuda"):
                torch.cuda.synchronize()
            if step:
                timings.append(time.perf_counter() - started)
                cpu_timings.append(time.process_time() - cpu_started)
        used_threads = torch.get_num_threads()
    seconds = sorted(timings)[len(timings) // 2]  # median: robust to other jobs on a shared CPU
    cpu_seconds = sorted(cpu_timings)[len(cpu_timings) // 2]
    return {
        "preset": preset,
        "parameters": count_parameters(model),
        "vocab_size": vocab_size,
        "batch_size": batch_size,
        "seq_len": seq_len,
        "device": device,
        "threads": used_threads,
        "step_s": seconds,
        "tokens_per_s": batch_size * seq_len / seconds,
        # tokens per second of CPU time this process got: with one thread, about what an
        # otherwise idle core would do (wall-clock numbers on a shared machine are lower)
        "tokens_per_cpu_s": batch_size * seq_len / cpu_seconds,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--presets", nargs="+", default=list(PRESETS))
    parser.add_argument("--vocab-size", type=int, default=2048)
    parser.add_argument("--seq-len", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[None])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    from ..engine.repro import device_name

    print(f"# {device_name()}; load average {open('/proc/loadavg').read().split()[:3]}")
    for preset in args.presets:
        for threads in args.threads:
            row = sft_throughput(
                preset, args.vocab_size, args.seq_len, args.batch_size, args.steps, threads, args.device
            )
            print(
                f"{row['preset']:6s} params={row['parameters']:>11,d} threads={row['threads']} "
                f"batch={row['batch_size']}x{row['seq_len']} step={row['step_s']*1000:8.1f} ms "
                f"tokens/s={row['tokens_per_s']:9.0f} tokens/cpu-s={row['tokens_per_cpu_s']:9.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
