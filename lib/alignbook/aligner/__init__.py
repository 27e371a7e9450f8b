"""Aligner (Ji et al., 2024, arXiv 2402.02416): a small model that learns to correct answers.

* :mod:`~alignbook.aligner.templates`: the released and the repository prompt templates;
* :mod:`~alignbook.aligner.data`: question-answer-correction triples, identity warm-up data,
  masked tokenisation, the ``aligner/aligner-20K`` loader;
* :mod:`~alignbook.aligner.losses`: masked NLL on correction tokens and the ω metric;
* :mod:`~alignbook.aligner.train`: the warm-up + Q-A-C schedule and the Q→C baseline;
* :mod:`~alignbook.aligner.stacking`: inference after a frozen upstream model;
* :mod:`~alignbook.aligner.toy`: the chapter's toy-world data, evaluation and weak-to-strong steps;
* :mod:`~alignbook.aligner.config`: the notebooks' configs and the launcher entry point;
* :mod:`~alignbook.aligner.claims`, :mod:`~alignbook.aligner.verdicts`: the chapter's claims and the
  verdicts the notebooks record; :mod:`~alignbook.aligner.report`, :mod:`~alignbook.aligner.plots`:
  its tables and figures.
"""

from .data import IGNORE_INDEX, encode_example, identity_rows, validate_triples, warmup_split
from .losses import masked_nll, omega, omega_by_dimension
from .stacking import correct, stack
from .templates import RELEASED, REPOSITORY, TEMPLATES, get_template
from .train import CorrectionTrainResult, load_checkpoint, train_aligner, train_correction_model, train_direct

__all__ = [
    "IGNORE_INDEX",
    "RELEASED",
    "REPOSITORY",
    "TEMPLATES",
    "CorrectionTrainResult",
    "correct",
    "encode_example",
    "get_template",
    "identity_rows",
    "load_checkpoint",
    "masked_nll",
    "omega",
    "omega_by_dimension",
    "stack",
    "train_aligner",
    "train_correction_model",
    "train_direct",
    "validate_triples",
    "warmup_split",
]
