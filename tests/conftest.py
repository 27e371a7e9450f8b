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


# -- the identity run of issue 30, started as soon as tests are collected ------------------------------
IDENTITY_TEST = "test_the_same_numbers_with_two_workers_and_units_in_sequence"


class ParallelRun:
    """The whole `test` profile run a second time, in a process of its own, into a scratch build folder:
    two notebooks at once, each with one core (so every map of units runs its units one after another in
    the notebook's own process). It starts when the tests are collected and runs beside the others
    (most of them use one core of two), and :func:`wait` hands its build folder and manifest to the
    identity test in tests/test_notebooks.py, which compares every notebook's metrics with the ones
    the in-process `--jobs 1` run recorded."""

    def __init__(self) -> None:
        import subprocess
        import sys
        import tempfile

        self.build = Path(tempfile.mkdtemp(prefix="alignbook-jobs2-"))
        self.log = self.build / "run.log"
        env = dict(os.environ, ALIGNBOOK_BUILD=str(self.build), PYTHONUNBUFFERED="1")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "alignbook.engine.cli", "run", "--profile", "test", "--jobs", "2", "--force",
                 "--no-progress"], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 3600) -> tuple[Path, dict]:
        import json

        self.proc.wait(timeout=timeout)
        manifest = self.build / "test" / "manifest.json"
        if not manifest.exists():
            raise AssertionError(f"the --jobs 2 run wrote no manifest (exit {self.proc.returncode}); its log ends:\n"
                                 + self.log.read_text()[-3000:])
        return self.build, json.loads(manifest.read_text())

    def stop(self) -> None:
        import shutil

        if self.proc.poll() is None:
            self.proc.terminate()  # the runner stops its notebooks and their kernels on SIGTERM
            try:
                self.proc.wait(timeout=60)
            except Exception:  # noqa: BLE001 - then by force
                self.proc.kill()
        shutil.rmtree(self.build, ignore_errors=True)


def pytest_collection_finish(session):
    if not session.config.option.collectonly and any(item.name.startswith(IDENTITY_TEST) for item in session.items):
        session.config.alignbook_parallel_run = ParallelRun()


def pytest_sessionfinish(session):
    run = getattr(session.config, "alignbook_parallel_run", None)
    if run is not None:
        run.stop()
