"""The tiny causal language models every LM chapter shares.

Three chapters (PKU-SafeRLHF, Safe RLHF, Aligner) and the toy world train small Llama-style
models from scratch on CPU. This package is the common layer:

* :mod:`~alignbook.lm.tokenizer`: a byte-level BPE tokenizer trained locally, with distinct
  ``pad``/``bos``/``eos``/``unk`` tokens;
* :mod:`~alignbook.lm.models`: :class:`TinyLMConfig` presets and :func:`build_causal_lm`;
* :mod:`~alignbook.lm.data`: prompt/completion tokenising with prompt positions masked out of
  the loss, right-padding collation, plain-text helpers for pretraining;
* :mod:`~alignbook.lm.sft`: supervised fine-tuning (:func:`train_sft`) and
  :func:`sequence_logprobs`;
* :mod:`~alignbook.lm.generate`: batched, seeded sampling;
* :mod:`~alignbook.lm.cache`: build-once directories for models that later chapters reuse;
* :mod:`~alignbook.lm.runtime`: one CPU thread for tiny models (far faster on a shared CPU);
* :mod:`~alignbook.lm.recipes`: :func:`~alignbook.lm.recipes.sft_from_config`, an entry point
  for :func:`alignbook.engine.launch.launch` (one process or DeepSpeed);
* :mod:`~alignbook.lm.bench`: ``python -m alignbook.lm.bench`` measures tokens/s per preset.

A whole round trip::

    from alignbook import lm

    tokenizer = lm.train_bpe_tokenizer(texts, vocab_size=2048)
    model = lm.build_causal_lm("small", tokenizer, seed=0)
    result = lm.train_sft(model, tokenizer, pairs, lm.SFTConfig(epochs=2, lr=1e-3),
                          eval_pairs=held_out, output_dir=run_dir / "sft")
    answers = lm.generate(model, tokenizer, prompts, max_new_tokens=32, seed=0)
    base = lm.cached("my-base-model", {"preset": "small", "seed": 0}, build=pretrain_into)
"""

from .cache import cache_key_hash, cached
from .data import IGNORE_INDEX, collate, encode_pair, encode_pairs, encode_text, encode_texts, pack_texts
from .generate import generate
from .models import PRESETS, TinyLMConfig, build_causal_lm, count_parameters, preset
from .runtime import auto_threads, torch_threads
from .sft import SFTConfig, SFTResult, causal_lm_loss, completion_nll, evaluate_loss, labelled_logits, lr_factor, sequence_logprobs, token_logprobs, train_sft
from .tokenizer import SPECIAL_TOKENS, load_tokenizer, train_bpe_tokenizer

__all__ = [
    "IGNORE_INDEX",
    "PRESETS",
    "SFTConfig",
    "SFTResult",
    "SPECIAL_TOKENS",
    "TinyLMConfig",
    "auto_threads",
    "build_causal_lm",
    "causal_lm_loss",
    "cache_key_hash",
    "cached",
    "collate",
    "completion_nll",
    "count_parameters",
    "encode_pair",
    "encode_pairs",
    "encode_text",
    "encode_texts",
    "evaluate_loss",
    "generate",
    "labelled_logits",
    "load_tokenizer",
    "lr_factor",
    "pack_texts",
    "preset",
    "sequence_logprobs",
    "token_logprobs",
    "train_bpe_tokenizer",
    "torch_threads",
    "train_sft",
]
