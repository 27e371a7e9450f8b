"""``alignbook``: run notebooks in a profile, render the book, list what exists.

Examples::

    alignbook run                                   # every notebook, test profile
    alignbook run safe-rlhf --profile smoke         # one chapter
    alignbook run intro/01_machine -p steps=50 --seed 3
    alignbook run --profile smoke --jobs 2          # two notebooks at once (the default: one per core)
    alignbook run safe-rlhf --profile paper --dry-run   # resolve and show, run nothing
    alignbook book --profile smoke                  # render book/_build/html
"""

from __future__ import annotations

import argparse
import math
import signal
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
    if args.rehearse:
        from . import paths, rehearsal

        root = rehearsal.begin(args.profile)
        print(f"{rehearsal.banner()}\nResults go to {root}/paper, apart from the paper build.", file=sys.stderr)
    if args.dry_run:
        from . import store

        jobs = runner.plan(args.targets, args.profile, overrides, args.seed, check_devices=False)
        manifest = runner.load_manifest(args.profile)
        current = runner.current_hashes()
        for job in jobs:
            cached = (not args.force and manifest.get(job.name, {}).get("key") == job.key
                      and store.verify(args.profile, job.name, manifest, current) is None)
            print(runner.describe(job) + ("\n    (cached: would not run)" if cached else ""))
        return 0
    report = runner.run(args.targets, args.profile, overrides, seed=args.seed, force=args.force,
                        progress=not args.no_progress, timeout=args.timeout, jobs=args.jobs)
    print(report.summary())
    if report.failed:
        print(f"\n{len(report.failed)} notebook(s) failed: {', '.join(report.failed)}", file=sys.stderr)
        return 1
    return 0


def _cmd_book(args: argparse.Namespace) -> int:
    from . import book

    index, problems = book.render(args.profile, strict=not args.no_strict)
    print(f"book: {book.relative(index)} (serve it with `python3 -m http.server -d {book.relative(index.parent)}`)")
    if problems:
        print(f"\n{len(problems)} page(s) show no result, only what went wrong:", file=sys.stderr)
        for name, reason in problems.items():
            print(f"  {name}: {reason}", file=sys.stderr)
        return 1
    return 0


def _cmd_list(args: argparse.Namespace) -> int:
    from . import runner

    manifest = runner.load_manifest(args.profile)
    current = runner.current_hashes()
    print(f"profile {args.profile}:")
    for name in runner.all_notebooks():
        entry = manifest.get(name, {})
        status, reason = runner.status_of(args.profile, name, manifest, current)
        took = f"{entry['duration_s']:.0f} s" if isinstance(entry.get("duration_s"), (int, float)) else ""
        print(f"  {name:42s} {status:>11s}  {took:>7s}  {reason if status != 'ok' else ''}".rstrip())
    return 0


def _timeout(text: str) -> float:
    """``--timeout`` seconds: a finite, positive number (``nan`` and ``inf`` would switch the guard off)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a finite, positive number of seconds, e.g. 1800")
    return value


def _jobs(text: str) -> int:
    """``--jobs``: a whole number of notebooks at once (range and clamping: :func:`runner.check_jobs`)."""
    from .config import ConfigError, coerce

    try:
        return coerce("--jobs", text, int)
    except ConfigError:
        raise argparse.ArgumentTypeError(f"{text[:20]!r} is not a whole number of notebooks at once, e.g. "
                                         "--jobs 2") from None


def _seed(text: str) -> int:
    """``--seed``: the same strict integer as ``-p seed=`` (decimal digits, within a seed's range)."""
    from .config import BaseConfig, ConfigError, build_config

    try:
        return build_config(BaseConfig, [("--seed", {"seed": text})]).seed
    except ConfigError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


class _Parser(argparse.ArgumentParser):
    """argparse, with a bad option reported like every other bad input: one ``alignbook: error:`` line."""

    def error(self, message: str):  # noqa: D401 - argparse's hook
        self.exit(2, f"alignbook: error: {message} (`{self.prog} --help` lists the options)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="alignbook", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="execute notebooks with papermill into build/<profile>/ (default profile: test)")
    run.add_argument("targets", nargs="*", help="chapter or chapter/notebook (default: all, in book order)")
    run.add_argument("--profile", default="test", choices=PROFILES)
    run.add_argument("--seed", type=_seed, default=None, help="seed injected into every notebook")
    run.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE",
                     help="override a config parameter (repeatable); unknown names are errors")
    run.add_argument("--force", action="store_true", help="rerun even when inputs are unchanged")
    run.add_argument("--dry-run", action="store_true", help="resolve and print, including launch commands")
    run.add_argument("--no-progress", action="store_true", help="no per-cell progress bar")
    run.add_argument("--jobs", "-j", type=_jobs, default=None, metavar="N",
                     help="notebooks at once (default: one per core, as many as fit in memory; 1 on gpu and "
                          "paper); the numbers do not depend on it")
    run.add_argument("--rehearse", action="store_true",
                     help="with --profile paper: rehearse the paper run on this machine (tiny stand-ins of the hub's "
                          "models and data, the YAML's `rehearse:` sizes, CPU processes for GPUs; results kept apart)")
    run.add_argument("--timeout", type=_timeout, default=None, metavar="SECONDS",
                     help="wall-clock limit per notebook, in place of its YAML's `timeout` for the profile")
    run.set_defaults(func=_cmd_run)

    book = sub.add_parser("book", help="render the executed notebooks of a profile into book/_build/html "
                          "(default profile: smoke)")
    book.add_argument("--profile", default="smoke", choices=PROFILES)
    book.add_argument("--no-strict", action="store_true", help="do not turn Sphinx warnings into errors")
    book.set_defaults(func=_cmd_book)

    lst = sub.add_parser("list", help="list notebooks and whether their stored result is valid (default profile: test)")
    lst.add_argument("--profile", default="test", choices=PROFILES)
    lst.set_defaults(func=_cmd_list)
    return parser


def _as_interrupt(signum, frame) -> None:  # noqa: ARG001 - a signal handler's signature
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as err:  # argparse has printed its usage message
        return int(err.code or 0)
    from . import book, paths, runner
    from .checkpoints import CheckpointError

    paths.absolutise_environment()  # a relative ALIGNBOOK_BUILD means the folder it names from here

    handlers = {}
    for signum in (signal.SIGTERM, signal.SIGHUP):  # `kill` and a closed terminal stop like Ctrl-C
        try:
            handlers[signum] = signal.signal(signum, _as_interrupt)
        except ValueError:  # not the main thread (tests calling main from a thread)
            pass
    try:
        return args.func(args)
    except runner.Interrupted as err:
        print(f"alignbook: interrupted: {err}", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("alignbook: interrupted; nothing was recorded as finished", file=sys.stderr)
        return 130
    except (ConfigError, book.BuildError, CheckpointError) as err:
        print(f"alignbook: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        where = f" {err.filename}" if getattr(err, "filename", None) else ""
        print(f"alignbook: error: cannot read or write{where}: {err.strerror or err}; make the build folder "
              "writable (or point ALIGNBOOK_BUILD at one that is) and free some disk if it is full", file=sys.stderr)
        return 2
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())
