"""Notebook 3: the motivation of NormHead and max-z checked on a real model, SmolLM2-135M-Instruct.

- **Rare tokens' head rows.** Baichuan 2 motivates NormHead by the output-embedding
  norms of rare tokens shrinking and destabilising training. Here the row norms ‖w_j‖ of the
  model's output embedding are set against each token's frequency in the Brown corpus (tokenised
  with the model's own tokenizer), with Spearman's rank correlation (numpy average ranks) and a
  bootstrap over tokens. SmolLM2 ties its output embedding to its input embedding, so these rows
  are also the input vectors: a difference from Baichuan 2, whose head is untied.
- **Max logits and the repetition penalty.** The largest logit at each position of held-out Brown
  text, and the KL between the next-token distributions without and with HF's repetition penalty
  (1.2 on the tokens of the context), as in notebook 2.
- **NormHead conversion.** The same hidden states through the normalised rows, rescaled by one
  number (the mean row norm, so that the logits keep their overall scale): how much the
  distribution changes (top-1 agreement, perplexity, max logit, penalty KL).
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.corpus import load_brown
from ..engine.config import BaseConfig, Count, OneOf, Range
from ..engine.devices import Device
from ..lm.cache import cached
from ..lm.runtime import torch_threads
from ..plotting import figure, legend_outside
from ..pretrained import load_model
from .common import markdown_table, num
from .data import _corpus_key, split_documents, subset
from .model import penalty_kl


@dataclasses.dataclass(frozen=True)
class RealModelConfig(BaseConfig):
    """Notebook 3: a real model's head-row norms, max logits and penalty sensitivity."""

    model: Annotated[str, OneOf(("smollm2-135m-instruct",))] = "smollm2-135m-instruct"
    """Pretrained model (``alignbook.pretrained``)."""
    n_docs: Annotated[int, Range(0, 500)] = 0
    """Brown documents counted for token frequencies (0: all 500)."""
    min_count: Count = 1
    """Tokens seen at least this often in Brown enter the correlation."""
    bootstrap: Annotated[int, Range(10, 100000)] = 200
    """Bootstrap resamples of tokens for the correlation's 95% interval."""
    windows: Count = 8
    """Held-out Brown windows run through the model."""
    seq_len: Annotated[int, Range(8, 2048)] = 128
    """Tokens per window."""
    penalty: Annotated[float, Range(1.0, 10.0)] = 1.2
    """Repetition penalty (HF convention)."""
    threads: Annotated[int, Range(1, 64)] = 1
    """Torch threads for the forward passes."""
    device: Device = "cpu"
    """Where the model and the windows run (``cuda`` in the ``gpu`` profile)."""

    def work(self):
        """What notebook 3 computes (:mod:`alignbook.engine.estimate`): one forward pass of the model over each
        of ``windows`` held-out windows of ``seq_len`` tokens, fp32; tokenising Brown, the head-row norms and
        the bootstrap (NumPy, CPU) are not counted."""
        from ..engine.estimate import lm_work
        from ..lm.sizes import shape_of

        shape = shape_of(self.model)
        if shape is None:
            return None
        return lm_work(shape.params, shape.hidden, shape.layers, forward_tokens=self.windows * self.seq_len,
                       trainable=0.0, notes=[f"{self.windows} windows × {self.seq_len} tokens, one at a time, fp32"])


def rankdata(x: np.ndarray) -> np.ndarray:
    """Ranks 1 … n with ties given their average rank (as ``scipy.stats.rankdata``)."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    starts = np.r_[0, np.nonzero(np.diff(sorted_x))[0] + 1]
    ends = np.r_[starts[1:], len(x)]
    avg = (starts + ends + 1) / 2.0
    ranks = np.empty(len(x))
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman's ρ: the Pearson correlation of the average ranks."""
    rx, ry = rankdata(x), rankdata(y)
    rx, ry = rx - rx.mean(), ry - ry.mean()
    return float((rx @ ry) / np.sqrt((rx @ rx) * (ry @ ry)))


def token_counts(tokenizer: Any, name: str, n_docs: int) -> np.ndarray:
    """How often each token id occurs in the Brown documents (cached: tokenising takes seconds)."""
    docs = subset(load_brown(), n_docs)
    key = {"model": name, "n_docs": n_docs, "corpus": _corpus_key(docs), "vocab": len(tokenizer),
           "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]}

    def build(folder: Path) -> None:
        counts = np.zeros(len(tokenizer), dtype=np.int64)
        for row in tokenizer([d["text"] for d in docs], add_special_tokens=False)["input_ids"]:
            counts += np.bincount(np.asarray(row), minlength=len(tokenizer))[:len(tokenizer)]
        np.save(folder / "counts.npy", counts)

    return np.load(cached(f"baichuan2-brown-counts-{name}", key, build) / "counts.npy")


def run_real_model(cfg: RealModelConfig) -> dict[str, Any]:
    """Norms against frequency, then one forward pass over held-out windows for the logit measures."""
    from ..engine import devices

    device = devices.resolve(cfg.device)
    model, tokenizer = load_model(cfg.model, device)
    head = model.get_output_embeddings().weight.detach()
    embed = model.get_input_embeddings().weight.detach()
    tied = bool(head is embed or torch.equal(head, embed))
    norms = head.norm(dim=1).cpu().numpy().astype(float)
    counts = token_counts(tokenizer, cfg.model, cfg.n_docs)[:len(norms)]
    keep = counts >= cfg.min_count
    rho = spearman(counts[keep], norms[keep])
    rng = np.random.default_rng(cfg.seed)
    idx = np.nonzero(keep)[0]
    boot = np.array([spearman(counts[s], norms[s]) for s in (rng.choice(idx, len(idx)) for _ in range(cfg.bootstrap))])
    # held-out windows: the validation documents of the chapter's split, model tokenizer
    _, val = split_documents(subset(load_brown(), cfg.n_docs))
    ids = []
    for row in tokenizer([d["text"] for d in val], add_special_tokens=False)["input_ids"]:
        ids.extend(row)
    ids = np.asarray(ids)
    stride = max(cfg.seq_len + 1, (len(ids) - cfg.seq_len - 1) // cfg.windows)
    windows = torch.tensor(np.stack([ids[i * stride:i * stride + cfg.seq_len + 1] for i in range(cfg.windows)])).to(device)
    scale = float(head.norm(dim=1).mean())
    unit = F.normalize(head, dim=1) * scale
    out = {k: [] for k in ("max_logit", "max_logit_nh", "kl", "kl_nh", "nll", "nll_nh", "agree")}
    with torch_threads(cfg.threads), torch.no_grad():
        for w in windows:
            x, y = w[None, :-1], w[None, 1:]
            h = model.model(input_ids=x).last_hidden_state[0]
            logits, logits_nh = h @ head.T, h @ unit.T
            for suffix, lg in (("", logits), ("_nh", logits_nh)):
                out["max_logit" + suffix].append(lg.max(-1).values.cpu().numpy())
                out["kl" + suffix].append(penalty_kl(lg[None], x, cfg.penalty)[0].cpu().numpy())
                out["nll" + suffix].append(F.cross_entropy(lg, y[0], reduction="none").cpu().numpy())
            out["agree"].append((logits.argmax(-1) == logits_nh.argmax(-1)).cpu().numpy())
    flat = {k: np.concatenate(v).astype(float) for k, v in out.items()}
    return {"tied": tied, "vocab": len(norms), "hidden": int(head.shape[1]), "norms": norms, "counts": counts,
            "kept": int(keep.sum()), "spearman": rho, "spearman_low": float(np.quantile(boot, 0.025)),
            "spearman_high": float(np.quantile(boot, 0.975)), "positions": int(flat["nll"].size),
            "scale": scale, **flat}


def conversion_markdown(r: dict[str, Any]) -> str:
    """Original head against the NormHead conversion on the same hidden states."""
    rows = [["perplexity on held-out Brown", num(np.exp(r["nll"].mean())), num(np.exp(r["nll_nh"].mean()))],
            ["mean max logit", num(r["max_logit"].mean()), num(r["max_logit_nh"].mean())],
            ["99th percentile of the max logit", num(np.quantile(r["max_logit"], 0.99)),
             num(np.quantile(r["max_logit_nh"], 0.99))],
            ["mean KL from the repetition penalty (nats)", num(r["kl"].mean()), num(r["kl_nh"].mean())],
            ["top-1 agreement with the original head", "1", num(r["agree"].mean())]]
    return markdown_table(["measure", "original head", "NormHead conversion (rows normalised, × mean norm)"], rows)


def norm_verdict(r: dict[str, Any]) -> tuple[str, str]:
    """Rarer tokens have smaller head-row norms: Spearman ρ(count, norm) over tokens seen at least
    ``min_count`` times, with a bootstrap 95% interval over tokens. Shown when the interval lies above
    0, contrary when below, not shown when it contains 0."""
    crit = "Criterion: the bootstrap 95% interval of Spearman's ρ between Brown frequency and row norm lies above 0."
    text = (f"ρ = {num(r['spearman'], 3)}, 95% interval [{num(r['spearman_low'], 3)}, {num(r['spearman_high'], 3)}] over "
            f"{r['kept']} tokens seen in Brown ({'tied' if r['tied'] else 'untied'} output embedding)")
    if r["spearman_low"] > 0:
        return "shown", f"**Shown**: {text}: rarer tokens have smaller norms. {crit}"
    if r["spearman_high"] < 0:
        return "contrary", f"**Contrary**: {text}: rarer tokens have *larger* norms. {crit}"
    return "not shown", f"**Not shown**: {text}. {crit}"


def plot_norms(r: dict[str, Any]) -> Any:
    """Row norm against Brown count (tokens seen), with the median norm in log-spaced count bins."""
    fig, ax = figure()
    keep = r["counts"] >= 1
    c, n = r["counts"][keep], r["norms"][keep]
    ax.scatter(c, n, s=2, alpha=0.15, color="C0", label="one token", rasterized=True)
    edges = np.unique(np.geomspace(1, c.max() + 1, 20).astype(int))
    mids, meds = [], []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (c >= lo) & (c < hi)
        if sel.sum() >= 5:
            mids.append(np.sqrt(lo * hi))
            meds.append(np.median(n[sel]))
    ax.plot(mids, meds, "o-", color="C3", label="median in a count bin")
    ax.set_xscale("log")
    ax.set_xlabel("count in the Brown corpus (SmolLM2 tokens)")
    ax.set_ylabel("output-embedding row norm")
    ax.set_title("Head-row norm against token frequency")
    legend_outside(fig, ax)
    return fig


def plot_max_logits(r: dict[str, Any]) -> Any:
    """Histogram of the per-position max logit, original head and NormHead conversion."""
    fig, ax = figure()
    bins = np.linspace(min(r["max_logit"].min(), r["max_logit_nh"].min()),
                       max(r["max_logit"].max(), r["max_logit_nh"].max()), 40)
    ax.hist(r["max_logit"], bins=bins, alpha=0.6, label="original head")
    ax.hist(r["max_logit_nh"], bins=bins, alpha=0.6, label="NormHead conversion")
    ax.set_xlabel("largest logit at a position")
    ax.set_ylabel("positions")
    ax.set_title("Max-logit distribution on held-out Brown")
    legend_outside(fig, ax)
    return fig
