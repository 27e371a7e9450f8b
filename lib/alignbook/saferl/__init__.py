"""The safe-RL half of alignbook: Safety-Gymnasium environments and the SafePO algorithms.

``envs`` imports Safety-Gymnasium on Python 3.11 (``compat``) and steps it fast; ``trainer``
runs any algorithm in ``ALGORITHMS`` with SafePO's defaults (``config.SafeRLConfig``).
"""

from .config import ALGORITHM_NAMES, SafeRLConfig
from .trainer import SafePolicy, SafeRLResult, evaluate, grid_configs, load_policy, run_grid, train, train_grid

__all__ = ["ALGORITHM_NAMES", "SafePolicy", "SafeRLConfig", "SafeRLResult", "evaluate", "grid_configs",
           "load_policy", "run_grid", "train", "train_grid"]
