"""How big a model is, before it is built: parameter counts and shapes for estimates.

:func:`llama_params` counts a Llama-style decoder's weights exactly (attention with grouped-query
key/value heads, a SwiGLU MLP, RMSNorms, the embedding and, unless tied, the LM head).
:func:`shape_of` names the shape of every model a config can ask for: the toy presets
(:data:`alignbook.lm.models.PRESETS`), the book's pretrained models, and the hub models the ``paper``
profiles load (their published configs). :mod:`alignbook.engine.estimate` turns shapes into time
and memory.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Shape:
    """What an estimate needs of a decoder: its parameters, width and depth."""

    params: float
    hidden: int
    layers: int


def llama_params(vocab: int, hidden: int, layers: int, intermediate: int, heads: int = 1,
                 kv_heads: int | None = None, tied: bool = True) -> int:
    """Weights of a Llama decoder: per layer q/o (h²), k/v (h·h_kv), gate/up/down (3·h·i) and two norms;
    the final norm; the embedding, and the LM head unless ``tied``."""
    kv = hidden // heads * (kv_heads or heads)
    per_layer = 2 * hidden * hidden + 2 * hidden * kv + 3 * hidden * intermediate + 2 * hidden
    return layers * per_layer + hidden + vocab * hidden * (1 if tied else 2)


HUB_SHAPES: dict[str, Shape] = {
    # the models the paper profiles name: both have the LLaMA-7B shape (6,738,415,616 weights, d 4096,
    # 32 layers; :func:`llama_params` of vocabulary 32,000 and MLP width 11,008, untied, gives that number)
    "PKU-Alignment/alpaca-7b-reproduced": Shape(6.74e9, 4096, 32),
    "meta-llama/Llama-2-7b-hf": Shape(6.74e9, 4096, 32),
    # SafeSora's paper profile (safesora/03): Video-LLaVA-7B's language model is Vicuna-7B v1.5 (the Video-LLaVA
    # paper and model card), the Llama-2-7B shape: vocabulary 32,000, d 4096, 32 layers, MLP width 11,008, 32
    # heads, untied, which :func:`llama_params` counts as 6,738,415,616. Assumed, not read from its config.json (not
    # reachable here); its two LanguageBind ViT-L/14 encoders (~0.3B weights each) are outside this decoder shape.
    "LanguageBind/Video-LLaVA-7B": Shape(6.74e9, 4096, 32),
}
"""Hub models by id: parameters (Llama-7B: 6.74e9), hidden width, layers."""

PRETRAINED_SHAPES: dict[str, Shape] = {"smollm2-135m-instruct": Shape(134.5e6, 576, 30)}
"""The book's offline pretrained models (:data:`alignbook.pretrained.MODELS`)."""

PRETRAINED_VOCAB: dict[str, int] = {"smollm2-135m-instruct": 49152}
"""Their vocabularies (SmolLM2's tied embedding: 49,152 × 576 of its weights)."""


def block_params(name: str, layers: int) -> float:
    """Weights of the last ``layers`` decoder blocks of pretrained model ``name`` (and its final norm): what
    training only the top of it trains (:func:`alignbook.pretrained.chat.freeze_but_last`)."""
    shape = PRETRAINED_SHAPES[name]
    blocks = shape.params - PRETRAINED_VOCAB[name] * shape.hidden - shape.hidden
    return blocks * min(layers, shape.layers) / shape.layers + shape.hidden

EMBEDDER_PARAMS = 22.7e6
"""Weights of the judges' sentence embedder, all-MiniLM-L6-v2 (its model card: 22.7M parameters; 6 BERT
layers of width 384); it reads at most 128 tokens of each text (``alignbook.pretrained.judge.FEATURE_TOKENS``)."""
EMBEDDER_TOKENS = 128

TOY_VOCAB = 1024
"""The toy world's tokenizer vocabulary (:class:`alignbook.toyworld.WorldConfig`'s default)."""


def shape_of(name: str, preset: str = "tiny", vocab: int = TOY_VOCAB) -> Shape | None:
    """The shape of model ``name``: a toy-world model (``toy-*``, sized by ``preset``), a pretrained or hub
    model, or None when the book does not know it (the estimate then says so)."""
    from .models import PRESETS

    if name.startswith("toy-") or name in PRESETS:
        p = PRESETS[preset if name.startswith("toy-") else name]
        params = llama_params(vocab, p.hidden_size, p.layers, p.intermediate_size, p.heads, p.kv_heads,
                              p.tie_word_embeddings)
        return Shape(params, p.hidden_size, p.layers)
    return PRETRAINED_SHAPES.get(name) or HUB_SHAPES.get(name)


DECODE_LAYER_S = 6e-4
"""Seconds per decoder layer per generation step of Hugging Face ``generate`` on a GPU (eager, one batch of
prompts): about forty kernel launches and their Python a layer, so a small model generates at this rate
whatever its FLOPs (SmolLM2-135M's 30 layers: about 18 ms a step, some 55 tokens a second per batch). An
assumption, stated on every estimate that uses it."""


def decode_seconds(steps: float, layers: int) -> float:
    """Launch-bound time of ``steps`` generation steps (one new token for a whole batch each) of a decoder
    with ``layers`` layers, at :data:`DECODE_LAYER_S`."""
    return steps * layers * DECODE_LAYER_S


def decode_note(steps: float, layers: int) -> str:
    """How an estimate states :func:`decode_seconds`."""
    return (f"{steps:.0f} generation steps of a {layers}-layer model at {DECODE_LAYER_S * 1000:g} ms a layer "
            f"(launch-bound, assumed): {decode_seconds(steps, layers):.0f} s")
