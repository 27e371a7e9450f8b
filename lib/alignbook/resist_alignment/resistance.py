"""Resistance (the paper's Table 1): is moving *back* toward pre-training easier than moving on?

One alignment run per seed fine-tunes θ0 (the real SmolLM2-135M-Instruct, or the same architecture
with no pre-training as a control) toward refusals of real harmful prompts and keeps its slices
θ1 < θ2 < θ3 (after increasing numbers of steps; θ1 nearest pre-training). Each slice answers the
same held-out prompts greedily: its answers are the dataset D_k. Then, for every pair i < j, with
identical steps, batch, learning rate, data order and a fresh optimiser:

- **forward** alignment θi → θj fine-tunes the earlier slice θi on the later slice's answers D_j;
- **inverse** alignment θj → θi fine-tunes the later slice θj on the earlier slice's answers D_i.

The paper's measure is the training loss; it is confounded by how peaked the target is (a refusal
is easier to predict than an open answer whoever learns it), so the **excess loss** subtracts the
target's own per-token NLL under the slice that generated it. Resistance predicts inverse < forward.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

import numpy as np

from ..engine.config import ConfigError, Count, OneOf, Range
from ..engine.results import TrainResult
from . import training as T


@dataclasses.dataclass(frozen=True)
class ResistanceConfig(T.RealModelPhases):
    """Forward vs inverse alignment between slices of one SFT run, on a real pretrained model."""

    arms: Annotated[tuple[str, ...], OneOf(("pretrained", "random_init"))] = ("pretrained", "random_init")
    """Which starting points run: the pretrained model, and the control with no pre-training (the same
    tokenizer, vocabulary and layer type, shrunk, with random initial weights)."""
    n_align: Count = 64
    """Prompts (with their refusals) in the alignment SFT set."""
    slice_steps: Annotated[tuple[int, ...], Range(1, 1_000_000)] = (2, 6, 16)
    """Alignment steps after which the slices θ1, θ2, … are kept (strictly increasing)."""
    align_lr: Annotated[float, Range(1e-6, 1e-2)] = 1e-4
    """AdamW learning rate of the alignment run."""
    n_generate: Count = 32
    """Held-out prompts each slice answers (its dataset D_k)."""
    finetune_steps: Count = 8
    """Steps of every forward and inverse fine-tune (identical for all)."""
    finetune_lr: Annotated[float, Range(1e-6, 1e-2)] = 1e-4
    """AdamW learning rate of every forward and inverse fine-tune."""
    control_lr: Annotated[float, Range(1e-6, 1e-1)] = 1e-3
    """Learning rate of every phase of the control (a small model trained from scratch, all weights:
    :data:`alignbook.resist_alignment.training.CONTROL_SHAPE`)."""

    def work(self):
        """What notebook 2 computes (:mod:`alignbook.engine.estimate`) for every seed of the pretrained arm: the
        alignment run (``max(slice_steps)`` steps of ``batch_size``), each slice answering ``n_generate``
        prompts in one batch and scoring them (its own NLL, the trunk features), and for every pair of slices
        a forward and an inverse fine-tune of ``finetune_steps`` steps after scoring their data once. The
        random-init control (a 2-layer, 128-wide model, :data:`alignbook.resist_alignment.training.CONTROL_SHAPE`)
        has well under a tenth of the weights and is counted as its steps' overhead only."""
        slices = len(self.slice_steps)
        fine_tunes = slices * (slices - 1)
        seeds = self.seeds if "pretrained" in self.arms else 0
        arms = len(self.arms)
        align, ft = max(self.slice_steps), fine_tunes * self.finetune_steps
        work = T.phase_work(
            self, train_rows=seeds * (align + ft) * self.batch_size,
            forward_rows=seeds * (self.n_align + slices * 2 * self.n_generate + fine_tunes * self.n_generate),
            decode_steps=seeds * slices * self.max_new_tokens, decode_rows=seeds * slices * self.n_generate,
            steps=self.seeds * arms * (align + ft),
            notes=[f"{arms} arms × {self.seeds} seeds: {align} alignment steps, {slices} slices answering "
                   f"{self.n_generate} prompts, {fine_tunes} fine-tunes × {self.finetune_steps} steps"])
        if work is not None and "random_init" in self.arms:
            from ..lm.sizes import decode_seconds

            work.other_seconds += decode_seconds(self.seeds * slices * self.max_new_tokens, 2)  # the control's 2 layers
        return work

    def __post_init__(self) -> None:
        super().__post_init__()
        steps = tuple(self.slice_steps)
        if len(steps) < 2 or any(not isinstance(s, int) or s < 1 for s in steps) or list(steps) != sorted(set(steps)):
            raise ConfigError(f"slice_steps={list(steps)} must be two or more strictly increasing positive integers "
                              "(the steps after which θ1, θ2, … are kept)")
        if not self.arms:
            raise ConfigError("arms=[] runs nothing; name 'pretrained' and/or 'random_init'")


@dataclasses.dataclass
class ResistanceResult(TrainResult):
    """:func:`run_resistance`'s result: ``metrics["arms"][arm]`` per arm (slices, pairs, summaries);
    ``history`` one row per fine-tune step."""

    missing_hint = "has notebook resist-alignment/02_resistance run?"


def _pairs(n: int) -> list[tuple[int, int]]:
    """(i, j) with i < j over slice indices 1..n."""
    return [(i, j) for i in range(1, n + 1) for j in range(i + 1, n + 1)]


def _tail_mean(history: list[dict]) -> float:
    """Mean training loss over the last half of a fine-tune's steps (the paper's "training loss",
    steadier than the last step alone)."""
    losses = [row["loss"] for row in history if "loss" in row]
    half = losses[len(losses) // 2:]
    return float(np.mean(half))


def run_arm(cfg: ResistanceConfig, arm: str, seed: int, log: Any = print) -> tuple[dict, list[dict]]:
    """One seed of one arm: the alignment run, its slices' datasets and every forward/inverse fine-tune."""
    import time

    from ..engine import devices
    from ..pretrained.generate import generate_chat
    from ..pretrained.judge import refuses

    clock = time.perf_counter()
    device = devices.resolve(cfg.device)
    model, tokenizer = T.build_model(cfg.model, arm, seed, device)
    pad = tokenizer.pad_token_id
    if arm == "pretrained":
        T.trainable_parameters(model, cfg.train_layers)
        lr = (cfg.align_lr, cfg.finetune_lr)
        featurise = lambda items: T.with_trunk(model, items, pad, threads=cfg.threads)  # noqa: E731
    else:
        T.train_everything(model)
        lr = (cfg.control_lr, cfg.control_lr)
        featurise = lambda items: items  # noqa: E731  (nothing is frozen: no trunk to cache)
    train_pool = T.harmful_pool(cfg.harmful_sets, "train")
    eval_pool = T.harmful_pool(cfg.harmful_sets, "eval")
    align_prompts = T.draw(train_pool, cfg.n_align, seed, "n_align")
    held_out = T.draw(eval_pool, cfg.n_generate, 1000 + seed, "n_generate")
    align = featurise(T.encode_all(tokenizer, [(p, T.refusal_for(p)) for p in align_prompts],
                                   cfg.max_prompt_tokens, cfg.max_new_tokens))
    slices: dict[int, dict] = {}

    def keep(step: int, m: Any) -> dict:
        if step in cfg.slice_steps:
            slices[cfg.slice_steps.index(step) + 1] = T.snapshot(m)
        return {}

    align_settings = T.PhaseSettings(steps=max(cfg.slice_steps), batch_size=cfg.batch_size, lr=lr[0])
    align_history = T.fine_tune(model, align, align_settings, seed, pad, cfg.threads, callback=keep)
    log(f"  {arm} seed {seed}: aligned, loss {align_history[0]['loss']:.2f} → {align_history[-1]['loss']:.2f} "
        f"({time.perf_counter() - clock:.0f} s)")

    data: dict[int, list[dict]] = {}
    info: dict[str, dict] = {}
    for k, state in slices.items():
        T.restore(model, state)
        answers = generate_chat(model, tokenizer, held_out, max_new_tokens=cfg.max_new_tokens,
                                batch_size=cfg.n_generate, threads=cfg.threads).texts
        items = featurise(T.encode_all(tokenizer, zip(held_out, answers), cfg.max_prompt_tokens, cfg.max_new_tokens))
        data[k] = items
        info[str(k)] = {"steps": cfg.slice_steps[k - 1], "refusal_rate": float(np.mean([refuses(a) for a in answers])),
                        "own_nll": T.answer_nll(model, items, pad, threads=cfg.threads),
                        "example": answers[0][:200]}
    log(f"  {arm} seed {seed}: slices answered ({time.perf_counter() - clock:.0f} s)")
    ft = T.PhaseSettings(steps=cfg.finetune_steps, batch_size=cfg.batch_size, lr=lr[1])
    pairs: dict[str, dict] = {}
    history: list[dict] = []
    for i, j in _pairs(len(slices)):
        row = {}
        for direction, (src, dst) in (("forward", (i, j)), ("inverse", (j, i))):
            T.restore(model, slices[src])
            start_nll = T.answer_nll(model, data[dst], pad, threads=cfg.threads)
            steps = T.fine_tune(model, data[dst], ft, 7919 * seed + 31 * i + j, pad, cfg.threads)
            loss = _tail_mean(steps)
            row[direction] = {"model": src, "data": dst, "start_nll": start_nll, "loss": loss,
                              "excess": loss - info[str(dst)]["own_nll"]}
            history.extend({"arm": arm, "seed": seed, "pair": f"{i}-{j}", "direction": direction, **s} for s in steps)
        pairs[f"{i}-{j}"] = row
    log(f"  {arm} seed {seed}: {_pairs_line(pairs)} ({time.perf_counter() - clock:.0f} s)")
    return {"slices": info, "pairs": pairs, "align_loss": [r["loss"] for r in align_history]}, history


def _pairs_line(pairs: dict[str, dict]) -> str:
    return ", ".join(f"θ{p.split('-')[1]}→θ{p.split('-')[0]} {r['inverse']['loss']:.3f} vs "
                     f"θ{p.split('-')[0]}→θ{p.split('-')[1]} {r['forward']['loss']:.3f}" for p, r in pairs.items())


def arm_seed(unit: Any) -> dict:
    """One unit of :func:`run_resistance` (``unit.value``: ``{"arm": ..., "seed": ...}``): :func:`run_arm`,
    silent, as plain data (``found`` and the fine-tunes' ``history``)."""
    found, history = run_arm(unit.cfg, unit.value["arm"], unit.value["seed"], log=lambda *a: None)
    return {"found": found, "history": history}


def summarise(per_seed: list[dict]) -> dict:
    """Per pair and measure, the paired difference inverse − forward over seeds (mean, 95% t-interval)."""
    out: dict[str, dict] = {}
    for pair in per_seed[0]["pairs"]:
        entry = {}
        for measure in ("loss", "excess", "start_nll"):
            fwd = [s["pairs"][pair]["forward"][measure] for s in per_seed]
            inv = [s["pairs"][pair]["inverse"][measure] for s in per_seed]
            entry[measure] = {"forward": float(np.mean(fwd)), "inverse": float(np.mean(inv)),
                              "difference": T.paired_summary([b - a for a, b in zip(fwd, inv)])}
        out[pair] = entry
    return out


def run_resistance(cfg: ResistanceConfig, log: Any = print) -> ResistanceResult:
    """Every arm and seed of the resistance experiment, each (arm, seed) a unit of
    :func:`alignbook.engine.parallel.map_units` (side by side where cores and memory allow; an arm's
    seeds are paired with the other arm's by seed); the result is saved in ``cfg.run_dir``."""
    from ..engine import devices
    from ..engine.parallel import map_units

    devices.resolve(cfg.device)  # a GPU that is not there fails here, before any unit starts
    seeds = range(cfg.seed, cfg.seed + cfg.seeds)
    units = [{"arm": arm, "seed": seed} for arm in cfg.arms for seed in seeds]
    done = map_units(arm_seed, cfg, units, name="arm_seeds", memory_mb=T.UNIT_MEMORY_MB,
                     workers=T.unit_workers(cfg, len(units), log), log=log)
    arms: dict[str, dict] = {}
    history: list[dict] = []
    for arm in cfg.arms:
        per_seed = []
        for unit, out in zip(units, done):
            if unit["arm"] == arm:
                log(f"  {arm} seed {unit['seed']}: {_pairs_line(out['found']['pairs'])}")
                per_seed.append(out["found"])
                history.extend(out["history"])
        overall = {}
        for measure in ("loss", "excess", "start_nll"):
            overall[measure] = T.paired_summary([
                float(np.mean([p["inverse"][measure] - p["forward"][measure] for p in s["pairs"].values()]))
                for s in per_seed])
        arms[arm] = {"per_seed": per_seed, "summary": summarise(per_seed), "overall": overall}
    result = ResistanceResult(metrics={"arms": arms}, history=history, checkpoint=None,
                              config=dataclasses.asdict(cfg))
    result.save(cfg.run_dir)
    return result


# -- what the page shows -----------------------------------------------------------------------------

ARM_NAMES = {"pretrained": "pretrained θ0", "random_init": "no pre-training (control)"}


def _ci(d: dict, digits: int = 3) -> str:
    if d["n"] < 2:
        return f"{d['mean']:+.{digits}f}"
    return f"{d['mean']:+.{digits}f} [{d['lo']:+.{digits}f}, {d['hi']:+.{digits}f}]"


def slices_markdown(result: ResistanceResult) -> str:
    """Per arm and slice: alignment steps, share of its answers the refusal template flags, own NLL."""
    lines = ["| start | slice | alignment steps | answers refusing (template) | own NLL (nats/token) |",
             "|---|---|---|---|---|"]
    for arm, found in result.metrics["arms"].items():
        for k in found["per_seed"][0]["slices"]:
            rates = [s["slices"][k]["refusal_rate"] for s in found["per_seed"]]
            nll = [s["slices"][k]["own_nll"] for s in found["per_seed"]]
            steps = found["per_seed"][0]["slices"][k]["steps"]
            lines.append(f"| {ARM_NAMES[arm]} | θ{k} | {steps} | {np.mean(rates):.0%} "
                         f"(seeds {min(rates):.0%}–{max(rates):.0%}) | {np.mean(nll):.3f} |")
    return "\n".join(lines)


def pairs_markdown(result: ResistanceResult, measure: str = "loss") -> str:
    """The paper's Table 1 layout for one measure: inverse θj→θi beside forward θi→θj, and their
    paired difference over seeds with its 95% t-interval (negative: inverse is easier)."""
    cfg = result.config
    lines = [f"| start | pair | inverse θj→θi | forward θi→θj | inverse − forward (95% CI, {cfg['seeds']} seeds) |",
             "|---|---|---|---|---|"]
    for arm, found in result.metrics["arms"].items():
        for pair, entry in found["summary"].items():
            i, j = pair.split("-")
            e = entry[measure]
            lines.append(f"| {ARM_NAMES[arm]} | θ{j}→θ{i} vs θ{i}→θ{j} | {e['inverse']:.3f} | {e['forward']:.3f} | "
                         f"{_ci(e['difference'])} |")
    return "\n".join(lines)


def verdict(result: ResistanceResult, measure: str, arm: str = "pretrained") -> dict:
    """Whether inverse < forward holds for every pair, judged by the 95% intervals: ``shown`` when every
    interval lies below zero, ``contrary`` when any lies above, else ``not shown``."""
    summary = result.metrics["arms"][arm]["summary"]
    diffs = [entry[measure]["difference"] for entry in summary.values()]
    below = [d["hi"] < 0 for d in diffs]
    above = [d["lo"] > 0 for d in diffs]
    status = "shown" if all(below) else ("contrary" if any(above) else "not shown")
    return {"status": status, "pairs": len(diffs), "below": sum(below), "above": sum(above),
            "mean_difference": float(np.mean([d["mean"] for d in diffs]))}


def verdict_sentence(result: ResistanceResult, measure: str, arm: str = "pretrained") -> str:
    v = verdict(result, measure, arm)
    name = {"loss": "training loss", "excess": "excess loss", "start_nll": "loss before fine-tuning"}[measure]
    if v["status"] == "shown":
        return (f"**Shown** ({name}, {ARM_NAMES[arm]}): inverse alignment is easier than forward for all "
                f"{v['pairs']} pairs; every 95% interval of the difference lies below zero.")
    if v["status"] == "contrary":
        return (f"**Contrary** ({name}, {ARM_NAMES[arm]}): for {v['above']} of {v['pairs']} pairs the inverse "
                "fine-tune ends with a *higher* loss than the forward one, with the 95% interval above zero.")
    summary = result.metrics["arms"][arm]["summary"]
    widest = max(e[measure]["difference"]["hi"] - e[measure]["difference"]["lo"] for e in summary.values())
    return (f"**Not shown** ({name}, {ARM_NAMES[arm]}): {v['below']} of {v['pairs']} pairs have their 95% "
            f"interval below zero and the others include zero (mean difference over pairs {v['mean_difference']:+.3f} "
            f"nats/token; the widest interval spans {widest:.3f}). With {result.config['seeds']} seeds the slices "
            "themselves differ from seed to seed (see their refusal rates above), so an asymmetry of the paper's "
            "size would need more seeds or larger slices to resolve.")


def control_markdown(result: ResistanceResult) -> str:
    """The asymmetry (mean over pairs of inverse − forward) with and without pre-training, per measure,
    in nats and relative to the mean forward loss (the control's losses are on another scale)."""
    arms = result.metrics["arms"]
    if not {"pretrained", "random_init"} <= set(arms):
        return "The control arm did not run in this profile."
    lines = ["| measure | pretrained θ0 | no pre-training | relative to the forward loss: pretrained / control |",
             "|---|---|---|---|"]
    for measure in ("loss", "excess"):
        cells, rel = [], []
        for arm in ("pretrained", "random_init"):
            d = arms[arm]["overall"][measure]
            cells.append(_ci(d))
            forward = np.mean([e["loss"]["forward"] for e in arms[arm]["summary"].values()])
            rel.append(f"{d['mean'] / forward:+.1%}")
        lines.append(f"| {measure} | {cells[0]} | {cells[1]} | {rel[0]} / {rel[1]} |")
    return "\n".join(lines)


def control_verdict(result: ResistanceResult, measure: str = "excess") -> dict:
    """The no-pre-training control, read from the numbers: the asymmetry (mean over pairs of inverse − forward,
    relative to the mean forward loss, since the control's losses are on another scale) should be
    negative for the pretrained model and nearer zero without pre-training."""
    arms = result.metrics["arms"]
    if not {"pretrained", "random_init"} <= set(arms):
        return {"status": "not testable", "sentence": "The control arm did not run in this profile."}
    rel = {}
    for arm in ("pretrained", "random_init"):
        forward = np.mean([e["loss"]["forward"] for e in arms[arm]["summary"].values()])
        rel[arm] = arms[arm]["overall"][measure]["mean"] / forward
    a, b = rel["pretrained"], rel["random_init"]
    if a < 0 and abs(b) < abs(a):
        status, words = "shown", "shrinks without pre-training, as an effect of pre-training predicts"
    elif a < 0:
        status, words = "contrary", ("is *larger* without pre-training, so on this evidence it does not come from a "
                                     "pull toward what pre-training built; a likely cause is that a later slice of a "
                                     "model trained from scratch is simply a better language model, whatever it is "
                                     "fine-tuned on")
    else:
        status, words = "not testable", "has the wrong sign even with pre-training, so there is nothing to shrink"
    return {"status": status, "pretrained": a, "control": b,
            "sentence": f"**{status.capitalize()}** ({measure.replace('_', ' ')} loss, relative to the forward loss: "
                        f"{a:+.1%} with pre-training, {b:+.1%} without): the asymmetry {words}."}


def plot_curves(result: ResistanceResult, arm: str = "pretrained"):
    """Training loss of each forward and inverse fine-tune, mean over seeds, one panel per pair."""
    import matplotlib.pyplot as plt

    pairs = list(result.metrics["arms"][arm]["summary"])
    fig, axes = plt.subplots(1, len(pairs), figsize=(6.4, 2.6), sharey=True, squeeze=False)
    for ax, pair in zip(axes[0], pairs):
        i, j = pair.split("-")
        for direction, style, label in (("inverse", "-", f"inverse θ{j}→θ{i}"), ("forward", "--", f"forward θ{i}→θ{j}")):
            rows = [r for r in result.history if r["arm"] == arm and r["pair"] == pair and r["direction"] == direction]
            steps = sorted({r["step"] for r in rows})
            mean = [np.mean([r["loss"] for r in rows if r["step"] == s]) for s in steps]
            ax.plot(steps, mean, style, label=label)
        ax.set_title(f"θ{i} and θ{j}", fontsize=9)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    axes[0][0].set_ylabel("training loss (nats/token)")
    fig.tight_layout()
    return fig


def plot_differences(result: ResistanceResult):
    """Paired difference inverse − forward per pair, raw and excess loss, both arms, with 95% intervals."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(6.4, 2.8), sharey=True)
    for ax, measure in zip(axes, ("loss", "excess")):
        for offset, (arm, found) in zip((-0.12, 0.12), result.metrics["arms"].items()):
            pairs = list(found["summary"])
            d = [found["summary"][p][measure]["difference"] for p in pairs]
            x = np.arange(len(pairs)) + offset
            mean = np.array([e["mean"] for e in d])
            err = np.array([[e["mean"] - e["lo"] for e in d], [e["hi"] - e["mean"] for e in d]])
            ax.errorbar(x, mean, yerr=err if np.isfinite(err).all() else None, fmt="o", capsize=3,
                        label=ARM_NAMES[arm])
        ax.axhline(0, color="grey", lw=0.8)
        ax.set_xticks(range(len(pairs)), [f"θ{p[2]}/θ{p[0]}" for p in pairs])
        ax.set_title({"loss": "training loss", "excess": "excess loss"}[measure], fontsize=9)
    axes[0].set_ylabel("inverse − forward (nats/token)")
    axes[1].legend(fontsize=7)
    fig.tight_layout()
    return fig
