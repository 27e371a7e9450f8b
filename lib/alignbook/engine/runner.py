"""Execute source notebooks with papermill into ``build/<profile>/``, with caching and a manifest.

For each selected notebook (in the book's order, from ``book/_toc.yml``):

1. resolve its parameters (YAML + profile + ``-p`` overrides) with the same code the notebook
   uses, so an unknown name or a wrongly typed value fails here, naming the parameter;
2. compute a cache key from the notebook source (outputs excluded), the resolved parameters, the
   ``alignbook`` files the notebook can execute (:mod:`alignbook.engine.deps`: editing one chapter's
   library does not re-execute another's), the lock file and the keys of the notebooks it
   ``depends_on``;
   skip it when the manifest already holds that key with status ``ok`` (unless ``force``);
3. execute it in a child process under a wall-clock timeout, polling the process tree's memory,
   then stamp the executed copy with a provenance banner (profile, seed, commit, version, device,
   date, duration);
4. record status, duration, peak memory and hashes in ``build/<profile>/manifest.json``.

A failing notebook is reported with its failing cell and error; the others still run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Iterable

import yaml

from .. import __version__
from . import deps, paths
from .config import PROFILES, ConfigError, load_spec, resolve
from .launch import launch_command

DEFAULT_TIMEOUT = {"test": 300, "smoke": 600, "gpu": 1800, "paper": 7 * 24 * 3600}
"""Seconds a whole notebook may run, per profile, unless its YAML says otherwise."""


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

    @property
    def timeout(self) -> float:
        if self.timeout_override is not None:
            return self.timeout_override
        timeouts = self.spec.get("timeout") or {}
        return float(timeouts.get(self.parameters["profile"], DEFAULT_TIMEOUT[self.parameters["profile"]]))


# -- discovery -----------------------------------------------------------------------------------


GENERATED_PAGES = ("results",)
"""Pages under ``book/_executed`` that the book build writes itself (not notebooks)."""


def book_order() -> list[str]:
    """Notebook names (``chapter/NN_name``) in the order of ``book/_toc.yml``."""
    toc_path = paths.repo_root() / "book" / "_toc.yml"
    toc = yaml.safe_load(toc_path.read_text())
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


def notebook_source_hash(path: Path) -> str:
    """Hash of the cells' sources and metadata tags only: outputs and execution counts don't count."""
    nb = json.loads(path.read_text())
    cells = [(c["cell_type"], "".join(c["source"]), c.get("metadata", {}).get("tags", [])) for c in nb["cells"]]
    return _sha(json.dumps(cells, sort_keys=True).encode())


def library_root() -> Path:
    """The directory of the ``alignbook`` package that executes the notebooks (this one)."""
    return Path(__file__).resolve().parents[1]


def library_hash(notebook: Path, spec_path: Path) -> str:
    """Hash of the library files this notebook can execute (:mod:`alignbook.engine.deps`), names included."""
    root = library_root()
    cells = json.loads(notebook.read_text())["cells"]
    start = set(deps.names_in_text(spec_path.read_text()))
    for cell in cells:
        if cell["cell_type"] == "code":
            start |= deps.names_in_code("".join(cell["source"]))
    return deps.files_hash(root, deps.library_files(root, start))


def lock_hash() -> str:
    lock = paths.repo_root() / "requirements.lock"
    return _sha(lock.read_bytes()) if lock.exists() else "no-lock"


# -- planning ------------------------------------------------------------------------------------


def plan(
    targets: Iterable[str], profile: str, overrides: dict[str, Any] | None = None, seed: int | None = None
) -> list[NotebookJob]:
    """Resolve every selected notebook's parameters and cache key; raise on any bad parameter."""
    if profile not in PROFILES:
        raise ConfigError(f"--profile {profile!r} is not a profile; choose one of {', '.join(PROFILES)}")
    names = select(targets)
    overrides = dict(overrides or {})
    if "seed" in overrides:
        if seed is not None:
            raise ConfigError(f"the seed is given twice (--seed {seed} and -p seed={overrides['seed']}); give it once")
        seed = int(resolve_seed(overrides.pop("seed")))
    lock = lock_hash()
    jobs: dict[str, NotebookJob] = {}
    for name in names:
        yaml_path = paths.notebooks_dir() / f"{name}.yaml"
        spec = load_spec(yaml_path)
        run_dir = str(paths.run_dir(profile, name))
        config = resolve(yaml_path, profile, overrides, seed=seed, run_dir=run_dir)
        typed = {k: getattr(config, k) for k in overrides}  # the parsed values, not the CLI strings
        parameters = {"profile": profile, "seed": config.seed, "run_dir": run_dir, "overrides": typed}
        job = NotebookJob(name, paths.notebooks_dir() / f"{name}.ipynb", parameters, config, spec)
        job.hashes = {
            "source": notebook_source_hash(job.source),
            "parameters": _sha(json.dumps(dataclasses.asdict(config), sort_keys=True, default=str).encode()),
            "library": library_hash(job.source, yaml_path),
            "lock": lock,
        }
        upstream = []
        for dep in spec.get("depends_on") or []:
            if dep in jobs:
                upstream.append(jobs[dep].key)
            else:  # not selected this time: its last successful run is what we would read
                upstream.append(load_manifest(profile).get(dep, {}).get("key", f"missing:{dep}"))
        job.key = _sha(json.dumps([job.hashes, upstream], sort_keys=True).encode())
        jobs[name] = job
    return list(jobs.values())


def resolve_seed(value: Any) -> int:
    from .config import coerce

    return coerce("seed", value, int)


def describe(job: NotebookJob) -> str:
    """What ``--dry-run`` prints for one notebook: parameters, timeout, and any launch command."""
    lines = [f"{job.name}  ({type(job.config).__name__}, timeout {job.timeout:.0f}s, key {job.key[:12]})"]
    for field in dataclasses.fields(job.config):
        lines.append(f"    {field.name} = {getattr(job.config, field.name)!r}")
    launch = (job.spec.get("launch") or {}).get(job.parameters["profile"])
    if launch:
        config_path = Path(job.parameters["run_dir"]) / "launch" / "config.json"
        cmd = launch_command(launch["entry"], config_path, int(launch.get("nprocs", 1)), launch.get("launcher", "deepspeed"))
        lines.append("    launch: " + " ".join(cmd))
    return "\n".join(lines)


# -- manifest ------------------------------------------------------------------------------------


def manifest_path(profile: str) -> Path:
    return paths.build_dir(profile) / "manifest.json"


def load_manifest(profile: str) -> dict[str, Any]:
    path = manifest_path(profile)
    return json.loads(path.read_text()) if path.exists() else {}


def _save_manifest(profile: str, manifest: dict[str, Any]) -> None:
    path = manifest_path(profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, sort_keys=True))
    tmp.replace(path)


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


def _tree_rss(pid: int) -> int:
    import psutil

    try:
        proc = psutil.Process(pid)
        procs = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.Error:
            pass
    return total


def _execute(job: NotebookJob, out_path: Path, progress: bool) -> dict[str, Any]:
    """Run papermill in a child process; return status, duration, peak memory and any error."""
    out_path.parent.mkdir(parents=True, exist_ok=True)
    Path(job.parameters["run_dir"]).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        params_file, result_file = Path(tmp) / "params.json", Path(tmp) / "result.json"
        params_file.write_text(json.dumps(job.parameters))
        cmd = [sys.executable, "-m", "alignbook.engine._papermill_child", str(job.source), str(out_path),
               str(params_file), str(result_file), "1" if progress else "0"]
        env = dict(os.environ, PYTHONPATH=str(paths.repo_root() / "lib") + os.pathsep + os.environ.get("PYTHONPATH", ""))
        if not shutil.which("nvidia-smi"):  # DeepSpeed otherwise probes for GPUs and warns in every page
            env.setdefault("DS_ACCELERATOR", "cpu")
        start = time.time()
        peak = 0
        proc = subprocess.Popen(cmd, cwd=job.parameters["run_dir"], env=env, start_new_session=True)
        timed_out = False
        while proc.poll() is None:
            peak = max(peak, _tree_rss(proc.pid))
            if time.time() - start > job.timeout:
                timed_out = True
                _kill_tree(proc)
                break
            time.sleep(0.5)
        duration = time.time() - start
        result = json.loads(result_file.read_text()) if result_file.exists() else {}
    if timed_out:
        result = {"status": "timeout", "error": f"exceeded the {job.timeout:.0f}s timeout of profile "
                  f"{job.parameters['profile']!r} (set 'timeout' in {job.name}.yaml)"}
    elif not result:
        result = {"status": "failed", "error": f"papermill child exited with code {proc.returncode}"}
    result.update(duration_s=round(duration, 2), peak_rss_mb=round(peak / 2**20, 1))
    return result


def _kill_tree(proc: subprocess.Popen) -> None:
    import signal

    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        proc.kill()
    proc.wait()


def provenance(job: NotebookJob, duration_s: float) -> dict[str, str]:
    from .repro import device_name

    return {
        "profile": job.parameters["profile"],
        "seed": str(job.parameters["seed"]),
        "commit": git_commit(),
        "alignbook": __version__,
        "device": device_name(),
        "date": dt.datetime.now(dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "duration": f"{duration_s:.1f} s",
    }


def stamp_provenance(path: Path, facts: dict[str, str]) -> None:
    """Insert the provenance banner right after the notebook's title cell."""
    import nbformat

    nb = nbformat.read(path, as_version=4)
    facts_line = " · ".join(f"{k} **{v}**" for k, v in facts.items())
    text = (
        "```{admonition} Provenance\n:class: note\n"
        f"Executed in the **{facts['profile']}** profile: every number on this page comes from that run.\n\n"
        f"{facts_line}\n```"
    )
    banner = nbformat.v4.new_markdown_cell(text, metadata={"tags": ["provenance"]})
    nb.cells = [c for c in nb.cells if "provenance" not in c.get("metadata", {}).get("tags", [])]
    first_is_title = nb.cells and nb.cells[0].cell_type == "markdown" and nb.cells[0].source.lstrip().startswith("# ")
    nb.cells.insert(1 if first_is_title else 0, banner)
    nbformat.write(nb, path)


@dataclasses.dataclass
class RunReport:
    """What ``run`` did: per notebook, ``ok``, ``cached``, ``failed`` or ``timeout``."""

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


def run(
    targets: Iterable[str] = (),
    profile: str = "test",
    overrides: dict[str, Any] | None = None,
    *,
    seed: int | None = None,
    force: bool = False,
    progress: bool = True,
    timeout: float | None = None,
    log=print,
) -> RunReport:
    """Execute (or reuse) the selected notebooks in ``profile``; see the module docstring.

    ``timeout`` (seconds) replaces every selected notebook's YAML timeout for this call.
    """
    if timeout is not None and timeout <= 0:
        raise ConfigError(f"--timeout {timeout:g} must be a positive number of seconds")
    jobs = plan(targets, profile, overrides, seed)
    for job in jobs:
        job.timeout_override = timeout
    manifest = load_manifest(profile)
    results: dict[str, dict[str, Any]] = {}
    failed_names: set[str] = set()
    for index, job in enumerate(jobs, 1):
        out_path = paths.executed_path(profile, job.name)
        prior = manifest.get(job.name, {})
        head = f"[{index}/{len(jobs)}] {job.name} ({profile})"
        deps_failed = [d for d in job.spec.get("depends_on") or [] if d in failed_names]
        if deps_failed:
            results[job.name] = {"status": "skipped", "error": f"depends on failed {', '.join(deps_failed)}"}
            failed_names.add(job.name)
            log(f"{head}: skipped, {deps_failed[0]} failed")
            continue
        if not force and prior.get("key") == job.key and prior.get("status") == "ok" and out_path.exists():
            results[job.name] = {**prior, "status": "cached"}
            log(f"{head}: cached (unchanged since {prior.get('finished', '?')})")
            continue
        log(f"{head}: running, timeout {job.timeout:.0f}s ...")
        outcome = _execute(job, out_path, progress)
        if out_path.exists() and outcome["status"] == "ok":
            stamp_provenance(out_path, provenance(job, outcome["duration_s"]))
        entry = {
            **outcome,
            "profile": profile,
            "key": job.key,
            "hashes": job.hashes,
            "seed": job.parameters["seed"],
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        }
        manifest[job.name] = entry
        _save_manifest(profile, manifest)
        results[job.name] = entry
        if outcome["status"] != "ok":
            failed_names.add(job.name)
        log(f"{head}: {outcome['status']} in {outcome['duration_s']:.1f}s (peak {outcome['peak_rss_mb']:.0f} MB)")
    for name, r in results.items():  # the manifest counts how often a run was reused
        if r["status"] == "cached":
            entry = manifest[name]
            entry["cache_hits"] = entry.get("cache_hits", 0) + 1
            entry["last_cache_hit"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
    _save_manifest(profile, manifest)
    return RunReport(profile, results)
