"""The `opsconsole` command line.

Each command family lives in its own module exposing `register(subparsers, common)`;
a command's handler takes the parsed arguments and the resolved `Settings` and returns
an exit code (0 success, 1 some host or job failed, 2 usage/config/input error).
Typed `OpsError`s raised anywhere become a one-line message on stderr and their exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from console.errors import EXIT_USAGE, OpsError
from console.settings import Settings

# Command families, in the order `--help` lists them. Each is imported on use only
# by `main`, so `opsconsole inventory list` never pays for Textual or aiohttp.
COMMAND_MODULES = (
    "console.cli.inventory_cmd",
    "console.cli.exec_cmd",
    "console.cli.tui_cmd",
    "console.cli.runbooks_cmd",
    "console.cli.run_cmd",
    "console.cli.jobs_cmd",
    "console.cli.schedules_cmd",
    "console.cli.webhooks_cmd",
    "console.cli.serve_cmd",
)


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message but make it ours."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.print_usage(sys.stderr)
        sys.stderr.write(f"opsconsole: error: {message}\n")
        raise SystemExit(EXIT_USAGE)


def global_options(default: object = None) -> argparse.ArgumentParser:
    """Options accepted before and after the subcommand (`-i X inventory list` and
    `inventory list -i X`); after the subcommand they default to SUPPRESS so they
    never overwrite a value given before it."""
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "-i",
        "--inventory",
        metavar="FILE",
        default=default,
        help="inventory file (env OPSCONSOLE_INVENTORY; default ./inventory.yaml, "
        "else the shipped sample)",
    )
    parent.add_argument(
        "--data-dir",
        metavar="DIR",
        default=default,
        help="data directory (env OPSCONSOLE_DATA_DIR; default the XDG data dir)",
    )
    parent.add_argument(
        "--runbooks",
        metavar="DIR",
        default=default,
        help="runbooks folder (env OPSCONSOLE_RUNBOOKS; default ./runbooks, else the "
        "shipped examples)",
    )
    return parent


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="opsconsole",
        description="Agentless operations console: inventory, exec, runbooks, jobs, schedules, "
        "webhooks; with no command, the full-screen console.",
        parents=[global_options()],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = global_options(argparse.SUPPRESS)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    settings = Settings.resolve(args.inventory, args.data_dir, args.runbooks)
    handler = getattr(args, "handler", None)
    if handler is None:
        handler = _default_handler()
    try:
        code = handler(args, settings)
    except OpsError as exc:
        from console.cli.output import printable  # messages may quote a host's words

        sys.stderr.write(f"opsconsole: {printable(str(exc))}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
    return int(code)


def _default_handler() -> Callable[[argparse.Namespace, Settings], int]:
    """With no subcommand: the console."""
    from console.cli.tui_cmd import run

    return run


if __name__ == "__main__":
    raise SystemExit(main())
