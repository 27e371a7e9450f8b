"""The toy world's tokenizer, pretrained base model and SFT model, cached on disk.

Every LM chapter reuses the same three artefacts, keyed by what determines them (the world's
config, the content tables, the model preset and the training settings), through
:func:`alignbook.lm.cache.cached`: the first caller trains, later callers load.

* tokenizer: byte-level BPE trained on every clause, topic and template of the world;
* base model: a tiny Llama pretrained on web-like documents that mix harmful and benign text
  (harmful steps, refusals, safe advice), like web data;
* SFT model: the base model fine-tuned on Alpaca-like demonstrations (helpful answers, which
  comply with harmful requests as often as the Alpaca sources do).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any

PROMPT_TEMPLATE = "BEGINNING OF CONVERSATION: USER: {input} ASSISTANT:"
"""The conversation template of safe-rlhf (``safe_rlhf/configs/constants.py``)."""


@dataclasses.dataclass(frozen=True)
class TrainSettings:
    """How the base and SFT models of one preset are trained (part of the cache key)."""

    pretrain_epochs: int
    """Passes over the pretraining corpus."""
    sft_epochs: int
    """Passes over the SFT demonstrations."""
    lr: float
    """Peak AdamW learning rate of both stages."""
    batch_size: int
    """Sequences per optimiser step."""
    block_size: int = 64
    """Tokens per packed pretraining block."""


TRAIN_SETTINGS: dict[str, TrainSettings] = {
    # 2 SFT epochs left the tiny model writing half-words (loss 1.16); after 4 its samples
    # (T=1) scored helpfulness 0.09 on held-out prompts, after 4 more 0.56 (greedy 0.44 -> 0.83;
    # the Alpaca-like sources score 0.9-1.6), so the tiny model gets 8: built in one go it scores
    # 0.96 with 51% unsafe samples, like the alpaca-7b source (0.94, 56%). The small preset
    # still uses 3 SFT epochs (0.21 at T=1): raise it once the chapters' time budgets allow.
    "tiny": TrainSettings(pretrain_epochs=2, sft_epochs=8, lr=3e-3, batch_size=32),
    "small": TrainSettings(pretrain_epochs=2, sft_epochs=3, lr=2e-3, batch_size=32),
    "base": TrainSettings(pretrain_epochs=2, sft_epochs=3, lr=5e-4, batch_size=32, block_size=128),
}
"""Training of the cached models per preset; CPU-sized for tiny and small."""


def content_version() -> str:
    """A hash of the world's tables: editing a clause changes every cache key."""
    from . import content

    tables = {
        name: getattr(content, name)
        for name in ("HARM_CATEGORIES", "BENIGN_TOPICS", "HARMFUL_TOPICS", "SAFE_ALTERNATIVES",
                     "REFUSALS", "FILLER", "PROMPT_TEMPLATES", "WEB_TEMPLATES")
    }
    return hashlib.sha256(json.dumps(tables, sort_keys=True).encode()).hexdigest()[:12]


def world_key(world) -> dict[str, Any]:
    """What the world's cached models depend on: its config without the run's bookkeeping fields,
    its tables, the prompt template, and the library code that generates and trains them."""
    from ..engine.deps import code_hash

    values = world.config.to_dict()
    for name in ("profile", "run_dir"):
        values.pop(name, None)
    return {"config": values, "content": content_version(), "template": PROMPT_TEMPLATE,
            "code": code_hash(__name__)}


def tokenizer_path(world) -> Path:
    from ..lm import cached, train_bpe_tokenizer

    def build(folder: Path) -> None:
        texts = world.all_text() + [PROMPT_TEMPLATE.format(input=t) for t in world.all_text()[:50]]
        texts += world.pretraining_corpus(500, seed=1)
        train_bpe_tokenizer(texts, world.config.tokenizer_vocab_size, save_dir=folder)

    key = {"world": world_key(world), "vocab_size": world.config.tokenizer_vocab_size}
    return cached("toy-world-tokenizer", key, build)


def load_world_tokenizer(world):
    from ..lm import load_tokenizer

    return load_tokenizer(tokenizer_path(world))


def _settings(preset: str) -> TrainSettings:
    if preset not in TRAIN_SETTINGS:
        raise ValueError(f"preset={preset!r} is unknown; choose one of {', '.join(TRAIN_SETTINGS)}")
    return TRAIN_SETTINGS[preset]


def base_model_path(world, preset: str = "small", verbose: bool = False) -> Path:
    """Folder of the pretrained base model (``save_pretrained`` format, tokenizer included)."""
    from ..lm import SFTConfig, build_causal_lm, cached, pack_texts, train_sft

    settings = _settings(preset)

    def build(folder: Path) -> None:
        tokenizer = load_world_tokenizer(world)
        model = build_causal_lm(preset, tokenizer, seed=world.config.seed)
        blocks = pack_texts(tokenizer, world.pretraining_corpus(world.config.corpus_docs, seed=0), settings.block_size)
        cfg = SFTConfig(epochs=settings.pretrain_epochs, lr=settings.lr, batch_size=settings.batch_size,
                        max_length=settings.block_size, seed=world.config.seed, device="cpu")
        result = train_sft(model, tokenizer, blocks, cfg, verbose=verbose)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(str(folder))
        (folder / "train_metrics.json").write_text(json.dumps(result.metrics, indent=1, default=str))

    key = {"world": world_key(world), "preset": preset, "settings": dataclasses.asdict(settings)}
    return cached(f"toy-world-base-{preset}", key, build)


def sft_rows_formatted(world, n: int, seed: int = 0) -> list[tuple[str, str]]:
    """SFT demonstrations as ``(formatted prompt, " response")`` pairs."""
    return [(PROMPT_TEMPLATE.format(input=r["prompt"]), " " + r["response"]) for r in world.sft_rows(n, seed)]


def sft_model_path(world, preset: str = "small", verbose: bool = False) -> Path:
    """Folder of the SFT model (base model fine-tuned on Alpaca-like demonstrations)."""
    from transformers import AutoModelForCausalLM

    from ..lm import SFTConfig, cached, train_sft

    settings = _settings(preset)
    base = base_model_path(world, preset, verbose)

    def build(folder: Path) -> None:
        tokenizer = load_world_tokenizer(world)
        model = AutoModelForCausalLM.from_pretrained(base)
        pairs = sft_rows_formatted(world, world.config.sft_examples, seed=0)
        cfg = SFTConfig(epochs=settings.sft_epochs, lr=settings.lr, batch_size=settings.batch_size,
                        max_length=128, seed=world.config.seed, device="cpu")
        result = train_sft(model, tokenizer, pairs, cfg, verbose=verbose)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(str(folder))
        (folder / "train_metrics.json").write_text(json.dumps(result.metrics, indent=1, default=str))

    key = {"world": world_key(world), "preset": preset, "settings": dataclasses.asdict(settings), "base": base.name}
    return cached(f"toy-world-sft-{preset}", key, build)


def load_model(path: Path, device: str = "cpu"):
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(path).to(device).eval()
