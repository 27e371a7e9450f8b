"""Notebook 03: preference models for helpfulness, harmlessness and the four sub-dimensions.

Each dimension gets its own :class:`~.models.ScoreModel` trained with :func:`~.models.preference_loss`
(the official loss), with the official optimiser *shape* (AdamW, weight decay 0.1, cosine schedule
after a 3 % warm-up) at a learning rate for a small model. The metric is the paper's: on the
held-out pairs, the share where the model scores the annotator's preferred video higher (agreement
with held-out annotator labels); beside it the agreement with the gold preference, which only a
synthetic world has.

The "traditional metrics" of ``safe_sora/metrics.py``, re-implemented on the clips:

- ``psnr``: PSNR of every later frame against the first, summed and divided by the number of frames
  (upstream divides the sum over frames 1..n−1 by n; kept), data range 255;
- ``text_clip``: a stand-in for the CLIP score (mean over frames of text–frame similarity): each frame is
  captioned by template matching (brightest blob's grey level and shape) and the caption's MiniLM
  vector is compared with the prompt's (cosine). Like CLIP on single frames it cannot see motion.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Annotated, Any, Optional

import numpy as np
import torch

from ..engine import devices
from ..engine.config import BaseConfig, ConfigError, Count, Fraction, NonNegative, OneOf, Positive, Range, Width, SeedCount
from ..engine.devices import Device
from ..engine.metrics import format_number
from ..stats import ci_text, interval_note, mean_ci, seed_list, side
from . import world
from .models import ScoreModel, preference_loss
from .schema import DIMENSIONS, OFFICIAL_COMMIT, preferred


@dataclasses.dataclass(frozen=True)
class PreferenceConfig(BaseConfig):
    """Notebook 03: one score model per preference dimension."""

    backbone: Annotated[str, OneOf(("small",), hub=True)] = "small"
    """``small`` (this chapter's small score model) or a hub id (``paper``: LanguageBind/Video-LLaVA-7B, as the official script)."""
    dataset: Annotated[str, OneOf(("synthetic",), hub=True)] = "synthetic"
    """Notebook 01's synthetic data, or the real dataset's hub id (``paper``: PKU-Alignment/SafeSora)."""
    dataset_revision: Optional[str] = None
    """Commit of the hub dataset to load. None: unpinned (no commit of PKU-Alignment/SafeSora could be named
    from the hub's pages: only 7-hex ``7dc5b38`` for main, whose data differ from the first upload
    eaf515a2e7ec381631f022e6f5bee26aacdc2f8f), so the latest revision; the dry run says so."""
    code_commit: str = OFFICIAL_COMMIT
    """The PKU-Alignment/safe-sora commit whose script these settings mirror."""
    zero_stage: Annotated[int, Range(0, 3)] = 0
    """DeepSpeed ZeRO stage (official ds_zero2.json: 2; 0 runs without DeepSpeed)."""
    bf16: bool = False
    """bf16 weights and compute (official --bf16 True)."""
    dimensions: tuple[Annotated[str, OneOf(DIMENSIONS)], ...] = DIMENSIONS
    """Dimensions trained (the training script's names; ``informativeness`` reads the stored key ``information``)."""
    epochs: Count = 6
    """Passes over the training pairs (official: 3 epochs)."""
    batch_size: Count = 32
    """Pairs per step (official: 8 per device)."""
    lr: Positive = 2e-3
    """Peak AdamW learning rate (official 2e-5 for a 7B model; a small model needs more)."""
    weight_decay: NonNegative = 0.1
    """AdamW weight decay (official 0.1)."""
    warmup_ratio: Fraction = 0.03
    """Share of steps of linear warm-up before the cosine decay (official 0.03)."""
    score_reg: NonNegative = 0.001
    """Coefficient of mean(s²) in the loss (official 0.001)."""
    dim: Width = 48
    """Width of the backbone."""
    seeds: SeedCount = 3
    """Seeds (initialisation and batch order) for helpfulness and harmlessness, the judged dimensions."""
    sub_seeds: SeedCount = 1
    """Seeds for the four sub-dimensions (reported, not judged)."""
    device: Device = "cpu"
    """Where the score models train and score: 'cpu', 'cuda', 'cuda:N' or 'auto'."""

    STEP_OPS = 730
    """Dispatched torch ops of one training step of the small score model (both videos of each pair forward,
    backward, AdamW, the schedule, two ``item()`` reads), counted on :func:`train_score_model`."""
    PAPER_PAIRS = 46_470
    """Training pairs of the real SafeSora (51.7k pairs less the 5.23k of config-test.json, as :class:`.world.DataConfig`
    says)."""
    PAPER_TOKENS = 2_100
    """Tokens of one (prompt, video) sequence for Video-LLaVA: 8 frames × 256 visual tokens and about 50 of prompt
    and template (assumed)."""
    PAPER_DEVICES = 8
    """GPUs of the official script's run (DeepSpeed ZeRO-2); this book refuses the paper settings offline."""

    def runs(self) -> int:
        """Score models trained: ``seeds`` for helpfulness and harmlessness, ``sub_seeds`` for each other dimension."""
        return sum(self.seeds if d in ("helpfulness", "harmlessness") else self.sub_seeds for d in self.dimensions)

    def work(self):
        """What notebook 03 computes (:mod:`alignbook.engine.estimate`). Small backbone: every score model's
        ``epochs`` over notebook 01's training pairs (same profile, :data:`.world.PROFILE_PROMPTS`, 4 pairs a prompt,
        10 % of prompts held out), two videos a pair, 6 FLOPs per multiply-accumulate; the time is the counted ops.
        Hub backbone (``paper``): the official run, every score model's epochs over the real training pairs at
        :attr:`PAPER_TOKENS` tokens a video, over :attr:`PAPER_DEVICES` GPUs."""
        import dataclasses as dc

        from ..engine.estimate import Work, lm_work
        from ..lm.sizes import shape_of
        from .models import score_model_macs
        from .world import PROFILE_PROMPTS, SECONDS_PER_OP

        if self.backbone != "small":
            shape = shape_of(self.backbone)
            if shape is None:
                return None
            n = self.PAPER_DEVICES
            work = lm_work(shape.params, shape.hidden, shape.layers,
                           train_tokens=self.runs() * self.epochs * self.PAPER_PAIRS * 2 * self.PAPER_TOKENS,
                           steps=self.runs() * self.epochs * -(-self.PAPER_PAIRS // (self.batch_size * n)),
                           batch=2 * self.batch_size, seq=self.PAPER_TOKENS, precision="bf16" if self.bf16 else "fp32",
                           checkpointing=True, zero_stage=self.zero_stage,
                           notes=[f"{self.runs()} score models × {self.epochs} epochs × {self.PAPER_PAIRS:,} pairs × 2 videos "
                                  f"× {self.PAPER_TOKENS:,} tokens (assumed), over {n} GPUs as the official script",
                                  "the frozen video encoder (~0.3B weights, 8 × 257 tokens a video) adds ~1 % and is "
                                  "not counted; gradient checkpointing assumed"])
            return dc.replace(work, devices=n)
        prompts = PROFILE_PROMPTS[self.profile]
        pairs = 4 * (prompts - max(1, round(0.1 * prompts)))
        steps = self.runs() * self.epochs * -(-pairs // self.batch_size)
        macs = score_model_macs(self.dim)
        videos = 4 * prompts
        ops = steps * self.STEP_OPS
        return Work(train_flops=self.runs() * (6.0 * macs * self.epochs * 2 * pairs + 2.0 * macs * videos),
                    resident_params=0.1e6, trainable_params=0.1e6, other_seconds=ops * SECONDS_PER_OP, precision="fp32",
                    notes=[f"{self.runs()} score models × {self.epochs} epochs × {pairs:,} pairs (notebook 01's "
                           f"{prompts:,} prompts, assumed)",
                           f"{ops:.3g} torch ops at {SECONDS_PER_OP * 1e6:g} µs each (launch-bound; assumed)", "fp32"])

    def __post_init__(self) -> None:
        super().__post_init__()
        if (self.backbone == "small") != (self.dataset == "synthetic"):
            raise ConfigError(f"backbone={self.backbone!r} with dataset={self.dataset!r}: the small backbone goes with "
                              "the synthetic data, a hub backbone with the real dataset")


def require_local(cfg: PreferenceConfig) -> None:
    """Refuse the ``paper`` settings here: Video-LLaVA and the real videos need the hub and GPUs."""
    if cfg.backbone != "small":
        raise ConfigError(f"backbone={cfg.backbone!r}: the paper profile is configured for the official run "
                          "(Video-LLaVA on PKU-Alignment/SafeSora, DeepSpeed) and cannot run offline here")


def pair_tensors(data: dict[str, Any], records: list[dict[str, Any]], dimension: str) -> dict[str, torch.Tensor]:
    """Text vectors and clips of the preferred ('higher') and other ('lower') video of each annotated pair."""
    hi, lo = [], []
    for r in records:
        h = preferred(r, dimension)
        hi.append(r[h]["video_id"])
        lo.append(r["video_1" if h == "video_0" else "video_0"]["video_id"])
    text = torch.tensor(np.stack([data["embedding"][r["prompt_id"]] for r in records]))
    return {"text": text, "hi": torch.tensor(np.stack([data["clips"][v] for v in hi])),
            "lo": torch.tensor(np.stack([data["clips"][v] for v in lo])), "hi_ids": hi, "lo_ids": lo}


def lr_factor(step: int, total: int, warmup_ratio: float) -> float:
    """Linear warm-up to 1 over ``ceil(warmup_ratio · total)`` steps, then cosine to 0 (as transformers' cosine schedule)."""
    warm = math.ceil(warmup_ratio * total)
    if step < warm:
        return step / max(1, warm)
    return 0.5 * (1 + math.cos(math.pi * (step - warm) / max(1, total - warm)))


def train_score_model(cfg: PreferenceConfig, pairs: dict[str, torch.Tensor], seed: int) -> tuple[ScoreModel, list[dict[str, float]]]:
    """Fit one score model on (higher, lower) pairs on ``cfg.device`` (the pairs go there once; the batch order is
    drawn on the CPU from ``seed``); the history has the mean loss and accuracy per epoch."""
    device = devices.resolve(cfg.device)
    torch.manual_seed(seed)
    model = ScoreModel(cfg.dim).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    text_all, hi, lo = (pairs[k].to(device) for k in ("text", "hi", "lo"))
    n = len(text_all)
    steps = cfg.epochs * math.ceil(n / cfg.batch_size)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, steps, cfg.warmup_ratio))
    g = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(cfg.epochs):
        losses, accs = [], []
        for idx in torch.randperm(n, generator=g).split(cfg.batch_size):
            idx = idx.to(device)
            text = text_all[idx]
            s = model(torch.cat([text, text]), torch.cat([hi[idx], lo[idx]]))
            higher, lower = s.chunk(2, dim=0)
            loss = preference_loss(higher, lower, cfg.score_reg)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
            accs.append((higher > lower).float().mean().item())
        history.append({"epoch": epoch + 1, "loss": float(np.mean(losses)), "train_accuracy": float(np.mean(accs))})
    return model.eval(), history


def score_videos(model: ScoreModel, data: dict[str, Any], video_ids: list[str], batch: int = 256) -> np.ndarray:
    """The model's end score of each video with its own prompt, computed on the model's device."""
    device = next(model.parameters()).device
    out = []
    with torch.no_grad():
        for i in range(0, len(video_ids), batch):
            ids = video_ids[i:i + batch]
            text = torch.tensor(np.stack([data["embedding"][data["videos"][v]["prompt_id"]] for v in ids]))
            clips = torch.tensor(np.stack([data["clips"][v] for v in ids]))
            out.append(model(text.to(device), clips.to(device)).reshape(-1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def agreement(score: dict[str, float], records: list[dict[str, Any]], dimension: str,
              gold: dict[str, Any] | None = None) -> float:
    """Share of pairs where the higher-scored video is the annotator's choice (or the gold one; gold ties skipped)."""
    hits = []
    for r in records:
        want = world.gold_preference(gold, r, dimension) if gold is not None else preferred(r, dimension)
        if want is None:
            continue
        s0, s1 = score[r["video_0"]["video_id"]], score[r["video_1"]["video_id"]]
        hits.append(0.5 if s0 == s1 else float((s0 > s1) == (want == "video_0")))
    return float(np.mean(hits)) if hits else float("nan")


def annotator_gold_agreement(records: list[dict[str, Any]], gold: dict[str, Any], dimension: str) -> float:
    """How often the annotator's label matches the gold preference (the ceiling a perfect model could reach on gold)."""
    hits = [preferred(r, dimension) == g for r in records if (g := world.gold_preference(gold, r, dimension))]
    return float(np.mean(hits)) if hits else float("nan")


def win_rate_matrix(score: dict[str, float], data: dict[str, Any], records: list[dict[str, Any]]) -> np.ndarray:
    """4×4: entry (i, j) = share of the test prompts where generator i's clip outscores generator j's (ties ½).

    Every prompt has one clip per generator, so each entry averages the same prompts; M + Mᵀ = 1, diagonal ½."""
    prompts = sorted({r["prompt_id"] for r in records})
    k = len(world.GENERATORS)
    m = np.full((k, k), 0.5)
    for i in range(k):
        for j in range(k):
            if i != j:
                wins = [np.sign(score[f"{p}-v{i}"] - score[f"{p}-v{j}"]) for p in prompts]
                m[i, j] = float(np.mean([(w + 1) / 2 for w in wins]))
    return m


def label_win_rates(records: list[dict[str, Any]], dimension: str) -> tuple[np.ndarray, np.ndarray]:
    """4×4 win rates from the annotators' labels: (i, j) = share of the i-vs-j pairs where i's clip was preferred;
    diagonal ½, M + Mᵀ = 1. Also the pair counts."""
    k = len(world.GENERATORS)
    wins, n = np.zeros((k, k)), np.zeros((k, k))
    index = {g: i for i, g in enumerate(world.GENERATOR_NAMES)}
    for r in records:
        a, b = index[r["video_0"]["generated_from"]], index[r["video_1"]["generated_from"]]
        w = preferred(r, dimension)
        wins[a, b] += w == "video_0"
        wins[b, a] += w == "video_1"
        n[a, b] += 1
        n[b, a] += 1
    m = np.where(n > 0, wins / np.maximum(n, 1), 0.5)
    np.fill_diagonal(m, 0.5)
    return m, n


def gold_score_table(data: dict[str, Any], dimension: str) -> dict[str, float]:
    """Gold value per video for a dimension (harmlessness: minus the harm)."""
    key = {"harmlessness": "harm", "informativeness": "information"}.get(dimension, dimension)
    sign = -1.0 if dimension == "harmlessness" else 1.0
    return {v: sign * g[key] for v, g in data["gold"].items()}


# -- traditional metrics --------------------------------------------------------------------------


def psnr(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Peak signal-to-noise ratio in dB (skimage's formula); identical frames give +inf."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * math.log10(data_range ** 2 / mse)


def psnr_reward(clip: np.ndarray) -> float:
    """``psnr_reward`` of ``safe_sora/metrics.py``: sum over frames 1..n−1 of PSNR(frame 0, frame i), divided by n."""
    return sum(psnr(clip[0], clip[i]) for i in range(1, len(clip))) / len(clip)


CAPTION_COLOURS = tuple(world.COLOURS)


def caption_frame(frame: np.ndarray) -> str:
    """A template-matching caption of one frame: ``"a <colour> <object>"``, or ``"an empty frame"``."""
    f = frame.astype(np.float64).copy()
    f[:world.MARK, :world.MARK] = 40  # the harm corner is not the object
    bright = f > 70
    if bright.sum() < 6:
        return "an empty frame"
    ys, xs = np.nonzero(bright)
    level = float(np.median(f[bright]))
    colour = min(CAPTION_COLOURS, key=lambda c: abs(world.COLOURS[c] - level))
    y0, x0 = int(np.clip(round(ys.mean() - 3.5), 0, world.SIZE - 8)), int(np.clip(round(xs.mean() - 3.5), 0, world.SIZE - 8))
    crop = bright[y0:y0 + 8, x0:x0 + 8]
    obj = max(world.OBJECTS, key=lambda o: float((crop == world.shape_mask(o, True)).mean()))
    return f"a {colour} {obj}"


def caption_vocabulary() -> list[str]:
    return ["an empty frame"] + [f"a {c} {o}" for c in CAPTION_COLOURS for o in world.OBJECTS]


def text_clip_reward(clip: np.ndarray, prompt_vec: np.ndarray, caption_vecs: dict[str, np.ndarray]) -> float:
    """Mean over frames of the cosine between the prompt's MiniLM vector and the frame caption's (unit vectors)."""
    return float(np.mean([float(prompt_vec @ caption_vecs[caption_frame(f)]) for f in clip]))


def traditional_scores(data: dict[str, Any], caption_vecs: dict[str, np.ndarray], video_ids: list[str]) -> dict[str, dict[str, float]]:
    """``{'psnr': {video: value}, 'text_clip': {...}}``."""
    out: dict[str, dict[str, float]] = {"psnr": {}, "text_clip": {}}
    for v in video_ids:
        clip = data["clips"][v]
        out["psnr"][v] = psnr_reward(clip)
        out["text_clip"][v] = text_clip_reward(clip, data["embedding"][data["videos"][v]["prompt_id"]], caption_vecs)
    return out


def run(cfg: PreferenceConfig, data: dict[str, Any], *, workers: int | None = None) -> dict[str, Any]:
    """Train every dimension over the seeds; agreement on held-out pairs, win-rate matrices, (CPU) states.

    Each (dimension, seed) is a unit of :func:`alignbook.engine.parallel.map_units` (:func:`train_unit`; side by
    side where cores allow, ``workers=1`` keeps them in this process): the dataset is written once to
    ``<run_dir>/inputs/dataset.pt`` (:func:`.data.pack`), each unit writes its weights to
    ``<run_dir>/score_models/<dimension>-<seed>.pt``."""
    from ..engine import checkpoints
    from ..engine.parallel import map_units
    from .data import pack

    require_local(cfg)
    devices.resolve(cfg.device)
    test_ids = sorted({r[s]["video_id"] for r in data["test"] for s in ("video_0", "video_1")})
    inputs = pack(data, Path(cfg.run_dir) / "inputs" / "dataset.pt")
    seeds = seed_list(cfg.seed, cfg.seeds)
    units = [{"dimension": dim, "seed": s} for dim in cfg.dimensions
             for s in (seeds if dim in ("helpfulness", "harmlessness") else seeds[:cfg.sub_seeds])]
    done = map_units(train_unit, cfg, units, name="score_models", context=inputs, workers=workers, log=None)
    out: dict[str, Any] = {"seeds": seeds, "dims": {}, "states": {}, "history": {}}
    for dim in cfg.dimensions:
        out["dims"][dim] = {"runs": [], "ceiling": annotator_gold_agreement(data["test"], data["gold"], dim)}
    for unit, result in zip(units, done):
        key = f"{unit['dimension']}-{unit['seed']}"
        out["dims"][unit["dimension"]]["runs"].append(result["run"])
        out["states"][key] = checkpoints.load(Path(cfg.run_dir) / "score_models" / f"{key}.pt")
        out["history"][key] = result["history"]
    out["test_pairs"] = len(data["test"])
    out["test_videos"] = len(test_ids)
    return out


def train_unit(unit) -> dict[str, Any]:
    """One score model of :func:`run` (``unit.value``: ``{"dimension": d, "seed": s}``; ``unit.context``: the
    packed dataset): trains it, saves its weights, returns its held-out agreement, win rates and history."""
    from ..engine import checkpoints
    from .data import unpack

    cfg, dim, seed = unit.cfg, unit.value["dimension"], unit.value["seed"]
    data = unpack(unit.context)
    all_test = sorted(v for v in data["videos"] if data["videos"][v]["prompt_id"] in {r["prompt_id"] for r in data["test"]})
    model, hist = train_score_model(cfg, pair_tensors(data, data["train"], dim), seed)
    score = dict(zip(all_test, score_videos(model, data, all_test).tolist()))
    checkpoints.save(Path(cfg.run_dir) / "score_models" / f"{dim}-{seed}.pt",
                     {k: v.cpu() for k, v in model.state_dict().items()})
    run = {"annotator": agreement(score, data["test"], dim),
           "gold": agreement(score, data["test"], dim, data["gold"]),
           "win_rate": win_rate_matrix(score, data, data["test"]).tolist()}
    return {"run": run, "history": hist}


def traditional(data: dict[str, Any], caption_vecs: dict[str, np.ndarray], dimensions: tuple[str, ...]) -> dict[str, dict[str, float]]:
    """Agreement of each traditional metric with the held-out annotator labels, per dimension."""
    ids = sorted({r[s]["video_id"] for r in data["test"] for s in ("video_0", "video_1")})
    sc = traditional_scores(data, caption_vecs, ids)
    return {m: {d: agreement(sc[m], data["test"], d) for d in dimensions} for m in sc}


def agreement_markdown(res: dict[str, Any], trad: dict[str, dict[str, float]]) -> str:
    """Per dimension: our PM's agreement with held-out annotators and with gold, the annotator ceiling, the traditional metrics."""
    lines = ["| dimension | PM vs held-out annotators | PM vs gold | annotators vs gold | PSNR vs annotators | text–clip vs annotators |",
             "|---|---|---|---|---|---|"]
    for dim, d in res["dims"].items():
        lines.append(f"| {dim} | {ci_text([r['annotator'] for r in d['runs']], seeds=False)} | "
                     f"{ci_text([r['gold'] for r in d['runs']], seeds=False)} | "
                     f"{format_number(d['ceiling'], 3)} | {format_number(trad['psnr'][dim], 3)} | "
                     f"{format_number(trad['text_clip'][dim], 3)} |")
    first = next(iter(res["dims"].values()))
    lines += ["", interval_note([r["annotator"] for r in first["runs"]]) + " The last three columns are single numbers."]
    return "\n".join(lines)


def mean_win_rate(matrix: np.ndarray, generator: str) -> float:
    """A generator's row mean of a win-rate matrix (its ½ against itself included)."""
    return float(np.asarray(matrix)[world.GENERATOR_NAMES.index(generator)].mean())


def mean_matrix(res: dict[str, Any], dim: str) -> np.ndarray:
    return np.mean([np.array(r["win_rate"]) for r in res["dims"][dim]["runs"]], axis=0)


def agreement_verdict(res: dict[str, Any], trad: dict[str, dict[str, float]]) -> tuple[str, str]:
    """Shown: for helpfulness and harmlessness, the 95% interval (over ≥ 2 seeds) of the PM's held-out annotator
    agreement lies above 0.5 and above the better of the two traditional metrics."""
    parts, words = [], []
    for dim in ("helpfulness", "harmlessness"):
        vals = [r["annotator"] for r in res["dims"][dim]["runs"]]
        best = max(trad["psnr"][dim], trad["text_clip"][dim])
        parts.append((side(vals, 0.5), side(vals, best)))
        words.append(f"{dim.capitalize() if not words else dim} {ci_text(vals)} against the best traditional metric's {format_number(best, 3)}")
    text = "; ".join(words) + "."
    if len(res["seeds"]) < 2:
        return "not testable", text + " One seed cannot give an interval."
    flat = [x for p in parts for x in p]
    if all(x == "above" for x in flat):
        return "shown", text
    if any(x == "below" for x in flat):
        return "contrary" if all(x == "below" for x in flat) else "partly shown", text
    return ("partly shown" if "above" in flat else "not shown"), text


def tension_verdict(res: dict[str, Any], labels: dict[str, np.ndarray]) -> tuple[str, str]:
    """Shown: by the annotators' win rates (row means of ``labels[dim]``), VC2-like wins most on helpfulness and
    MST2V-like most on harmlessness and least on helpfulness; and in every seed (≥ 2) the helpfulness PM's
    test-prompt win rates put VC2-like first and MST2V-like last. Partly shown: only one of the two."""
    names = world.GENERATOR_NAMES
    hl, sl = labels["helpfulness"].mean(1), labels["harmlessness"].mean(1)
    data_ok = (names[int(hl.argmax())] == "VC2-like" and names[int(sl.argmax())] == "MST2V-like"
               and names[int(hl.argmin())] == "MST2V-like")
    pm_ok = []
    for h in res["dims"]["helpfulness"]["runs"]:
        hm = np.array(h["win_rate"]).mean(1)
        pm_ok.append(names[int(hm.argmax())] == "VC2-like" and names[int(hm.argmin())] == "MST2V-like")
    text = ("Annotators' mean win rate, helpfulness: " + ", ".join(f"{n} {format_number(float(x), 2)}" for n, x in zip(names, hl))
            + "; harmlessness: " + ", ".join(f"{n} {format_number(float(x), 2)}" for n, x in zip(names, sl))
            + f"; the helpfulness PM orders VC2-like first and MST2V-like last in {sum(pm_ok)} of {len(pm_ok)} seeds.")
    if len(pm_ok) < 2:
        return "not testable", text
    both = data_ok and all(pm_ok)
    return ("shown" if both else "partly shown" if (data_ok or all(pm_ok)) else "not shown"), text


def plot_win_rates(matrices: dict[str, np.ndarray], source: str) -> Any:
    from ..plotting import figure

    fig, axes = figure(ncols=2, height=3.2)
    short = [n.replace("-like", "") for n in world.GENERATOR_NAMES]
    for ax, dim in zip(axes, ("helpfulness", "harmlessness")):
        m = matrices[dim]
        ax.imshow(m, vmin=0, vmax=1, cmap="RdBu_r")
        for i in range(4):
            for j in range(4):
                ax.text(j, i, format_number(float(m[i, j]), 2), ha="center", va="center", fontsize=8)
        ax.set_xticks(range(4), short, fontsize=8)
        ax.set_yticks(range(4), short, fontsize=8)
        ax.set_xlabel("generator j (opponent)")
        ax.set_ylabel("generator i (wins over j)")
        ax.set_title(f"{dim}, {source}: P(i beats j)", fontsize=9)
    return fig


def plot_agreement(res: dict[str, Any], trad: dict[str, dict[str, float]]) -> Any:
    from ..plotting import figure

    fig, ax = figure()
    dims = list(res["dims"])
    x = np.arange(len(dims))
    pm = [mean_ci([r["annotator"] for r in res["dims"][d]["runs"]]) for d in dims]
    ax.bar(x - 0.27, [a for a, _ in pm], 0.27, yerr=[b or 0 for _, b in pm], capsize=3, label="preference model")
    ax.bar(x, [trad["psnr"][d] for d in dims], 0.27, label="PSNR")
    ax.bar(x + 0.27, [trad["text_clip"][d] for d in dims], 0.27, label="text–clip")
    ax.axhline(0.5, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, [d.replace("_", " ") for d in dims], rotation=20, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("agreement with held-out annotators")
    ax.set_xlabel("preference dimension")
    ax.set_title("Learned preference models against traditional metrics")
    ax.legend(loc="lower right", fontsize=8)
    return fig
