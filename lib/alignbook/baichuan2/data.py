"""The Brown corpus as token arrays: a deterministic split by document id and a BPE trained on the
training documents only.

Every ``val_every``-th document in ``cats.txt`` order is held out for validation (the same split in
every notebook). Tokenising the corpus takes tens of seconds, so the arrays are cached through
:func:`alignbook.lm.cache.cached`, keyed by the corpus (document ids and lengths), the arguments and
this module's source.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..data.corpus import load_brown
from ..lm.cache import cached
from ..lm.tokenizer import load_tokenizer, train_bpe_tokenizer


def split_documents(docs: list[dict[str, Any]], val_every: int = 10) -> tuple[list[dict], list[dict]]:
    """``(train, val)``: document i (in corpus order) is validation when i % ``val_every`` == 0."""
    val = [d for i, d in enumerate(docs) if i % val_every == 0]
    train = [d for i, d in enumerate(docs) if i % val_every != 0]
    return train, val


def subset(docs: list[dict[str, Any]], n_docs: int) -> list[dict[str, Any]]:
    """The first ``n_docs`` documents (0: all of them)."""
    return docs if n_docs <= 0 else docs[:n_docs]


def _corpus_key(docs: list[dict[str, Any]]) -> str:
    text = "|".join(f"{d['id']}:{len(d['text'])}" for d in docs)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def brown_tokens(vocab_size: int, n_docs: int = 0, val_every: int = 10) -> dict[str, Any]:
    """``{"train", "val"}`` (uint16 token arrays, documents joined with eos), ``tokenizer`` (the BPE
    trained on the training documents) and ``chars`` (characters in each split)."""
    docs = subset(load_brown(), n_docs)
    key = {"vocab_size": vocab_size, "n_docs": n_docs, "val_every": val_every, "corpus": _corpus_key(docs),
           "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]}

    def build(folder: Path) -> None:
        train, val = split_documents(docs, val_every)
        tokenizer = train_bpe_tokenizer([d["text"] for d in train], vocab_size, save_dir=folder / "tokenizer",
                                        model_max_length=10**8)
        for name, part in (("train", train), ("val", val)):
            ids: list[int] = []
            for row in tokenizer([d["text"] for d in part], add_special_tokens=False)["input_ids"]:
                ids.extend(row)
                ids.append(tokenizer.eos_token_id)
            np.save(folder / f"{name}.npy", np.asarray(ids, dtype=np.uint16))
            (folder / f"{name}.chars").write_text(str(sum(len(d["text"]) for d in part)))

    folder = cached("baichuan2-brown-bpe", key, build)
    out: dict[str, Any] = {"tokenizer": load_tokenizer(folder / "tokenizer"), "chars": {}}
    for name in ("train", "val"):
        out[name] = np.load(folder / f"{name}.npy")
        out["chars"][name] = int((folder / f"{name}.chars").read_text())
    return out


def random_windows(tokens: np.ndarray, batch: int, seq_len: int, rng: np.random.Generator) -> np.ndarray:
    """``batch`` windows of ``seq_len + 1`` consecutive tokens at uniformly random offsets."""
    starts = rng.integers(0, len(tokens) - seq_len - 1, size=batch)
    return np.stack([tokens[s:s + seq_len + 1] for s in starts]).astype(np.int64)


def eval_windows(tokens: np.ndarray, seq_len: int, n_windows: int) -> np.ndarray:
    """``n_windows`` evenly spaced, non-overlapping windows of ``seq_len + 1`` tokens (fixed: the
    same evaluation set for every model and seed)."""
    stride = max(seq_len + 1, (len(tokens) - seq_len - 1) // max(n_windows, 1))
    starts = [i * stride for i in range(n_windows) if i * stride + seq_len + 1 <= len(tokens)]
    return np.stack([tokens[s:s + seq_len + 1] for s in starts]).astype(np.int64)
