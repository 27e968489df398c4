"""`opsconsole exec PATTERN -- COMMAND...`: one shell command on many hosts at once.

Output is printed as it arrives, each line prefixed by its host (`host01 | line` for
stdout, `host01 ! line` for stderr), then a summary. Exit status: 0 when every host
succeeded, 1 when any failed, 2 for a usage or inventory error or a pattern that
selects no host. `--json` prints only a JSON array, one object per host.

The command is a job of an engine (see console.cli.exec_job). Only `argparse` is
imported at module level: the parser of every command family is built on each start,
and `exec` must start fast (no Textual, no aiohttp).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from console.errors import EXIT_FAILED, EXIT_OK, UsageError
from console.settings import Settings

if TYPE_CHECKING:
    from console.cli.exec_job import HostResult


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "exec",
        parents=[common],
        help="run a shell command on every selected host at once",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_options(parser)
    parser.add_argument(
        "pattern",
        metavar="PATTERN",
        help="hosts to run on: a host, group, glob, tag=value, web:&prod:!web03",
    )
    parser.add_argument(
        "command",
        metavar="-- COMMAND",
        nargs=argparse.REMAINDER,
        help="the command, after `--` (run by /bin/sh on each host; by PowerShell on WinRM hosts)",
    )
    parser.set_defaults(handler=run_exec)


def _add_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--timeout",
        type=_positive_float,
        metavar="SECONDS",
        help="stop the command on a host after this long (default: none)",
    )
    parser.add_argument(
        "--forks",
        type=_positive_int,
        metavar="N",
        help="at most N hosts at a time (default: all, up to 128; a running engine "
        "applies its own limit)",
    )
    parser.add_argument(
        "--max-output",
        type=_positive_int,
        metavar="BYTES",
        help="keep at most this much of each host's stdout and of its stderr (default 1 MiB)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print only a JSON array with one object per host"
    )


def split_command(args: argparse.Namespace) -> str:
    """The command words after `--`; options between PATTERN and `--` are parsed here
    (argparse would otherwise take them as part of the command)."""
    words = list(args.command)
    if "--" in words:
        cut = words.index("--")
        leading, words = words[:cut], words[cut + 1 :]
        if leading:
            options = argparse.ArgumentParser(prog="opsconsole exec", add_help=False)
            _add_options(options)
            try:
                options.parse_args(leading, namespace=args)
            except SystemExit:
                raise UsageError(f"bad options before `--`: {' '.join(leading)}") from None
    if not words:
        raise UsageError("no command given; usage: opsconsole exec PATTERN -- COMMAND...")
    return " ".join(words)


def run_exec(args: argparse.Namespace, settings: Settings) -> int:
    """The command becomes a job: of the running engine (every console sees it), or
    of a one-shot engine in this process when none runs. Same output either way."""
    import asyncio

    from console.cli.exec_job import run_command_job

    command = split_command(args)
    printer = None if args.json else _LivePrinter
    results = asyncio.run(run_command_job(settings, args, command, printer))
    if args.json:
        import json

        json.dump([r.to_json() for r in results], sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_summary(results)
    return EXIT_OK if all(r.ok for r in results) else EXIT_FAILED


class _LivePrinter:
    """Prints `host | line` (stdout) and `host ! line` (stderr), names aligned."""

    def __init__(self, names: list[str]) -> None:
        self.width = max(len(n) for n in names)

    def __call__(self, host: str, stream: str, text: str) -> None:
        from console.cli.output import printable

        mark = "|" if stream == "stdout" else "!"
        sys.stdout.write(f"{host:<{self.width}} {mark} {printable(text)}\n")
        sys.stdout.flush()


def _print_summary(results: list[HostResult]) -> None:
    from console.cli.output import printable

    failed = [r for r in results if not r.ok]
    slowest = max((r.duration for r in results), default=0.0)
    print(
        f"-- {len(results) - len(failed)} ok, {len(failed)} failed "
        f"({len(results)} hosts, slowest {slowest:.2f} s)"
    )
    for result in failed:
        error = result.error or {}
        print(f"   {result.host}: {result.status}: {printable(error.get('message', ''))}")


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {value}")
    return value
