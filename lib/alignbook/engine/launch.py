"""Run a training entry point in-process, or across processes through a launcher.

``launch("pkg.module:train", cfg, nprocs=1)`` simply calls ``train(cfg)``. With ``nprocs > 1`` it
writes the resolved config to ``<run_dir>/launch/config.json`` and runs::

    deepspeed --num_gpus N --master_port P --module alignbook.engine.launch --entry pkg.module:train --config ...

(or ``accelerate launch --num_processes N -m alignbook.engine.launch ...``). Every rank rebuilds the same
frozen config from that file and calls the entry point. Each rank also leaves
``<run_dir>/launch/rank<R>.json`` so a caller can check that every process ran, and rank 0 writes
the entry point's ``result.metrics`` (or the dict it returned) to ``<run_dir>/launch/metrics.json``,
which :func:`launch` reads back.

``launch_command`` is what ``alignbook run --dry-run`` prints for the ``paper`` profile.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .config import build_config, import_object

LAUNCHERS = ("deepspeed", "accelerate", "torchrun")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_config(cfg: Any, path: Path) -> Path:
    cls = type(cfg)
    payload = {"class": f"{cls.__module__}:{cls.__qualname__}", "values": dataclasses.asdict(cfg)}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(payload, indent=2))
    return path


def read_config(path: str | Path) -> Any:
    payload = json.loads(Path(path).read_text())
    cls = import_object(payload["class"])
    return build_config(cls, [(str(path), payload["values"])])


def launch_command(
    entry: str, config_path: str | Path, nprocs: int, launcher: str = "deepspeed", *, port: int | None = None
) -> list[str]:
    """The command line that starts ``nprocs`` processes running ``entry`` on one node."""
    if launcher not in LAUNCHERS:
        raise ValueError(f"launcher={launcher!r} must be one of {LAUNCHERS}")
    port = port or 29500
    tail = ["--entry", entry, "--config", str(config_path)]
    if launcher == "deepspeed":
        return ["deepspeed", "--num_gpus", str(nprocs), "--master_port", str(port),
                "--module", "alignbook.engine.launch", *tail]
    if launcher == "accelerate":
        return ["accelerate", "launch", "--num_processes", str(nprocs), "--main_process_port", str(port),
                "-m", "alignbook.engine.launch", *tail]
    return ["torchrun", "--nproc_per_node", str(nprocs), "--master_port", str(port),
            "-m", "alignbook.engine.launch", *tail]


def _bin(name: str) -> str:
    """The launcher next to this interpreter (the venv's), so the subprocess uses the same packages."""
    candidate = Path(sys.executable).with_name(name)
    return str(candidate) if candidate.exists() else name


def launch(
    entry: str,
    cfg: Any,
    *,
    nprocs: int = 1,
    launcher: str = "deepspeed",
    timeout: float | None = None,
    env: dict[str, str] | None = None,
) -> dict[str, Any]:
    """Run ``entry(cfg)``; return its result's ``metrics`` (as a dict).

    One process: called here, in this interpreter. Several: started through ``launcher``; on a
    machine without GPUs set ``DS_ACCELERATOR=cpu`` (done here when no GPU is visible).
    """
    if nprocs < 1:
        raise ValueError(f"nprocs={nprocs} must be >= 1")
    run_dir = Path(cfg.run_dir)
    if nprocs == 1:
        return _metrics_of(import_object(entry)(cfg))

    launch_dir = run_dir / "launch"
    for stale in [*launch_dir.glob("rank*.json"), launch_dir / "metrics.json"]:
        stale.unlink(missing_ok=True)
    config_path = write_config(cfg, launch_dir / "config.json")
    cmd = launch_command(entry, config_path, nprocs, launcher, port=_free_port())
    cmd[0] = _bin(cmd[0])
    child_env = dict(os.environ, **(env or {}))
    child_env.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        import torch

        if not torch.cuda.is_available():
            child_env.setdefault("DS_ACCELERATOR", "cpu")
            # Two processes on a small CPU: one thread each, or they fight over the cores.
            child_env.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // nprocs)))
    except ImportError:
        pass
    log_path = launch_dir / "launcher.log"
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, env=child_env, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text().splitlines()[-40:])
        raise RuntimeError(
            f"{shlex.join(cmd)} exited with {proc.returncode}; last lines of {log_path}:\n{tail}"
        )
    return json.loads((launch_dir / "metrics.json").read_text())


def _metrics_of(result: Any) -> dict[str, Any]:
    metrics = getattr(result, "metrics", result)
    return dict(metrics) if isinstance(metrics, dict) else {}


def ranks_that_ran(run_dir: str | Path) -> list[dict[str, Any]]:
    """The per-rank records left by the processes of the last multi-process launch."""
    files = sorted((Path(run_dir) / "launch").glob("rank*.json"))
    return [json.loads(f.read_text()) for f in files]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Per-process entry used by alignbook.engine.launch.launch")
    parser.add_argument("--entry", required=True, help="package.module:function taking the config")
    parser.add_argument("--config", required=True, help="JSON written by write_config")
    parser.add_argument("--local_rank", type=int, default=None, help="set by the deepspeed launcher")
    args = parser.parse_args(argv)
    cfg = read_config(args.config)
    start = time.time()
    result = import_object(args.entry)(cfg)
    rank = int(os.environ.get("RANK", "0"))
    launch_dir = Path(cfg.run_dir) / "launch"
    if rank == 0:
        (launch_dir / "metrics.json").write_text(json.dumps(_metrics_of(result), indent=2, default=str))
    record = {
        "rank": rank,
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "seconds": round(time.time() - start, 3),
    }
    (launch_dir / f"rank{rank}.json").write_text(json.dumps(record))


def _shut_down() -> None:
    """Leave a finished rank without running C++ static destructors.

    With the process group still alive at interpreter exit, torch's gloo and DeepSpeed's
    shared-memory communicator can be torn down while one of their threads is joinable, and the
    rank then aborts ("terminate called without an active exception", exit -6) after its work
    is done and recorded; the launcher reports that as a failed run. Seen once in CI under load.
    So: wait for every rank, destroy the group, flush, and leave with ``os._exit(0)``.
    """
    try:
        import torch.distributed as dist

        if dist.is_available() and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
    except Exception as exc:  # a failed teardown must not hide that the work itself finished
        print(f"alignbook.engine.launch: process-group teardown failed: {exc}", file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
    _shut_down()


def launch_as_configured(notebook: str, entry: str, cfg: Any, **kwargs: Any) -> dict[str, Any]:
    """Launch ``entry`` the way ``notebook``'s YAML ``launch`` block says for ``cfg.profile``.

    No block for the profile: in-process. The block may name its own ``entry``; this is the call a
    notebook makes, so ``alignbook run --dry-run`` prints exactly what will be launched. In a rehearsal
    (:mod:`alignbook.engine.rehearsal`) the block's processes are CPU processes, at most two.
    """
    from .config import load_spec
    from .notebook import yaml_path

    from .rehearsal import processes

    settings = (load_spec(yaml_path(notebook)).get("launch") or {}).get(cfg.profile) or {}
    return launch(
        settings.get("entry", entry), cfg, nprocs=processes(int(settings.get("nprocs", 1))),
        launcher=settings.get("launcher", "deepspeed"), **kwargs,
    )
