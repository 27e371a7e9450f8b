"""A notebook's cache key hashes only the library files it can execute."""

import shutil
from pathlib import Path

from alignbook.engine import deps, runner

from test_runner import book  # noqa: F401  (the throwaway-book fixture)

FILES = {
    "__init__.py": '"""Mentions alignbook.unused only in documentation."""\nfrom .a import x\n',
    "a.py": "x = 1\n",
    "sub/__init__.py": "",
    "sub/b.py": "from ..c import y\nENTRY = 'alignbook.d:main'\n\ndef f():\n    from . import e\n",
    "sub/e.py": "",
    "sub/table.json": "{}",
    "c.py": "y = 2\n# alignbook.unused in a comment\n",
    "d.py": "def main():\n    pass\n",
    "unused.py": "",
}


def make_package(tmp_path: Path) -> Path:
    root = tmp_path / "alignbook"
    for name, text in FILES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_closure_follows_imports_entries_and_packages_but_not_documentation(tmp_path):
    root = make_package(tmp_path)
    files = deps.library_files(root, deps.names_in_code("from alignbook.sub import b\n%matplotlib inline"))
    got = {str(f.relative_to(root)) for f in files}
    assert got == {"__init__.py", "a.py", "sub/__init__.py", "sub/b.py", "sub/e.py", "sub/table.json", "c.py",
                   "d.py"}


def test_attribute_names_resolve_to_their_module(tmp_path):
    root = make_package(tmp_path)
    assert deps.longest_module(root, "alignbook.sub.b.some_function") == "alignbook.sub.b"
    assert deps.longest_module(root, "elsewhere.module") is None


def test_editing_code_a_notebook_does_not_run_leaves_its_key_alone(book, tmp_path, monkeypatch):  # noqa: F811
    copy = tmp_path / "lib" / "alignbook"
    shutil.copytree(runner.library_root(), copy, ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(runner, "library_root", lambda: copy)
    key = runner.plan(["ch/01_ok"], "test")[0].key
    with open(copy / "aligner" / "train.py", "a") as f:  # ch/01_ok runs alignbook.intro.machine, not the Aligner
        f.write("\n# edited\n")
    with open(copy / "engine" / "runner.py", "a") as f:  # how notebooks are scheduled, not what they compute
        f.write("\n# edited\n")
    assert runner.plan(["ch/01_ok"], "test")[0].key == key
    with open(copy / "intro" / "machine.py", "a") as f:  # its YAML's config class lives here
        f.write("\n# edited\n")
    assert runner.plan(["ch/01_ok"], "test")[0].key != key


def test_code_hash_follows_the_code_a_module_runs():
    first = deps.code_hash("alignbook.toyworld.models")
    assert first == deps.code_hash("alignbook.toyworld.models")
    assert first != deps.code_hash("alignbook.saferl.trainer")
    root = runner.library_root()
    files = {str(f.relative_to(root)) for f in deps.library_files(root, ["alignbook.toyworld.models"],
                                                                    always=("alignbook",))}
    assert "lm/sft.py" in files and "toyworld/models.py" in files  # what trains the cached models
    assert not any(f.startswith(("saferl/", "aligner/")) for f in files)


CROSS_CHAPTER = {"pku-saferlhf/03_dual_preference": {"safe_rlhf"}}
"""Notebooks that really run another chapter's code (the dual-preference page trains Safe RLHF's score models)."""


def test_a_notebook_is_keyed_only_on_its_own_chapters_code():
    """Editing one chapter's package must not make every other chapter's results stale (a module path in
    an engine docstring or message once put intro/machine.py into every notebook's key)."""
    from alignbook.engine import paths

    root = runner.library_root()
    chapters = {name.split("/")[0].replace("-", "_") for name in runner.all_notebooks()}
    for name in runner.all_notebooks():
        start = set(deps.names_in_text((paths.notebooks_dir() / f"{name}.yaml").read_text()))
        for cell in runner.read_source(paths.notebooks_dir() / f"{name}.ipynb"):
            if cell["cell_type"] == "code":
                start |= deps.names_in_code(runner._text(cell["source"]))
        used = {f.relative_to(root).parts[0] for f in deps.library_files(root, start)}
        own = name.split("/")[0].replace("-", "_")
        assert used & chapters - {own} == CROSS_CHAPTER.get(name, set()), name
