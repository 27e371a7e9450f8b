"""Measure a notebook while it runs, from outside its code: step time, tokens/s, peak memory, MFU.

``alignbook.setup`` calls :func:`install` when ``ALIGNBOOK_PROBE`` names a file. The probe then
uses torch's global hooks, so no trainer needs code of its own:

- every optimiser step (``torch.optim.Optimizer`` post-step hook) is timed;
- every call of a Hugging Face model (the outermost ``PreTrainedModel`` of a call) counts its input
  tokens, as training tokens when gradients are on and as inference tokens otherwise, with the
  model's parameter count;
- every few seconds, and at exit, it writes one JSON record: the device, steps, the median step time,
  tokens per second (overall, and in steady state from the median step), the FLOPs those tokens imply (6·N per trained token, 2·N per inferred one: the
  standard dense-transformer estimate, which leaves out attention's own term), the peak device memory
  (``torch.cuda.max_memory_allocated``, else the process's peak resident set) and, on a GPU whose peak
  is known (:data:`PEAK_TFLOPS`), the model FLOPs utilisation (MFU).

The file is rewritten whole each time (atomic), so a notebook stopped by its guard (the device check
runs only the first minutes of each notebook) still leaves its last record. Used by
``tools/device/check.sh``; never part of a result (it changes no number).
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import statistics
import threading
import time
from pathlib import Path
from typing import Any

PEAK_TFLOPS = {"H100": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.5, "fp32": 66.9},
               "H200": {"bf16": 989.0, "fp16": 989.0, "tf32": 494.5, "fp32": 66.9},
               "A100": {"bf16": 312.0, "fp16": 312.0, "tf32": 156.0, "fp32": 19.5}}
"""Dense peak TFLOP/s from NVIDIA's data sheets (SXM parts, no sparsity), by name fragment."""

INTERVAL_S = 5.0
"""How often the record is rewritten."""


class _Probe:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.start = time.time()
        self.step_times: list[float] = []
        self.last_step: float | None = None
        self.train_tokens = 0
        self.infer_tokens = 0
        self.flops = 0.0
        self.params: dict[str, int] = {}
        self.depth = threading.local()
        self.lock = threading.Lock()
        self.last_write = 0.0

    # -- hooks -----------------------------------------------------------------------------------
    def after_step(self, optimizer: Any, args: Any, kwargs: Any) -> None:
        now = time.time()
        with self.lock:
            if self.last_step is not None:
                self.step_times.append(now - self.last_step)
            self.last_step = now
        self.maybe_write()

    def before_forward(self, module: Any, args: Any) -> None:
        import torch

        if isinstance(module, torch.nn.Embedding):
            self._count(module, args)
            return
        if not _is_hf_model(module):
            return
        depth = getattr(self.depth, "value", 0)
        self.depth.value = depth + 1
        if depth:
            return  # a model inside a model (LlamaForCausalLM -> LlamaModel): counted once
        name = type(module).__name__
        if name not in self.params:
            self.params[name] = sum(p.numel() for p in module.parameters())
        embedding = module.get_input_embeddings()
        self.depth.call = (id(embedding), self.params[name], torch.is_grad_enabled() and module.training)

    def _count(self, embedding: Any, args: Any) -> None:
        """Tokens enter a model through its input embedding: count them there, once per model call."""
        call = getattr(self.depth, "call", None)
        if call is None or call[0] != id(embedding) or not args:
            return
        self.depth.call = None
        tokens, (n, training) = int(args[0].numel()), call[1:]
        with self.lock:
            if training:
                self.train_tokens += tokens
                self.flops += 6.0 * n * tokens
            else:
                self.infer_tokens += tokens
                self.flops += 2.0 * n * tokens

    def after_forward(self, module: Any, args: Any, output: Any) -> None:
        if _is_hf_model(module):
            self.depth.value = max(0, getattr(self.depth, "value", 1) - 1)
            if self.depth.value == 0:
                self.depth.call = None

    # -- the record ------------------------------------------------------------------------------
    def record(self) -> dict[str, Any]:
        import torch

        elapsed = max(1e-9, time.time() - self.start)
        gpu = torch.cuda.is_available()
        name = torch.cuda.get_device_name(0) if gpu else "cpu"
        peak_mem = (torch.cuda.max_memory_allocated() if gpu else
                    resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
        with self.lock:
            times = list(self.step_times)
            out = {
                "device": name, "elapsed_s": round(elapsed, 1), "optimizer_steps": len(times) + (self.last_step is not None),
                "median_step_s": round(statistics.median(times), 4) if times else None,
                "train_tokens": self.train_tokens, "inference_tokens": self.infer_tokens,
                "tokens_per_s": round((self.train_tokens + self.infer_tokens) / elapsed, 1),
                "model_parameters": dict(self.params), "model_flops": self.flops,
                "achieved_tflops": round(self.flops / elapsed / 1e12, 3),
                "peak_memory_gib": round(peak_mem / 2**30, 2),
            }
        steps = out["optimizer_steps"]
        if steps and times and self.train_tokens:  # steady state: a training step's tokens over its median time
            per_step = self.train_tokens / steps
            n = max(self.params.values()) if self.params else 0
            out["steady_train_tokens_per_s"] = round(per_step / out["median_step_s"], 1)
            out["steady_tflops"] = round(6.0 * n * per_step / out["median_step_s"] / 1e12, 3)
        peak = peak_tflops(name, "bf16" if gpu else "fp32")
        achieved = out.get("steady_tflops", out["achieved_tflops"])
        out["mfu"] = round(achieved / peak, 4) if peak else None
        out["mfu_assumes"] = f"{peak} TFLOP/s bf16 dense peak of {name}" if peak else "no known peak for this device"
        return out

    def maybe_write(self, force: bool = False) -> None:
        now = time.time()
        if not force and now - self.last_write < INTERVAL_S:
            return
        self.last_write = now
        tmp = self.path.with_name(f".{self.path.name}.tmp")
        tmp.write_text(json.dumps(self.record(), indent=1))
        os.replace(tmp, self.path)


def _is_hf_model(module: Any) -> bool:
    try:
        from transformers import PreTrainedModel
    except ImportError:
        return False
    return isinstance(module, PreTrainedModel)


def peak_tflops(device_name: str, precision: str) -> float | None:
    """The data-sheet peak of a GPU named ``device_name`` at ``precision`` (None if unknown)."""
    for fragment, peaks in PEAK_TFLOPS.items():
        if fragment in device_name:
            return peaks.get(precision)
    return None


_INSTALLED: _Probe | None = None


def install(path: str | Path | None = None) -> _Probe | None:
    """Start probing into ``path`` (default: ``$ALIGNBOOK_PROBE``); a no-op when neither is set."""
    global _INSTALLED
    target = path or os.environ.get("ALIGNBOOK_PROBE")
    if not target or _INSTALLED is not None:
        return _INSTALLED
    import torch
    from torch.nn.modules.module import register_module_forward_hook, register_module_forward_pre_hook
    from torch.optim.optimizer import register_optimizer_step_post_hook

    probe = _Probe(Path(target))
    register_optimizer_step_post_hook(probe.after_step)
    register_module_forward_pre_hook(probe.before_forward)
    register_module_forward_hook(probe.after_forward)
    atexit.register(probe.maybe_write, True)

    def tick() -> None:
        while True:
            time.sleep(INTERVAL_S)
            probe.maybe_write(True)

    threading.Thread(target=tick, daemon=True, name="alignbook-probe").start()
    torch.cuda.reset_peak_memory_stats() if torch.cuda.is_available() else None
    _INSTALLED = probe
    return probe
