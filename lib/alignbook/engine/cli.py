"""``alignbook``: run notebooks in a profile, render the book, list what exists.

Examples::

    alignbook run                                   # every notebook, test profile
    alignbook run safe-rlhf --profile smoke         # one chapter
    alignbook run intro/01_machine -p steps=50 --seed 3
    alignbook run safe-rlhf --profile paper --dry-run   # resolve and show, run nothing
    alignbook book --profile smoke                  # render book/_build/html
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from .config import PROFILES, ConfigError


def parse_overrides(pairs: list[str]) -> dict[str, Any]:
    """``["lr=3e-4", "seeds=5"]`` → ``{"lr": "3e-4", "seeds": "5"}`` (typed later, per config)."""
    overrides: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"-p {pair!r} must look like name=value, e.g. -p seed=3")
        key, value = pair.split("=", 1)
        if not key.isidentifier():
            raise ConfigError(f"-p {pair!r}: {key!r} is not a parameter name")
        overrides[key] = value
    return overrides


def _cmd_run(args: argparse.Namespace) -> int:
    from . import runner

    overrides = parse_overrides(args.param)
    if args.dry_run:
        jobs = runner.plan(args.targets, args.profile, overrides, args.seed)
        manifest = runner.load_manifest(args.profile)
        for job in jobs:
            cached = manifest.get(job.name, {}).get("key") == job.key and not args.force
            print(runner.describe(job) + ("\n    (cached: would not run)" if cached else ""))
        return 0
    report = runner.run(args.targets, args.profile, overrides, seed=args.seed, force=args.force,
                        progress=not args.no_progress, timeout=args.timeout)
    print(report.summary())
    if report.failed:
        print(f"\n{len(report.failed)} notebook(s) failed: {', '.join(report.failed)}", file=sys.stderr)
        return 1
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from . import book

    book.prepare(args.profile)
    index = book.build(strict=not args.no_strict)
    print(f"book: {index}")
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from . import runner

    manifest = runner.load_manifest(args.profile)
    for name in runner.all_notebooks():
        entry = manifest.get(name, {})
        status = entry.get("status", "never run")
        print(f"{name:45s} {status:>9s}  {entry.get('duration_s', '')}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="alignbook", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="execute notebooks with papermill into build/<profile>/")
    run.add_argument("targets", nargs="*", help="chapter or chapter/notebook (default: all, in book order)")
    run.add_argument("--profile", default="test", choices=PROFILES)
    run.add_argument("--seed", type=int, default=None, help="seed injected into every notebook")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a config parameter (repeatable); unknown names are errors")
    run.add_argument("--force", action="store_true", help="rerun even when inputs are unchanged")
    run.add_argument("--dry-run", action="store_true", help="resolve and print, including launch commands")
    run.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    run.add_argument("--timeout", type=float, default=None, metavar="SECONDS",
                     help="wall-clock limit per notebook, in place of its YAML's `timeout` for the profile")
    run.set_defaults(func=_cmd_run)

    book = sub.add_parser("book", help="render the executed notebooks of a profile into book/_build/html")
    book.add_argument("--profile", default="smoke", choices=PROFILES)
    book.add_argument("--no-strict", action="store_true", help="do not turn Sphinx warnings into errors")
    book.set_defaults(func=_cmd_book)

    lst = sub.add_parser("list", help="list notebooks and their last status in a profile")
    lst.add_argument("--profile", default="test", choices=PROFILES)
    lst.set_defaults(func=_cmd_list)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as err:
        print(f"alignbook: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
