"""Compare the recorded metrics of two builds, notebook by notebook (issue 31: numbers unchanged).

    .venv/bin/python tools/bench/compare_metrics.py BUILD_BEFORE BUILD_AFTER [--profile test] [--timing NAME ...]

Reads ``<build>/<profile>/runs/<chapter>/<notebook>/metrics.json`` on both sides and prints, for each
notebook present on both, whether every metric recorded on both sides has the same value (wall-clock
metrics aside: those marked ``timing`` after, and those named with ``--timing``, for builds made
before the mark existed). Exit 1 when any value differs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def metrics(run: Path) -> dict:
    path = run / "metrics.json"
    return json.loads(path.read_text()) if path.exists() else {}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--profile", default="test")
    parser.add_argument("--timing", nargs="*", default=[])
    args = parser.parse_args()
    root_a, root_b = args.before / args.profile / "runs", args.after / args.profile / "runs"
    names = sorted({str(p.parent.relative_to(root_a)) for p in root_a.glob("*/*/metrics.json")}
                   & {str(p.parent.relative_to(root_b)) for p in root_b.glob("*/*/metrics.json")})
    differ = 0
    for name in names:
        a, b = metrics(root_a / name), metrics(root_b / name)
        timing = {k for k, v in b.items() if isinstance(v, dict) and v.get("timing")} | set(args.timing)
        common = sorted((set(a) & set(b)) - timing)
        bad = [k for k in common if a[k].get("value") != b[k].get("value")]
        only = sorted((set(a) ^ set(b)) - timing)
        differ += bool(bad)
        status = "same" if not bad else "DIFFER"
        print(f"{status:6}  {name}: {len(common)} metrics compared"
              + (f", {len(only)} on one side only" if only else "")
              + (f"; differ: {', '.join(bad[:4])}" if bad else ""))
        for k in bad[:3]:
            print(f"          {k}: {a[k].get('value')!r} -> {b[k].get('value')!r}")
    print(f"{len(names)} notebooks compared, {differ} differ")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
