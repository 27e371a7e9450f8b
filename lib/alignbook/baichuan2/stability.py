"""Notebook 2: NormHead and the max-z loss, ablated at a learning rate that provokes instability.

Four arms {plain, NormHead, max-z, both} share, seed by seed, the initial weights (NormHead adds
no parameter) and the stream of training batches, so every comparison is paired by seed. A *loss
spike* is a step whose training loss exceeds the mean of the previous ``spike_window`` steps by
more than ``spike_sigma`` of their standard deviation. The repetition-penalty sensitivity is the
mean KL(p ‖ p_penalised) between the next-token distributions without and with HF's rule
(:func:`~.model.repetition_penalty`, penalty 1.2) on held-out Brown windows: the paper's reason for
max-z is that very large logits make decoding sensitive to that penalty (the optimisations section).
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Sequence

import numpy as np

from ..engine.config import BaseConfig, ConfigError, Count, NonNegative, OneOf, Positive, Range, SeedCount
from ..engine.devices import Device
from ..plotting import figure, legend_outside
from ..stats import t_quantile_975
from .common import MIN_SEEDS, markdown_table, num, spread_text
from .data import brown_tokens
from .model import Z_LOSS_WEIGHT, ffn_size
from .training import train_lm

ARMS = {"plain": (False, False), "normhead": (True, False), "maxz": (False, True), "both": (True, True)}
"""Arm name → (NormHead, max-z loss)."""
LABELS = {"plain": "plain", "normhead": "NormHead", "maxz": "max-z", "both": "NormHead + max-z"}


@dataclasses.dataclass(frozen=True)
class StabilityConfig(BaseConfig):
    """Notebook 2: four arms trained at a high learning rate, paired by seed."""

    vocab_size: Annotated[int, Range(300, 65535)] = 1024
    """BPE vocabulary trained on the Brown training documents."""
    n_docs: Annotated[int, Range(0, 500)] = 0
    """Brown documents used (0: all 500)."""
    hidden: Annotated[int, Range(8, 4096)] = 64
    """Hidden size."""
    layers: Annotated[int, Range(1, 64)] = 2
    """Decoder blocks."""
    heads: Annotated[int, Range(1, 64)] = 4
    """Attention heads."""
    ffn_rule: Annotated[str, OneOf(("baichuan", "table10"))] = "baichuan"
    """FFN width rule: the released models' 8/3 · hidden rounded up to 128, or Table 10's 3 · hidden."""
    seeds: SeedCount = 5
    """Seeds; every arm runs every seed (paired)."""
    steps: Count = 200
    """Optimiser steps per run."""
    batch_size: Count = 16
    """Sequences per step."""
    seq_len: Count = 64
    """Tokens per sequence."""
    lr: Positive = 2e-2
    """Peak learning rate, far above a stable one for this size (Baichuan 2-7B: 2e-4) to provoke spikes."""
    warmup: Count = 10
    """Linear warm-up steps (Baichuan 2-7B: 2,000; short here, to provoke instability)."""
    z_weight: NonNegative = Z_LOSS_WEIGHT
    """Max-z coefficient in the max-z arms (paper: 2e-4; released config ``z_loss_weight``: 0)."""
    penalty: Annotated[float, Range(1.0, 10.0)] = 1.2
    """Repetition penalty for the sensitivity measurement (HF convention; 1.2, the value CTRL proposed)."""
    spike_window: Annotated[int, Range(3, 1000)] = 20
    """Previous steps whose mean and std define a spike."""
    spike_sigma: Positive = 3.0
    """A spike: loss above the rolling mean by more than this many rolling std."""
    eval_windows: Count = 64
    """Validation windows for the final loss, max logit and penalty KL."""
    device: Device = "cpu"
    """Where the models train and are evaluated: ``cpu`` (exactly reproducible) or ``cuda`` (the ``gpu`` profile)."""
    bf16: bool = False
    """Train under bfloat16 autocast (logits and losses in fp32), as Baichuan 2 trains (the ``gpu`` profile)."""
    log_every: Count = 1
    """Record the training loss every this many steps (spikes need every step: 1)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.hidden % self.heads or (self.hidden // self.heads) % 2:
            raise ConfigError(f"hidden={self.hidden} with heads={self.heads}: each head needs an even width")
        if self.spike_window + self.warmup >= self.steps:
            raise ConfigError(f"steps={self.steps} leaves no step after warmup + spike_window to look for spikes")

    def work(self):
        """What notebook 2 computes (:mod:`alignbook.engine.estimate`): every arm (NormHead, max-z, both,
        neither) for every seed, ``steps`` steps of ``batch_size`` × ``seq_len`` tokens."""
        from ..engine.estimate import lm_work
        from ..lm.sizes import llama_params

        params = llama_params(self.vocab_size, self.hidden, self.layers, ffn_size(self.hidden, self.ffn_rule),
                              self.heads, tied=False)
        runs = len(ARMS) * self.seeds
        return lm_work(params, self.hidden, self.layers, train_tokens=runs * self.steps * self.batch_size * self.seq_len,
                       steps=runs * self.steps, batch=self.batch_size, seq=self.seq_len, precision="bf16" if self.bf16 else "fp32",
                       notes=[f"{len(ARMS)} arms × {self.seeds} seeds × {self.steps} steps"])


def count_spikes(losses: Sequence[float], window: int = 20, sigma: float = 3.0, start: int = 0) -> list[int]:
    """Indices t ≥ ``start`` + ``window`` with loss[t] > mean(loss[t−window:t]) + ``sigma`` · std(…)."""
    x = np.asarray(losses, dtype=float)
    out = []
    for t in range(start + window, len(x)):
        past = x[t - window:t]
        if x[t] > past.mean() + sigma * past.std():
            out.append(t)
    return out


def arm_seed(unit: Any) -> dict[str, Any]:
    """One run of :func:`run_stability` (``unit.value``: ``{"arm": ..., "seed": ...}``): the arm's model
    trained from the seed's initial weights on the seed's batches, as plain data."""
    cfg, arm, seed = unit.cfg, unit.value["arm"], unit.value["seed"]
    norm_head, maxz = ARMS[arm]
    data = brown_tokens(cfg.vocab_size, cfg.n_docs)
    r = train_lm(data["train"], data["val"], vocab=len(data["tokenizer"]), hidden=cfg.hidden, layers=cfg.layers,
                 heads=cfg.heads, ffn=ffn_size(cfg.hidden, cfg.ffn_rule), steps=cfg.steps,
                 batch=cfg.batch_size, seq_len=cfg.seq_len, lr=cfg.lr, warmup=cfg.warmup, seed=seed,
                 norm_head=norm_head, z_weight=cfg.z_weight if maxz else 0.0,
                 eval_windows_n=cfg.eval_windows, penalty=cfg.penalty, log_every=cfg.log_every,
                 device=cfg.device, bf16=cfg.bf16)
    losses = [h["loss"] for h in r["history"]]
    spikes = count_spikes(losses, cfg.spike_window, cfg.spike_sigma, start=cfg.warmup // cfg.log_every)
    return {"metrics": r["metrics"], "history": r["history"], "spikes": spikes}


def run_stability(cfg: StabilityConfig, verbose: bool = False) -> dict[str, Any]:
    """Every arm, every seed: the per-step history, the spikes, the final validation numbers. Each
    (arm, seed) is a unit of :func:`alignbook.engine.parallel.map_units`, side by side where cores
    allow; the arms of a seed share its initial weights and batches (paired by seed) wherever they run."""
    from ..engine import devices
    from ..engine.parallel import map_units

    devices.resolve(cfg.device)  # a GPU that is not there fails here, before any unit starts
    vocab = len(brown_tokens(cfg.vocab_size, cfg.n_docs)["tokenizer"])
    units = [{"arm": arm, "seed": cfg.seed + s} for s in range(cfg.seeds) for arm in ARMS]
    done = map_units(arm_seed, cfg, units, name="arm_seeds")
    arms: dict[str, list[dict[str, Any]]] = {a: [] for a in ARMS}
    for unit, run in zip(units, done):
        arms[unit["arm"]].append(run)
        if verbose:
            print(f"seed {unit['seed']} {unit['arm']}: loss {run['metrics']['loss']:.3f}, spikes {len(run['spikes'])}")
    return {"arms": arms, "vocab": vocab}


def per_seed(result: dict[str, Any], arm: str, key: str) -> np.ndarray:
    """One number per seed of ``arm``: ``spikes`` (count), ``final_train`` (last logged training loss)
    or a key of the final validation metrics."""
    runs = result["arms"][arm]
    if key == "spikes":
        return np.array([len(r["spikes"]) for r in runs], dtype=float)
    if key == "final_train":
        return np.array([r["history"][-1]["loss"] for r in runs], dtype=float)
    return np.array([r["metrics"][key] for r in runs], dtype=float)


def interval(diffs: np.ndarray) -> dict[str, float]:
    """Mean, 95% t half-width and bounds of paired differences (half-width NaN for one seed)."""
    n = len(diffs)
    mean = float(diffs.mean())
    half = float(t_quantile_975(n - 1) * diffs.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    return {"mean": mean, "half": half, "low": mean - half, "high": mean + half, "n": n}


def arms_markdown(result: dict[str, Any]) -> str:
    """Per arm: spikes, final validation loss, max logit (mean and largest), penalty KL."""
    rows = []
    for arm in ARMS:
        rows.append([LABELS[arm], spread_text(per_seed(result, arm, "spikes")), spread_text(per_seed(result, arm, "loss")),
                     spread_text(per_seed(result, arm, "max_logit_mean")), spread_text(per_seed(result, arm, "max_logit_max")),
                     spread_text(per_seed(result, arm, "penalty_kl"))])
    return markdown_table(["arm", "loss spikes", "validation loss (nats/token)", "mean max logit", "largest max logit",
                           "KL from the repetition penalty (nats)"], rows)


CONTRASTS = {
    "normhead_spikes": ("plain", "normhead", "spikes", "loss spikes, plain − NormHead"),
    "normhead_loss": ("plain", "normhead", "loss", "validation loss, plain − NormHead"),
    "maxz_logit": ("plain", "maxz", "max_logit_mean", "mean max logit, plain − max-z"),
    "maxz_penalty": ("plain", "maxz", "penalty_kl", "repetition-penalty KL, plain − max-z"),
    "maxz_loss": ("plain", "maxz", "loss", "validation loss, plain − max-z"),
    "both_spikes": ("plain", "both", "spikes", "loss spikes, plain − both"),
}
"""Paired contrasts (positive: the technique lowers the quantity)."""


def contrasts(result: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Every contrast of :data:`CONTRASTS` as a 95% t-interval of the paired differences."""
    return {name: interval(per_seed(result, a, key) - per_seed(result, b, key))
            for name, (a, b, key, _) in CONTRASTS.items()}


def contrasts_markdown(result: dict[str, Any]) -> str:
    """The paired contrasts with their 95% intervals."""
    rows = []
    for name, c in contrasts(result).items():
        half = "1 seed" if c["n"] < 2 else f"[{num(c['low'], 3)}, {num(c['high'], 3)}]"
        rows.append([CONTRASTS[name][3], num(c["mean"], 3), half, c["n"]])
    return markdown_table(["contrast (paired by seed)", "mean", "95% interval", "seeds"], rows)


def _paired_verdict(c: dict[str, float], what: str, unit: str = "") -> tuple[str, str]:
    text = (f"{what}: {num(c['mean'], 3)}{unit}, 95% interval [{num(c['low'], 3)}, {num(c['high'], 3)}] over "
            f"{c['n']} paired seeds")
    if c["high"] < 0:
        return "contrary", f"**Contrary**: {text}, wholly below 0."
    if c["low"] > 0:
        return "shown", f"**Shown**: {text}, wholly above 0."
    return "not shown", f"**Not shown**: {text}, which contains 0."


def verdicts(result: dict[str, Any], cfg: StabilityConfig) -> dict[str, tuple[str, str]]:
    """The four claims' verdicts, each criterion a 95% t-interval of a paired difference above 0.

    - ``normhead_spikes``: plain − NormHead spike count. Not testable when the plain arm spiked in
      fewer than half of its seeds (instability not provoked: nothing for NormHead to remove).
    - ``normhead_loss``: plain − NormHead final validation loss.
    - ``maxz_logit``: plain − max-z mean max logit on validation text.
    - ``maxz_penalty``: plain − max-z repetition-penalty KL.
    All are not testable below :data:`~.common.MIN_SEEDS` seeds.
    """
    cs = contrasts(result)
    out: dict[str, tuple[str, str]] = {}
    plain_spikes = per_seed(result, "plain", "spikes")
    crit = {"normhead_spikes": "Criterion: the 95% interval of plain − NormHead spike counts lies above 0, given "
                               "spikes in the plain arm in at least half its seeds.",
            "normhead_loss": "Criterion: the 95% interval of plain − NormHead validation loss lies above 0.",
            "maxz_logit": "Criterion: the 95% interval of plain − max-z mean max logit lies above 0.",
            "maxz_penalty": "Criterion: the 95% interval of plain − max-z repetition-penalty KL lies above 0."}
    what = {"normhead_spikes": "plain − NormHead loss spikes", "normhead_loss": "plain − NormHead validation loss",
            "maxz_logit": "plain − max-z mean max logit", "maxz_penalty": "plain − max-z repetition-penalty KL"}
    units = {"normhead_loss": " nats/token", "maxz_penalty": " nats"}
    for name in crit:
        c = cs[name]
        if c["n"] < MIN_SEEDS:
            out[name] = ("not testable", f"**Not testable** (1 seed): {what[name]} is {num(c['mean'], 3)}. {crit[name]}")
            continue
        if name == "normhead_spikes" and np.mean(plain_spikes > 0) < 0.5:
            out[name] = ("not testable", (
                f"**Not testable at this budget**: the plain arm spiked in {int((plain_spikes > 0).sum())} of "
                f"{len(plain_spikes)} seeds ({spread_text(plain_spikes)} spikes) at learning rate {num(cfg.lr)}, so the "
                f"instability NormHead is meant to remove was not provoked. {crit[name]}"))
            continue
        word, sentence = _paired_verdict(c, what[name], units.get(name, ""))
        if name == "maxz_logit" and word == "not shown":
            sentence += (f" At weight {num(cfg.z_weight)} the max-z term is small beside the cross-entropy for logits "
                         "of this size, so it may need far more steps to act.")
        out[name] = (word, f"{sentence} {crit[name]}")
    return out


def plot_histories(result: dict[str, Any], key: str = "loss", ylabel: str = "training loss (nats/token)",
                   title: str = "Training loss by arm") -> Any:
    """``key`` of the per-step history for every arm (mean over seeds, thin lines per seed); spikes
    of the first seed marked for the loss."""
    fig, ax = figure()
    for i, arm in enumerate(ARMS):
        runs = result["arms"][arm]
        steps = [h["step"] for h in runs[0]["history"]]
        values = np.array([[h[key] for h in r["history"]] for r in runs])
        for v in values:
            ax.plot(steps, v, color=f"C{i}", alpha=0.15, linewidth=0.7)
        ax.plot(steps, values.mean(0), color=f"C{i}", label=LABELS[arm])
        if key == "loss":
            sp = runs[0]["spikes"]
            ax.plot([steps[t] for t in sp], [values[0][t] for t in sp], "v", color=f"C{i}", markersize=5)
    ax.set_xlabel("step")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    legend_outside(fig, ax)
    return fig
