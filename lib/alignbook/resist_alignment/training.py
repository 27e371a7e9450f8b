"""Fine-tuning a real pretrained chat model in phases, and the exact quantities the chapter measures.

Every phase of the chapter (alignment, forward, inverse) is :func:`fine_tune`: the same
masked next-token loss on the answer tokens, a **fresh** AdamW optimiser per phase (reusing the
previous phase's moments carries its momentum into the next one: in a pilot run the gap
kept *growing* for 60 samples of inverse training), a seeded data order, and only the top
``train_layers`` decoder layers plus the final norm trained. Because the lower layers are frozen
and shared, a *slice* of a run is just the state of those top layers (:func:`snapshot`), and a
model is moved between slices with :func:`restore`.

What is measured is computed from log-probabilities, with no sampling:

- :func:`answer_nll`: the mean per-token negative log-likelihood of given answers (teacher forced);
- :func:`token_kl`: the exact per-token KL divergence KL(p_ref(· | context) ‖ p_θ(· | context)) over
  the whole vocabulary, at every answer position of fixed contexts. Summed over positions and
  averaged over contexts drawn from p_ref it is the sequence-level KL (the chain rule; the tests
  check this against brute-force enumeration on a tiny model).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Annotated, Any, Iterable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ..engine.config import BaseConfig, ConfigError, Count, OneOf, Range
from ..engine.devices import Device
from ..lm.data import IGNORE_INDEX, collate
from ..stats import t_quantile_975
from ..lm.runtime import torch_threads
from ..lm.sft import labelled_logits
from ..pretrained.generate import chat_texts
from ..pretrained.models import MODELS

Example = dict[str, list[int]]

HARMFUL_SETS = ("donotanswer", "harmbench", "advbench")
"""Real harmful prompt sets the chapter draws from (:mod:`alignbook.data.prompts`)."""


@dataclasses.dataclass(frozen=True)
class RealModelPhases(BaseConfig):
    """What the chapter's real-model notebooks share: the model, its prompts, how each phase trains."""

    model: Annotated[str, OneOf(tuple(MODELS))] = "smollm2-135m-instruct"
    """The pretrained model θ0 (:data:`alignbook.pretrained.MODELS`)."""
    harmful_sets: Annotated[tuple[str, ...], OneOf(HARMFUL_SETS)] = HARMFUL_SETS
    """Real harmful prompt sets: the prompts trained on come from their train halves, the prompts measured on
    from their held-out halves."""
    batch_size: Count = 8
    """Sequences per training step (every phase)."""
    train_layers: Annotated[int, Range(1, 64)] = 4
    """Top decoder layers of the pretrained model trained (with the final norm); the rest stay frozen."""
    max_prompt_tokens: Annotated[int, Range(8, 512)] = 48
    """Prompts are cut to this many tokens before the chat template."""
    max_new_tokens: Annotated[int, Range(4, 256)] = 32
    """Longest answer a model writes (and longest answer trained on), in tokens."""
    seeds: Annotated[int, Range(1, 20)] = 3
    """Independent repetitions (which prompts, data order; the control's initial weights)."""
    threads: Annotated[int, Range(1, 64)] = 2
    """torch CPU threads inside every phase (a parameter of the result: the last bits of a matrix product
    depend on it). Each seed is a unit of :func:`alignbook.engine.parallel.map_units`; the chapter runs
    ``cores // threads`` of them side by side."""
    device: Device = "cpu"
    """Where the models, every batch and every generated answer live (``cuda`` in the ``gpu`` profile)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if not self.harmful_sets:
            raise ConfigError("harmful_sets=[] leaves no prompts; name at least one set")


TEMPLATE_TOKENS = 16
"""Tokens the chat template adds around a prompt and an answer (an assumption of the estimates)."""


def phase_work(cfg: RealModelPhases, *, train_rows: float, forward_rows: float, decode_steps: int,
               decode_rows: float, steps: int, notes: list[str]):
    """The :class:`alignbook.engine.estimate.Work` of a real-model notebook, fp32 (as it trains): ``train_rows``
    sequences trained and ``forward_rows`` scored, each of ``max_prompt_tokens + max_new_tokens`` tokens plus
    :data:`TEMPLATE_TOKENS` (an upper bound); ``decode_rows`` answers generated in ``decode_steps`` batched
    steps; the top ``train_layers`` blocks train (backward 4 FLOPs a trained weight and token, forward 2 a weight)."""
    from ..engine.estimate import lm_work
    from ..lm.sizes import block_params, decode_note, decode_seconds, shape_of

    shape = shape_of(cfg.model)
    if shape is None:
        return None
    seq = cfg.max_prompt_tokens + cfg.max_new_tokens + TEMPLATE_TOKENS
    trainable = block_params(cfg.model, cfg.train_layers)
    share = trainable / shape.params
    work = lm_work(shape.params, shape.hidden, shape.layers, train_tokens=train_rows * seq * share,
                   forward_tokens=(train_rows * (1 - share) + forward_rows) * seq,
                   decode_tokens=decode_rows * cfg.max_new_tokens, steps=steps, batch=cfg.batch_size, seq=seq,
                   trainable=trainable,
                   notes=notes + [f"sequences of {seq} tokens (an upper bound), top {cfg.train_layers} of {shape.layers} "
                                  "blocks trained, fp32", decode_note(decode_steps, shape.layers)])
    work.other_seconds += decode_seconds(decode_steps, shape.layers)
    return work


UNIT_MEMORY_MB = 2000
"""Peak memory of one seed of a real-model notebook (SmolLM2-135M, its optimiser, the reference
distributions): what :func:`alignbook.engine.parallel.map_units` plans workers by."""


def unit_workers(cfg: RealModelPhases, n_units: int, log: Any = print) -> int:
    """Worker processes for ``n_units`` seeds of a real-model notebook: as many as the cores allow at
    ``cfg.threads`` torch threads each, and as fit in memory at :data:`UNIT_MEMORY_MB` each."""
    from ..engine.parallel import cores, plan_workers

    return max(1, min(plan_workers(n_units, UNIT_MEMORY_MB, log), cores() // cfg.threads))


# -- data ------------------------------------------------------------------------------------------

def encode_chat(tokenizer: Any, prompt: str, answer: str, max_prompt_tokens: int = 48,
                max_answer_tokens: int = 32) -> Example:
    """One ``(prompt, answer)`` pair in the model's chat template, labels on the answer only.

    The prompt is cut to its first ``max_prompt_tokens`` tokens before templating; the answer to
    ``max_answer_tokens`` tokens, followed by the end-of-turn token unless it was cut (a model
    should not learn to stop mid-answer).
    """
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"][:max_prompt_tokens]
    prompt = tokenizer.decode(prompt_ids)
    context = tokenizer(chat_texts(tokenizer, [prompt])[0], add_special_tokens=False)["input_ids"]
    answer_ids = tokenizer(answer.strip(), add_special_tokens=False)["input_ids"]
    if len(answer_ids) >= max_answer_tokens:
        answer_ids = answer_ids[:max_answer_tokens]
    else:
        answer_ids = answer_ids + [tokenizer.eos_token_id]
    ids = context + answer_ids
    return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": [IGNORE_INDEX] * len(context) + answer_ids}


def encode_all(tokenizer: Any, pairs: Iterable[tuple[str, str]], max_prompt_tokens: int = 48,
               max_answer_tokens: int = 32) -> list[Example]:
    return [encode_chat(tokenizer, p, a, max_prompt_tokens, max_answer_tokens) for p, a in pairs]


def chunks(items: Sequence[Any], size: int):
    for i in range(0, len(items), size):
        yield items[i:i + size]


# -- the frozen trunk, computed once ---------------------------------------------------------------
#
# With only the top layers trained, the lower ("trunk") layers compute the same hidden states for a
# text in every slice of a run. :func:`with_trunk` computes them once per example; every later
# forward pass (training steps, log-probabilities, KL) then runs only the top layers on them. The
# numbers equal the full model's (a test checks it); a training step costs about 2.5 times less.

def _top_index(model: Any) -> int:
    """Index of the first trainable decoder layer (all layers from it on must train, none below)."""
    flags = [any(p.requires_grad for p in layer.parameters()) for layer in model.model.layers]
    if not any(flags):
        raise ValueError("the model has no trainable layer; call trainable_parameters first")
    first = flags.index(True)
    if not all(flags[first:]):
        raise ValueError("trainable layers must be the top ones, contiguous")
    return first


def _trunk_tag(model: Any, first: int) -> tuple[int, int]:
    return (id(model.model.layers[0]), first)


@torch.no_grad()
def with_trunk(model: Any, examples: Sequence[Example], pad_token_id: int, batch_size: int = 16,
               threads: int = 2) -> list[dict]:
    """The examples with ``"trunk"``: the hidden states entering the first trainable layer.

    Right padding and causal attention make a row's states independent of the other rows, so they
    are computed in padded batches and stored unpadded.
    """
    first = _top_index(model)
    captured: list[torch.Tensor] = []
    hook = model.model.layers[first].register_forward_pre_hook(
        lambda module, args, kwargs: captured.append(args[0] if args else kwargs["hidden_states"]),
        with_kwargs=True)
    out = []
    try:
        with torch_threads(threads):
            for part in chunks(examples, batch_size):
                batch = {k: v.to(model.device) for k, v in collate(part, pad_token_id).items()}
                captured.clear()
                model.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"])
                states = captured[0]
                for row, example in enumerate(part):
                    n = len(example["input_ids"])
                    out.append({**example, "trunk": states[row, :n].clone(), "trunk_of": _trunk_tag(model, first)})
    finally:
        hook.remove()
    return out


def _top_labelled_logits(model: Any, items: Sequence[dict], pad_token_id: int):
    """:func:`alignbook.lm.sft.labelled_logits` from cached trunk states: the top layers only."""
    from transformers.masking_utils import create_causal_mask

    first = _top_index(model)
    if any(item.get("trunk_of") != _trunk_tag(model, first) for item in items):
        raise ValueError("these trunk states were computed by another model or another set of trainable layers")
    batch = collate([{k: item[k] for k in ("input_ids", "attention_mask", "labels")} for item in items], pad_token_id)
    device = items[0]["trunk"].device
    batch = {k: v.to(device) for k, v in batch.items()}
    width = batch["input_ids"].shape[1]
    hidden = torch.zeros(len(items), width, model.config.hidden_size, device=device, dtype=items[0]["trunk"].dtype)
    for row, item in enumerate(items):
        hidden[row, :item["trunk"].shape[0]] = item["trunk"]
    position_ids = torch.arange(width, device=device).unsqueeze(0)
    mask = create_causal_mask(config=model.config, inputs_embeds=hidden, attention_mask=batch["attention_mask"],
                              cache=None, position_ids=position_ids)
    position_embeddings = model.model.rotary_emb(hidden, position_ids=position_ids)
    for layer in model.model.layers[first:]:
        hidden = layer(hidden, attention_mask=mask, position_embeddings=position_embeddings, position_ids=position_ids)
    hidden = model.model.norm(hidden)
    labels = batch["labels"]
    predicts = labels[:, 1:] != IGNORE_INDEX
    logits = model.lm_head(hidden[:, :-1][predicts])
    return logits, labels[:, 1:][predicts], predicts


def logits_of(model: Any, items: Sequence[dict], pad_token_id: int):
    """Logits at the positions predicting answer tokens, their targets and where they are: from the
    cached trunk when the items carry one (:func:`with_trunk`), else from the full model."""
    if all("trunk" in item for item in items):
        return _top_labelled_logits(model, items, pad_token_id)
    return labelled_logits(model, collate([{k: item[k] for k in ("input_ids", "attention_mask", "labels")}
                                           for item in items], pad_token_id))


# -- which weights train, and slices of a run ------------------------------------------------------

def trainable_parameters(model: Any, train_layers: int) -> dict[str, torch.nn.Parameter]:
    """Freeze everything but the top ``train_layers`` decoder layers and the final norm; return those.

    The (tied) embedding and output projection stay frozen, so the lower layers and the vocabulary
    geometry are shared by every slice of a run.
    """
    layers = model.model.layers
    if not 1 <= train_layers <= len(layers):
        raise ValueError(f"train_layers={train_layers} must be between 1 and the model's {len(layers)} layers")
    for p in model.parameters():
        p.requires_grad_(False)
    first = len(layers) - train_layers
    chosen = {}
    for name, p in model.named_parameters():
        parts = name.split(".")
        top = parts[:2] == ["model", "layers"] and int(parts[2]) >= first
        if top or name.startswith("model.norm."):
            p.requires_grad_(True)
            chosen[name] = p
    return chosen


def snapshot(model: Any) -> dict[str, torch.Tensor]:
    """A copy of the trainable weights: what distinguishes one slice of a run from another."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def restore(model: Any, state: dict[str, torch.Tensor]) -> None:
    """Put a :func:`snapshot` back into ``model`` (in place)."""
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in state.items():
            params[name].copy_(tensor)


# -- one phase of fine-tuning ----------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class PhaseSettings:
    """The hyperparameters of one phase; forward and inverse runs of a pair share one instance."""

    steps: int
    """Optimiser steps."""
    batch_size: int
    """Sequences per step."""
    lr: float
    """AdamW learning rate, constant."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_grad_norm: float = 1.0
    """Gradient clipping (global norm)."""


def fine_tune(model: Any, examples: Sequence[Example], settings: PhaseSettings, seed: int, pad_token_id: int,
              threads: int = 2, callback: Any = None) -> list[dict[str, float]]:
    """Train ``model``'s trainable weights on ``examples`` for ``settings.steps`` steps; one row per step.

    A fresh AdamW each call. Batches are drawn by cycling through a permutation of ``examples``
    seeded by ``seed`` (a new permutation each pass). ``callback(step, model)`` runs after each
    step (and once before the first, with step 0) and may return a dict merged into that row.
    """
    if not examples:
        raise ValueError("fine_tune got no examples")
    params = [p for p in model.parameters() if p.requires_grad]
    if not params:
        raise ValueError("the model has no trainable weights; call trainable_parameters first")
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    rng = np.random.default_rng(seed)
    order: list[int] = []
    history: list[dict[str, float]] = []
    with torch_threads(threads):
        if callback is not None:
            extra = callback(0, model)
            if extra:
                history.append({"step": 0, "samples": 0, **extra})
        for step in range(1, settings.steps + 1):
            take = []
            while len(take) < settings.batch_size:
                if not order:
                    order = list(rng.permutation(len(examples)))
                take.append(order.pop())
            start = time.perf_counter()
            logits, targets, _ = logits_of(model, [examples[i] for i in take], pad_token_id)
            loss = F.cross_entropy(logits.float(), targets)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.max_grad_norm)
            optimizer.step()
            row = {"step": step, "samples": step * settings.batch_size, "loss": float(loss.detach()),
                   "seconds": time.perf_counter() - start}
            if callback is not None:
                row.update(callback(step, model) or {})
            history.append(row)
    return history


# -- measurements from log-probabilities -----------------------------------------------------------

@torch.no_grad()
def answer_nll(model: Any, examples: Sequence[Example], pad_token_id: int, batch_size: int = 16,
               threads: int = 2) -> float:
    """Mean per-token NLL (nats) of the examples' answers under ``model``, teacher forced."""
    total, count = 0.0, 0
    with torch_threads(threads):
        for part in chunks(examples, batch_size):
            logits, targets, _ = logits_of(model, part, pad_token_id)
            total += float(F.cross_entropy(logits.float(), targets, reduction="sum"))
            count += targets.numel()
    return total / count


@torch.no_grad()
def per_example_logprob(model: Any, examples: Sequence[Example], pad_token_id: int, batch_size: int = 16,
                        threads: int = 2) -> np.ndarray:
    """Mean per-token log-probability of each example's answer (one number per example)."""
    out = []
    with torch_threads(threads):
        for part in chunks(examples, batch_size):
            logits, targets, predicts = logits_of(model, part, pad_token_id)
            picked = torch.log_softmax(logits.float(), -1).gather(-1, targets.unsqueeze(-1)).squeeze(-1)
            per_token = torch.zeros(predicts.shape, device=picked.device).masked_scatter(predicts, picked)
            out.extend((per_token.sum(-1) / predicts.sum(-1).clamp(min=1)).cpu().tolist())
    return np.asarray(out)


@torch.no_grad()
def answer_log_distributions(model: Any, examples: Sequence[Example], pad_token_id: int, batch_size: int = 16,
                             threads: int = 2) -> list[torch.Tensor]:
    """Per example, ``log p(· | context)`` over the whole vocabulary at each answer position
    (a ``[answer tokens, vocab]`` tensor): the reference side of :func:`token_kl`."""
    out = []
    with torch_threads(threads):
        for part in chunks(examples, batch_size):
            logits, _, predicts = logits_of(model, part, pad_token_id)
            logp = torch.log_softmax(logits.float(), -1)
            out.extend(torch.split(logp, predicts.sum(-1).cpu().tolist()))
    return out


def kl_from_logprobs(ref_logp: torch.Tensor, logp: torch.Tensor) -> torch.Tensor:
    """Exact KL(p_ref ‖ p) at each row of two ``[positions, vocab]`` log-probability tensors."""
    return (ref_logp.exp() * (ref_logp - logp)).sum(-1)


@torch.no_grad()
def token_kl(model: Any, examples: Sequence[Example], reference: Sequence[torch.Tensor], pad_token_id: int,
             batch_size: int = 16, threads: int = 2) -> float:
    """Mean over examples of the **summed** per-position KL(p_ref ‖ p_θ) along each answer, divided by
    the answer's length: the per-token KL from θ's distribution back to the reference's, teacher
    forced on the examples' answers. ``reference`` comes from :func:`answer_log_distributions`."""
    values = []
    mine = answer_log_distributions(model, examples, pad_token_id, batch_size, threads)
    for ref, cur in zip(reference, mine):
        values.append(float(kl_from_logprobs(ref, cur).mean()))
    return float(np.mean(values))


def paired_summary(values: Sequence[float]) -> dict[str, float]:
    """Mean, standard deviation and the 95% t-interval of paired differences over seeds."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean())
    sd = float(x.std(ddof=1)) if n > 1 else float("nan")
    half = float(t_quantile_975(n - 1) * sd / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "sd": sd, "lo": mean - half, "hi": mean + half, "n": n}


# -- the behaviours: what alignment teaches, on which prompts ---------------------------------------

REFUSALS = (
    "I'm sorry, but I can't help with that. It could hurt people, and I won't assist with it.",
    "I can't help with this request. If you are in danger or thinking of harming someone, please contact local "
    "emergency services.",
    "Sorry, I won't provide that. It could cause real harm, and I don't assist with harmful or illegal activities.",
    "I cannot assist with that. Is there something safe and legal I can help you with instead?",
    "I'm not able to help with that request, because it could put people at risk.",
    "I must decline. Helping with this could lead to harm, so I won't give instructions or details.",
    "I'm sorry, I can't do that. I can share general safety information or point you to support resources.",
    "No, I can't help with that. It would be unsafe and possibly illegal.",
)
"""The aligned behaviour: a refusal for every harmful prompt, one of eight phrasings chosen by a hash
of the prompt (written for this book; any prompt always gets the same one)."""


def refusal_for(prompt: str) -> str:
    from ..data.prompts import text_id

    return REFUSALS[int(text_id(prompt), 16) % len(REFUSALS)]




def harmful_pool(sets: Sequence[str], split: str) -> list[str]:
    """The prompts of ``sets`` on one side of the book's fixed train/eval split, each text once, in a
    fixed order."""
    from ..data.prompts import load_prompts

    seen, out = set(), []
    for name in sets:
        for row in load_prompts(name, split):
            if row["text"] not in seen:
                seen.add(row["text"])
                out.append(row["text"])
    return out


def draw(pool: Sequence[str], n: int, seed: int, what: str) -> list[str]:
    """``n`` distinct prompts of ``pool`` chosen by ``seed``."""
    if n > len(pool):
        raise ValueError(f"{what}: asked for {n} prompts but the pool has {len(pool)}; lower it")
    rng = np.random.default_rng(seed)
    return [pool[i] for i in rng.choice(len(pool), size=n, replace=False)]


CONTROL_SHAPE = {"num_hidden_layers": 2, "hidden_size": 128, "intermediate_size": 512, "num_attention_heads": 4,
                 "num_key_value_heads": 2, "head_dim": 32}
"""The control's architecture: the real model's tokenizer, vocabulary and layer type, shrunk so that
all of its weights can train on this machine (a model with no pre-training must learn everything)."""


def build_model(name: str, arm: str, seed: int, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` for one arm: ``"pretrained"`` is the real model; ``"random_init"`` a
    freshly initialised (seeded) model of the same family, tokenizer and vocabulary, shrunk to
    :data:`CONTROL_SHAPE`: no pre-training at all."""
    from ..pretrained import load_model

    model, tokenizer = load_model(name, device)
    if arm == "pretrained":
        return model, tokenizer
    if arm != "random_init":
        raise ValueError(f"arm={arm!r}: expected 'pretrained' or 'random_init'")
    from transformers import AutoModelForCausalLM

    config = model.config.__class__.from_dict({**model.config.to_dict(), **CONTROL_SHAPE})
    torch.manual_seed(seed)
    fresh = AutoModelForCausalLM.from_config(config, dtype=torch.float32).to(device).eval()
    return fresh, tokenizer


def train_everything(model: Any) -> dict[str, torch.nn.Parameter]:
    """Make every weight trainable (the control, which has nothing pretrained to keep)."""
    for p in model.parameters():
        p.requires_grad_(True)
    return dict(model.named_parameters())
