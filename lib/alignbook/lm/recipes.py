"""Ready-made entry points for :func:`alignbook.engine.launch.launch`: SFT from files on disk.

``launch("alignbook.lm.recipes:sft_from_config", cfg, nprocs=2)`` fine-tunes the model saved
in ``cfg.model_path`` on the pairs in ``cfg.data_path`` in each of the processes, sharing
gradients through DeepSpeed (``cfg.zero_stage``), and writes the result to
``<cfg.run_dir>/sft``. The same call with ``nprocs=1`` runs in-process.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

from ..engine.config import BaseConfig
from .sft import SFTConfig, SFTResult, train_sft


@dataclasses.dataclass(frozen=True)
class SFTRunConfig(BaseConfig, SFTConfig):
    """An :class:`SFTConfig` plus where the model and data live (a notebook or launch config)."""

    model_path: str = ""
    """Folder of the starting model and its tokenizer (``save_pretrained`` format)."""
    data_path: str = ""
    """JSON file: a list of ``{"prompt": ..., "completion": ...}`` (or of plain strings)."""
    eval_data_path: str | None = None
    """Optional JSON file of held-out pairs in the same format."""

    def __post_init__(self) -> None:
        BaseConfig.__post_init__(self)
        SFTConfig.__post_init__(self)

    def sft_config(self) -> SFTConfig:
        """The training hyperparameters alone."""
        return SFTConfig(**{f.name: getattr(self, f.name) for f in dataclasses.fields(SFTConfig)})


def _read_json_list(path: str, field: str) -> list:
    file = Path(path)
    if not path or not file.exists():
        raise FileNotFoundError(f"{field}={path!r} does not exist; write the pairs as a JSON list first")
    rows = json.loads(file.read_text())
    if not isinstance(rows, list):
        raise ValueError(f"{field}={path!r} must hold a JSON list of pairs or strings")
    return rows


def sft_from_config(cfg: SFTRunConfig) -> SFTResult:
    """Load model, tokenizer and data named by ``cfg``, run :func:`train_sft`, save under run_dir."""
    from transformers import AutoModelForCausalLM

    from .tokenizer import load_tokenizer

    tokenizer = load_tokenizer(cfg.model_path)
    model = AutoModelForCausalLM.from_pretrained(cfg.model_path)
    data = _read_json_list(cfg.data_path, "data_path")
    eval_data = _read_json_list(cfg.eval_data_path, "eval_data_path") if cfg.eval_data_path else None
    return train_sft(
        model, tokenizer, data, cfg.sft_config(), eval_pairs=eval_data, verbose=False,
        output_dir=Path(cfg.run_dir) / "sft",
    )
