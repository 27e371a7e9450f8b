"""Shared fixtures. Tests run from the repository's own venv (`make test`)."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("MUJOCO_GL", "egl")

REPO = Path(__file__).resolve().parents[1]
REAL_SAMPLES = REPO.parent / "shared" / "data" / "real-samples"


@pytest.fixture
def real_samples() -> Path:
    """The folder of real sample rows (skips the test when this checkout has none beside it)."""
    if not REAL_SAMPLES.is_dir():
        pytest.skip(f"real sample rows not found at {REAL_SAMPLES}")
    return REAL_SAMPLES
