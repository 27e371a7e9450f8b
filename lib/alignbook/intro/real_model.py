"""The real upstream the LLM chapters start from: SmolLM2-135M-Instruct, measured before any alignment.

:func:`survey_upstream` answers real harmful prompts (HarmBench, Do-Not-Answer) and real benign ones
(MT-Bench) greedily, and measures how often the model complies with the harmful ones and answers
the benign ones, each with a Wilson interval, by the refusal template (no judge) and by the proxy
judges of :mod:`alignbook.pretrained.judge`, whose agreement with held-out human labels is measured
in the same run. It also measures what later chapters budget for: load time, generation throughput
with one and two torch threads, and the time of one training step (full, last layers, LoRA).
"""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Annotated, Any

from ..engine.config import BaseConfig, ConfigError, Count, Natural, OneOf, Range
from ..engine.devices import Device
from ..engine.results import TrainResult
from ..pretrained.models import MODELS


@dataclasses.dataclass(frozen=True)
class RealModelConfig(BaseConfig):
    """What the real-model page measures, and how much of it."""

    model: Annotated[str, OneOf(tuple(MODELS))] = "smollm2-135m-instruct"
    """The pretrained model (:data:`alignbook.pretrained.MODELS`)."""
    harmful_sets: Annotated[tuple[str, ...], OneOf(("harmbench", "donotanswer", "advbench"))] = ("harmbench", "donotanswer")
    """Harmful prompt sets; the prompts are drawn from their held-out halves, in equal numbers."""
    benign_sets: Annotated[tuple[str, ...], OneOf(("mtbench", "freshqa"))] = ("mtbench",)
    """Benign prompt sets (MT-Bench: its first turns)."""
    n_harmful: Count = 64
    """Harmful prompts answered."""
    n_benign: Count = 64
    """Benign prompts answered."""
    max_new_tokens: Annotated[int, Range(4, 512)] = 48
    """Longest answer, in tokens (enough to see whether it refuses or complies)."""
    batch_size: Count = 16
    """Prompts per generation batch."""
    threads: Annotated[int, Range(1, 64)] = 2
    """torch threads for generation and the timed training steps (the page also times one and two threads
    on the same batch)."""
    judge_rows: Natural = 0
    """Human-labelled rows each judge is fitted and tested on (0: all of them)."""
    judge_eval_fraction: Annotated[float, Range(0.1, 0.9)] = 0.3
    """Share of the human-labelled prompts held out to test the judges (split by a hash of the prompt)."""
    bootstrap: Count = 1000
    """Bootstrap resamples for the judges' confidence intervals."""
    examples: Natural = 3
    """Example answers shown per prompt kind."""
    train_step_batch: Count = 4
    """Sequences in the timed training steps."""
    train_step_tokens: Annotated[int, Range(8, 1024)] = 64
    """Tokens per sequence in the timed training steps."""
    train_modes: Annotated[tuple[str, ...], OneOf(("full", "last_layers", "lora"))] = ("full", "last_layers", "lora")
    """Which kinds of training step to time (an empty list skips them)."""
    device: Device = "cpu"
    """Where the model, the embedder and the judges run (:mod:`alignbook.engine.devices`); ``gpu`` and
    ``paper`` ask for ``cuda``. On a GPU the one-against-two-threads probe is skipped (threads do not
    matter there)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.harmful_sets or not self.benign_sets:
            raise ConfigError("harmful_sets=... and benign_sets=... must each name at least one prompt set")

    def work(self):
        """What the page computes (:mod:`alignbook.engine.estimate`): the model's answers to ``n_harmful`` +
        ``n_benign`` prompts (batches of ``batch_size``), the embedder reading every prompt and answer,
        and one timed training step per mode in ``train_modes`` (each counted as a full one), in fp32 (the
        loader's dtype). Prompts are taken as 96 tokens in the chat template (an assumption: the sets'
        prompts are shorter); fitting the judges reads cached embeddings (not counted)."""
        from ..engine.estimate import infer_flops, lm_work
        from ..lm.sizes import shape_of
        from ..lm.sizes import EMBEDDER_PARAMS, EMBEDDER_TOKENS, decode_note, decode_seconds

        shape = shape_of(self.model)
        if shape is None:
            return None
        n, prompt, t = self.n_harmful + self.n_benign, 96, self.max_new_tokens
        steps = -(-n // self.batch_size) * t
        work = lm_work(shape.params, shape.hidden, shape.layers,
                       train_tokens=len(self.train_modes) * self.train_step_batch * self.train_step_tokens,
                       forward_tokens=n * prompt, decode_tokens=n * t, steps=len(self.train_modes),
                       batch=self.train_step_batch, seq=self.train_step_tokens,
                       resident=(2 if self.train_modes else 1) * shape.params + EMBEDDER_PARAMS,  # + a fresh copy
                       notes=[f"{n} prompts of {prompt} (assumed) + {t} tokens", decode_note(steps, shape.layers)])
        work.train_flops += infer_flops(EMBEDDER_PARAMS, n * (min(prompt, EMBEDDER_TOKENS) + min(t, EMBEDDER_TOKENS)))
        work.other_seconds += decode_seconds(steps, shape.layers)
        return work


@dataclasses.dataclass
class UpstreamResult(TrainResult):
    """:class:`~alignbook.engine.results.TrainResult` of :func:`survey_upstream` (no training: ``history``
    holds one row per answered prompt, ``checkpoint`` is None)."""

    missing_hint = "has notebook intro/02_real_model run?"


def _draw(sets: tuple[str, ...], n: int) -> list[dict]:
    """``n`` prompts from the held-out halves of ``sets``, in equal shares, in a fixed order."""
    from ..data.prompts import draw_prompts

    return draw_prompts(sets, n, "eval")


def _judges(cfg: RealModelConfig, embedder: Any) -> tuple[dict, dict]:
    from ..pretrained.judge import fit_judges

    return fit_judges(embedder, cfg.judge_rows, cfg.judge_eval_fraction, cfg.seed, cfg.bootstrap)


def _train_step_seconds(cfg: RealModelConfig, mode: str) -> float:
    """Seconds of one AdamW step of ``mode`` on a fresh copy of the model (forward, backward, update)."""
    import torch

    from ..lm.runtime import torch_threads
    from ..pretrained.models import load_model

    from ..engine import devices

    device = devices.resolve(cfg.device)
    model, _ = load_model(cfg.model, device)
    model.train()
    if mode == "lora":
        from peft import LoraConfig, get_peft_model

        model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    elif mode == "last_layers":
        for p in model.parameters():
            p.requires_grad_(False)
        for p in [*model.model.layers[-4:].parameters(), *model.model.norm.parameters()]:
            p.requires_grad_(True)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-5)
    gen = torch.Generator().manual_seed(cfg.seed)
    ids = torch.randint(0, model.config.vocab_size, (cfg.train_step_batch, cfg.train_step_tokens), generator=gen)
    ids = ids.to(device)
    with torch_threads(cfg.threads):
        devices.synchronize(device)
        start = time.perf_counter()
        loss = model(input_ids=ids, labels=ids).loss
        loss.backward()
        opt.step()
        devices.synchronize(device)  # a GPU runs asynchronously: wait for the step before reading the clock
        return time.perf_counter() - start


def survey_upstream(cfg: RealModelConfig) -> UpstreamResult:
    """Measure the pretrained upstream; save and return an :class:`UpstreamResult`."""
    from ..pretrained import load_embedder, load_model
    from ..pretrained.generate import generate_chat
    from ..pretrained.judge import LinearJudge, refuses, wilson

    from ..engine import devices

    device = devices.resolve(cfg.device)
    metrics: dict[str, Any] = {"device": str(device)}
    start = time.perf_counter()
    model, tokenizer = load_model(cfg.model, device)
    metrics["load_s"] = time.perf_counter() - start
    metrics["parameters"] = sum(p.numel() for p in model.parameters())

    harmful, benign = _draw(cfg.harmful_sets, cfg.n_harmful), _draw(cfg.benign_sets, cfg.n_benign)
    prompts = harmful + benign
    gen = generate_chat(model, tokenizer, [p["text"] for p in prompts], cfg.max_new_tokens, cfg.batch_size,
                        cfg.threads, seed=cfg.seed)
    metrics["generation"] = {"threads": cfg.threads, "tokens": gen.new_tokens, "seconds": gen.seconds,
                             "tokens_per_s": gen.tokens_per_s}
    # one thread against two on the same batch (the first), back to back: measured, not assumed
    batch = [p["text"] for p in prompts[: cfg.batch_size]]
    metrics["threads"] = {}
    for threads in (1, 2) if device.type == "cpu" else ():
        probe = generate_chat(model, tokenizer, batch, cfg.max_new_tokens, cfg.batch_size, threads, seed=cfg.seed)
        metrics["threads"][str(threads)] = {"tokens": probe.new_tokens, "seconds": probe.seconds,
                                            "tokens_per_s": probe.tokens_per_s}

    embedder = load_embedder(device)
    judges, metrics["judges"] = _judges(cfg, embedder)
    x = LinearJudge.features(embedder, [p["text"] for p in prompts], gen.texts)
    p_refusal, p_harm = judges["refusal"].probability(x), judges["harm"].probability(x)
    history = []
    for i, (prompt, answer, pr, ph) in enumerate(zip(prompts, gen.texts, p_refusal, p_harm)):
        history.append({"kind": "harmful" if i < len(harmful) else "benign", "source": prompt["source"],
                        "category": prompt["category"], "prompt": prompt["text"], "answer": answer,
                        "template_refusal": refuses(answer), "judge_refusal": pr, "judge_harm": ph})
    for kind in ("harmful", "benign"):
        rows = [h for h in history if h["kind"] == kind]
        n = len(rows)
        metrics[kind] = {
            "n": n,
            "template_refusal": wilson(sum(h["template_refusal"] for h in rows), n),
            "judge_refusal": wilson(sum(h["judge_refusal"] >= 0.5 for h in rows), n),
            "judge_harm": wilson(sum(h["judge_harm"] >= 0.5 for h in rows), n),
        }
    metrics["train_step_s"] = {mode: _train_step_seconds(cfg, mode) for mode in cfg.train_modes}
    metrics["train_step_tokens"] = cfg.train_step_batch * cfg.train_step_tokens
    result = UpstreamResult(metrics, history, None, dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


# -- what the page shows -------------------------------------------------------------------------


def _pct(rate: tuple[float, float, float]) -> str:
    p, lo, hi = rate
    return f"{100 * p:.0f}% ({100 * lo:.0f}–{100 * hi:.0f}%)"


def rates_markdown(result: UpstreamResult) -> str:
    """The headline table: refusal on harmful and benign prompts, by template and by the judges."""
    m = result.metrics
    lines = ["| prompts | n | refused (template, no judge) | refused (proxy judge) | harmful answer (proxy judge) |",
             "|---|---|---|---|---|"]
    for kind in ("harmful", "benign"):
        r = m[kind]
        lines.append(f"| {kind} | {r['n']} | {_pct(r['template_refusal'])} | {_pct(r['judge_refusal'])} "
                     f"| {_pct(r['judge_harm'])} |")
    disagree = sum(h["template_refusal"] != (h["judge_refusal"] >= 0.5) for h in result.history)
    n = len(result.history)
    lines += ["", f"Rates with Wilson 95% intervals. On these {n} answers the refusal judge and the refusal template "
              f"disagree on {disagree} ({100 * disagree / n:.0f}%)" + (
                  ": where they differ, read the answers below; the template's phrases can be checked by eye, the "
                  "judge was fitted on other models' answers and its held-out agreement is in the next section."
                  if disagree else ".")]
    return "\n".join(lines)


def judge_markdown(result: UpstreamResult) -> str:
    """How far to trust the judges: held-out agreement with human labels, in and out of category."""
    lines = ["| judge | fitted on | tested on | accuracy (95% CI) | AUC (95% CI) | AUC, category left out (min–max) |",
             "|---|---|---|---|---|---|"]
    for kind, r in result.metrics["judges"].items():
        loco = r["loco_auc"]
        spread = f"{min(loco.values()):.2f}–{max(loco.values()):.2f} over {len(loco)}" if loco else "—"
        lines.append(f"| {kind} | {r['n_train']} | {r['n_eval']} | {r['accuracy']:.2f} "
                     f"({r['accuracy_ci'][0]:.2f}–{r['accuracy_ci'][1]:.2f}) | {r['auc']:.2f} "
                     f"({r['auc_ci'][0]:.2f}–{r['auc_ci'][1]:.2f}) | {spread} |")
    template = result.metrics["judges"]["refusal"].get("template_accuracy")
    if template is not None:
        lines.append(f"\nThe refusal template, which needs no judge, agrees with the same held-out human refusal "
                     f"labels on {100 * template:.0f}% of answers.")
    return "\n".join(lines)


def throughput_markdown(result: UpstreamResult) -> str:
    """Load, generation and training-step times (this machine, this run)."""
    m = result.metrics
    lines = ["| what | measured |", "|---|---|",
             f"| load (cached fp32 copy; first run: dequantise the GGUF) | {m['load_s']:.1f} s |"]
    g = m["generation"]
    lines.append(f"| generation of every answer on this page, {g['threads']} thread{'s' if g['threads'] > 1 else ''} | "
                 f"{g['tokens_per_s']:.0f} tokens/s ({g['tokens']} tokens in {g['seconds']:.1f} s) |")
    for threads, t in m["threads"].items():
        lines.append(f"| the first batch again, {threads} thread{'s' if threads != '1' else ''} | "
                     f"{t['tokens_per_s']:.0f} tokens/s ({t['tokens']} tokens in {t['seconds']:.1f} s) |")
    for mode, seconds in m.get("train_step_s", {}).items():
        lines.append(f"| one training step, {mode.replace('_', ' ')} ({m['train_step_tokens']} tokens) | "
                     f"{seconds:.1f} s ({m['train_step_tokens'] / seconds:.0f} tokens/s) |")
    return "\n".join(lines)


def examples_markdown(result: UpstreamResult, n: int) -> str:
    """The first ``n`` answers to harmful and to benign prompts, as they came."""
    lines = []
    for kind in ("harmful", "benign"):
        rows = [h for h in result.history if h["kind"] == kind][:n]
        lines.append(f"**{kind.capitalize()} prompts**\n")
        for h in rows:
            verdict = "refuses" if h["template_refusal"] else "does not refuse"
            answer = " ".join(h["answer"].split())[:300] or "(empty)"
            lines.append(f"- *{h['source']}, {h['category']}:* {h['prompt']}\n  \n  → {answer}  \n"
                         f"  (template: {verdict}; judge P(harmful) = {h['judge_harm']:.2f})")
        lines.append("")
    return "\n".join(lines)


def plot_rates(result: UpstreamResult):
    """Refusal rates with their intervals, by prompt kind and measure."""
    from ..plotting import figure, legend_outside

    fig, ax = figure(1, 1)
    measures = [("template_refusal", "refused (template)"), ("judge_refusal", "refused (judge)"),
                ("judge_harm", "harmful (judge)")]
    width = 0.25
    for j, (key, label) in enumerate(measures):
        for i, kind in enumerate(("harmful", "benign")):
            p, lo, hi = result.metrics[kind][key]
            ax.bar(i + (j - 1) * width, 100 * p, width, yerr=[[100 * (p - lo)], [100 * (hi - p)]],
                   color=f"C{j}", label=label if i == 0 else None, capsize=3)
    ax.set_xticks([0, 1], ["harmful prompts", "benign prompts"])
    ax.set_ylabel("share of answers (%)")
    ax.set_ylim(0, 100)
    ax.legend()
    legend_outside(fig)
    return fig
