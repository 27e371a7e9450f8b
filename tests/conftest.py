"""Shared fixtures. Tests run from the repository's own venv (`make test`)."""

import os
from pathlib import Path

# Every process that computes for the book holds one torch and one BLAS thread (the runner sets this in
# each notebook's environment, map_units in its workers), so that no number depends on how many run
# side by side. The test process does the same (numpy is loaded by then: threadpoolctl limits its
# OpenBLAS in place): a unit run here must give the numbers it gives in a worker (np.linalg.inv with two
# OpenBLAS threads differs from one in the last bits).
from alignbook.engine.parallel import pin_threads  # noqa: E402

pin_threads()

import pytest  # noqa: E402

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
