"""Elasticity with exact quantities: a tiny transformer on a synthetic source whose response space is enumerable.

Each prompt is answered by a fixed-length sequence over a tiny response vocabulary (``vocab ** length``
sequences, 125 by default), so a model's whole conditional distribution over responses can be written
down: the probability of every sequence is the product of its token probabilities, and the KL between two
models (or between the source and a model) is an exact finite sum, with no sampling error. A sequence's
*behaviour* is set by its first token: the last ``b_tokens`` of the vocabulary open a **B** ("safe-like")
response, the others an **A** ("harmful-like") one. The source gives behaviour A the mass ``prior_a``
and spreads each behaviour's mass over its sequences by a Zipf law in a per-prompt random order, so
there is structure inside each behaviour for a model to learn.

One pipeline: pre-train θ0 on ``n`` samples of the source (the pre-training amount), align it by SFT on a
small fixed set of B-only responses, then fine-tune it back on fresh samples of the pre-training source
(the *inverse* phase), measuring after every inverse step the exact KL(P_θ0 ‖ P_θ), the exact
KL(P_source ‖ P_θ), the behaviour-B mass and the exact KL between consecutive models (the squared Fisher
step length, to second order). Every phase gets a fresh optimizer. :func:`run_toy` runs the grid
(pre-training amount × model size) and the controls (a shifted prior; a model pre-trained on the shifted
prior but fine-tuned back on the original source) for every seed.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path
from typing import Annotated

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..engine.config import BaseConfig, ConfigError, Count, Natural, NonNegative, Positive, Range
from ..engine.devices import Device
from ..engine.results import TrainResult


@dataclasses.dataclass(frozen=True)
class ToyElasticityConfig(BaseConfig):
    """The synthetic source, the three training phases, the two axes, the controls and the seeds."""

    n_prompts: Annotated[int, Range(1, 64)] = 8
    """Prompts; each has its own source distribution over responses (prompts are drawn uniformly)."""
    vocab: Annotated[int, Range(2, 8)] = 5
    """Response tokens; the response space has ``vocab ** length`` sequences."""
    length: Annotated[int, Range(1, 4)] = 3
    """Tokens per response (fixed: every response has exactly this length, so no end token is needed)."""
    b_tokens: Annotated[int, Range(1, 7)] = 2
    """How many of the response tokens, as a first token, make a response behaviour B (the last ones)."""
    prior_a: Annotated[float, Range(0.05, 0.95)] = 0.7
    """The pre-training source's mass on behaviour A (the rest, on B)."""
    shifted_prior_a: Annotated[float, Range(0.05, 0.95)] = 0.5
    """Behaviour-A mass of the shifted source of the controls (must differ from ``prior_a``)."""
    zipf: NonNegative = 1.0
    """Zipf exponent of the sequences inside each behaviour (0: uniform inside a behaviour)."""
    widths: Annotated[tuple[int, ...], Range(4, 512)] = (8, 16, 32)
    """Model-size axis: embedding width of each model size, smallest first."""
    depths: Annotated[tuple[int, ...], Range(1, 8)] = (1, 1, 2)
    """Transformer blocks of each model size (same length as ``widths``)."""
    heads: Annotated[int, Range(1, 8)] = 2
    """Attention heads (must divide every width)."""
    pretrain_amounts: Annotated[tuple[int, ...], Range(16, 10**8)] = (2048, 8192, 32768)
    """Pre-training-amount axis: source samples seen by θ0, ascending, each a multiple of ``pretrain_batch``.
    One pre-training run per size is stopped at each amount (a constant learning rate, so the smaller
    amounts are the larger run's earlier checkpoints)."""
    pretrain_batch: Count = 64
    """Samples per pre-training step."""
    pretrain_lr: Positive = 3e-3
    """Adam learning rate of pre-training."""
    align_samples: Count = 64
    """Size of the alignment set: B-only responses drawn from the source restricted to behaviour B."""
    align_epochs: Count = 8
    """Passes over the alignment set."""
    align_batch: Count = 16
    """Samples per alignment step."""
    align_lr: Positive = 5e-3
    """Adam learning rate of alignment (a fresh optimizer)."""
    inverse_steps: Count = 60
    """Inverse fine-tuning steps (the fixed inverse budget is ``inverse_steps * inverse_batch`` samples)."""
    inverse_batch: Count = 32
    """Fresh pre-training-source samples per inverse step."""
    inverse_lr: Positive = 3e-3
    """Adam learning rate of the inverse phase (a fresh optimizer: no momentum carried from alignment)."""
    knee_fraction: Annotated[float, Range(0.01, 0.99)] = 0.2
    """The knee is the first inverse step at which the (smoothed) per-step drop of the behaviour-B mass falls
    below this fraction of its largest value."""
    knee_window: Annotated[int, Range(1, 50)] = 3
    """Steps of the moving average that smooths the per-step drop before the knee is located."""
    reference_size: Natural = 1
    """Index into ``widths`` of the model size used for the pre-training-amount axis and the controls."""
    seeds: Annotated[int, Range(2, 50)] = 5
    """Seeds (each: its own source, initialisations and sample streams); seeds ``seed .. seed+seeds-1``."""
    threads: Annotated[int, Range(1, 64)] = 1
    """torch threads (one is fastest for models this small on CPU)."""
    device: Device = "cpu"
    """Where the models train and are measured (``cuda`` in the ``gpu`` profile); the samples are drawn on
    the CPU from seeded generators, so a seed's data are the same on every device."""

    def model_params(self, size: int) -> int:
        """Weights of model size ``size`` (:class:`ToyLM`): the prompt-and-token and position embeddings, per
        block two LayerNorms, the qkv and output projections and a 4× GELU MLP (12·w² + 13·w), the final
        LayerNorm and the head."""
        w = self.widths[size]
        return ((self.n_prompts + self.vocab) * w + self.length * w + self.depths[size] * (12 * w * w + 13 * w)
                + 2 * w + w * self.vocab + self.vocab)

    def work(self):
        """What notebook 4 computes (:mod:`alignbook.engine.estimate`), for every seed: each size pre-trained to
        the largest amount (``pretrain_amounts[-1] / pretrain_batch`` steps) and the reference size once more on
        the shifted source; for each (size, amount) and the two controls a pipeline: alignment
        (``align_epochs`` × ⌈``align_samples`` / ``align_batch``⌉ steps) and ``inverse_steps`` inverse steps,
        with the exact distribution (every prompt × every response) computed after each. The models are so
        small that each step costs its overhead (:data:`alignbook.engine.estimate.STEP_OVERHEAD_S`), not its
        FLOPs: the exact distributions count as steps too. Sampling on the CPU is not counted."""
        from ..engine.estimate import Work, STEP_OVERHEAD_S, activation_bytes, train_flops, infer_flops

        sizes = range(len(self.widths))
        ref, top = self.reference_size, self.pretrain_amounts[-1]
        pre_steps = top // self.pretrain_batch
        align_steps = self.align_epochs * -(-self.align_samples // self.align_batch)
        pipelines = [size for size in sizes for _ in self.pretrain_amounts] + [ref, ref]
        table = self.n_prompts * self.vocab ** self.length  # sequences in one exact distribution
        trained = align_steps * self.align_batch + self.inverse_steps * self.inverse_batch  # samples a pipeline trains on
        flops = sum(train_flops(self.model_params(size), pre_steps * self.pretrain_batch * self.length)
                    for size in [*sizes, ref])
        flops += sum(train_flops(self.model_params(size), trained * self.length)
                     + infer_flops(self.model_params(size), (self.inverse_steps + 2) * table * self.length)
                     for size in pipelines)
        steps = (len(self.widths) + 1) * pre_steps + len(pipelines) * (align_steps + 2 * self.inverse_steps + 2)
        biggest = max(sizes, key=self.model_params)
        return Work(train_flops=self.seeds * flops, resident_params=self.model_params(biggest),
                    trainable_params=self.model_params(biggest),
                    activation_bytes=activation_bytes(max(self.pretrain_batch, table), self.length, self.widths[biggest],
                                                      self.depths[biggest], "fp32"),
                    other_seconds=self.seeds * steps * STEP_OVERHEAD_S, precision="fp32",
                    notes=[f"{self.seeds} seeds × ({len(self.widths) + 1} pre-training runs of {pre_steps} steps, "
                           f"{len(pipelines)} pipelines of {align_steps} alignment and {self.inverse_steps} inverse steps "
                           f"and {self.inverse_steps + 2} exact distributions of {table} sequences); "
                           f"{self.seeds * steps} steps at {STEP_OVERHEAD_S * 1000:g} ms of overhead each, fp32"])

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.b_tokens >= self.vocab:
            raise ConfigError(f"b_tokens={self.b_tokens} must be below vocab={self.vocab} (behaviour A needs tokens)")
        if len(self.widths) != len(self.depths) or not self.widths:
            raise ConfigError(f"widths={list(self.widths)} and depths={list(self.depths)} must be non-empty and "
                              "of the same length (one entry per model size)")
        if any(w % self.heads for w in self.widths):
            raise ConfigError(f"heads={self.heads} must divide every width in widths={list(self.widths)}")
        if not self.pretrain_amounts or list(self.pretrain_amounts) != sorted(set(self.pretrain_amounts)):
            raise ConfigError(f"pretrain_amounts={list(self.pretrain_amounts)} must be strictly ascending")
        if any(n % self.pretrain_batch for n in self.pretrain_amounts):
            raise ConfigError(f"every pretrain_amounts entry must be a multiple of pretrain_batch={self.pretrain_batch}")
        if self.reference_size >= len(self.widths):
            raise ConfigError(f"reference_size={self.reference_size} must index widths (0..{len(self.widths) - 1})")
        if abs(self.shifted_prior_a - self.prior_a) < 0.05:
            raise ConfigError(f"shifted_prior_a={self.shifted_prior_a} must differ from prior_a={self.prior_a} by >= 0.05")
        if self.inverse_steps < 4:
            raise ConfigError(f"inverse_steps={self.inverse_steps} must be >= 4 (the metrics compare its quarters)")


@dataclasses.dataclass
class ToyElasticityResult(TrainResult):
    """:class:`~alignbook.engine.results.TrainResult` of :func:`run_toy`: ``history`` holds one row per
    inverse step of every pipeline and seed; ``metrics['pipelines']`` one summary row per pipeline and seed;
    ``metrics['summary']`` the means, paired differences and 95% t-intervals; ``checkpoint`` is None."""

    missing_hint = "has notebook resist-alignment/04_toy run?"


# -- the source ----------------------------------------------------------------------------------


def all_responses(vocab: int, length: int) -> torch.Tensor:
    """Every response, as a (vocab**length, length) tensor of token ids in lexicographic order."""
    grids = torch.cartesian_prod(*[torch.arange(vocab)] * length) if length > 1 else torch.arange(vocab)[:, None]
    return grids.reshape(-1, length)


def behaviour_b(cfg: ToyElasticityConfig) -> torch.Tensor:
    """Boolean mask over :func:`all_responses`: True where the response is behaviour B."""
    return all_responses(cfg.vocab, cfg.length)[:, 0] >= cfg.vocab - cfg.b_tokens


def make_source(cfg: ToyElasticityConfig, prior_a: float, seed: int) -> torch.Tensor:
    """The source: an (n_prompts, vocab**length) table of response probabilities (rows sum to 1).

    The per-prompt Zipf orders depend on ``seed`` only, so the original and the shifted source of a seed
    have the same structure inside each behaviour and differ only in the behaviour prior.
    """
    is_b = behaviour_b(cfg).numpy()
    rng = np.random.default_rng([seed, 7])
    table = np.zeros((cfg.n_prompts, is_b.size))
    for p in range(cfg.n_prompts):
        for mask, mass in ((~is_b, prior_a), (is_b, 1.0 - prior_a)):
            idx = np.flatnonzero(mask)
            weights = 1.0 / np.arange(1, idx.size + 1) ** cfg.zipf
            table[p, rng.permutation(idx)] = mass * weights / weights.sum()
    return torch.tensor(table, dtype=torch.float64)


def sample(table: torch.Tensor, n: int, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` (prompt, response index) pairs: prompts uniform, responses from the table's row."""
    prompts = torch.randint(0, table.shape[0], (n,), generator=gen)
    responses = torch.multinomial(table[prompts], 1, generator=gen)[:, 0]
    return prompts, responses


# -- the model -----------------------------------------------------------------------------------


class _Block(nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        self.qkv, self.proj = nn.Linear(width, 3 * width), nn.Linear(width, width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, w = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        x = x + self.proj(att.transpose(1, 2).reshape(b, t, w))
        return x + self.mlp(self.norm2(x))


class ToyLM(nn.Module):
    """A minimal causal transformer: input ``[prompt, r_1 .. r_{L-1}]``, output the logits of ``r_1 .. r_L``
    over the response vocabulary only (so every sequence's probability is a product of softmaxes)."""

    def __init__(self, n_prompts: int, vocab: int, length: int, width: int, depth: int, heads: int) -> None:
        super().__init__()
        self.n_prompts = n_prompts
        self.embed = nn.Embedding(n_prompts + vocab, width)
        self.pos = nn.Embedding(length, width)
        self.blocks = nn.ModuleList(_Block(width, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocab)

    def forward(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """Per-token log-probabilities (batch, length, vocab) of the responses given the prompts."""
        tokens = torch.cat([prompts[:, None], self.n_prompts + responses[:, :-1]], dim=1)
        x = self.embed(tokens) + self.pos(torch.arange(tokens.shape[1], device=tokens.device))
        for block in self.blocks:
            x = block(x)
        return F.log_softmax(self.head(self.norm(x)), dim=-1)

    def sequence_logprob(self, prompts: torch.Tensor, responses: torch.Tensor) -> torch.Tensor:
        """log P(response | prompt): the sum of the response's token log-probabilities."""
        logp = self(prompts, responses)
        return logp.gather(-1, responses[..., None])[..., 0].sum(-1)


def build_model(cfg: ToyElasticityConfig, size: int, seed: int, device: torch.device | str = "cpu") -> ToyLM:
    """Model size ``size`` (an index into ``widths``), initialised from ``seed`` (on the CPU, so the
    initial weights are the same on every device) and moved to ``device``."""
    torch.manual_seed(seed)
    return ToyLM(cfg.n_prompts, cfg.vocab, cfg.length, cfg.widths[size], cfg.depths[size], cfg.heads).to(device)


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


# -- exact quantities ----------------------------------------------------------------------------


@torch.no_grad()
def exact_logprobs(model: ToyLM, n_prompts: int, responses: torch.Tensor) -> torch.Tensor:
    """log P_θ(s | p) for every prompt p and every response s: an (n_prompts, n_responses) float64 table,
    on the model's device."""
    device = _device(model)
    responses = responses.to(device)
    n = responses.shape[0]
    prompts = torch.arange(n_prompts, device=device).repeat_interleave(n)
    return model.sequence_logprob(prompts, responses.repeat(n_prompts, 1)).view(n_prompts, n).double()


def exact_kl(logp: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Per-prompt KL(P ‖ Q) = Σ_s P(s)(log P(s) − log Q(s)) from two log-probability tables (exact sums)."""
    p = logp.exp()
    return (p * (logp - logq)).sum(-1)


def table_log(table: torch.Tensor) -> torch.Tensor:
    """The log of a probability table (zeros stay -inf; :func:`exact_kl` then weights them by 0)."""
    return torch.where(table > 0, table.log(), torch.full_like(table, -math.inf))


def kl_from_table(table: torch.Tensor, logq: torch.Tensor) -> torch.Tensor:
    """Per-prompt KL(source ‖ Q) for a source given as probabilities (zero-probability terms drop out)."""
    table = table.to(logq.device)
    logp = table_log(table)
    return torch.where(table > 0, table * (logp - logq), torch.zeros_like(table)).sum(-1)


# -- training phases -----------------------------------------------------------------------------


def fresh_optimizer(model: nn.Module, lr: float) -> torch.optim.Optimizer:
    """A new Adam with empty state: every phase gets one (reusing alignment's momentum is a known trap)."""
    return torch.optim.Adam(model.parameters(), lr=lr)


def train_step(model: ToyLM, opt: torch.optim.Optimizer, prompts: torch.Tensor, responses: torch.Tensor) -> float:
    """One step of sequence cross-entropy (mean negative log-likelihood per response) on the model's
    device; returns the loss."""
    device = _device(model)
    loss = -model.sequence_logprob(prompts.to(device), responses.to(device)).mean()
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss.item()


def pretrain(cfg: ToyElasticityConfig, model: ToyLM, table: torch.Tensor, responses: torch.Tensor,
             seed: int) -> tuple[dict[int, dict], dict]:
    """Pre-train on fresh source samples; return state dicts at every ``pretrain_amounts`` entry and a log."""
    opt = fresh_optimizer(model, cfg.pretrain_lr)
    log = {"optimizer_state_at_start": len(opt.state), "losses": []}
    gen = torch.Generator().manual_seed(seed * 1009 + 1)
    checkpoints, seen = {}, 0
    for amount in cfg.pretrain_amounts:
        while seen < amount:
            prompts, idx = sample(table, cfg.pretrain_batch, gen)
            log["losses"].append(train_step(model, opt, prompts, responses[idx]))
            seen += cfg.pretrain_batch
        checkpoints[amount] = {k: v.clone() for k, v in model.state_dict().items()}
    return checkpoints, log


def alignment_set(cfg: ToyElasticityConfig, table: torch.Tensor, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The alignment set: ``align_samples`` B-only responses (the source restricted to B, renormalised)."""
    safe = table * behaviour_b(cfg).double()
    safe = safe / safe.sum(-1, keepdim=True)
    return sample(safe, cfg.align_samples, torch.Generator().manual_seed(seed * 1009 + 2))


def align(cfg: ToyElasticityConfig, model: ToyLM, data: tuple[torch.Tensor, torch.Tensor], responses: torch.Tensor,
          seed: int) -> dict:
    """SFT on the alignment set for ``align_epochs`` passes (shuffled), with a fresh optimizer."""
    opt = fresh_optimizer(model, cfg.align_lr)
    log = {"optimizer_state_at_start": len(opt.state), "losses": []}
    gen = torch.Generator().manual_seed(seed * 1009 + 3)
    prompts, idx = data
    for _ in range(cfg.align_epochs):
        order = torch.randperm(len(prompts), generator=gen)
        for start in range(0, len(order), cfg.align_batch):
            batch = order[start:start + cfg.align_batch]
            log["losses"].append(train_step(model, opt, prompts[batch], responses[idx[batch]]))
    return log


def inverse(cfg: ToyElasticityConfig, model: ToyLM, table: torch.Tensor, responses: torch.Tensor,
            logp0: torch.Tensor, seed: int) -> tuple[list[dict], dict]:
    """Fine-tune back on fresh samples of ``table`` with a fresh optimizer; exact measurements at every step.

    Row ``t`` is measured after ``t`` inverse steps (row 0: the aligned model): ``kl_theta0`` = mean over
    prompts of KL(P_θ0 ‖ P_θ), ``kl_source`` = of KL(P_table ‖ P_θ), ``b_mass`` = mean behaviour-B mass,
    ``step_length`` = sqrt(2 · mean KL(P_θ(t−1) ‖ P_θ(t))), the Fisher-metric length of the last step to
    second order (0 in row 0).
    """
    is_b = behaviour_b(cfg).to(_device(model))
    opt = fresh_optimizer(model, cfg.inverse_lr)
    log = {"optimizer_state_at_start": len(opt.state), "losses": []}
    gen = torch.Generator().manual_seed(seed * 1009 + 4)
    rows, previous = [], None
    for t in range(cfg.inverse_steps + 1):
        logq = exact_logprobs(model, cfg.n_prompts, responses)
        rows.append({"step": t, "samples": t * cfg.inverse_batch,
                     "kl_theta0": float(exact_kl(logp0, logq).mean()),
                     "kl_source": float(kl_from_table(table, logq).mean()),
                     "b_mass": float(logq.exp()[:, is_b].sum(-1).mean()),
                     "step_length": 0.0 if previous is None else
                     math.sqrt(max(0.0, 2 * float(exact_kl(previous, logq).mean())))})
        previous = logq
        if t < cfg.inverse_steps:
            prompts, idx = sample(table, cfg.inverse_batch, gen)
            log["losses"].append(train_step(model, opt, prompts, responses[idx]))
    return rows, log


# -- summaries of one trajectory -----------------------------------------------------------------


def knee_step(b_mass: list[float], fraction: float, window: int) -> int:
    """First step at which the moving average (``window`` steps) of the per-step drop of the B mass falls
    below ``fraction`` of its largest value, after that largest value; the last step if it never does."""
    drop = -np.diff(np.asarray(b_mass))
    smooth = np.convolve(drop, np.ones(window) / window, mode="valid") if len(drop) >= window else drop
    if smooth.size == 0 or smooth.max() <= 0:
        return len(b_mass) - 1
    peak = int(np.argmax(smooth))
    below = np.flatnonzero(smooth[peak:] < fraction * smooth[peak])
    return int(min(len(b_mass) - 1, peak + below[0] + window)) if below.size else len(b_mass) - 1


def summarise(rows: list[dict], b0: float, cfg: ToyElasticityConfig) -> dict:
    """Scalar metrics of one inverse trajectory (row 0: aligned; last row: after the fixed budget)."""
    kl0 = np.array([r["kl_theta0"] for r in rows])
    kls = np.array([r["kl_source"] for r in rows])
    b = np.array([r["b_mass"] for r in rows])
    s = np.array([r["step_length"] for r in rows])
    t_end, q = len(rows) - 1, max(1, (len(rows) - 1) // 4)
    done = kl0[0] - kl0[-1]
    dist = np.sqrt(2 * np.maximum(kl0, 0))  # Fisher distance to θ0, to second order
    directness = (dist[:-1] - dist[1:]) / np.maximum(s[1:], 1e-12)  # progress toward θ0 per unit step length
    knee = knee_step(list(b), cfg.knee_fraction, cfg.knee_window)
    samples = np.array([r["samples"] for r in rows], dtype=float)
    return {
        "kl_theta0_aligned": float(kl0[0]), "kl_theta0_end": float(kl0[-1]),
        "kl_source_aligned": float(kls[0]), "kl_source_end": float(kls[-1]),
        "b_theta0": b0, "b_aligned": float(b[0]), "b_end": float(b[-1]),
        # pre-registered elasticity: the share of the alignment shift (exact KL to θ0) undone by the budget
        "return_fraction_kl": float(1 - kl0[-1] / kl0[0]) if kl0[0] > 0 else float("nan"),
        "return_fraction_b": float((b[0] - b[-1]) / (b[0] - b0)) if abs(b[0] - b0) > 1e-9 else float("nan"),
        "source_gap_closed": float(1 - kls[-1] / kls[0]) if kls[0] > 0 else float("nan"),
        # fast-then-slow: the share of the return done in the first quarter of the budget (steady pace: 0.25)
        "front_share_kl": float((kl0[0] - kl0[q]) / done) if done > 0 else float("nan"),
        "speed_early": float(s[1:q + 1].mean()), "speed_late": float(s[t_end - q + 1:].mean()),
        "directness_early": float(directness[:q].mean()), "directness_late": float(directness[-q:].mean()),
        "knee_step": knee, "b_at_knee": float(b[knee]),
        # speed of the return: inverse samples (per alignment sample) until half the shift is undone
        "half_return": half_return_samples(kl0, samples) / cfg.align_samples,
    }


def half_return_samples(kl0: np.ndarray, samples: np.ndarray) -> float:
    """Inverse samples until KL(θ0 ‖ θ) first falls to half its post-alignment value (linear interpolation
    between measured steps); NaN if it never does within the budget."""
    target = kl0[0] / 2
    below = np.flatnonzero(kl0 <= target)
    if kl0[0] <= 0 or below.size == 0:
        return float("nan")
    i = int(below[0])
    if i == 0:
        return 0.0
    frac = (kl0[i - 1] - target) / (kl0[i - 1] - kl0[i])
    return float(samples[i - 1] + frac * (samples[i] - samples[i - 1]))


# -- the experiment ------------------------------------------------------------------------------


def run_seed(cfg: ToyElasticityConfig, seed: int) -> tuple[list[dict], list[dict], dict]:
    """Every pipeline of one seed: the (size × amount) grid on the original source and the two controls.

    Pipelines of a seed share the source, the alignment set and the sample streams (so differences
    between them are paired); a size's initialisation is the same for the original and shifted runs.
    Returns (summary rows, history rows, optimizer-state log).
    """
    from ..engine import devices

    device = devices.resolve(cfg.device)
    responses = all_responses(cfg.vocab, cfg.length)
    source = make_source(cfg, cfg.prior_a, seed)
    shifted = make_source(cfg, cfg.shifted_prior_a, seed)
    is_b = behaviour_b(cfg).to(device)
    summaries, history, opt_log = [], [], {}

    def pipeline(name: str, size: int, amount: int, state: dict, pre_table: torch.Tensor,
                 inv_table: torch.Tensor) -> None:
        model = build_model(cfg, size, seed, device)
        model.load_state_dict(state)
        logp0 = exact_logprobs(model, cfg.n_prompts, responses)
        b0 = float(logp0.exp()[:, is_b].sum(-1).mean())
        kl_pre = float(kl_from_table(pre_table, logp0).mean())
        align_log = align(cfg, model, alignment_set(cfg, pre_table, seed), responses, seed)
        rows, inv_log = inverse(cfg, model, inv_table, responses, logp0, seed)
        opt_log[name] = {"align": align_log["optimizer_state_at_start"],
                         "inverse": inv_log["optimizer_state_at_start"]}
        summaries.append({"seed": seed, "pipeline": name, "size": size, "width": cfg.widths[size],
                          "depth": cfg.depths[size], "amount": amount, "kl_source_theta0": kl_pre,
                          "align_loss_end": align_log["losses"][-1], **summarise(rows, b0, cfg)})
        history.extend({"seed": seed, "pipeline": name, **r} for r in rows)

    for size in range(len(cfg.widths)):
        checkpoints, log = pretrain(cfg, build_model(cfg, size, seed, device), source, responses, seed)
        opt_log[f"pretrain_s{size}"] = log["optimizer_state_at_start"]
        for amount, state in checkpoints.items():
            pipeline(grid_name(size, amount), size, amount, state, source, source)
    ref, top = cfg.reference_size, cfg.pretrain_amounts[-1]
    checkpoints, log = pretrain(cfg, build_model(cfg, ref, seed, device), shifted, responses, seed)
    opt_log["pretrain_shifted"] = log["optimizer_state_at_start"]
    pipeline("shifted", ref, top, checkpoints[top], shifted, shifted)
    pipeline("foreign", ref, top, checkpoints[top], shifted, source)
    return summaries, history, opt_log


def grid_name(size: int, amount: int) -> str:
    """The name of the grid pipeline of model size ``size`` pre-trained on ``amount`` samples."""
    return f"s{size}_n{amount}"


# -- statistics ----------------------------------------------------------------------------------

def t_quantile(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (:func:`alignbook.stats.t_quantile_975`)."""
    from ..stats import t_quantile_975

    return t_quantile_975(df)


def t_interval(values: list[float] | np.ndarray) -> dict:
    """Mean and 95% t-interval of ``values`` (NaNs dropped); half-width NaN with fewer than two values."""
    x = np.asarray(values, dtype=float)
    x = x[np.isfinite(x)]
    n = int(x.size)
    mean = float(x.mean()) if n else float("nan")
    half = float(t_quantile(n - 1) * x.std(ddof=1) / math.sqrt(n)) if n >= 2 else float("nan")
    return {"mean": mean, "half": half, "lo": mean - half, "hi": mean + half, "n": n}


def sign_of(ci: dict) -> int:
    """+1 if the interval lies above 0, −1 if below, 0 if it contains 0 (or is undefined)."""
    if not math.isfinite(ci["half"]):
        return 0
    return 1 if ci["lo"] > 0 else -1 if ci["hi"] < 0 else 0


def _by(rows: list[dict], pipeline: str, key: str) -> dict[int, float]:
    return {r["seed"]: r[key] for r in rows if r["pipeline"] == pipeline}


def paired(rows: list[dict], a: str, b: str, key: str) -> dict:
    """The t-interval of the per-seed difference ``key``(pipeline a) − ``key``(pipeline b)."""
    xa, xb = _by(rows, a, key), _by(rows, b, key)
    return t_interval([xa[s] - xb[s] for s in sorted(xa) if s in xb])


def summarise_all(cfg: ToyElasticityConfig, rows: list[dict]) -> dict:
    """Means with 95% t-intervals per pipeline, the paired contrasts of the claims, and their verdicts."""
    keys = [k for k, v in rows[0].items() if isinstance(v, (int, float)) and k not in ("seed", "size", "width",
                                                                                         "depth", "amount")]
    names = list(dict.fromkeys(r["pipeline"] for r in rows))
    per = {n: {k: t_interval(list(_by(rows, n, k).values())) for k in keys} for n in names}
    ref, amounts = cfg.reference_size, cfg.pretrain_amounts
    main = grid_name(ref, amounts[-1])
    contrasts = {
        "amount_effect": paired(rows, grid_name(ref, amounts[-1]), grid_name(ref, amounts[0]), "return_fraction_kl"),
        "size_effect": paired(rows, grid_name(len(cfg.widths) - 1, amounts[-1]), grid_name(0, amounts[-1]),
                              "return_fraction_kl"),
        "amount_effect_b": paired(rows, grid_name(ref, amounts[-1]), grid_name(ref, amounts[0]), "return_fraction_b"),
        "size_effect_b": paired(rows, grid_name(len(cfg.widths) - 1, amounts[-1]), grid_name(0, amounts[-1]),
                                "return_fraction_b"),
        "amount_effect_speed": paired(rows, grid_name(ref, amounts[-1]), grid_name(ref, amounts[0]), "half_return"),
        "size_effect_speed": paired(rows, grid_name(len(cfg.widths) - 1, amounts[-1]), grid_name(0, amounts[-1]),
                                    "half_return"),
        "own_vs_foreign": paired(rows, main, "foreign", "source_gap_closed"),
        "knee_shift": paired(rows, "shifted", main, "b_at_knee"),
        "knee_shift_foreign": paired(rows, "foreign", main, "b_at_knee"),
        "front_excess": t_interval([v - 0.25 for v in _by(rows, main, "front_share_kl").values()]),
        "front_excess_foreign": t_interval([v - 0.25 for v in _by(rows, "foreign", "front_share_kl").values()]),
    }
    m = [r for r in rows if r["pipeline"] == main]
    contrasts["speed_drop"] = t_interval([r["speed_early"] - r["speed_late"] for r in m])
    contrasts["directness_drop"] = t_interval([r["directness_early"] - r["directness_late"] for r in m])
    return {"per_pipeline": per, "contrasts": contrasts, "main": main, "verdicts": verdicts(cfg, per, contrasts, main)}


def _num(x: float, fmt: str = ".3f") -> str:
    """A number for the page: formatted, or a dash when it is undefined (NaN)."""
    return f"{x:{fmt}}" if math.isfinite(x) else "—"


def _ci(ci: dict, fmt: str = ".3f") -> str:
    return f"{_num(ci['mean'], fmt)} (95% CI {_num(ci['lo'], fmt)} to {_num(ci['hi'], fmt)}, n={ci['n']})"


def verdicts(cfg: ToyElasticityConfig, per: dict, c: dict, main: str) -> dict[str, str]:
    """Verdict sentences computed from the measured intervals (nothing here is decided in advance)."""
    out = {}
    ret = per[main]["return_fraction_kl"]
    out["return"] = (
        f"Shown: the inverse phase undoes {_ci(ret)} of the alignment shift (exact KL to θ0)." if sign_of(ret) > 0
        else f"Not shown: the share of the alignment shift undone is {_ci(ret)}, not above 0.")
    fe, ff = c["front_excess"], c["front_excess_foreign"]
    speed, direct = sign_of(c["speed_drop"]), sign_of(c["directness_drop"])
    if speed > 0 and direct > 0:
        why = ("Both fall: the Fisher step length (early minus late "
               f"{_ci(c['speed_drop'])}) and the progress toward θ0 per unit step length (early minus late "
               f"{_ci(c['directness_drop'])}); late steps are shorter and mostly not toward θ0, as for an optimiser "
               "settling around the inverse data's optimum (the source, which θ0 only approximates) at its noise "
               "floor. ")
    elif speed > 0:
        why = (f"The Fisher step length falls (early minus late {_ci(c['speed_drop'])}) while no fall of the progress "
               f"per unit step length is resolved ({_ci(c['directness_drop'])}): the steps shrink, as the gradient of "
               "a cross-entropy does near its optimum. ")
    else:
        why = (f"Early minus late Fisher step length: {_ci(c['speed_drop'])}; early minus late progress per unit "
               f"step length: {_ci(c['directness_drop'])}. ")
    out["fast_then_slow"] = (
        ("Shown as a shape" if sign_of(fe) > 0 else "Not shown") +
        f": the first quarter of the budget does {_ci(per[main]['front_share_kl'])} of the return (a steady pace "
        f"would do 0.250). " + why +
        ("The model pre-trained on the shifted prior, fine-tuned back on the same original source, is front-loaded "
         f"too (first-quarter share minus 0.25: {_ci(ff)}), so the fast-then-slow shape is not specific to "
         "returning to one's own pre-training distribution." if sign_of(ff) > 0 else
         f"The model pre-trained on the shifted prior is not front-loaded (first-quarter share minus 0.25: {_ci(ff)})."))
    ks = c["knee_shift"]
    target = cfg.prior_a - cfg.shifted_prior_a
    moved = sign_of(ks) != 0 and (ks["mean"] > 0) == (target > 0)
    out["knee"] = (
        f"The knee (where the B mass stops falling fast) sits at B mass {_ci(per[main]['b_at_knee'])} against the "
        f"prior's {1 - cfg.prior_a:.3f}; with the shifted prior at {_ci(per['shifted']['b_at_knee'])} against "
        f"{1 - cfg.shifted_prior_a:.3f}. Paired shift {_ci(ks)} (the priors differ by {target:.3f}): " +
        ("the knee moves with the prior. " if moved else "the knee does not move measurably with the prior. ") +
        "Both the pre-training and the inverse data carry the prior here, so a moving knee follows from the target "
        "of the inverse phase alone; the foreign-prior control separates the two: its knee minus the main one is "
        f"{_ci(c['knee_shift_foreign'])}" +
        (" (it moves with the pre-training prior, not only with the inverse data)." if sign_of(c["knee_shift_foreign"])
         * (1 if target > 0 else -1) > 0 else " (no shift toward its own pre-training prior)."))
    of = c["own_vs_foreign"]
    out["memory"] = (
        "Pre-training memory shown: " if sign_of(of) > 0 else "Contrary to memory: " if sign_of(of) < 0 else
        "No pre-training memory effect resolved: ") + (
        f"within the same budget the model pre-trained on the original source closes {_ci(of)} more of its gap to "
        "that source (exact KL, share of the post-alignment gap) than the same-size model pre-trained on the "
        "shifted prior.")
    for key, axis in (("amount_effect", "pre-training amount"), ("size_effect", "model size")):
        ci, speed = c[key], c[key + "_speed"]
        word = ("Shown" if sign_of(ci) > 0 else "Contrary" if sign_of(ci) < 0 else "Not shown (null)")
        fast = ("faster (shown by the speed metric)" if sign_of(speed) < 0 else
                "slower (contrary by the speed metric)" if sign_of(speed) > 0 else "not shown by the speed metric")
        out[key] = (f"{word} by the pre-registered metric: largest minus smallest {axis}, share of the alignment "
                    f"shift undone by the budget, paired by seed: {_ci(ci)}; by the behaviour-B mass: "
                    f"{_ci(c[key + '_b'])}. Speed (secondary, added after a pilot run): inverse samples per "
                    f"alignment sample to undo half the shift, largest minus smallest: {_ci(speed)}, i.e. "
                    f"{fast}.")
    return out


def toy_seed(unit) -> dict:
    """One seed of :func:`run_toy` (``unit.value``: the seed): :func:`run_seed` at ``cfg.threads`` torch
    threads, as plain data."""
    from ..lm.runtime import torch_threads

    with torch_threads(unit.cfg.threads):
        rows, history, opt_log = run_seed(unit.cfg, unit.value)
    return {"rows": rows, "history": history, "optimizer": opt_log}


def run_toy(cfg: ToyElasticityConfig, log=print) -> ToyElasticityResult:
    """Every pipeline for seeds ``seed .. seed+seeds-1``, each seed a unit of
    :func:`alignbook.engine.parallel.map_units` (side by side where cores allow); save and return a
    :class:`ToyElasticityResult`."""
    from ..engine import devices
    from ..engine.parallel import cores, map_units

    devices.resolve(cfg.device)  # a GPU that is not there fails here, before any unit starts
    start = time.perf_counter()
    seeds = list(range(cfg.seed, cfg.seed + cfg.seeds))
    done = map_units(toy_seed, cfg, seeds, name="seeds", workers=max(1, min(len(seeds), cores() // cfg.threads)),
                     log=log)
    rows, history, opt_logs = [], [], {}
    for seed, out in zip(seeds, done):
        rows += out["rows"]
        history += out["history"]
        opt_logs[str(seed)] = out["optimizer"]
    metrics = {"pipelines": rows, "summary": summarise_all(cfg, rows), "optimizer_state_at_start": opt_logs,
               "n_responses": cfg.vocab ** cfg.length, "wall_s": time.perf_counter() - start,
               "parameters": {str(i): sum(p.numel() for p in build_model(cfg, i, 0).parameters())
                              for i in range(len(cfg.widths))}}
    result = ToyElasticityResult(metrics, history, None, dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


# -- what the page shows -------------------------------------------------------------------------


def _cell(ci: dict, fmt: str = ".3f") -> str:
    if not math.isfinite(ci["half"]):
        return _num(ci["mean"], fmt)
    return f"{ci['mean']:{fmt}} ± {ci['half']:{fmt}}"


def grid_markdown(result: ToyElasticityResult) -> str:
    """One row per (size, amount) pipeline: θ0's fit, the alignment shift, and how much came back."""
    cfg, per = result.config, result.metrics["summary"]["per_pipeline"]
    params = result.metrics["parameters"]
    lines = ["| width × depth (parameters) | pre-training samples | KL(source ‖ θ0) | B mass θ0 → aligned → end "
             "| KL(θ0 ‖ aligned) | share of the shift undone (KL) | share undone (B mass) | samples to undo half, "
             "per alignment sample |",
             "|---|---|---|---|---|---|---|---|"]
    for size, (w, d) in enumerate(zip(cfg["widths"], cfg["depths"])):
        for amount in cfg["pretrain_amounts"]:
            p = per[grid_name(size, amount)]
            lines.append(f"| {w} × {d} ({params[str(size)]}) | {amount} | {_cell(p['kl_source_theta0'])} | "
                         f"{_num(p['b_theta0']['mean'])} → {_num(p['b_aligned']['mean'])} → {_num(p['b_end']['mean'])} | "
                         f"{_cell(p['kl_theta0_aligned'])} | {_cell(p['return_fraction_kl'])} | "
                         f"{_cell(p['return_fraction_b'])} | {_cell(p['half_return'], '.2f')} |")
    n = per[grid_name(0, cfg["pretrain_amounts"][0])]["return_fraction_kl"]["n"]
    lines += ["", f"Means over {n} seeds ± the half-width of the 95% t-interval. The inverse budget is "
              f"{cfg['inverse_steps'] * cfg['inverse_batch']} samples; the alignment set has {cfg['align_samples']}."]
    return "\n".join(lines)


def controls_markdown(result: ToyElasticityResult) -> str:
    """The main pipeline beside the two controls: knee location, front-loading, gap to the inverse data closed."""
    cfg, s = result.config, result.metrics["summary"]
    per = s["per_pipeline"]
    rows = [(s["main"], f"pre-train A={cfg['prior_a']:.2f}, inverse A={cfg['prior_a']:.2f}"),
            ("shifted", f"pre-train A={cfg['shifted_prior_a']:.2f}, inverse A={cfg['shifted_prior_a']:.2f}"),
            ("foreign", f"pre-train A={cfg['shifted_prior_a']:.2f}, inverse A={cfg['prior_a']:.2f}")]
    lines = ["| pipeline | sources | B mass at the knee | knee step | first-quarter share of the return | "
             "gap to the inverse data closed | Fisher step length early / late | progress per step length early / late |",
             "|---|---|---|---|---|---|---|---|"]
    for name, what in rows:
        p = per[name]
        lines.append(f"| {name} | {what} | {_cell(p['b_at_knee'])} | {_cell(p['knee_step'], '.1f')} | "
                     f"{_cell(p['front_share_kl'])} | {_cell(p['source_gap_closed'])} | "
                     f"{_num(p['speed_early']['mean'])} / {_num(p['speed_late']['mean'])} | "
                     f"{_num(p['directness_early']['mean'])} / {_num(p['directness_late']['mean'])} |")
    return "\n".join(lines)


def contrasts_markdown(result: ToyElasticityResult) -> str:
    """The paired contrasts behind each claim, with their 95% t-intervals."""
    c = result.metrics["summary"]["contrasts"]
    labels = {
        "amount_effect": "share of shift undone (KL): most − least pre-training",
        "size_effect": "share of shift undone (KL): largest − smallest model",
        "amount_effect_b": "share of shift undone (B mass): most − least pre-training",
        "size_effect_b": "share of shift undone (B mass): largest − smallest model",
        "amount_effect_speed": "samples (per alignment sample) to undo half the shift: most − least pre-training",
        "size_effect_speed": "samples (per alignment sample) to undo half the shift: largest − smallest model",
        "own_vs_foreign": "gap to the source closed: own prior − foreign prior",
        "knee_shift": "B mass at the knee: shifted − main",
        "knee_shift_foreign": "B mass at the knee: foreign − main",
        "front_excess": "first-quarter share − 0.25 (main)",
        "front_excess_foreign": "first-quarter share − 0.25 (foreign)",
        "speed_drop": "Fisher step length: early − late (main)",
        "directness_drop": "progress per step length: early − late (main)",
    }
    lines = ["| contrast | mean | 95% CI | seeds |", "|---|---|---|---|"]
    for key, label in labels.items():
        ci = c[key]
        lines.append(f"| {label} | {_num(ci['mean'])} | {_num(ci['lo'])} to {_num(ci['hi'])} | {ci['n']} |")
    return "\n".join(lines)


def verdicts_markdown(result: ToyElasticityResult) -> str:
    """The verdicts, one bullet per claim."""
    v = result.metrics["summary"]["verdicts"]
    names = {"return": "Elasticity (return toward θ0)", "fast_then_slow": "Fast, then slow",
             "knee": "Knee and prior", "memory": "Own vs foreign pre-training prior",
             "amount_effect": "Elasticity grows with pre-training", "size_effect": "Elasticity grows with model size"}
    return "\n".join(f"- **{names[k]}.** {v[k]}" for k in names)


def _mean_curve(result: ToyElasticityResult, pipeline: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    rows = [h for h in result.history if h["pipeline"] == pipeline]
    seeds = sorted({h["seed"] for h in rows})
    curves = np.array([[h[key] for h in rows if h["seed"] == s] for s in seeds])
    return np.array([h["samples"] for h in rows if h["seed"] == seeds[0]]), curves.mean(0)


def plot_return(result: ToyElasticityResult):
    """Exact KL(θ0 ‖ θ) over the inverse phase, normalised by its post-alignment value: by pre-training
    amount (reference size) and by model size (most pre-training)."""
    import matplotlib.pyplot as plt

    cfg = result.config
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0), sharey=True)
    for amount in cfg["pretrain_amounts"]:
        x, y = _mean_curve(result, grid_name(cfg["reference_size"], amount), "kl_theta0")
        axes[0].plot(x, y / y[0], label=f"{amount} samples")
    for size, (w, d) in enumerate(zip(cfg["widths"], cfg["depths"])):
        x, y = _mean_curve(result, grid_name(size, cfg["pretrain_amounts"][-1]), "kl_theta0")
        axes[1].plot(x, y / y[0], label=f"width {w}, depth {d}")
    axes[0].set_ylabel("KL(θ0 ‖ θ) / KL(θ0 ‖ aligned)")
    axes[0].set_title("by pre-training amount", fontsize=9)
    axes[1].set_title("by model size", fontsize=9)
    for ax in axes:
        ax.set_xlabel("inverse fine-tuning samples")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_controls(result: ToyElasticityResult):
    """B mass and Fisher step length over the inverse phase: the main pipeline and the two controls."""
    import matplotlib.pyplot as plt

    cfg, main = result.config, result.metrics["summary"]["main"]
    fig, axes = plt.subplots(1, 2, figsize=(6.4, 3.0))
    for name, label in ((main, "main"), ("shifted", "shifted prior"), ("foreign", "foreign prior")):
        x, y = _mean_curve(result, name, "b_mass")
        line, = axes[0].plot(x, y, label=label)
        x, s = _mean_curve(result, name, "step_length")
        axes[1].plot(x[1:], s[1:], color=line.get_color(), label=label)
    for prior in (cfg["prior_a"], cfg["shifted_prior_a"]):
        axes[0].axhline(1 - prior, color="grey", lw=0.8, ls=":")
    axes[0].set_ylabel("behaviour-B mass")
    axes[1].set_ylabel("Fisher step length")
    for ax in axes:
        ax.set_xlabel("inverse fine-tuning samples")
        ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
