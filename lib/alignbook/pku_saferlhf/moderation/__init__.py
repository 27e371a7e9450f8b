"""Severity-sensitive QA moderation (PKU-SafeRLHF): safe/unsafe, severity 0-3, 19 categories."""

from .metrics import majority_baseline, moderation_metrics
from .model import ModerationModel, load_moderation_model, moderation_loss, predict_from_outputs, save_moderation_model
from .train import PAPER_RESULTS, ModerationConfig, ModerationResult, evaluate, labels_of, load_qa_rows, run_seeds, summarize, train_moderation

__all__ = [
    "PAPER_RESULTS",
    "ModerationConfig",
    "ModerationModel",
    "ModerationResult",
    "evaluate",
    "labels_of",
    "load_moderation_model",
    "load_qa_rows",
    "majority_baseline",
    "moderation_loss",
    "moderation_metrics",
    "predict_from_outputs",
    "run_seeds",
    "save_moderation_model",
    "summarize",
    "train_moderation",
]
