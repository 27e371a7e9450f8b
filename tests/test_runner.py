"""The runner on a throwaway book: parameters, caching, failures, timeouts, manifest, dry-run."""

import json

import nbformat
import pytest
import yaml

from alignbook.engine import cli, runner

from notebook_factory import write_notebook as _write_notebook


@pytest.fixture
def book(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_ROOT", str(tmp_path))
    monkeypatch.delenv("ALIGNBOOK_BUILD", raising=False)
    _write_notebook(tmp_path, "ch/01_ok", 'alignbook.record(cfg, "answer", cfg.steps * 21, "twice the steps times 21")')
    _write_notebook(tmp_path, "ch/02_boom", 'x = 1\nraise RuntimeError("boom in cell")')
    _write_notebook(tmp_path, "ch/03_after", 'alignbook.record(cfg, "ran", 1)')
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "index",
        "chapters": [{"file": f"_executed/ch/{n}"} for n in ("01_ok", "02_boom", "03_after")]}))
    return tmp_path


def test_selection_follows_the_toc_and_rejects_unknown(book):
    assert runner.select([]) == ["ch/01_ok", "ch/02_boom", "ch/03_after"]
    assert runner.select(["ch/02_boom"]) == ["ch/02_boom"]
    with pytest.raises(Exception, match="no notebook or chapter 'nope'"):
        runner.select(["nope"])


def test_cache_key_tracks_inputs_but_not_outputs(book):
    key = runner.plan(["ch/01_ok"], "test")[0].key
    assert runner.plan(["ch/01_ok"], "test")[0].key == key
    assert runner.plan(["ch/01_ok"], "test", {"steps": "3"})[0].key != key
    assert runner.plan(["ch/01_ok"], "smoke")[0].key != key
    path = book / "notebooks" / "ch" / "01_ok.ipynb"
    nb = nbformat.read(path, as_version=4)
    nb.cells[3].outputs = [nbformat.v4.new_output("stream", text="noise")]
    nbformat.write(nb, path)
    assert runner.plan(["ch/01_ok"], "test")[0].key == key  # outputs don't count
    nb.cells[3].source += "\n# changed"
    nbformat.write(nb, path)
    assert runner.plan(["ch/01_ok"], "test")[0].key != key


def test_bad_parameters_fail_before_running(book, capsys):
    assert cli.main(["run", "ch/01_ok", "-p", "no_such_param=1"]) == 2
    assert "no_such_param" in capsys.readouterr().err
    assert cli.main(["run", "ch/01_ok", "-p", "seed=abc"]) == 2
    assert "seed" in capsys.readouterr().err
    assert cli.main(["run", "ch/01_ok", "-p", "steps=many"]) == 2
    assert "steps" in capsys.readouterr().err
    assert not (book / "build").exists() or not list((book / "build").rglob("*.ipynb"))


def test_dry_run_prints_parameters_and_launch_command(book, capsys):
    _write_notebook(book, "ch/01_ok", "pass", {"launch": {"paper": {"launcher": "deepspeed", "nprocs": 8,
                                                                     "entry": "alignbook.intro.machine:train_tiny_lm"}}})
    assert cli.main(["run", "ch/01_ok", "--profile", "paper", "--dry-run", "-p", "steps=9"]) == 0
    out = capsys.readouterr().out
    assert "steps = 9" in out and "profile = 'paper'" in out
    assert "launch: deepspeed --num_gpus 8" in out and "alignbook.intro.machine:train_tiny_lm" in out
    assert not (book / "build").exists()


@pytest.mark.slow
@pytest.mark.notebooks
def test_run_reports_failure_keeps_going_and_caches(book, capsys):
    report = runner.run([], "test", progress=False, log=lambda *_: None)
    status = {n: r["status"] for n, r in report.results.items()}
    assert status == {"ch/01_ok": "ok", "ch/02_boom": "failed", "ch/03_after": "ok"}
    boom = report.results["ch/02_boom"]
    assert "RuntimeError: boom in cell" in boom["error"] and 'raise RuntimeError("boom in cell")' in boom["cell_source"]
    assert "boom in cell" in report.summary()
    # outputs and metrics land in build/, never in notebooks/
    executed = book / "build" / "test" / "notebooks" / "ch" / "01_ok.ipynb"
    nb = nbformat.read(executed, as_version=4)
    assert "Provenance" in nb.cells[1].source and "profile **test**" in nb.cells[1].source
    metrics = json.loads((book / "build" / "test" / "runs" / "ch" / "01_ok" / "metrics.json").read_text())
    assert metrics["answer"]["value"] == 42 and metrics["answer"]["profile"] == "test"
    source = nbformat.read(book / "notebooks" / "ch" / "01_ok.ipynb", as_version=4)
    assert all(not c.get("outputs") for c in source.cells if c.cell_type == "code")
    manifest = runner.load_manifest("test")
    assert manifest["ch/01_ok"]["status"] == "ok" and manifest["ch/01_ok"]["peak_rss_mb"] > 0
    # second run: unchanged notebooks are cache hits; the failed one runs again
    report = runner.run(["ch/01_ok"], "test", progress=False, log=lambda *_: None)
    assert report.results["ch/01_ok"]["status"] == "cached"
    assert runner.load_manifest("test")["ch/01_ok"]["cache_hits"] == 1
    assert cli.main(["run", "--no-progress"]) == 1  # the failure still makes the command fail


@pytest.mark.slow
@pytest.mark.notebooks
def test_timeout_kills_the_notebook(book):
    _write_notebook(book, "ch/01_ok", "import time\ntime.sleep(120)", {"timeout": {"test": 8}})
    report = runner.run(["ch/01_ok"], "test", progress=False, log=lambda *_: None)
    result = report.results["ch/01_ok"]
    assert result["status"] == "timeout" and result["duration_s"] < 30 and "timeout" in result["error"]


def test_command_line_timeout_replaces_the_yaml_guard(book, capsys):
    _write_notebook(book, "ch/01_ok", "import time\ntime.sleep(120)", {"timeout": {"test": 600}})
    assert cli.main(["run", "ch/01_ok", "--timeout", "8", "--no-progress"]) == 1
    assert "timeout" in runner.load_manifest("test")["ch/01_ok"]["status"]
    assert cli.main(["run", "ch/01_ok", "--timeout", "0"]) == 2
    assert "--timeout" in capsys.readouterr().err


def test_every_pin_file_is_part_of_a_notebooks_key(tmp_path, monkeypatch):
    """A new model, wheel or corpus version must re-run the notebooks, not stand behind old results."""
    from alignbook.engine import paths

    monkeypatch.setattr(paths, "repo_root", lambda: tmp_path)
    assert runner.lock_hash() == "no-lock"
    seen = set()
    for name in runner.LOCK_FILES:
        (tmp_path / name).write_text("a==1\n")
        seen.add(runner.lock_hash())
        (tmp_path / name).write_text("a==2\n")
        seen.add(runner.lock_hash())
    assert len(seen) == 2 * len(runner.LOCK_FILES)
    assert set(runner.LOCK_FILES) == {"requirements.lock", "requirements-nodeps.txt", "requirements-models.txt",
                                      "requirements-npm.txt"}
