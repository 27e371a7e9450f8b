"""alignbook: the library behind the book of executable PKU-Alignment reproductions."""

__version__ = "0.1.0"

from .config import PROFILES, BaseConfig, ConfigError  # noqa: E402
from .metrics import record  # noqa: E402
from .notebook import setup, upstream_run  # noqa: E402
from .plotting import save_figure  # noqa: E402

__all__ = ["PROFILES", "BaseConfig", "ConfigError", "record", "save_figure", "setup", "upstream_run"]
