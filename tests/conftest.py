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


# -- the two `test`-profile runs of tests/test_notebooks.py, started as soon as tests are collected ----
IDENTITY_TEST = "test_the_same_numbers_with_two_workers_and_units_in_sequence"

AT_MOST_ONE_UNIT = frozenset({
    "aligner/04_weak_to_strong", "baichuan2/03_real_model", "baichuan2/04_tokenizer_precision",
    "info-structures/04_annotation_cost", "intro/02_real_model", "resist-alignment/01_theory",
    "safe-rlhf/03_ppo_lag", "safe-rlhf/05_real_model", "safety-gymnasium/01_suite", "survey/01_frame",
})
"""Notebooks whose every map of units has at most one unit in the `test` profile (checked by the identity
test on the ``--jobs 1`` run), so that ``--jobs 1`` and ``--jobs 2`` run them the same way, in the
notebook's own process: the ``--jobs 2`` run leaves them out, with the results pages (they record no
metric), unless a notebook it runs depends on them. That saves CI about nine minutes of a core."""


def identity_notebooks() -> list[str]:
    """What the ``--jobs 2`` run executes: every notebook with a map of two or more units, and its upstream."""
    from alignbook.engine import runner
    from alignbook.engine.config import load_spec

    wanted = [n for n in runner.all_notebooks() if n not in AT_MOST_ONE_UNIT and not n.endswith("_results")]
    needed, stack = set(), list(wanted)
    while stack:
        name = stack.pop()
        if name not in needed:
            needed.add(name)
            stack.extend(load_spec(REPO / "notebooks" / f"{name}.yaml").get("depends_on") or [])
    return [n for n in runner.all_notebooks() if n in needed]


class ProfileRun:
    """The whole `test` profile, run by ``alignbook run`` in a process of its own, started when the tests
    are collected so that it runs beside the rest of the suite (most tests use one core of two).

    ``jobs=1`` runs into the build folder the tests read (cached where its records are valid): one
    notebook at a time with every core, so every map of units runs its units in worker processes.
    ``jobs=2`` runs into a scratch build folder with ``--force``: two notebooks at once, each with one
    core, so every map of units runs its units one after another in the notebook's own process; it runs
    :func:`identity_notebooks` only. The identity test compares their metrics between the two (issue 30)."""

    def __init__(self, jobs: int, targets: list[str] | None = None) -> None:
        import subprocess
        import sys
        import tempfile

        self.scratch = jobs > 1
        self.build = Path(tempfile.mkdtemp(prefix=f"alignbook-jobs{jobs}-"))
        self.log = self.build / "run.log"
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        extra = []
        if self.scratch:
            env["ALIGNBOOK_BUILD"] = str(self.build)
            extra = ["--force"]
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "alignbook.engine.cli", "run", *(targets or []), "--profile", "test",
                 "--jobs", str(jobs), "--no-progress", *extra], cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def wait(self, timeout: float = 3600) -> tuple[Path, dict]:
        """Wait for the run; its build folder and manifest (``--jobs 2``), or ``(None, {})`` for ``--jobs 1``,
        whose results the tests read through :func:`alignbook.engine.runner.run` (cached by then)."""
        import json

        self.proc.wait(timeout=timeout)
        if not self.scratch:
            return None, {}
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


def rehearsal_of_the_day(chapters: list[str], day: int | None = None) -> str:
    """The chapter whose paper rehearsal ``make test`` runs today: they take turns by day of the year, so every
    chapter is rehearsed in CI within ten days while CI runs one (``make rehearse`` runs all of them)."""
    import datetime

    day = datetime.date.today().timetuple().tm_yday if day is None else day
    return sorted(chapters)[day % len(chapters)]


def pytest_collection_modifyitems(config, items):
    rehearsals = [item for item in items if item.get_closest_marker("rehearsal")]
    if not rehearsals or os.environ.get("ALIGNBOOK_REHEARSE_ALL") or len(rehearsals) == 1:
        return
    if any("::" in arg or "test_rehearsal_chapters" in arg for arg in config.args):  # asked for by name
        return
    today = rehearsal_of_the_day([item.name for item in rehearsals])
    others = [item for item in rehearsals if item.name != today]
    config.hook.pytest_deselected(items=others)
    items[:] = [item for item in items if item not in others]


def pytest_collection_finish(session):
    if session.config.option.collectonly:
        return
    items = session.items
    if any("test_profile_run" in getattr(item, "fixturenames", ()) for item in items):
        session.config.alignbook_profile_run = ProfileRun(jobs=1)
    if any(item.name.startswith(IDENTITY_TEST) for item in items):
        session.config.alignbook_parallel_run = ProfileRun(jobs=2, targets=identity_notebooks())


def pytest_sessionfinish(session):
    for name in ("alignbook_parallel_run", "alignbook_profile_run"):
        run = getattr(session.config, name, None)
        if run is not None:
            run.stop()
