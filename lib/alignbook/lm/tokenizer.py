"""A byte-level BPE tokenizer trained locally, so no chapter needs the Hugging Face hub.

Byte-level BPE (as in GPT-2) can encode any string without an unknown token; ``unk`` exists
anyway so the tokenizer has the same four special tokens as Llama's. ``pad`` is its own token,
never ``eos``: the score models of the Safe RLHF chapter read the hidden state of the last
non-pad token, which must be the real ``eos`` of the answer, and an ``eos``-as-``pad`` scheme
makes the two indistinguishable.

Like Llama's tokenizer, encoding a text prepends ``bos`` and adds no ``eos``: the SFT data
helpers append ``eos`` to completions themselves (:mod:`alignbook.lm.data`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

SPECIAL_TOKENS = {"pad_token": "<pad>", "bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>"}
"""The four special tokens, in id order 0..3 (pad first so an all-zero tensor is all padding)."""

MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + 256
"""Byte-level BPE needs the 256 byte symbols plus the special tokens before any merge."""


def train_bpe_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    save_dir: str | os.PathLike | None = None,
    min_frequency: int = 2,
    model_max_length: int = 2048,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` and wrap it as a ``PreTrainedTokenizerFast``.

    Deterministic: the same texts in the same order give the same vocabulary and merges.
    ``vocab_size`` counts the 256 byte symbols and the 4 special tokens; the trainer stops
    earlier if the texts run out of pairs seen ``min_frequency`` times, so ``len(tokenizer)``
    may be smaller than asked. With ``save_dir`` the result is saved with ``save_pretrained``
    (load it back with :func:`load_tokenizer` or ``PreTrainedTokenizerFast.from_pretrained``).
    """
    if not isinstance(vocab_size, int) or vocab_size < MIN_VOCAB_SIZE:
        raise ValueError(
            f"vocab_size={vocab_size!r} is too small: byte-level BPE needs at least "
            f"{MIN_VOCAB_SIZE} (256 bytes + {len(SPECIAL_TOKENS)} special tokens); try vocab_size=1024"
        )
    if isinstance(texts, str):
        raise TypeError("texts must be an iterable of strings, not one string; wrap it in a list: [text]")
    texts = list(texts)
    if not texts:
        raise ValueError("texts is empty: the tokenizer needs some text to learn merges from")
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"texts[{bad}] is a {type(texts[bad]).__name__}, not a str")

    specials = list(SPECIAL_TOKENS.values())
    tokenizer = Tokenizer(models.BPE(unk_token=SPECIAL_TOKENS["unk_token"]))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=specials,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer, length=len(texts))
    bos = SPECIAL_TOKENS["bos_token"]
    # Prepend bos to every encoded text, as Llama's tokenizer does; eos is added by the data code
    # only where a sequence really ends (a completion, a pretraining document).
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A",
        pair=f"{bos} $A $B",
        special_tokens=[(bos, tokenizer.token_to_id(bos))],
    )
    wrapped = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        padding_side="right",
        truncation_side="right",
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
        **SPECIAL_TOKENS,
    )
    check_special_tokens(wrapped)
    if save_dir is not None:
        wrapped.save_pretrained(str(save_dir))
    return wrapped


def load_tokenizer(path: str | os.PathLike) -> PreTrainedTokenizerFast:
    """Load a tokenizer saved by :func:`train_bpe_tokenizer` (or any ``save_pretrained`` folder)."""
    path = Path(path)
    if not (path / "tokenizer.json").exists():
        raise FileNotFoundError(
            f"{path} has no tokenizer.json; pass the save_dir given to train_bpe_tokenizer"
        )
    tokenizer = PreTrainedTokenizerFast.from_pretrained(str(path))
    check_special_tokens(tokenizer)
    return tokenizer


def check_special_tokens(tokenizer) -> None:
    """Raise if ``pad``, ``bos``, ``eos`` and ``unk`` are missing or share an id."""
    names = ("pad_token", "bos_token", "eos_token", "unk_token")
    ids = {name: getattr(tokenizer, f"{name}_id", None) for name in names}
    missing = [name for name, value in ids.items() if value is None]
    if missing:
        raise ValueError(f"tokenizer has no {', '.join(missing)}; train it with train_bpe_tokenizer")
    if len(set(ids.values())) != len(ids):
        raise ValueError(
            f"tokenizer special tokens share ids {ids}; pad must differ from eos so the last "
            "real token of a sequence can be found"
        )
