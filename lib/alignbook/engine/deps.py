"""Which files of ``lib/alignbook`` a piece of code can execute: for notebook and model cache keys.

A notebook's cached output stays valid while none of the library code it runs has changed, so its
cache key hashes those files only, not the whole library: editing the Aligner's trainer must not
re-execute the Safety-Gymnasium chapter. The set is found statically and errs on the side of
including too much:

- every ``alignbook...`` name in the notebook's code and its YAML (imports, and strings such as
  ``"alignbook.saferl.config:SafeRLConfig"`` or a launch entry ``"alignbook.intro.machine:train"``);
- then, transitively, every module those files import (absolute or relative, at module level or
  inside functions) or name in a string, and every package ``__init__`` on the way;
- plus the code that executes every notebook (:data:`ALWAYS`) and what it imports.

A name that is an attribute rather than a module (``alignbook.saferl.train``) resolves to the
longest prefix that is a module. The data files of a package that is used are included too: its
non-Python files, and every file in its sub-folders that are not packages (``survey/data/*.csv``).
"""

from __future__ import annotations

import ast
import hashlib
import re
from pathlib import Path
from typing import Iterable

PACKAGE = "alignbook"
ALWAYS = ("alignbook", "alignbook.engine._papermill_child", "alignbook.engine.notebook")
"""Modules every notebook depends on: the package, the child process that executes it, and the
setup it calls. The runner itself is left out: it decides when and under which limits a notebook
runs, not what it computes (the parameters it injects are hashed separately)."""

_NAME = re.compile(r"\balignbook(?:\.[A-Za-z_]\w*)*")


def module_file(root: Path, dotted: str) -> Path | None:
    """``lib/alignbook/x/y.py`` or ``x/y/__init__.py`` for ``alignbook.x.y`` (root = the package dir)."""
    parts = dotted.split(".")[1:]
    base = root.joinpath(*parts)
    for candidate in (base.with_suffix(".py") if parts else None, base / "__init__.py"):
        if candidate is not None and candidate.is_file():
            return candidate
    return None


def longest_module(root: Path, dotted: str) -> str | None:
    """The longest prefix of ``dotted`` that is a module of the package (attributes dropped)."""
    parts = dotted.split(".")
    if parts[0] != PACKAGE:
        return None
    for end in range(len(parts), 0, -1):
        name = ".".join(parts[:end])
        if module_file(root, name) is not None:
            return name
    return None


def _module_name(root: Path, file: Path) -> str:
    rel = file.relative_to(root).with_suffix("")
    parts = [PACKAGE, *rel.parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def names_in_text(text: str) -> set[str]:
    """Every ``alignbook.x.y`` spelled out in ``text`` (code or YAML)."""
    return set(_NAME.findall(text))


def _parse(code: str) -> ast.Module | None:
    """The syntax tree of ``code``; IPython magic lines (``%``, ``!``) are blanked when that helps."""
    for text in (code, "\n".join("" if line.lstrip().startswith(("%", "!")) else line for line in code.splitlines())):
        try:
            return ast.parse(text)
        except SyntaxError:
            continue
    return None


def names_in_code(code: str, package: str | None = None) -> set[str]:
    """The ``alignbook...`` modules a piece of code imports or names in a string.

    ``from alignbook.x import name`` also yields ``alignbook.x.name`` (the name may be a submodule);
    relative imports are made absolute against ``package`` (the importing module's package).
    Strings that are only documentation (docstrings, attribute docstrings) and comments are not code
    and are skipped. Code that does not parse is scanned as plain text, which can only include more.
    """
    tree = _parse(code)
    if tree is None:
        return names_in_text(code)
    nodes = list(ast.walk(tree))
    documentation = {id(node.value) for node in nodes if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)}
    names: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.level or node.module):
            if node.level:
                if package is None:
                    continue
                base = package.split(".")
                module = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else []))
            else:
                module = node.module
            names.add(module)
            names.update(f"{module}.{alias.name}" for alias in node.names)  # the name may be a submodule
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in documentation:
            names |= names_in_text(node.value)
    return {n for n in names if n.split(".")[0] == PACKAGE}


_IMPORTS: dict[tuple[str, int, int], set[str]] = {}
"""imports_of, remembered per (file, mtime, size): planning the whole book parses each module once."""


def imports_of(root: Path, file: Path) -> set[str]:
    """Dotted names a module imports or spells out, relative imports made absolute."""
    stat = file.stat()
    memo = (str(file), stat.st_mtime_ns, stat.st_size)
    if memo not in _IMPORTS:
        package = _module_name(root, file)
        if file.name != "__init__.py":
            package = package.rpartition(".")[0]
        _IMPORTS[memo] = names_in_code(file.read_text(), package)
    return _IMPORTS[memo]


def library_files(root: Path, start: Iterable[str], always: Iterable[str] = ALWAYS) -> list[Path]:
    """The package files reachable from the dotted names ``start`` (plus ``always``), sorted."""
    seen: set[str] = set()
    queue = [*start, *always]
    while queue:
        module = longest_module(root, queue.pop())
        if module is None or module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        queue.extend(".".join(parts[:end]) for end in range(1, len(parts)))  # parent __init__ files
        queue.extend(imports_of(root, module_file(root, module)))
    files = {module_file(root, m) for m in seen}
    for package_init in [f for f in files if f.name == "__init__.py"]:
        files.update(data_files(package_init.parent))
    return sorted(files)


def data_files(package: Path) -> list[Path]:
    """The files a package ships besides its modules (CSV, JSON, templates), in its own folder and in
    sub-folders that are not packages themselves (``survey/data/*.csv``); caches and byte code aside."""
    found = []
    for path in sorted(package.iterdir()):
        if path.name in ("__pycache__", ".ipynb_checkpoints") or path.name.startswith("."):
            continue
        if path.is_file() and path.suffix not in (".py", ".pyc"):
            found.append(path)
        elif path.is_dir() and not (path / "__init__.py").exists():
            found += [p for p in data_files(path)] + [p for p in sorted(path.glob("*.py")) if p.is_file()]
    return found


def files_hash(root: Path, files: Iterable[Path]) -> str:
    """SHA-256 over the files' paths (relative to ``root``) and contents."""
    digest = hashlib.sha256()
    for file in files:
        digest.update(str(file.relative_to(root)).encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def code_hash(*modules: str) -> str:
    """A short hash of the library code ``modules`` can execute, for the keys of cached artefacts
    (a model trained by that code must be rebuilt when the code changes)."""
    root = Path(__file__).resolve().parents[1]
    return files_hash(root, library_files(root, modules, always=(PACKAGE,)))[:12]
