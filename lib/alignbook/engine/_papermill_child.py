"""Child process of the runner: execute one notebook with papermill, write a JSON verdict.

Run as ``python -m alignbook.engine._papermill_child SRC OUT PARAMS.json RESULT.json PROGRESS``. A separate
process lets the runner enforce a wall-clock timeout and measure the memory of the whole tree.

The runner starts this process with ``PR_SET_PDEATHSIG`` = SIGTERM, so it is told when the runner
dies, even by SIGKILL. On SIGTERM (or SIGINT, SIGHUP) it kills everything below it, the Jupyter
kernel included (jupyter_client starts kernels in a session of their own, out of reach of a process
group kill), and exits without writing a verdict: nothing of an interrupted run counts as finished.
"""

import json
import os
import signal
import sys
from pathlib import Path


def _stop_tree(signum, frame) -> None:  # noqa: ARG001 - a signal handler's signature
    try:
        import psutil

        procs = psutil.Process().children(recursive=True)
        for proc in procs:
            try:
                proc.kill()
            except psutil.Error:
                pass
        psutil.wait_procs(procs, timeout=5)
    finally:
        os._exit(128 + signum)


def _kernel_manager_class():
    """Kernels talk over Unix sockets named after their own connection file, not TCP ports.

    jupyter_client picks TCP ports by binding and releasing them, so two kernels started at the same
    moment (``--jobs 2``) can pick the same port and one dies with "Address already in use" (seen in
    CI). Socket files derived from each kernel's unique connection file cannot collide.
    """
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class IPCKernelManager(AsyncKernelManager):
        @default("transport")
        def _default_transport(self):
            return "ipc"

    return IPCKernelManager


def main() -> None:
    src, out, params_file, result_file, progress = sys.argv[1:6]
    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, _stop_tree)
    parent = os.environ.get("ALIGNBOOK_PARENT_PID")
    if parent and os.getppid() != int(parent):  # the runner died before PDEATHSIG was armed
        sys.exit(1)
    import papermill
    from papermill.exceptions import PapermillExecutionError

    parameters = json.loads(Path(params_file).read_text())
    verdict = {"status": "ok"}
    try:
        papermill.execute_notebook(
            src, out, parameters=parameters, kernel_name="python3", progress_bar=progress == "1",
            cwd=parameters["run_dir"], log_output=False, report_mode=False,
            kernel_manager_class=_kernel_manager_class(),
        )
    except PapermillExecutionError as err:
        source = ""
        try:
            import nbformat

            nb = nbformat.read(out, as_version=4)
            source = next(c.source for c in nb.cells if c.cell_type == "code"
                          and any(o.get("output_type") == "error" for o in c.get("outputs", [])))
        except Exception:  # the report still names the cell without its source
            pass
        verdict = {"status": "failed", "cell": err.exec_count, "cell_index": err.cell_index,
                   "error": f"{err.ename}: {err.evalue}", "cell_source": source}
    except Exception as err:  # noqa: BLE001 - anything else is reported, not raised, so others run
        verdict = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
    Path(result_file).write_text(json.dumps(verdict))


if __name__ == "__main__":
    main()
