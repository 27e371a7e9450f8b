"""Notebook 03: prefix trees and chains of SmolLM2-135M-Instruct answers on real prompts, a frozen scorer.

For each prompt the tree samples ``branching`` first segments of ``segment_tokens`` tokens, then
``branching`` continuations of each (``branching ** 2`` leaves, depth 2); the chain samples as many
independent answers of ``2 * segment_tokens`` tokens. The scorer has a known form: the cosine between the
MiniLM embedding of the answer and of a fixed description of a good answer (:data:`REFERENCE`), scaled
to unit std over the generated leaves. Labels are Bradley-Terry on it. Each reward model is a
ridge-regularised Bradley-Terry fit linear in the MiniLM embedding of the answer (well specified for
this scorer: a pilot run found no tree advantage for a well-specified linear model, so a null
is the expected outcome here). Best-of-N picks among the chain answers of held-out prompts.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch

from ..engine import devices
from ..engine.config import BaseConfig, ConfigError, Count, NonNegative, OneOf, Positive, Range, SeedCount
from ..engine.metrics import format_number
from ..engine.devices import Device
from ..engine.results import TrainResult
from .common import ci_text, mean_ci, seed_list, side

REFERENCE = "A clear, correct and detailed answer that directly addresses the question."
"""The frozen scorer's direction: a good answer, as the MiniLM embedder reads it."""


MINILM_PARAMS = 22.7e6
"""Weights of the MiniLM embedder (all-MiniLM-L6-v2: 6 layers, 384 wide, 30,522 tokens), for the estimate."""


@dataclasses.dataclass(frozen=True)
class RealTextConfig(BaseConfig):
    """Notebook 03: SmolLM2 trees and chains on real prompts, labelled by a frozen embedding scorer."""

    model: Annotated[str, OneOf(("smollm2-135m-instruct",))] = "smollm2-135m-instruct"
    """The generator (``alignbook.pretrained.load_model``)."""
    prompt_set: Annotated[str, OneOf(("mtbench", "freshqa"))] = "mtbench"
    """Real prompts (``alignbook.data.prompts.load_prompts``)."""
    prompts: Count = 8
    """Prompts used (the first ones of the set, in file order)."""
    branching: Annotated[int, Range(2, 4)] = 2
    """Children per node of the depth-2 prefix tree: branching**2 leaves per prompt."""
    segment_tokens: Annotated[int, Range(2, 256)] = 12
    """Tokens per segment (a chain answer has twice as many)."""
    temperature: Positive = 1.0
    """Sampling temperature of the generator."""
    label_beta: Positive = 2.0
    """P(a preferred to b) = sigmoid(beta (s(a) - s(b))), s the unit-scaled scorer."""
    l2: NonNegative = 1.0
    """Ridge penalty of the linear Bradley-Terry reward model."""
    heldout_fraction: Annotated[float, Range(0.1, 0.9)] = 0.5
    """Share of prompts held out for accuracy and best-of-N (re-drawn per seed)."""
    seeds: SeedCount = 10
    """Paired seeds: label noise and the train / held-out split; the generations are shared."""
    min_heldout_prompts: Count = 20
    """Below this many held-out prompts the verdict is 'not testable' (fixed before any run)."""
    device: Device = "cpu"
    """Where SmolLM2 samples and the MiniLM scorer embeds (:mod:`alignbook.engine.devices`); gpu and paper: ``cuda``."""

    def work(self):
        """What notebook 3 computes (:mod:`alignbook.engine.estimate`): SmolLM2 samples, in three batched
        ``generate`` calls, ``branching`` first segments of ``segment_tokens`` per prompt, ``branching``
        continuations of each, and ``branching²`` chain answers of ``2 · segment_tokens``; MiniLM embeds
        every leaf and chain answer once (22.7M weights, a few hundred texts: counted as a forward pass at
        the prompt's length, an upper bound of 128 tokens). The Bradley-Terry fits are NumPy on the CPU (one
        per seed and topology, Newton on a 384-wide problem) and are not counted."""
        from ..engine.estimate import lm_work
        from ..lm.sizes import decode_note, decode_seconds, shape_of

        shape = shape_of(self.model)
        if shape is None:
            return None
        b, s, p = self.branching, self.segment_tokens, self.prompts
        steps = s + s + 2 * s
        tokens = p * (b * s + b * b * s + b * b * 2 * s)
        texts = 2 * p * b * b
        work = lm_work(shape.params, shape.hidden, shape.layers, decode_tokens=tokens, trainable=0.0,
                       resident=shape.params + MINILM_PARAMS,
                       notes=[f"{p} prompts: {tokens} sampled tokens in {steps} batched steps, fp32; {texts} texts "
                              f"embedded by MiniLM", decode_note(steps, shape.layers)])
        work.train_flops += 2.0 * MINILM_PARAMS * texts * 128
        work.other_seconds += decode_seconds(steps, shape.layers)
        return work

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.prompts < 2:
            raise ConfigError(f"prompts={self.prompts}: need at least 2 (one to train, one held out)")



def sample_continuations(model: Any, tokenizer: Any, prompt_texts: list[str], prefixes: list[list[int]], k: int,
                         max_new_tokens: int, temperature: float, seed: int) -> list[list[list[int]]]:
    """For each (prompt, prefix token ids) pair: ``k`` sampled continuations of up to ``max_new_tokens`` token ids.

    The prompt goes through the chat template; the prefix is appended to the assistant turn; a
    continuation stops at the end-of-turn token (kept out of the ids). Sampling runs on the model's device.
    """
    from ..pretrained.generate import chat_texts

    tokenizer.padding_side = "left"
    heads = [tokenizer(t, add_special_tokens=False)["input_ids"] for t in chat_texts(tokenizer, prompt_texts)]
    rows = [h + p for h, p in zip(heads, prefixes) for _ in range(k)]
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows]).to(device)
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows]).to(device)
    with torch.no_grad():
        torch.manual_seed(seed)
        out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=True,
                             temperature=temperature, top_p=None, top_k=None, pad_token_id=pad)
    result: list[list[list[int]]] = []
    for i, row in enumerate(out[:, width:].cpu().tolist()):
        cut = next((j for j, t in enumerate(row) if t in (tokenizer.eos_token_id, pad)), len(row))
        if i % k == 0:
            result.append([])
        result[-1].append(row[:cut])
    return result


def generate(cfg: RealTextConfig) -> dict[str, Any]:
    """Trees and chains for the first ``cfg.prompts`` prompts: token ids, texts and the scorer's values.

    SmolLM2 and the MiniLM scorer both run on ``cfg.device``; only the scores and embeddings come back to
    the CPU (as lists).
    """
    from ..data.prompts import load_prompts
    from ..pretrained import load_model
    from ..pretrained.embed import load_embedder

    device = devices.resolve(cfg.device)
    model, tok = load_model(cfg.model, device)
    texts = [r["text"] for r in load_prompts(cfg.prompt_set)[:cfg.prompts]]
    b, s = cfg.branching, cfg.segment_tokens
    first = sample_continuations(model, tok, texts, [[] for _ in texts], b, s, cfg.temperature, cfg.seed)
    flat_prompts = [t for t in texts for _ in range(b)]
    flat_prefix = [seg for segs in first for seg in segs]
    second = sample_continuations(model, tok, flat_prompts, flat_prefix, b, s, cfg.temperature, cfg.seed + 1)
    chains = sample_continuations(model, tok, texts, [[] for _ in texts], b * b, 2 * s, cfg.temperature, cfg.seed + 2)
    trees = []
    for p in range(len(texts)):
        leaves = []
        for i in range(b):
            seg1 = first[p][i]
            for seg2 in second[p * b + i]:
                leaves.append({"prefix": seg1, "suffix": seg2, "ids": seg1 + seg2})
        trees.append(leaves)
    emb = load_embedder(device)
    ref = emb.encode([REFERENCE])[0]
    tree_text = [[tok.decode(l["ids"], skip_special_tokens=True) for l in leaves] for leaves in trees]
    chain_text = [[tok.decode(c, skip_special_tokens=True) for c in cs] for cs in chains]
    flat = [t for ts in tree_text for t in ts] + [t for ts in chain_text for t in ts]
    e = emb.encode(flat)
    raw = (e @ ref).cpu().numpy()
    e = e.cpu()
    n_tree = len(texts) * b * b
    scale = float(raw[:n_tree].std()) or 1.0
    return {"prompts": texts, "trees": trees, "chains": chains, "tree_text": tree_text, "chain_text": chain_text,
            "tree_emb": e[:n_tree].numpy().reshape(len(texts), b * b, -1).tolist(),
            "chain_emb": e[n_tree:].numpy().reshape(len(texts), b * b, -1).tolist(),
            "tree_score": (raw[:n_tree] / scale).reshape(len(texts), b * b).tolist(),
            "chain_score": (raw[n_tree:] / scale).reshape(len(texts), b * b).tolist()}


def fit_linear_bt(x: np.ndarray, y: np.ndarray, l2: float, steps: int = 100) -> np.ndarray:
    """Ridge Bradley-Terry by Newton's method: minimise sum BCE(sigmoid(x w), y) + l2 |w|^2; ``x`` = feature differences."""
    w = np.zeros(x.shape[1])
    for _ in range(steps):
        p = 1 / (1 + np.exp(-(x @ w)))
        grad = x.T @ (p - y) + 2 * l2 * w
        hess = (x * (p * (1 - p))[:, None]).T @ x + 2 * l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-10:
            break
    return w


def run(cfg: RealTextConfig, gen: dict[str, Any]) -> TrainResult:
    """Per seed: split prompts, sample labels on all leaf pairs, fit a chain RM and a tree RM, evaluate on held-out prompts.

    The scorer's embeddings and values are written once to ``rm_inputs.npz`` in the run folder; each seed
    is a unit of :func:`alignbook.engine.parallel.map_units` (:func:`rm_seed`) that reads them and fits
    both RMs on the same split and label noise (paired). The fits are NumPy (Newton's method on a
    384-dimensional ridge problem): they run on the CPU whatever ``cfg.device`` is.
    """
    from ..engine.parallel import map_units

    inputs = Path(cfg.run_dir) / "rm_inputs.npz"
    np.savez(inputs, **{key: np.array(gen[key]) for key in ("tree_emb", "chain_emb", "tree_score", "chain_score")})
    history = map_units(rm_seed, cfg, seed_list(cfg.seed, cfg.seeds), name="seeds", context=str(inputs))
    result = TrainResult(metrics={"prompts": len(gen["prompts"]), "leaves": int(np.array(gen["tree_score"]).shape[1])},
                         history=history, checkpoint=None, config=dataclasses.asdict(cfg))
    result.save(Path(cfg.run_dir))
    return result


def rm_seed(unit: Any) -> dict[str, Any]:
    """One seed of :func:`run` (``unit.value``; ``unit.context``: the ``rm_inputs.npz`` it reads): both RMs' held-out numbers."""
    cfg, s = unit.cfg, unit.value
    with np.load(unit.context, allow_pickle=False) as f:
        te, ce, ts, cs = (f[key] for key in ("tree_emb", "chain_emb", "tree_score", "chain_score"))
    p = te.shape[0]
    pairs = np.array(list(itertools.combinations(range(te.shape[1]), 2)))
    rng = np.random.default_rng([s, 3])
    order = rng.permutation(p)
    k = max(1, int(round(p * cfg.heldout_fraction)))
    held, train = order[:k], order[k:]
    u = rng.random((p, len(pairs)))
    row: dict[str, Any] = {"seed": s, "heldout_prompts": int(k)}
    for topo, e, sc in (("chain", ce, cs), ("tree", te, ts)):
        x = (e[train][:, pairs[:, 0]] - e[train][:, pairs[:, 1]]).reshape(-1, e.shape[-1])
        prob = 1 / (1 + np.exp(-cfg.label_beta * (sc[train][:, pairs[:, 0]] - sc[train][:, pairs[:, 1]])))
        y = (u[train] < prob).astype(float).reshape(-1)
        w = fit_linear_bt(x, y, cfg.l2)
        # held-out evaluation on the chain answers of held-out prompts (the same for both RMs)
        rm = ce[held] @ w
        d_rm = rm[:, pairs[:, 0]] - rm[:, pairs[:, 1]]
        d_g = cs[held][:, pairs[:, 0]] - cs[held][:, pairs[:, 1]]
        row[f"acc_{topo}"] = float((np.sign(d_rm) == np.sign(d_g)).mean())
        row[f"bon_{topo}"] = float(cs[held][np.arange(k), rm.argmax(1)].mean())
    row["bon_random"] = float(cs[held].mean())
    row["bon_oracle"] = float(cs[held].max(1).mean())
    return row


def summary_markdown(result: TrainResult) -> str:
    h = result.history
    lines = ["| quantity | chain RM | tree RM | tree − chain |", "|---|---|---|---|"]
    for key, name in (("acc", "held-out pair accuracy"), ("bon", f"best-of-{result.metrics['leaves']} scorer value")):
        c = [r[f"{key}_chain"] for r in h]
        t = [r[f"{key}_tree"] for r in h]
        lines.append(f"| {name} | {ci_text(c)} | {ci_text(t)} | {ci_text(list(np.subtract(t, c)))} |")
    lines.append("")
    lines.append(f"For scale: a random held-out answer scores {ci_text([r['bon_random'] for r in h])}, the scorer's own best "
                 f"{ci_text([r['bon_oracle'] for r in h])}. Seeds re-draw labels and the prompt split; the generations are "
                 "shared, so the intervals understate the spread of a fresh generation.")
    return "\n".join(lines)


def verdict(result: TrainResult, cfg: RealTextConfig) -> tuple[str, str]:
    """Tree RM's best-of-N not worse and better on accuracy or best-of-N: paired 95% intervals over seeds.

    Not testable with fewer than ``min_heldout_prompts`` held-out prompts or one seed. Shown when the
    interval of tree − chain best-of-N value lies above 0 and that of accuracy is not below 0; contrary
    when either lies below 0; not shown otherwise.
    """
    h = result.history
    k = h[0]["heldout_prompts"]
    acc = list(np.subtract([r["acc_tree"] for r in h], [r["acc_chain"] for r in h]))
    bon = list(np.subtract([r["bon_tree"] for r in h], [r["bon_chain"] for r in h]))
    text = (f"tree − chain over {len(h)} seeds: held-out accuracy {ci_text(acc)}, best-of-{result.metrics['leaves']} "
            f"scorer value {ci_text(bon)}, on {k} held-out prompts of {result.metrics['prompts']}.")
    if k < cfg.min_heldout_prompts or len(h) < 2:
        return "not testable", (f"{k} held-out prompts (fewer than the {cfg.min_heldout_prompts} fixed in advance): too few "
                                f"to decide; the gpu profile is sized for it. Measured: {text}")
    if side(bon) == "below" or side(acc) == "below":
        return "contrary", text
    if side(bon) == "above" and side(acc) != "below":
        return "shown", text
    return "not shown", text


def plot(result: TrainResult) -> Any:
    from ..plotting import figure, legend_outside

    fig, axes = figure(ncols=2)
    h = result.history
    for ax, key, label in ((axes[0], "acc", "held-out pair accuracy"), (axes[1], "bon", "best-of-N scorer value (std units)")):
        for i, topo in enumerate(("chain", "tree")):
            v = [r[f"{key}_{topo}"] for r in h]
            m, half = mean_ci(v)
            ax.bar([i], [m], yerr=[half or 0.0], color=f"C{i}", label=f"{topo} RM")
        ax.set_xticks([0, 1], ["chain", "tree"])
        ax.set_xlabel("training topology")
        ax.set_ylabel(label)
    axes[0].set_title("Ranking held-out answers")
    axes[1].set_title("Best-of-N on held-out prompts")
    legend_outside(fig)
    return fig


def save_trees(gen: dict[str, Any], run_dir: str) -> Path:
    """The generated token ids (for notebook 04), as JSON in the run folder."""
    import json

    path = Path(run_dir) / "trees.json"
    path.write_text(json.dumps({"trees": gen["trees"], "chains": gen["chains"]}))
    return path


def example_markdown(gen: dict[str, Any], index: int = 0, width: int = 160) -> str:
    """One prompt's tree leaves and chain answers with the scorer's values, shortened for the page."""
    def cut(t):
        t = " ".join(t.split())
        return t if len(t) <= width else t[:width] + " …"
    lines = [f"**Prompt.** {cut(gen['prompts'][index])}", "", "| topology | answer | scorer |", "|---|---|---|"]
    for topo in ("tree", "chain"):
        for t, s in zip(gen[f"{topo}_text"][index], gen[f"{topo}_score"][index]):
            lines.append(f"| {topo} | {cut(t).replace('|', '/')} | {format_number(s, 3)} |")
    return "\n".join(lines)
