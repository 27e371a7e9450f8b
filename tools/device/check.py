"""The prepared device check (issue: the GPU path): which notebooks use the GPU, and a table of what
the probe measured in the first minutes of each one's `gpu` profile.

    python tools/device/check.py list                 # notebooks whose gpu profile asks for cuda
    python tools/device/check.py summary PROBE_DIR    # a Markdown table from PROBE_DIR/*.json

`tools/device/check.sh` runs each listed notebook under `alignbook run --profile gpu --timeout S`
with ALIGNBOOK_PROBE set (alignbook.engine.probe), then calls `summary`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def gpu_notebooks(profile: str = "gpu") -> list[str]:
    """Notebooks whose ``profile`` config has a device field asking for a GPU, in book order."""
    from alignbook.engine import devices, runner
    from alignbook.engine.config import resolve

    found = []
    for name in runner.all_notebooks():
        cfg = resolve(runner.paths.notebooks_dir() / f"{name}.yaml", profile)
        if any(isinstance(v, str) and devices.wants_gpu(v) for v in devices.device_fields(cfg).values()):
            found.append(name)
    return found


def _cell(value: object, digits: int = 3) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}g}"
    return str(value)


def summary(folder: Path) -> str:
    """One row per notebook probed: device, optimiser steps and median step time, tokens/s, TFLOP/s,
    MFU, peak memory, and how the run ended (its status in the scratch build's manifest)."""
    manifest = {}
    for path in folder.parent.glob("build/*/manifest.json"):
        manifest.update(json.loads(path.read_text()))
    lines = ["| notebook | device | steps | median step (s) | tokens/s (steady) | TFLOP/s | MFU | peak GiB | ended |",
             "|---|---|---|---|---|---|---|---|---|"]
    for path in sorted(folder.glob("*.json")):
        name = path.stem.replace("__", "/")
        r = json.loads(path.read_text())
        status = manifest.get(name, {}).get("status", "?")
        lines.append(f"| {name} | {r['device']} | {r['optimizer_steps']} | {_cell(r['median_step_s'])} | "
                     f"{_cell(r.get('steady_train_tokens_per_s', r['tokens_per_s']))} | "
                     f"{_cell(r.get('steady_tflops', r['achieved_tflops']))} | {_cell(r['mfu'])} | "
                     f"{_cell(r['peak_memory_gib'])} | {status} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("list", "summary"):
        print(__doc__)
        return 2
    if argv[0] == "list":
        print("\n".join(gpu_notebooks(argv[1] if len(argv) > 1 else "gpu")))
        return 0
    print(summary(Path(argv[1])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
