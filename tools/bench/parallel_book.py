"""Benchmark of issue 30: the book with one notebook at a time against the default worker count.

    .venv/bin/python tools/bench/parallel_book.py [--profile smoke] [--out /tmp/bench] [chapter ...]

Runs the selected chapters (default: the whole book) twice, back to back, each into a scratch build
folder and with ``--force`` (every notebook executes; the shared model cache is warm for both): first
``--jobs 1``, then the default (one notebook per core, as memory allows). Writes ``bench.json`` and
``bench.md`` under ``--out``: wall time per chapter (from the first start to the last finish of its
notebooks) and for the book, the ratio ``jobs 1 / default``, and whether every notebook's recorded
metrics are identical between the two runs (timings aside). Run it on an otherwise idle machine: the
ratio is what it measures, the seconds vary 2-3x with the machine's load.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run(label: str, out: Path, profile: str, chapters: list[str], jobs: list[str]) -> dict:
    build = out / f"build-{label}"
    env = dict(os.environ, ALIGNBOOK_BUILD=str(build), PYTHONUNBUFFERED="1")
    start = time.time()
    with open(out / f"{label}.log", "w") as log:
        code = subprocess.run([sys.executable, "-m", "alignbook.engine.cli", "run", *chapters, "--profile", profile,
                               "--force", "--no-progress", *jobs], env=env, stdout=log, stderr=subprocess.STDOUT,
                              cwd=REPO).returncode
    wall = time.time() - start
    manifest = json.loads((build / profile / "manifest.json").read_text())
    return {"label": label, "exit": code, "wall_s": round(wall, 1), "build": str(build), "manifest": manifest}


def chapter_walls(manifest: dict) -> dict[str, float]:
    spans: dict[str, list[float]] = {}
    for name, record in manifest.items():
        if "started" not in record or "finished" not in record:
            continue
        start = dt.datetime.fromisoformat(record["started"]).timestamp()
        end = dt.datetime.fromisoformat(record["finished"]).timestamp()
        span = spans.setdefault(name.split("/")[0], [start, end])
        span[0], span[1] = min(span[0], start), max(span[1], end)
    return {chapter: round(end - start, 1) for chapter, (start, end) in spans.items()}


def identical(profile: str, first: Path, second: Path, names: list[str]) -> dict[str, bool]:
    from alignbook.engine.metrics import load_metrics, reproducible

    return {name: reproducible(load_metrics(first / profile / "runs" / name)) ==
            reproducible(load_metrics(second / profile / "runs" / name)) for name in names}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--out", default="/tmp/alignbook-bench")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    one = run("jobs1", out, args.profile, args.chapters, ["--jobs", "1"])
    default = run("default", out, args.profile, args.chapters, [])
    walls = {label: chapter_walls(r["manifest"]) for label, r in (("jobs1", one), ("default", default))}
    names = sorted(set(one["manifest"]) & set(default["manifest"]))
    same = identical(args.profile, Path(one["build"]), Path(default["build"]), names)
    result = {"profile": args.profile, "cores": os.cpu_count(), "date": dt.datetime.now(dt.timezone.utc).isoformat(),
              "book": {"jobs1_s": one["wall_s"], "default_s": default["wall_s"],
                       "ratio": round(one["wall_s"] / default["wall_s"], 2)},
              "chapters": {c: {"jobs1_s": walls["jobs1"].get(c), "default_s": walls["default"].get(c),
                               "ratio": round(walls["jobs1"][c] / walls["default"][c], 2)
                               if walls["default"].get(c) and walls["jobs1"].get(c) else None}
                           for c in walls["jobs1"]},
              "identical": same, "exit": {"jobs1": one["exit"], "default": default["exit"]}}
    (out / "bench.json").write_text(json.dumps(result, indent=1))
    lines = [f"{args.profile} profile, {os.cpu_count()} cores: `--jobs 1` vs the default", "",
             "| chapter | jobs 1 (min) | default (min) | ratio |", "|---|---|---|---|"]
    for chapter, row in result["chapters"].items():
        lines.append(f"| {chapter} | {row['jobs1_s'] / 60:.1f} | {row['default_s'] / 60:.1f} | {row['ratio']} |")
    lines.append(f"| **book** | {one['wall_s'] / 60:.1f} | {default['wall_s'] / 60:.1f} | {result['book']['ratio']} |")
    lines += ["", f"metrics identical in {sum(same.values())} of {len(same)} notebooks"
              + ("" if all(same.values()) else f"; differ: {', '.join(n for n, ok in same.items() if not ok)}")]
    (out / "bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if all(same.values()) and one["exit"] == default["exit"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
