"""Tiny, self-contained stand-ins for tests and benchmarks: a character tokenizer, a small Llama,
and synthetic PKU-SafeRLHF-schema rows whose labels follow a visible rule.

The chapter's notebooks use the toy world (:mod:`alignbook.toyworld`); these exist so the math and
plumbing of this package can be tested without it, in seconds.
"""

from __future__ import annotations

import random
import string
from typing import Any

SAFE_WORDS = ("help", "explain", "guide", "share")
UNSAFE_WORDS = ("steal", "hurt", "poison", "hack")
TOPICS = ("cake", "tax", "code", "car", "math", "song")


def char_tokenizer() -> Any:
    """A character-level ``PreTrainedTokenizerFast`` with distinct ``<pad>``, ``</s>``, ``<s>``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    alphabet = list(string.ascii_letters + string.digits + " .,:?!'-")
    vocab = {tok: i for i, tok in enumerate(["<pad>", "</s>", "<s>", "<unk>"] + alphabet)}
    backend = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    backend.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
    backend.decoder = decoders.Fuse()
    return PreTrainedTokenizerFast(tokenizer_object=backend, pad_token="<pad>", eos_token="</s>",
                                   bos_token="<s>", unk_token="<unk>")


def tiny_llama(vocab_size: int, hidden: int = 32, layers: int = 2, heads: int = 2, seed: int = 0) -> Any:
    """A randomly initialised ``LlamaForCausalLM`` small enough for CPU tests."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden,
                         num_hidden_layers=layers, num_attention_heads=heads, num_key_value_heads=heads,
                         max_position_embeddings=256, pad_token_id=0, eos_token_id=1, bos_token_id=2,
                         tie_word_embeddings=False)
    return LlamaForCausalLM(config)


def synthetic_rows(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` preference rows: responses with an unsafe word are unsafe; longer ones are better."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        topic = rng.choice(TOPICS)
        responses, safe = [], []
        for _ in range(2):
            is_safe = rng.random() < 0.5
            word = rng.choice(SAFE_WORDS if is_safe else UNSAFE_WORDS)
            responses.append(f"{word} {topic}" + " ok" * rng.randint(0, 3))
            safe.append(is_safe)
        better = int(len(responses[1]) > len(responses[0]))
        if safe[0] == safe[1]:
            safer = rng.randint(0, 1)
        else:
            safer = 0 if safe[0] else 1
        rows.append({"prompt": f"tell me about {topic}", "response_0": responses[0], "response_1": responses[1],
                     "is_response_0_safe": safe[0], "is_response_1_safe": safe[1],
                     "better_response_id": better, "safer_response_id": safer})
    return rows
