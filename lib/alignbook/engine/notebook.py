"""What the first code cell of every notebook calls: resolve the config, seed, show it.

A notebook's cells are::

    # parameters (tagged "parameters"; papermill injects the runner's values after it)
    profile = "test"
    seed = 0
    run_dir = None
    overrides = {}

    cfg = alignbook.setup("chapter/name", profile, seed, run_dir, overrides)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from . import config as config_mod
from . import parallel, paths, repro
from ..plotting import use_book_style


def yaml_path(notebook: str) -> Path:
    return paths.notebooks_dir() / f"{notebook}.yaml"


def setup(
    notebook: str,
    profile: str,
    seed: int = 0,
    run_dir: str | None = None,
    overrides: Mapping[str, Any] | None = None,
    *,
    show: bool = True,
) -> Any:
    """Resolve ``notebook``'s config for ``profile``, hold it to
    :data:`alignbook.engine.parallel.THREADS` compute threads, seed everything, and show the resolved table.

    ``run_dir`` defaults to ``build/<profile>/runs/<notebook>`` so a notebook opened by hand in
    JupyterLab writes where the runner would, never into ``notebooks/``.
    """
    run_dir = run_dir or str(paths.run_dir(profile, notebook))
    cfg = config_mod.resolve(yaml_path(notebook), profile, overrides, seed=seed, run_dir=run_dir)
    Path(cfg.run_dir).mkdir(parents=True, exist_ok=True)
    parallel.pin_threads()  # the same numbers whether run alone, beside other notebooks or by hand
    if os.environ.get("ALIGNBOOK_PROBE"):  # the device check measures the run (changes no number)
        from .probe import install

        install()
    repro.seed_everything(cfg.seed)
    use_book_style()
    if show:
        from . import rehearsal

        if rehearsal.active():  # says so plainly, on the executed notebook itself
            from IPython.display import Markdown, display

            display(Markdown(f"**{rehearsal.banner()}**"))
        show_config(cfg)
    return cfg


def _plain(doc: str) -> str:
    """Docstring text without Sphinx roles (``:func:`x``` → ``x``), for a table cell."""
    import re

    return re.sub(r":\w+:`~?([^`]+)`", r"\1", doc).replace("|", "\\|")


def _shown(cfg: Any, name: str, value: Any) -> str:
    if name == "run_dir":  # the absolute path says where this machine put it, not what it is
        value = paths.display(value)
    return f"`{value!r}`".replace("|", "\\|")


def config_markdown(cfg: Any) -> str:
    """The resolved config as a Markdown table (parameter, value, meaning: the field's docstring),
    folded under a one-line summary (an HTML ``<details>``, which JupyterLab and the book both open
    on a click) so that a long config does not push the notebook's story off the screen."""
    rows = config_mod.config_table(cfg)
    lines = [f"<details><summary><b>{type(cfg).__name__}</b>, resolved for profile <code>{cfg.profile}</code>: "
             f"{len(rows)} parameters (click to show)</summary>", "",
             "| parameter | value | meaning |", "|---|---|---|"]
    for name, value, doc in rows:
        lines.append(f"| `{name}` | {_shown(cfg, name, value)} | {_plain(doc)} |")
    lines += ["", "</details>"]
    return "\n".join(lines)


def show_config(cfg: Any) -> None:
    """Display the resolved config as a table (name, value, docstring)."""
    from IPython.display import Markdown, display

    display(Markdown(config_markdown(cfg)))


def upstream_run(cfg: Any, notebook: str) -> Path:
    """The run folder of another notebook in the same profile (declare it in ``depends_on``), after
    checking that its finished run's files are still, byte for byte, the ones recorded."""
    from .store import load_manifest, outputs_problem, read_stamp

    path = paths.run_dir(cfg.profile, notebook)
    state = read_stamp(path).get("state")
    record = load_manifest(cfg.profile).get(notebook, {})
    problem = outputs_problem(cfg.profile, notebook, record) if state == "finished" else None
    if state != "finished" or record.get("status") != "ok" or problem:
        why = ("has not run" if state is None else f"has no finished run (its last run is {state})"
               if state != "finished" else f"has no usable result ({problem or 'its record is not ok'})")
        raise FileNotFoundError(
            f"{notebook} {why} in profile {cfg.profile!r}; run "
            f"`alignbook run {notebook} --profile {cfg.profile}` first"
        )
    return path
