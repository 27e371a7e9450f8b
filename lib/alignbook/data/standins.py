"""Local stand-ins of the hub models and datasets the ``paper`` profiles load, for a rehearsal.

The hub is unreachable where the book is built, and a 7B model does not fit a laptop. A rehearsal of
the paper run (:mod:`alignbook.engine.rehearsal`) replaces every hub id by a stand-in built here:

* a **model** becomes a tiny randomly initialised checkpoint of the same class and config family
  (:data:`MODELS`: a 2-layer ``LlamaForCausalLM`` with the published model's special-token ids,
  norm epsilon, context length, untied head and dtype), with a tokenizer of the same family (a
  ``LlamaTokenizerFast``: SentencePiece-style BPE with ``<unk>``, ``<s>``, ``</s>`` at ids 0-2, and the
  ``<pad>`` token safe-rlhf adds to its models), trained here on the toy world's text, saved with
  ``save_pretrained`` as the hub repository holds it (``config.json``, ``model.safetensors``,
  ``tokenizer.json``, ``tokenizer_config.json``, ``special_tokens_map.json``);
* a **dataset** becomes a folder in the hub repository's layout (:func:`alignbook.data.hub.write_hub_layout`)
  of real sample rows where ``../shared/data/real-samples/`` has some for its schema, else of
  schema-exact generated rows (:func:`alignbook.data.toy_rows`).

Each stand-in is built once under the rehearsal's hub folder and reused; a half-built one is never
used (it is built in a temporary folder and renamed into place).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

VERSION = 2
"""Bumped when a stand-in's recipe changes (a stand-in of another version is rebuilt)."""


@dataclasses.dataclass(frozen=True)
class LlamaFamily:
    """What a tiny stand-in keeps of a published Llama-family checkpoint's ``config.json``."""

    max_position_embeddings: int
    rms_norm_eps: float
    pad_token: str | None
    """``<pad>`` where the release adds one (safe-rlhf's models), None where it has none (Llama 2)."""
    torch_dtype: str


MODELS: dict[str, LlamaFamily] = {
    # config.json of the release (read on the hub's pages; see lib/alignbook/lm/sizes.py for the shapes):
    # LlamaForCausalLM, bos 1, eos 2, untied, max_position_embeddings 2048, rms_norm_eps 1e-6, bf16, <pad> added
    "PKU-Alignment/alpaca-7b-reproduced": LlamaFamily(2048, 1e-6, "<pad>", "bfloat16"),
    # LlamaForCausalLM, bos 1, eos 2, untied, max_position_embeddings 4096, rms_norm_eps 1e-5, fp16, no pad
    "meta-llama/Llama-2-7b-hf": LlamaFamily(4096, 1e-5, None, "float16"),
}
"""Hub models with a stand-in, and the family traits each keeps."""

TINY = {"hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4,
        "num_key_value_heads": 4}
"""The stand-in's size: two layers, width 64 (the published models: 32 layers of 4096)."""

VOCAB = 512
"""The stand-in tokenizer's vocabulary (the published one: 32,000)."""

REAL_SAMPLES = {"alpaca": "alpaca-32rows.json", "pku-saferlhf-v0": "pku-saferlhf-v0-32pairs.json"}
"""Schemas with real rows in ``../shared/data/real-samples/`` (read when present)."""

ROWS = {"train": 256, "test": 64}
"""Generated rows per split (other split names: the test size)."""


def real_samples_dir() -> Path:
    from ..engine import paths

    return Path(os.environ.get("ALIGNBOOK_REAL_SAMPLES") or paths.repo_root().parent / "shared" / "data" / "real-samples")


def known(hub_id: str) -> bool:
    from .hub import HUB_DATASETS

    return hub_id in MODELS or hub_id in HUB_DATASETS


def build(hub_id: str, root: str | os.PathLike) -> Path:
    """The folder of ``hub_id``'s stand-in under ``root`` (built now if it is not there)."""
    from .hub import HUB_DATASETS

    if not known(hub_id):
        raise KeyError(f"{hub_id!r} has no stand-in; known: {', '.join([*MODELS, *HUB_DATASETS])}")
    kind = "models" if hub_id in MODELS else "datasets"
    folder = Path(root) / kind / hub_id.replace("/", "--")
    marker = folder / "alignbook_standin.json"
    if marker.exists() and json.loads(marker.read_text()).get("version") == VERSION:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        origin = _build_model(hub_id, work) if kind == "models" else _build_dataset(hub_id, work)
        (work / "alignbook_standin.json").write_text(json.dumps(
            {"hub_id": hub_id, "version": VERSION, "rows": origin} if kind == "datasets" else
            {"hub_id": hub_id, "version": VERSION, "model": "tiny, randomly initialised"}))
        if folder.exists():
            shutil.rmtree(folder)
        os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def llama_tokenizer(pad_token: str | None) -> Any:
    """A ``LlamaTokenizerFast`` of :data:`VOCAB` tokens trained on the toy world's text: ``<unk>`` 0,
    ``<s>`` 1, ``</s>`` 2 as in Llama's, a leading ``<s>`` on every encoding, and ``pad_token`` added
    after the vocabulary as safe-rlhf adds ``<pad>`` (id 32,000 in the published model)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, trainers
    from transformers import LlamaTokenizerFast

    from .toy import ToyWorld, ToyWorldConfig

    world = ToyWorld(ToyWorldConfig())
    texts = [p.text for p in world.sample_prompts(400, 0)]
    texts += [r["response_0"] for r in world.preference_rows(200, 0)]
    tok = Tokenizer(models.BPE(unk_token="<unk>", fuse_unk=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.Fuse(), decoders.Strip(" ", 1, 0)])
    alphabet = [chr(c) for c in range(33, 127)] + ["▁"]  # every printable ASCII character is a token
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                                  initial_alphabet=alphabet)
    tok.train_from_iterator(texts, trainer)
    tokenizer = LlamaTokenizerFast(tokenizer_object=tok, unk_token="<unk>", bos_token="<s>", eos_token="</s>",
                                   add_bos_token=True, add_eos_token=False, legacy=False)
    if pad_token:
        tokenizer.add_special_tokens({"pad_token": pad_token})
    return tokenizer


def _build_model(hub_id: str, folder: Path) -> None:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    family = MODELS[hub_id]
    tokenizer = llama_tokenizer(family.pad_token)
    config = LlamaConfig(
        vocab_size=len(tokenizer), max_position_embeddings=family.max_position_embeddings,
        rms_norm_eps=family.rms_norm_eps, bos_token_id=1, eos_token_id=2,
        pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, **TINY,
    )
    torch.manual_seed(0)
    model = LlamaForCausalLM(config)
    model.config.dtype = family.torch_dtype  # what the release's config.json says (weights stay fp32 here)
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)


def _build_dataset(hub_id: str, folder: Path) -> str:
    from .hub import HUB_DATASETS, write_hub_layout
    from .schemas import validate_rows
    from .toy import toy_rows

    spec = HUB_DATASETS[hub_id]
    real = real_samples_dir() / REAL_SAMPLES.get(spec.schema, "-")
    rows_by_split: dict[str, list[dict[str, Any]]] = {}
    origin = "generated (schema-exact toy rows)"
    for index, split in enumerate(spec.layout):
        if real.is_file():
            rows = json.loads(real.read_text())
            validate_rows(rows, spec.schema, where=str(real.name))
            origin = f"real sample rows ({real.name})"
        else:
            rows = toy_rows(spec.schema, ROWS.get(split, ROWS["test"]), seed=index)
        rows_by_split[split] = rows
    write_hub_layout(rows_by_split, folder, hub_id)
    return origin
