"""Safe RLHF (Dai et al., 2023, arXiv 2310.12773): score models, their losses, PPO-Lagrangian."""

from .losses import accuracy, accuracy_sign, cost_loss, reward_loss
from .results import TrainResult
from .reward import train_cost_model, train_reward_model, train_score_model
from .score import ScoreModel, ScoreOutput, last_token_index, load_score_model, save_score_model

__all__ = [
    "ScoreModel",
    "ScoreOutput",
    "TrainResult",
    "accuracy",
    "accuracy_sign",
    "cost_loss",
    "last_token_index",
    "load_score_model",
    "reward_loss",
    "save_score_model",
    "train_cost_model",
    "train_reward_model",
    "train_score_model",
]
