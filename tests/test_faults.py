"""The book machine under faults: no wrong result is ever served, bad input gets a named error,
Ctrl-C stops the whole tree (issue: the engine under faults).

Each test reproduces one probe: a kill at a random point, concurrent runs, injected or deleted
files, a library edit, a failed rerun, every kind of bad input. The throwaway book's notebook
mimics a trainer that reuses a result found in its run folder (``summary.json``), the pattern
that once served another configuration's numbers.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import notebook_factory as factory
import psutil
import pytest
import yaml

from alignbook.engine import book as book_mod
from alignbook.engine import cli, runner, store

BODY = """\
import json, os, pathlib, time
run = pathlib.Path(cfg.run_dir)
marker = os.environ.get("FAULT_MARKER")
if marker:
    pathlib.Path(marker).write_text(str(os.getpid()))
time.sleep(float(os.environ.get("FAULT_SLEEP", "0")))
summary = run / "summary.json"   # a trainer that reuses a finished result it finds
if not summary.exists():
    summary.write_text(json.dumps({"value": cfg.steps * 21}))
alignbook.record(cfg, "answer", json.loads(summary.read_text())["value"], "steps times 21")
"""


def write_notebook(root: Path, name: str, body: str = BODY, spec_extra: dict | None = None) -> None:
    factory.write_notebook(root, name, body, spec_extra, title=f"Title of {name}")


@pytest.fixture
def book(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("ALIGNBOOK_BUILD", raising=False)
    monkeypatch.delenv("FAULT_MARKER", raising=False)
    monkeypatch.delenv("FAULT_SLEEP", raising=False)
    write_notebook(tmp_path, "ch/01_a")
    write_notebook(tmp_path, "ch/02_b", BODY.replace('"answer"', '"other"'), {"depends_on": ["ch/01_a"]})
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "index",
        "chapters": [{"file": "_executed/ch/01_a"}, {"file": "_executed/ch/02_b"}, {"file": "_executed/results"}]}))
    return tmp_path


def quiet(*_):
    pass


def run(targets=("ch/01_a",), **kw):
    return runner.run(list(targets), "test", progress=False, log=quiet, **kw)


def answer(root: Path, name: str = "ch/01_a", metric: str = "answer"):
    """The number the Results page would show for ``name`` (None when it shows none)."""
    rows = book_mod.collect_metrics("test")
    found = [r["value"] for r in rows if r["notebook"] == name and r["name"] == metric]
    return found[0] if found else None


def cli_process(root: Path, *args: str, marker: Path | None = None, sleep: float = 0) -> subprocess.Popen:
    env = dict(os.environ, ALIGNBOOK_ROOT=str(root), PYTHONUNBUFFERED="1", FAULT_SLEEP=str(sleep))
    if marker is not None:
        env["FAULT_MARKER"] = str(marker)
    # SIGINT back to its default in the child: a suite started as a background job of a script inherits
    # SIGINT ignored (POSIX), and Python keeps an ignored SIGINT ignored, so Ctrl-C would test nothing
    return subprocess.Popen([sys.executable, "-m", "alignbook.engine.cli", "run", *args, "--no-progress"],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=_default_sigint)


def _default_sigint() -> None:  # runs in the child between fork and exec
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def wait_file(path: Path, seconds: float = 90) -> None:
    assert store.wait_for(path.exists, seconds), f"{path} never appeared"


def tree(pid: int) -> list[psutil.Process]:
    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def all_gone(procs: list[psutil.Process], seconds: float) -> bool:
    def gone() -> bool:
        return all(not p.is_running() or p.status() == psutil.STATUS_ZOMBIE for p in procs)

    return store.wait_for(gone, seconds, step=0.2)


# -- wrong results -------------------------------------------------------------------------------


def two_at_once(book: Path) -> tuple[str, ...]:
    """The notebooks a ``--jobs 2`` probe runs: 01_a and an independent 02_b, side by side."""
    write_notebook(book, "ch/02_b", BODY.replace('"answer"', '"other"'))
    return ("ch/01_a", "ch/02_b", "--jobs", "2")


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("jobs", [1, 2])
def test_a_kill_at_any_point_never_leaves_a_result_that_counts(book, jobs):
    rng = random.Random(7)
    targets = ("ch/01_a",) if jobs == 1 else two_at_once(book)
    for delay in (rng.uniform(0.2, 3.0), rng.uniform(3.0, 8.0)):
        proc = cli_process(book, *targets, sleep=2)
        time.sleep(delay)
        procs = tree(proc.pid)
        for p in procs:  # the whole process tree, at once
            try:
                p.kill()
            except psutil.Error:
                pass
        proc.wait(timeout=30)
        assert all_gone(procs, 15)
        record = runner.load_manifest("test").get("ch/01_a", {})
        if record.get("status") == "ok":  # the run had finished before the kill: then it must be valid
            assert store.verify("test", "ch/01_a", None, runner.current_hashes()) is None
        else:
            assert store.verify("test", "ch/01_a", None, runner.current_hashes()) is not None
            assert answer(book) is None
    report = run()
    assert report.results["ch/01_a"]["status"] in ("ok", "cached")
    assert answer(book) == 42
    nb = nbformat.read(book / "build" / "test" / "notebooks" / "ch" / "01_a.ipynb", as_version=4)
    assert all(c.execution_count is not None for c in nb.cells if c.cell_type == "code" and c.source.strip())


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("jobs", [1, 2])
def test_sigkill_of_the_command_stops_the_child_and_its_kernel(book, jobs):
    marker = book / "started"
    targets = ("ch/01_a",) if jobs == 1 else two_at_once(book)
    proc = cli_process(book, *targets, marker=marker, sleep=6)
    wait_file(marker)
    if jobs == 2:
        assert store.wait_for(lambda: len(tree(proc.pid)) >= 5, 60)  # both notebooks' children and kernels
    procs = tree(proc.pid)
    assert len(procs) >= 3  # the command, the papermill child, the kernel
    proc.kill()  # SIGKILL of the command alone: nothing can be cleaned up by it
    proc.wait(timeout=10)
    assert all_gone(procs, 15), "the papermill child or its kernel outlived the command"
    time.sleep(7)  # past the cell's sleep: nothing may have been written meanwhile
    assert not (book / "build" / "test" / "notebooks" / "ch" / "01_a.ipynb").exists()
    assert not (book / "build" / "test" / "runs" / "ch" / "01_a" / "metrics.json").exists()
    assert runner.status_of("test", "ch/01_a")[0] == "interrupted"
    assert run().results["ch/01_a"]["status"] == "ok"


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("signum,jobs", [(signal.SIGINT, 1), (signal.SIGTERM, 1), (signal.SIGINT, 2)])
def test_ctrl_c_stops_the_whole_tree_with_one_line(book, signum, jobs):
    marker = book / "started"
    targets = ("ch/01_a",) if jobs == 1 else two_at_once(book)
    proc = cli_process(book, *targets, marker=marker, sleep=60)
    wait_file(marker)
    if jobs == 2:
        assert store.wait_for(lambda: len(tree(proc.pid)) >= 5, 60)  # both notebooks' children and kernels
    procs = tree(proc.pid)
    assert len(procs) >= 3
    start = time.monotonic()
    proc.send_signal(signum)
    # guards against a hang, sized for a loaded 2-core machine (it stops within seconds when idle; a clean-clone CI
    # run beside a smoke run once took over 30 s)
    out, err = proc.communicate(timeout=180)
    assert time.monotonic() - start < 90
    assert proc.returncode == 130
    assert "Traceback" not in err and "Traceback" not in out
    lines = [line for line in err.splitlines() if line.startswith("alignbook:")]
    assert len(lines) == 1 and "interrupted" in lines[0] and "ch/01_a" in lines[0]
    assert all_gone(procs, 10)
    for name in targets[:jobs]:
        assert runner.load_manifest("test")[name]["status"] == "interrupted"
        assert store.verify("test", name, None, runner.current_hashes()) is not None
        assert not (book / "build" / "test" / "notebooks" / f"{name}.ipynb").exists()


@pytest.mark.slow
@pytest.mark.notebooks
@pytest.mark.parametrize("jobs", [1, 2])
def test_concurrent_runs_with_other_parameters_never_serve_each_others_results(book, jobs):
    more = () if jobs == 1 else two_at_once(book)[1:]
    other = cli_process(book, "ch/01_a", *more, "-p", "steps=3", sleep=1)
    default = cli_process(book, "ch/01_a", *more, sleep=1)
    for proc in (other, default):
        out, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    report = run()  # the default parameters: whichever committed last, the answer is the default's
    assert report.results["ch/01_a"]["status"] in ("ok", "cached")
    assert answer(book) == 42
    executed = (book / "build" / "test" / "notebooks" / "ch" / "01_a.ipynb").read_text()
    assert '"steps": 3' not in executed and "steps=3" not in executed


@pytest.mark.slow
@pytest.mark.notebooks
def test_concurrent_runs_of_two_notebooks_both_land_in_the_manifest(book):
    write_notebook(book, "ch/02_b", BODY.replace('"answer"', '"other"'))  # independent of 01 here
    first, second = cli_process(book, "ch/01_a", sleep=1), cli_process(book, "ch/02_b", sleep=1)
    for proc in (first, second):
        assert proc.wait(timeout=180) == 0
    manifest = runner.load_manifest("test")
    assert manifest["ch/01_a"]["status"] == "ok" and manifest["ch/02_b"]["status"] == "ok"


@pytest.mark.slow
@pytest.mark.notebooks
def test_run_folder_results_are_never_reused_across_keys_or_with_force(book, tmp_path, monkeypatch):
    assert run().results["ch/01_a"]["status"] == "ok" and answer(book) == 42
    summary = book / "build" / "test" / "runs" / "ch" / "01_a" / "summary.json"
    # other parameters: a fresh run folder, not the old summary
    assert run(overrides={"steps": "3"}).results["ch/01_a"]["status"] == "ok"
    assert answer(book) == 63
    # --force recomputes: a planted summary does not survive it
    summary.write_text(json.dumps({"value": -1}))
    assert run(overrides={"steps": "3"}, force=True).results["ch/01_a"]["status"] == "ok"
    assert answer(book) == 63
    # a library edit changes the key: the run folder is not reused
    copy = tmp_path / "libcopy" / "alignbook"
    shutil.copytree(runner.library_root(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(runner, "library_root", lambda: copy)
    summary.write_text(json.dumps({"value": -2}))
    with open(copy / "intro" / "machine.py", "a") as f:
        f.write("\n# edited\n")
    report = run(overrides={"steps": "3"})
    assert report.results["ch/01_a"]["status"] == "ok"  # not "cached"
    assert answer(book) == 63


@pytest.mark.slow
@pytest.mark.notebooks
def test_injected_or_deleted_outputs_are_never_served(book):
    assert run(["ch/01_a", "ch/02_b"]).results["ch/02_b"]["status"] == "ok"
    runs = book / "build" / "test" / "runs" / "ch"
    metrics = runs / "01_a" / "metrics.json"
    # a metric injected into metrics.json: not on the Results page, and the next run executes again
    data = json.loads(metrics.read_text())
    data["injected"] = {"value": 1e9, "profile": "test"}
    metrics.write_text(json.dumps(data))
    assert answer(book, metric="injected") is None and answer(book) is None
    assert runner.status_of("test", "ch/01_a")[0] == "invalid"
    assert runner.status_of("test", "ch/02_b")[0] == "invalid"  # it read 01_a's results
    report = run(["ch/01_a", "ch/02_b"])
    assert report.results["ch/01_a"]["status"] == "ok"
    assert answer(book, metric="injected") is None and answer(book) == 42
    # a file planted where the notebook writes none
    (runs / "01_a" / "planted.json").write_text("{}")
    assert run().results["ch/01_a"]["status"] == "ok"
    # a deleted run folder: never "cached"
    shutil.rmtree(runs / "01_a")
    assert run().results["ch/01_a"]["status"] == "ok"
    # an edited executed notebook
    executed = book / "build" / "test" / "notebooks" / "ch" / "01_a.ipynb"
    executed.write_text(executed.read_text().replace("steps times 21", "edited"))
    assert run().results["ch/01_a"]["status"] == "ok"
    assert run().results["ch/01_a"]["status"] == "cached"


@pytest.mark.slow
@pytest.mark.notebooks
def test_a_failed_rerun_leaves_no_old_result_and_the_book_says_so(book, capsys):
    assert run().results["ch/01_a"]["status"] == "ok" and answer(book) == 42
    write_notebook(book, "ch/01_a", 'raise RuntimeError("broken on purpose")')
    assert run().results["ch/01_a"]["status"] == "failed"
    assert not (book / "build" / "test" / "notebooks" / "ch" / "01_a.ipynb").exists()
    assert not (book / "build" / "test" / "runs" / "ch" / "01_a" / "metrics.json").exists()
    assert (book / "build" / "test" / "failed" / "ch" / "01_a.ipynb").exists()
    assert answer(book) is None
    report = run(["ch/02_b"])  # what reads a failed notebook does not run on its leftovers
    assert report.results["ch/02_b"]["status"] == "skipped"
    problems = book_mod.prepare("test")
    assert set(problems) == {"ch/01_a", "ch/02_b"}
    page = (book / "book" / "_executed" / "ch" / "01_a.ipynb").read_text()
    assert "No result" in page and "broken on purpose" in page and "alignbook run ch/01_a --profile test" in page
    assert "Title of ch/01_a" in page
    assert "answer" not in (book / "book" / "_executed" / "results.md").read_text()


def test_book_renders_what_succeeded_and_exits_nonzero(book, monkeypatch, capsys):
    calls = []
    monkeypatch.setattr(book_mod, "build", lambda strict=True: calls.append(strict) or book / "book" / "_build" / "html" / "index.html")
    assert cli.main(["book", "--profile", "test"]) == 1  # nothing has run: pages say so, exit 1
    assert calls == [True]
    err = capsys.readouterr().err
    assert "ch/01_a" in err and "not run" in err.replace("never run", "not run")
    assert (book / "book" / "_executed" / "ch" / "02_b.ipynb").exists()


def test_a_failed_strict_build_is_a_message(book, monkeypatch, capsys):
    class Done:
        returncode = 1

    monkeypatch.setattr(book_mod.subprocess, "run", lambda *a, **k: Done())
    monkeypatch.setattr(book_mod, "vendor_mathjax", lambda: None)
    assert cli.main(["book", "--profile", "test"]) == 2
    err = capsys.readouterr().err
    assert "--no-strict" in err and "Traceback" not in err


# -- bad input: a named error, no traceback, nothing run ------------------------------------------


@pytest.mark.parametrize("param,named", [
    ("steps=010", "leading zero"), ("steps=1:30", "decimal"), ("steps=0x10", "decimal"), ("steps=0", "[1, 10^9]"),
    ("steps=-3", "[1, 10^9]"), ("lr=-1", "> 0"), ("lr=nan", "lr"), ("lr=inf", "lr"), ("batch_size=0", "batch_size"),
    ("zero_stage=7", "[0, 3]"), ("verbose=yes", "true or false"), ("profile=paper", "--profile"),
    ("run_dir=/etc", "runner"), ("seed=-1", "seed"), ("nope=1", "unknown parameter"),
])
def test_bad_parameters_are_named_before_anything_runs(book, capsys, param, named):
    assert cli.main(["run", "ch/01_a", "-p", param]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alignbook: error:") and named in err and param.split("=")[0] in err
    assert "Traceback" not in err
    assert not (book / "build" / "test" / "notebooks").exists()


def test_null_is_accepted_for_optional_fields(book):
    job = runner.plan(["ch/01_a"], "test", {"zero_stage": "null"})[0]
    assert job.config.zero_stage is None


def test_seed_given_twice_and_bad_timeouts_are_refused(book, capsys):
    assert cli.main(["run", "ch/01_a", "-p", "seed=3", "--seed", "4"]) == 2
    assert "twice" in capsys.readouterr().err
    for value in ("nan", "inf", "0", "-5", "soon"):
        assert cli.main(["run", "ch/01_a", "--timeout", value]) == 2
        assert "--timeout" in capsys.readouterr().err


@pytest.mark.parametrize("damage,named", [
    (lambda root: (root / "notebooks/ch/01_a.yaml").write_text("config: [unclosed\n"), "01_a.yaml is not valid YAML"),
    (lambda root: (root / "notebooks/ch/01_a.yaml").write_text("config: alignbook.nowhere:Config\n"), "cannot import"),
    (lambda root: (root / "notebooks/ch/01_a.yaml").write_text("config: alignbook.intro.machine:Nope\n"), "has no Nope"),
    (lambda root: (root / "notebooks/ch/01_a.yaml").write_text(
        "config: alignbook.intro.machine:MachineConfig\ntimeout: {test: fast}\n"), "timeout.test"),
    (lambda root: (root / "notebooks/ch/01_a.yaml").write_text(
        "config: alignbook.intro.machine:MachineConfig\nprofiles: {test: {steps: 010}}\n"), "leading zero"),
    (lambda root: (root / "notebooks/ch/01_a.ipynb").write_text(
        (root / "notebooks/ch/01_a.ipynb").read_text()[:200]), "01_a.ipynb is not a readable notebook"),
    (lambda root: (root / "notebooks/ch/01_a.ipynb").write_text(json.dumps(
        {"cells": [{"cell_type": "code"}], "metadata": {}, "nbformat": 4, "nbformat_minor": 5})), "has no cell_type or source"),
    (lambda root: (root / "build/test").mkdir(parents=True) or (root / "build/test/manifest.json").write_text("{\"ch/0"),
     "manifest.json cannot be read"),
])
def test_damaged_files_are_named_with_a_fix(book, capsys, damage, named):
    damage(book)
    assert cli.main(["run", "ch/01_a", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert named in err and "Traceback" not in err
    assert cli.main(["list"]) in (0, 2)  # list works or names the same problem, never a traceback
    assert "Traceback" not in capsys.readouterr().err


def test_an_unwritable_build_folder_is_named(book, monkeypatch, capsys):
    (book / "not-a-folder").write_text("")
    monkeypatch.setenv("ALIGNBOOK_BUILD", str(book / "not-a-folder" / "build"))
    assert cli.main(["run", "ch/01_a", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "cannot read or write" in err and "ALIGNBOOK_BUILD" in err and "Traceback" not in err


def test_timeout_messages_say_how_to_raise_the_guard(book):
    job = runner.plan(["ch/01_a"], "test")[0]
    assert job.timeout_origin() == "the default guard of profile 'test'"
    job.timeout_override = 3
    assert job.timeout_origin() == "--timeout"


def test_list_shows_why_a_result_is_not_valid(book, capsys):
    store.update_record("test", "ch/01_a", lambda r: {"status": "running", "key": "k", "pid": 999999})
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "interrupted" in out and "never run" in out


@pytest.mark.parametrize("value,named", [("0", "at least 1"), ("-2", "at least 1"), ("two", "whole number"),
                                         ("2.5", "whole number"), ("9" * 400, "whole number")])
def test_a_bad_jobs_value_is_named_and_nothing_runs(book, capsys, value, named):
    assert cli.main(["run", "ch/01_a", "--no-progress", "--jobs", value]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alignbook: error:") and "--jobs" in err and named in err and "Traceback" not in err
    assert len(err) < 400
    assert not (book / "build" / "test" / "notebooks").exists()


def test_more_jobs_than_cores_are_clamped_and_said(book):
    said = []
    assert runner.check_jobs(10_000, said.append) == runner.machine_cores()
    assert "more than the" in said[0] and "cores" in said[0]
    assert runner.check_jobs(1, said.append) == 1 and len(said) == 1


@pytest.mark.slow
@pytest.mark.notebooks
def test_two_workers_respect_dependencies_and_wait_for_memory(book, monkeypatch):
    """02_b reads 01_a: it starts only when 01_a has finished, whatever the worker count; a notebook
    that does not fit in the memory budget beside a running one waits (and the log says so)."""
    write_notebook(book, "ch/03_c", BODY.replace('"answer"', '"third"'))  # independent of both
    said = []
    monkeypatch.setattr(runner, "available_memory_mb", lambda: 2000.0)  # budget 1600 MB: one default notebook
    report = runner.run(["ch/01_a", "ch/02_b", "ch/03_c"], "test", progress=False, jobs=2, log=said.append)
    assert {r["status"] for r in report.results.values()} == {"ok"}
    manifest = runner.load_manifest("test")
    assert manifest["ch/02_b"]["started"] >= manifest["ch/01_a"]["finished"]
    assert any("waiting for memory" in line for line in said)
