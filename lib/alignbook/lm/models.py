"""Tiny Llama-style causal LMs built from scratch: the same architecture family as the papers'
Llama/Alpaca models (RMSNorm, rotary positions, SwiGLU MLP), scaled down to train on a CPU."""

from __future__ import annotations

import dataclasses

import torch
from transformers import LlamaConfig, LlamaForCausalLM

from ..engine.config import Count, Positive, Width, check_fields


@dataclasses.dataclass(frozen=True)
class TinyLMConfig:
    """Shape of a Llama-style causal LM. Use a preset (:func:`preset`) or set fields yourself."""

    hidden_size: Width = 64
    """Width of the residual stream (Llama-7B: 4096)."""
    layers: Count = 2
    """Number of transformer blocks (Llama-7B: 32)."""
    heads: Count = 4
    """Attention heads; must divide ``hidden_size`` (Llama-7B: 32)."""
    kv_heads: Count | None = None
    """Key/value heads for grouped-query attention; None means as many as ``heads`` (Llama-7B)."""
    intermediate_size: Count = 176
    """Width of the SwiGLU MLP, about 8/3 of ``hidden_size`` as in Llama (Llama-7B: 11008)."""
    max_position_embeddings: Count = 256
    """Longest sequence the rotary embedding is set up for; data is truncated to fit."""
    rope_theta: Positive = 10000.0
    """Rotary embedding base (Llama: 10000)."""
    rms_norm_eps: Positive = 1e-6
    """RMSNorm epsilon (Llama-7B: 1e-6)."""
    tie_word_embeddings: bool = True
    """Share input embedding and output head. Llama-7B does not; at this size the vocabulary
    matrix is a large share of all parameters, and tying halves it."""
    initializer_range: Positive = 0.02
    """Std of the normal initialisation of weight matrices (Llama: 0.02)."""

    def __post_init__(self) -> None:
        for name in ("hidden_size", "layers", "heads", "intermediate_size", "max_position_embeddings"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"TinyLMConfig.{name}={value!r} must be a positive integer")
        check_fields(self)  # the declared ranges (a ConfigError, which is a ValueError)
        if self.hidden_size % self.heads:
            raise ValueError(
                f"TinyLMConfig.heads={self.heads} must divide hidden_size={self.hidden_size}; "
                f"e.g. heads={max(h for h in range(1, self.heads + 1) if self.hidden_size % h == 0)}"
            )
        if self.kv_heads is not None and self.heads % self.kv_heads:
            raise ValueError(f"TinyLMConfig.kv_heads={self.kv_heads} must divide heads={self.heads}")


PRESETS: dict[str, TinyLMConfig] = {
    # ~0.1-0.3M parameters (vocab-dependent): unit tests and the `test` profile, seconds.
    "tiny": TinyLMConfig(hidden_size=64, layers=2, heads=4, intermediate_size=176, max_position_embeddings=256),
    # ~1-3M: CPU smoke runs that learn something useful in about a minute on 2 cores.
    "small": TinyLMConfig(hidden_size=128, layers=4, heads=4, intermediate_size=352, max_position_embeddings=512),
    # ~20-50M: the `gpu` profile, one GPU, minutes.
    "base": TinyLMConfig(
        hidden_size=512, layers=8, heads=8, intermediate_size=1376, max_position_embeddings=1024,
        tie_word_embeddings=False,
    ),
}
"""Named shapes, smallest first. Parameter counts also depend on the tokenizer's vocabulary."""


def preset(name: str | TinyLMConfig, **changes) -> TinyLMConfig:
    """The preset called ``name`` (``tiny``, ``small``, ``base``), with optional field ``changes``."""
    if isinstance(name, TinyLMConfig):
        base = name
    elif name in PRESETS:
        base = PRESETS[name]
    else:
        raise ValueError(f"model preset {name!r} is unknown; choose one of {', '.join(PRESETS)}")
    return dataclasses.replace(base, **changes) if changes else base


def llama_config(cfg: TinyLMConfig, tokenizer) -> LlamaConfig:
    """The ``LlamaConfig`` for ``cfg`` with vocabulary size and special-token ids from ``tokenizer``."""
    for name in ("pad_token_id", "bos_token_id", "eos_token_id"):
        if getattr(tokenizer, name, None) is None:
            raise ValueError(f"tokenizer has no {name}; use alignbook.lm.train_bpe_tokenizer")
    return LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=cfg.hidden_size,
        intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.layers,
        num_attention_heads=cfg.heads,
        num_key_value_heads=cfg.kv_heads or cfg.heads,
        max_position_embeddings=cfg.max_position_embeddings,
        rms_norm_eps=cfg.rms_norm_eps,
        rope_parameters={"rope_type": "default", "rope_theta": cfg.rope_theta},
        initializer_range=cfg.initializer_range,
        tie_word_embeddings=cfg.tie_word_embeddings,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        attention_dropout=0.0,
        use_cache=True,
    )


def build_causal_lm(cfg: TinyLMConfig | str, tokenizer, seed: int = 0) -> LlamaForCausalLM:
    """A freshly initialised ``LlamaForCausalLM`` of shape ``cfg`` (a :class:`TinyLMConfig` or a
    preset name), its weights drawn from ``seed`` alone: the global torch RNG is left untouched,
    so building a model does not shift the data order of the run around it."""
    cfg = preset(cfg)
    config = llama_config(cfg, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.generation_config.bos_token_id = tokenizer.bos_token_id
    model.generation_config.eos_token_id = tokenizer.eos_token_id
    return model


def count_parameters(model: torch.nn.Module, trainable_only: bool = False) -> int:
    """Number of distinct parameters (a tied embedding counts once)."""
    seen: set[int] = set()
    total = 0
    for param in model.parameters():  # .parameters() already yields a shared tensor once
        if trainable_only and not param.requires_grad:
            continue
        if id(param) in seen:
            continue
        seen.add(id(param))
        total += param.numel()
    return total
