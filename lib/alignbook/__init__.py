"""alignbook: the library behind the book of executable PKU-Alignment reproductions.

The engine (configs, runner, result store, book, command line) lives in :mod:`alignbook.engine`;
shared science in :mod:`alignbook.lm`, :mod:`alignbook.toyworld`, :mod:`alignbook.data`,
:mod:`alignbook.saferl` and :mod:`alignbook.plotting`; each chapter has its own package. Notebooks
import the names below from ``alignbook`` itself.
"""

__version__ = "0.1.0"

import warnings  # noqa: E402

# tqdm.auto warns in every kernel without ipywidgets; the book's pages are static, bars are dropped anyway
warnings.filterwarnings("ignore", message="IProgress not found")

from .engine.config import PROFILES, BaseConfig, ConfigError
from .engine.launch import launch
from .engine.metrics import load_metrics, record
from .engine.notebook import setup, upstream_run
from .plotting import save_figure

__all__ = ["PROFILES", "BaseConfig", "ConfigError", "launch", "load_metrics", "record",
           "save_figure", "setup", "upstream_run"]
