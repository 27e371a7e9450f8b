"""Notebook 4: two small facts behind Baichuan 2's design, measured.

- **Digit splitting.** Baichuan 2's tokenizer splits numbers into single digits (the tokenizer section, as
  LLaMA does). Two byte-level BPEs are trained on the same mixed text and code, one with HF
  ``tokenizers``' ``Digits(individual_digits=True)`` pre-tokenizer before the byte-level split,
  one without, and compared by tokens per character on held-out text, code and the numbers in
  them: a compression proxy (fewer tokens per character), not a measure of arithmetic skill.
- **BF16 positions.** bfloat16 has an 8-bit significand, so integers above 256 are no longer
  exact: bf16(257) = 256, and neighbouring positions collide (the paper's reason for computing
  RoPE positions in float32). Here the collisions are counted and a RoPE angle computed from bf16
  positions (and entirely in bf16) is compared with float32.
"""

from __future__ import annotations

import dataclasses
import re
import sysconfig
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers

from ..data.corpus import load_brown
from ..engine.config import BaseConfig, Count, Range
from ..plotting import figure, legend_outside
from .common import markdown_table, num
from .data import split_documents
from .model import rope_angles


@dataclasses.dataclass(frozen=True)
class PrecisionConfig(BaseConfig):
    """Notebook 4: BPE with and without digit splitting; BF16 position collisions and RoPE angles."""

    vocab_size: Annotated[int, Range(300, 65535)] = 2048
    """Vocabulary of both BPEs (Baichuan 2: 125,696)."""
    text_docs: Count = 120
    """Brown training documents in the tokenizer's training text."""
    code_files: Count = 120
    """Standard-library Python files (sorted by path) in the training text; the next as many are held out."""
    eval_docs: Count = 50
    """Held-out Brown documents for evaluation."""
    max_position: Annotated[int, Range(512, 1_000_000)] = 4096
    """Positions 0 … max_position − 1 checked for BF16 collisions (Baichuan 2: context 4,096)."""
    head_dim: Annotated[int, Range(2, 1024)] = 128
    """RoPE head width (Baichuan 2-7B: 4096 / 32 heads = 128)."""


def code_files() -> list[Path]:
    """The standard library's top-level ``.py`` files, sorted (the same list on every run of this Python)."""
    return sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))


def train_bpe(texts: list[str], vocab_size: int, split_digits: bool) -> Tokenizer:
    """A byte-level BPE (GPT-2 pre-tokenisation); with ``split_digits`` every digit is its own
    pre-token first, so no merge can join digits."""
    tok = Tokenizer(models.BPE())
    byte = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.pre_tokenizer = (pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True), byte])
                         if split_digits else byte)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(texts, trainer=trainer, length=len(texts))
    return tok


NUMBER = re.compile(r"\d[\d.,]*")


def tokens_per_char(tok: Tokenizer, texts: list[str]) -> float:
    """Tokens per character over ``texts`` (a compression proxy: lower is shorter)."""
    chars = sum(len(t) for t in texts)
    return sum(len(e.ids) for e in tok.encode_batch(texts)) / max(chars, 1)


def run_digits(cfg: PrecisionConfig) -> dict[str, Any]:
    """Both BPEs trained on the same text and code; tokens per character on held-out sets."""
    train_docs, val_docs = split_documents(load_brown())
    files = code_files()
    code_train = [p.read_text(errors="replace") for p in files[:cfg.code_files]]
    code_eval = [p.read_text(errors="replace") for p in files[cfg.code_files:2 * cfg.code_files]]
    text_train = [d["text"] for d in train_docs[:cfg.text_docs]]
    text_eval = [d["text"] for d in val_docs[:cfg.eval_docs]]
    numbers = [m for t in text_eval + code_eval for m in NUMBER.findall(t)]
    sets = {"Brown text (held out)": text_eval, "Python code (held out)": code_eval,
            "numbers in them, one by one": numbers}
    rows = {}
    for split in (False, True):
        tok = train_bpe(text_train + code_train, cfg.vocab_size, split)
        rows["digits split" if split else "no digit split"] = {
            name: tokens_per_char(tok, texts) for name, texts in sets.items()}
    return {"rows": rows, "sets": {k: {"texts": len(v), "chars": sum(len(t) for t in v)} for k, v in sets.items()},
            "train_chars": sum(len(t) for t in text_train + code_train)}


def digits_markdown(result: dict[str, Any]) -> str:
    """Tokens per character of both BPEs on each held-out set (and the ratio)."""
    names = list(result["sets"])
    rows = [[k] + [num(v[n], 3) for n in names] for k, v in result["rows"].items()]
    a, b = result["rows"]["digits split"], result["rows"]["no digit split"]
    rows.append(["ratio split / no split"] + [num(a[n] / b[n], 3) for n in names])
    rows.append(["characters in the set"] + [num(result["sets"][n]["chars"]) for n in names])
    return markdown_table(["tokenizer"] + names, rows)


# -- BF16 ------------------------------------------------------------------------------------------


def bf16(values: Any) -> np.ndarray:
    """``values`` rounded to bfloat16 (round to nearest even), back as float64."""
    return torch.tensor(np.asarray(values, dtype=np.float64)).to(torch.bfloat16).double().numpy()


def collisions(max_position: int) -> dict[str, Any]:
    """Integer positions 0 … max_position − 1 in bf16: the first that is not exact, how many distinct
    values remain, and the largest number of positions sharing one value."""
    p = np.arange(max_position, dtype=np.float64)
    q = bf16(p)
    wrong = np.nonzero(q != p)[0]
    _, counts = np.unique(q, return_counts=True)
    return {"bf16_257": float(bf16([257.0])[0]), "first_inexact": int(wrong[0]) if len(wrong) else -1,
            "distinct": int(len(counts)), "positions": max_position, "largest_group": int(counts.max())}


def rope_errors(max_position: int, head_dim: int) -> dict[str, np.ndarray]:
    """Per position, the largest |angle error| (radians, wrapped to [0, π]) over the head's frequency
    pairs, for positions stored in bf16 (angles in fp32) and for the whole angle computed in bf16,
    against the fp32 angle."""
    p = torch.arange(max_position, dtype=torch.float64)
    exact = rope_angles(p, head_dim)
    from_bf16_pos = rope_angles(p.to(torch.bfloat16).double(), head_dim)
    all_bf16 = rope_angles(p.to(torch.bfloat16), head_dim).double()

    def wrapped(x: torch.Tensor) -> np.ndarray:
        d = torch.remainder(x - exact + torch.pi, 2 * torch.pi) - torch.pi
        return d.abs().max(dim=1).values.numpy()

    return {"position": p.numpy(), "bf16_positions": wrapped(from_bf16_pos), "bf16_everything": wrapped(all_bf16)}


def collision_verdict(c: dict[str, Any]) -> tuple[str, str]:
    """Shown when bf16(257) = 256 and 257 is the first inexact position (Baichuan 2, mixed precision)."""
    crit = "Criterion: bf16(257) equals 256 and 257 is the first integer position bf16 cannot hold."
    ok = c["bf16_257"] == 256.0 and c["first_inexact"] == 257
    word = "shown" if ok else "not shown"
    return word, (f"**{word.capitalize()}**: bf16(257) = {num(c['bf16_257'])}, the first inexact position is "
                  f"{c['first_inexact']}, and positions 0 … {c['positions'] - 1} take only {c['distinct']} distinct bf16 "
                  f"values (up to {c['largest_group']} positions share one). {crit}")


def plot_rope(errors: dict[str, np.ndarray]) -> Any:
    """The largest RoPE angle error against position, bf16 positions and all-bf16."""
    fig, ax = figure()
    x = errors["position"]
    ax.plot(x, errors["bf16_everything"], label="angle computed in bf16", linewidth=0.8)
    ax.plot(x, errors["bf16_positions"], label="positions in bf16, angle in fp32", linewidth=0.8)
    ax.axvline(256, color="0.5", linestyle=":", label="position 256")
    ax.set_xlabel("position")
    ax.set_ylabel("largest |angle error| over frequencies (rad)")
    ax.set_title("RoPE angles from bf16 against fp32")
    legend_outside(fig, ax)
    return fig
