"""Throwaway notebooks for the runner and fault tests: a title, a parameters cell, setup, a body."""

from pathlib import Path

import nbformat
import yaml

SETUP = 'import alignbook\ncfg = alignbook.setup("{name}", profile, seed, run_dir, overrides)'


def write_notebook(root: Path, name: str, body: str, spec_extra: dict | None = None, title: str | None = None) -> None:
    """``notebooks/<name>.ipynb`` running ``body`` under ``MachineConfig`` (test profile: 2 steps)."""
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell(f"# {title or name}"),
        nbformat.v4.new_code_cell('profile = "test"\nseed = 0\nrun_dir = None\noverrides = {}',
                                  metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(SETUP.format(name=name)),
        nbformat.v4.new_code_cell(body),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = root / "notebooks" / f"{name}.ipynb"
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    spec = {"config": "alignbook.intro.machine:MachineConfig", "profiles": {"test": {"steps": 2}}, **(spec_extra or {})}
    path.with_suffix(".yaml").write_text(yaml.safe_dump(spec))
