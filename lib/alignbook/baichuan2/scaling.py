"""Notebook 1: the scaling-law fit L(C) = a·C^b + L∞ on small models, predicting a held-out larger one.

Baichuan 2 (arXiv 2309.10305, its scaling-law section and Table 10) trains 7 models of 10M–3B parameters
(Table 10: hidden/FFN/layers/heads from 384/1152/6/6 to 2880/8640/28/20, FFN = 3 × hidden) with
one recipe on the same data, and fits L_C = a·C^b + L∞ (C the training FLOPs) with
``scipy.optimize.curve_fit`` to predict the final losses of the 7B and 13B models. Here the models
are Table 10's pattern scaled down (hidden, layers and heads grow together, FFN = 3 × hidden), every
model sees the same tokens D, C = 6·N·D with N the non-embedding parameters, and the fit is on the
smaller models only.

:func:`fit_power_law` minimises the same least-squares objective as ``curve_fit`` (scipy is not a
dependency of this book) by variable projection: for a fixed exponent b the model is linear in
(a, L∞), an exact least-squares solve (with L∞ ≥ 0 enforced: when the free solve gives L∞ < 0,
the constrained optimum lies on L∞ = 0), so the residual is a function of b alone, minimised over
the bounded interval ``b_bounds`` by a grid search refined by golden-section search.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Annotated, Any, Sequence

import numpy as np

from ..engine.config import BaseConfig, ConfigError, Count, OneOf, Positive, Range, SeedCount
from ..engine.devices import Device
from ..plotting import figure, legend_outside
from .common import MIN_SEEDS, markdown_table, num, spread_text, std
from .data import brown_tokens
from .model import ffn_size
from .training import train_lm


@dataclasses.dataclass(frozen=True)
class ScalingConfig(BaseConfig):
    """Notebook 1: models of growing size trained with one recipe, the power-law fit, the prediction."""

    vocab_size: Annotated[int, Range(300, 65535)] = 1024
    """BPE vocabulary trained on the Brown training documents (Baichuan 2: 125,696)."""
    n_docs: Annotated[int, Range(0, 500)] = 0
    """Brown documents used (0: all 500; every 10th is held out for validation)."""
    hiddens: Annotated[tuple[int, ...], Range(8, 4096)] = (16, 24, 32, 48, 64, 96)
    """Hidden sizes, smallest first (Table 10: 384 … 2880, scaled down)."""
    layers: Annotated[tuple[int, ...], Range(1, 64)] = (1, 2, 2, 3, 3, 4)
    """Blocks of each model (Table 10: 6 … 28; grows with the hidden size)."""
    heads: Annotated[tuple[int, ...], Range(1, 64)] = (2, 2, 4, 4, 4, 6)
    """Attention heads of each model (Table 10: 6 … 20)."""
    held_out: Annotated[int, Range(1, 3)] = 1
    """How many of the largest models are left out of the fit and predicted (paper: 7B and 13B)."""
    seeds: SeedCount = 1
    """Seeds of each fitted model (the paper trains each model once)."""
    held_out_seeds: SeedCount = 3
    """Seeds of each held-out model: their spread is what the prediction error is compared with."""
    steps: Count = 300
    """Optimiser steps of every model (the same D for all: C grows with N, as in Table 10's runs)."""
    batch_size: Count = 16
    """Sequences per step."""
    seq_len: Count = 64
    """Tokens per sequence (Baichuan 2: 4,096)."""
    lr: Positive = 3e-3
    """Peak learning rate (Baichuan 2-7B: 2e-4; small models train at higher rates)."""
    warmup: Count = 30
    """Linear warm-up steps (Baichuan 2-7B: 2,000)."""
    eval_windows: Count = 96
    """Validation windows of ``seq_len`` tokens (fixed for every model)."""
    device: Device = "cpu"
    """Where the models train and are evaluated: ``cpu`` (exactly reproducible) or ``cuda`` (the ``gpu`` profile)."""
    bf16: bool = False
    """Train under bfloat16 autocast (logits and losses in fp32), as Baichuan 2 trains."""

    def work(self):
        """What notebook 1 computes (:mod:`alignbook.engine.estimate`): every model (``seeds`` runs each, the
        ``held_out`` largest ``held_out_seeds``), ``steps`` steps of ``batch_size`` × ``seq_len`` tokens, then
        ``eval_windows`` validation windows scored once. The vocabulary is taken at ``vocab_size`` (the
        tokenizer trained on Brown may hold a few fewer)."""
        from ..engine.estimate import lm_work
        from ..lm.sizes import llama_params
        from .model import ffn_size

        n_fit = len(self.hiddens) - self.held_out
        runs = [(i, self.held_out_seeds if i >= n_fit else self.seeds) for i in range(len(self.hiddens))]
        params = [llama_params(self.vocab_size, h, l, ffn_size(h, "table10"), n, tied=False)
                  for h, l, n in zip(self.hiddens, self.layers, self.heads)]
        tokens = self.steps * self.batch_size * self.seq_len
        flops = sum(k * (6.0 * params[i] * tokens + 2.0 * params[i] * self.eval_windows * self.seq_len) for i, k in runs)
        big = max(range(len(params)), key=params.__getitem__)
        total = sum(k for _, k in runs)
        # one lm_work of the largest model, its FLOPs replaced by the sum over every model and seed
        work = lm_work(params[big], self.hiddens[big], self.layers[big], train_tokens=1, steps=total * self.steps,
                       batch=self.batch_size, seq=self.seq_len, precision="bf16" if self.bf16 else "fp32",
                       notes=[f"{len(self.hiddens)} models, {total} runs × {self.steps} steps × {self.batch_size} × "
                              f"{self.seq_len} tokens" + (", fp32" if not self.bf16 else ", bf16 autocast")])
        work.train_flops = flops
        return work

    def __post_init__(self) -> None:
        super().__post_init__()
        if not len(self.hiddens) == len(self.layers) == len(self.heads):
            raise ConfigError(f"hiddens, layers and heads need one entry per model; got {len(self.hiddens)}, "
                              f"{len(self.layers)}, {len(self.heads)}")
        if len(self.hiddens) - self.held_out < 3:
            raise ConfigError(f"held_out={self.held_out} leaves {len(self.hiddens) - self.held_out} models to fit "
                              "three parameters; add sizes or hold out fewer")
        for h, n in zip(self.hiddens, self.heads):
            if h % n or (h // n) % 2:
                raise ConfigError(f"hiddens={h} with heads={n}: each head needs an even width")
        if self.warmup >= self.steps:
            raise ConfigError(f"warmup={self.warmup} must be below steps={self.steps}")


# -- the fit ----------------------------------------------------------------------------------------


def _linear_solve(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """``(a, L∞, rss)`` of y ≈ a·x + L∞ by least squares with L∞ ≥ 0."""
    design = np.stack([x, np.ones_like(x)], axis=1)
    (a, c), *_ = np.linalg.lstsq(design, y, rcond=None)
    if c < 0:
        a, c = float(x @ y / (x @ x)), 0.0
    rss = float(np.sum((a * x + c - y) ** 2))
    return float(a), float(c), rss


def fit_power_law(compute: Sequence[float], loss: Sequence[float], b_bounds: tuple[float, float] = (-3.0, -1e-4),
                  grid: int = 400) -> dict[str, float]:
    """Least-squares fit of L = a·C^b + L∞ with b in ``b_bounds`` (b < 0) and L∞ ≥ 0.

    Returns ``a``, ``b``, ``l_inf``, ``rss`` and ``at_bound`` (1.0 when b ends on an edge of
    ``b_bounds``: the data do not pin the exponent). C is divided by its smallest value inside the
    fit for conditioning, and ``a`` is converted back to the units of ``compute``.
    """
    c = np.asarray(compute, dtype=float)
    y = np.asarray(loss, dtype=float)
    if len(c) < 3 or len(c) != len(y):
        raise ValueError(f"a three-parameter fit needs at least 3 points of (C, L); got {len(c)} and {len(y)}")
    c0 = c.min()
    u = c / c0
    lo, hi = b_bounds
    if not lo < hi < 0:
        raise ValueError(f"b_bounds={b_bounds} must satisfy lo < hi < 0")

    def rss(b: float) -> float:
        return _linear_solve(u ** b, y)[2]

    bs = np.linspace(lo, hi, grid)
    values = np.array([rss(b) for b in bs])
    i = int(values.argmin())
    left, right = bs[max(i - 1, 0)], bs[min(i + 1, grid - 1)]
    golden = (math.sqrt(5) - 1) / 2
    x1, x2 = right - golden * (right - left), left + golden * (right - left)
    f1, f2 = rss(x1), rss(x2)
    for _ in range(80):
        if f1 < f2:
            right, x2, f2 = x2, x1, f1
            x1 = right - golden * (right - left)
            f1 = rss(x1)
        else:
            left, x1, f1 = x1, x2, f2
            x2 = left + golden * (right - left)
            f2 = rss(x2)
    b = (left + right) / 2
    if values[i] < rss(b):
        b = float(bs[i])
    a_u, l_inf, r = _linear_solve(u ** b, y)
    step = (hi - lo) / (grid - 1)
    return {"a": a_u * c0 ** (-b), "b": float(b), "l_inf": l_inf, "rss": r,
            "at_bound": float(b <= lo + step or b >= hi - step)}


def predict(fit: dict[str, float], compute: float | np.ndarray) -> Any:
    """The fitted L(C)."""
    return fit["a"] * np.asarray(compute, dtype=float) ** fit["b"] + fit["l_inf"]


# -- the runs ---------------------------------------------------------------------------------------


def model_seed(unit: Any) -> dict[str, Any]:
    """One run of :func:`run_scaling` (``unit.value``: ``{"model": index into hiddens, "seed": ...}``),
    as plain data."""
    cfg, i, seed = unit.cfg, unit.value["model"], unit.value["seed"]
    h, l, n = cfg.hiddens[i], cfg.layers[i], cfg.heads[i]
    data = brown_tokens(cfg.vocab_size, cfg.n_docs)
    r = train_lm(data["train"], data["val"], vocab=len(data["tokenizer"]), hidden=h, layers=l, heads=n,
                 ffn=ffn_size(h, "table10"), steps=cfg.steps, batch=cfg.batch_size, seq_len=cfg.seq_len,
                 lr=cfg.lr, warmup=cfg.warmup, seed=seed, eval_windows_n=cfg.eval_windows,
                 log_every=max(1, cfg.steps // 50), device=cfg.device, bf16=cfg.bf16)
    return {"metrics": r["metrics"], "history": r["history"]}


def run_scaling(cfg: ScalingConfig, verbose: bool = False) -> dict[str, Any]:
    """Train every model (``seeds`` each; ``held_out_seeds`` for the held-out largest ones), fit
    the smaller models' mean validation losses against C, predict the held-out ones. Each (model, seed)
    is a unit of :func:`alignbook.engine.parallel.map_units`, side by side where cores allow."""
    from ..engine import devices
    from ..engine.parallel import map_units

    devices.resolve(cfg.device)  # a GPU that is not there fails here, before any unit starts
    data = brown_tokens(cfg.vocab_size, cfg.n_docs)
    vocab = len(data["tokenizer"])
    n_fit = len(cfg.hiddens) - cfg.held_out
    units = [{"model": i, "seed": cfg.seed + s} for i in range(len(cfg.hiddens))
             for s in range(cfg.held_out_seeds if i >= n_fit else cfg.seeds)]
    done = map_units(model_seed, cfg, units, name="model_seeds")
    models = []
    for i, (h, l, n) in enumerate(zip(cfg.hiddens, cfg.layers, cfg.heads)):
        held = i >= n_fit
        runs = [run for unit, run in zip(units, done) if unit["model"] == i]
        if verbose:
            for unit, run in zip(units, done):
                if unit["model"] == i:
                    print(f"hidden {h} seed {unit['seed']}: loss {run['metrics']['loss']:.3f}")
        m0 = runs[0]["metrics"]
        models.append({"hidden": h, "ffn": ffn_size(h, "table10"), "layers": l, "heads": n, "held_out": held,
                       "non_embedding": m0["non_embedding"], "params": m0["params"], "flops": m0["flops"],
                       "losses": [r["metrics"]["loss"] for r in runs], "runs": runs,
                       "wall_s": sum(r["metrics"]["wall_s"] for r in runs)})
    fit_models = models[:n_fit]
    fit = fit_power_law([m["flops"] for m in fit_models], [float(np.mean(m["losses"])) for m in fit_models])
    for m in models:
        m["predicted"] = float(predict(fit, m["flops"]))
    return {"models": models, "fit": fit, "tokens": models[0]["runs"][0]["metrics"]["tokens"],
            "vocab": vocab, "train_tokens": int(len(data["train"])), "train_chars": data["chars"]["train"]}


def models_markdown(result: dict[str, Any]) -> str:
    """One row per model: shape, non-embedding parameters, C, measured and fitted/predicted loss."""
    rows = []
    for m in result["models"]:
        rows.append([f"{m['hidden']} / {m['ffn']}", f"{m['layers']} × {m['heads']}", num(m["non_embedding"]),
                     num(m["flops"]), spread_text(m["losses"]), num(m["predicted"]),
                     "held out" if m["held_out"] else "fitted"])
    return markdown_table(["hidden / FFN", "layers × heads", "N (non-embedding)", "C = 6ND",
                           "validation loss (nats/token)", "fit L(C)", "role"], rows)


def prediction(result: dict[str, Any]) -> dict[str, Any]:
    """For the largest held-out model: predicted and measured loss, error, relative error, seed std."""
    m = result["models"][-1]
    losses = np.asarray(m["losses"], dtype=float)
    err = m["predicted"] - losses.mean()
    return {"predicted": m["predicted"], "measured": float(losses.mean()), "std": std(losses), "seeds": len(losses),
            "error": float(err), "relative_error": float(err / losses.mean()),
            "abs_error_in_std": float(abs(err) / std(losses)) if len(losses) > 1 and std(losses) > 0 else math.inf}


RELATIVE_PARTLY = 0.02
"""A prediction within 2% of the measured loss but outside 2 seed std counts as partly shown."""


def prediction_verdict(result: dict[str, Any]) -> tuple[str, str]:
    """The fit on the smaller models predicts the largest held-out model's final loss.

    Shown when |predicted − measured mean| ≤ 2 × the sample std of the held-out model over at least
    :data:`MIN_SEEDS` seeds; partly shown when outside that but within :data:`RELATIVE_PARTLY` of the
    measured loss; not shown otherwise; not testable with one held-out seed or when the fitted
    exponent ends on its search bound (the fitted points do not determine b).
    """
    p, fit = prediction(result), result["fit"]
    crit = (f"Criterion: |predicted − measured| ≤ 2 × the held-out model's seed std (at least {MIN_SEEDS} seeds); "
            f"partly shown within {RELATIVE_PARTLY:.0%} of the measured loss.")
    m = result["models"][-1]
    head = (f"the fit on the {sum(not x['held_out'] for x in result['models'])} smaller models predicts "
            f"{num(p['predicted'])} nats/token for the largest (hidden {m['hidden']}); it measures "
            f"{spread_text(m['losses'])}, an error of {num(p['error'], 2)} ({num(100 * p['relative_error'], 2)}%)")
    if fit["at_bound"]:
        return "not testable", (f"**Not testable**: the fitted exponent b = {num(fit['b'])} lies on its search bound, so "
                                f"the fitted models do not determine the curve; {head}. {crit}")
    if p["seeds"] < MIN_SEEDS:
        return "not testable", f"**Not testable** (1 seed of the held-out model): {head}. {crit}"
    if abs(p["error"]) <= 2 * p["std"]:
        return "shown", f"**Shown**: {head}, within 2 seed std. {crit}"
    if abs(p["relative_error"]) <= RELATIVE_PARTLY:
        return "partly shown", (f"**Partly shown**: {head}: within {RELATIVE_PARTLY:.0%} but {num(p['abs_error_in_std'], 2)} "
                                f"seed std away, so the fit misses by more than seed noise. {crit}")
    return "not shown", (f"**Not shown**: {head}, {num(p['abs_error_in_std'], 2)} seed std away. Likely cause: with the "
                         f"same D for every model the larger models are further from convergence, which bends the "
                         f"curve the smaller models set. {crit}")


def plot_fit(result: dict[str, Any]) -> Any:
    """Validation loss against training compute, the fit and its extrapolation to the held-out model(s)."""
    fig, ax = figure()
    models = result["models"]
    c = np.array([m["flops"] for m in models])
    grid = np.geomspace(c.min() / 1.5, c.max() * 1.5, 200)
    ax.plot(grid, predict(result["fit"], grid), color="0.4", label="fit a·C^b + L∞ (smaller models)")
    for held, color, label in ((False, "C0", "fitted models"), (True, "C3", "held out (measured)")):
        ms = [m for m in models if m["held_out"] == held]
        ax.errorbar([m["flops"] for m in ms], [np.mean(m["losses"]) for m in ms],
                    yerr=[std(m["losses"]) for m in ms], fmt="o", color=color, label=label, capsize=3)
    held = [m for m in models if m["held_out"]]
    ax.plot([m["flops"] for m in held], [m["predicted"] for m in held], "x", color="C3", markersize=10,
            label="held out (predicted)")
    ax.set_xscale("log")
    ax.set_xlabel("training compute C = 6·N·D (FLOPs)")
    ax.set_ylabel("validation loss (nats/token)")
    ax.set_title("Scaling-law fit on Brown")
    legend_outside(fig, ax, ncol=2)
    return fig


def plot_curves(result: dict[str, Any]) -> Any:
    """Training loss against step for every model (first seed), as the paper plots its scaling runs."""
    fig, ax = figure()
    for m in result["models"]:
        h = m["runs"][0]["history"]
        ax.plot([r["step"] for r in h], [r["loss"] for r in h], label=f"hidden {m['hidden']}")
    ax.set_xlabel("step")
    ax.set_ylabel("training loss (nats/token)")
    ax.set_title("Training curves of the scaling-law models")
    legend_outside(fig, ax)
    return fig
