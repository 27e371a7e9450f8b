"""Independent units of a notebook (seeds, sweep arms, warm-up shares) in worker processes.

A multi-seed trainer is written as one function of one unit plus a call::

    def train_seed(unit: Unit) -> dict:            # module level, in the chapter's package
        cfg, seed = unit.cfg, unit.value            # unit.cfg: the notebook's config
        ...                                         # train and evaluate one seed
        return {"metrics": ..., "history": ...}     # plain JSON data

    results = map_units(train_seed, cfg, [cfg.seed + i for i in range(cfg.seeds)], name="seeds")

:func:`map_units` returns the results in the order of the units, whatever order they finished in.
Each finished unit is saved under ``<run_dir>/units/<name>/`` (:func:`alignbook.engine.results.
save_finished`: atomic, with its digest and the config's fingerprint), so a run stopped half-way
resumes with the units it has not finished, and a unit made under other settings is redone.

**The same numbers, however it runs.** Before a unit starts, Python's, NumPy's and torch's random
generators are seeded from the notebook's seed and the unit alone (:func:`unit_seed`), never from
what ran before it in the same process; every compute process uses :data:`THREADS` torch and BLAS
threads, however many workers there are (a 512×2048×512 matmul gives other last bits on 2 threads
than on 1 on this project's machine). So the units give bit-identical results run one after another
in the notebook's own process or side by side in workers, and the worker count is no input of any
result or cache key.

**How many workers.** ``ALIGNBOOK_CORES`` (set by ``alignbook run`` to the cores it gives the
notebook: the machine's cores over ``--jobs``), else the machine's cores; never more than the units,
and never more than fit in the memory budget at ``memory_mb`` per unit: past it the units wait (and
the notebook says so) rather than swap. A config whose device is a GPU runs its units one after
another in the notebook's process (one GPU, taken in turns). One worker means no worker processes.

Ctrl-C (or the runner stopping the notebook) stops every worker: they are the kernel's children, and
an interrupted map cancels what has not started and terminates what has.
"""

from __future__ import annotations

import concurrent.futures as futures
import dataclasses
import hashlib
import json
import multiprocessing
import os
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

THREADS = 1
"""Torch, OpenMP and BLAS threads of every process that computes a result (notebook kernels and unit
workers alike): fixed, so that no number depends on how many processes share the machine."""

THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "NUMEXPR_NUM_THREADS")
"""Set to :data:`THREADS` in the environment of every process that computes (before numpy loads)."""

MEMORY_SHARE = 0.8
"""Of the memory available when a map starts, the share its workers may plan to use."""


def thread_environment() -> dict[str, str]:
    """The environment variables that hold BLAS and OpenMP to :data:`THREADS` threads."""
    return {name: str(THREADS) for name in THREAD_VARIABLES}


def pin_threads() -> None:
    """Hold this process to :data:`THREADS` compute threads (torch, and NumPy's BLAS where loaded)."""
    os.environ.update(thread_environment())
    try:
        import torch

        if torch.get_num_threads() != THREADS:
            torch.set_num_threads(THREADS)
    except ImportError:
        pass
    try:
        from threadpoolctl import threadpool_limits

        threadpool_limits(THREADS)
    except ImportError:
        pass


def cores() -> int:
    """The cores this notebook may use: ``ALIGNBOOK_CORES`` (set by the runner), else the machine's."""
    text = os.environ.get("ALIGNBOOK_CORES", "")
    if text.isdigit() and int(text) >= 1:
        return int(text)
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1))


def available_memory_mb() -> float:
    import psutil

    return psutil.virtual_memory().available / 2**20


def unit_seed(base: int, unit: Any) -> int:
    """A seed in [0, 2^32) that depends on the notebook's seed and the unit alone."""
    text = json.dumps([int(base), unit_id(unit)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def unit_id(unit: Any) -> str:
    """A unit as a file name: ``3``, ``0.2-1``, ``arm=plain,seed=4``."""
    if isinstance(unit, dict):
        text = ",".join(f"{k}={unit_id(v)}" for k, v in sorted(unit.items()))
    elif isinstance(unit, (list, tuple)):
        text = "-".join(unit_id(v) for v in unit)
    elif isinstance(unit, float):
        text = repr(unit)
    else:
        text = str(unit)
    safe = "".join(c if c.isalnum() or c in "=,.-_" else "_" for c in text)
    if not safe or len(safe) > 120:
        safe = hashlib.sha256(text.encode()).hexdigest()[:16]
    return safe


@dataclasses.dataclass(frozen=True)
class Unit:
    """What a unit function receives: the notebook's config, the unit's value, its index, and the
    ``context`` given to :func:`map_units` (plain data every unit shares: a notebook name, a path)."""

    cfg: Any
    value: Any
    index: int
    context: Any = None

    @property
    def seed(self) -> int:
        """:func:`unit_seed` of this unit (what its random generators were seeded with)."""
        return unit_seed(self.cfg.seed, self.value)


def _run_unit(fn: Callable[[Unit], Any], unit: Unit) -> Any:
    """Run one unit in this process, from a random state that depends on the unit alone."""
    from .repro import seed_everything

    pin_threads()
    seed_everything(unit.seed)
    return fn(unit)


def _worker_init(environment: dict[str, str], path: list[str]) -> None:
    os.environ.update(environment)
    sys.path[:] = list(dict.fromkeys(path + sys.path))
    pin_threads()


def _worker_context() -> Any:
    """Workers forked from a server process that imported torch and alignbook once (fast to start, and
    never a fork of the notebook's own process with its threads); plain spawn where there is none."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["torch", "numpy", "alignbook", "alignbook.engine.parallel"])
    return context


def _on_gpu(cfg: Any) -> bool:
    """Whether the config puts its models on a GPU (then its units run one after another)."""
    from .devices import device_fields, visible_gpus, wants_gpu

    values = list(device_fields(cfg).values())
    return any(isinstance(v, str) and (wants_gpu(v) or (v == "auto" and visible_gpus())) for v in values)


def plan_workers(n_units: int, memory_mb: float | None, log: Callable[[str], None] | None = None) -> int:
    """How many workers a map of ``n_units`` units uses (see the module docstring)."""
    workers = max(1, min(n_units, cores()))
    if memory_mb and workers > 1:
        budget = available_memory_mb() * MEMORY_SHARE
        fit = max(1, int(budget // memory_mb))
        if fit < workers:
            if log is not None:
                log(f"memory: {workers} workers at ~{memory_mb:.0f} MB each would not fit in {budget:.0f} MB; "
                    f"running {fit} at a time instead")
            workers = fit
    return workers


def map_units(
    fn: Callable[[Unit], Any],
    cfg: Any,
    units: Sequence[Any],
    *,
    name: str = "units",
    context: Any = None,
    fingerprint: Any = None,
    memory_mb: float | None = None,
    workers: int | None = None,
    log: Callable[[str], None] | None = print,
) -> list[Any]:
    """``[fn(Unit(cfg, u, i)) for i, u in enumerate(units)]``, in worker processes where cores allow.

    ``fn`` is a module-level function (workers import it by name) returning plain JSON data;
    ``context`` is passed to every unit as ``unit.context``. ``fingerprint`` is what a saved unit must have been made with to be reused (default: the whole
    config); ``memory_mb`` is one unit's peak memory, for the budget; ``workers`` overrides the count
    (tests use it to compare in-process and worker runs). Units are saved under
    ``<cfg.run_dir>/units/<name>/`` and reused when the run resumes.
    """
    from .results import config_fingerprint, load_finished, save_finished

    if getattr(fn, "__name__", "<lambda>") == "<lambda>" or "<locals>" in getattr(fn, "__qualname__", ""):
        raise TypeError(f"map_units needs a module-level function (workers import it by name), not {fn!r}")
    ids = [unit_id(u) for u in units]
    if len(set(ids)) != len(ids):
        raise ValueError(f"units must be distinct; got {list(units)!r}")
    folder = Path(cfg.run_dir) / "units" / name
    stamp = config_fingerprint(cfg) if fingerprint is None else json.loads(json.dumps(fingerprint, default=str))
    done: dict[int, Any] = {}
    for i, uid in enumerate(ids):
        saved = load_finished(folder / uid / "result.json", stamp)
        if saved is not None:
            done[i] = saved["result"]
    todo = [i for i in range(len(units)) if i not in done]
    if log is not None and done:
        log(f"{name}: {len(done)} of {len(units)} finished earlier (resumed), {len(todo)} to run")
    if workers is None and _on_gpu(cfg):
        workers = 1  # one GPU: units take turns on it rather than each loading its models there
    count = workers if workers is not None else plan_workers(len(todo), memory_mb, log)
    count = max(1, min(count, len(todo))) if todo else 1

    def keep(i: int, result: Any) -> None:
        plain = json.loads(json.dumps(result))  # plain data only: what a worker can send back, and save
        save_finished(folder / ids[i] / "result.json", {"config": stamp, "unit": ids[i], "result": plain})
        done[i] = plain

    start = time.time()
    if count == 1:
        for i in todo:
            keep(i, _run_unit(fn, Unit(cfg, units[i], i, context)))
            _progress(log, name, len(done), len(units), start)
    elif todo:
        if log is not None:
            log(f"{name}: {len(todo)} units on {count} worker processes")
        spawn = _worker_context()
        env = {**thread_environment(), "ALIGNBOOK_CORES": "1"}
        pool = futures.ProcessPoolExecutor(count, mp_context=spawn, initializer=_worker_init,
                                           initargs=(env, list(sys.path)))
        try:
            pending = {pool.submit(_run_unit, fn, Unit(cfg, units[i], i, context)): i for i in todo}
            for future in futures.as_completed(pending):
                keep(pending[future], future.result())
                _progress(log, name, len(done), len(units), start)
        except BaseException:
            for process in list(getattr(pool, "_processes", {}).values()):
                process.terminate()  # Ctrl-C or a failed unit: nothing keeps computing
            pool.shutdown(wait=False, cancel_futures=True)
            raise
        pool.shutdown()
    return [done[i] for i in range(len(units))]


def _progress(log: Callable[[str], None] | None, name: str, finished: int, total: int, start: float) -> None:
    if log is not None:
        log(f"{name}: {finished}/{total} done ({time.time() - start:.0f} s)")
