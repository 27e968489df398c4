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

# Command families by the command name each registers, in the order `--help` lists
# them. A command line that names one imports only its module (see `_modules_for`), so
# `opsconsole exec` never pays for the imports of `inventory`, Textual or aiohttp.
COMMAND_MODULES = {
    "inventory": "console.cli.inventory_cmd",
    "exec": "console.cli.exec_cmd",
    "tui": "console.cli.tui_cmd",
    "runbooks": "console.cli.runbooks_cmd",
    "run": "console.cli.run_cmd",
    "jobs": "console.cli.jobs_cmd",
    "schedules": "console.cli.schedules_cmd",
    "webhooks": "console.cli.webhooks_cmd",
    "assets": "console.cli.assets_cmd",
    "changes": "console.cli.changes_cmd",
    "tracking": "console.cli.tracking_cmd",
    "state": "console.cli.state_cmd",
    "updates": "console.cli.updates_cmd",
    "serve": "console.cli.serve_cmd",
    "workers": "console.cli.workers_cmd",
    "worker": "console.cli.worker_cmd",
}
# Global options that take a value, so that the value is not read as the command.
_VALUE_OPTIONS = ("-i", "--inventory", "--data-dir", "--runbooks", "--configurations")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on usage errors already; keep its message but make it ours.

    A command's options may come before, between or after its positionals (`run hello
    -p x=1 web01`, `run hello --run-on g1`): plain argparse stops filling positionals at
    the first option and calls what follows "unrecognized". A parser of subcommands, or
    one ending in a `--`-remainder (`exec`), cannot be read intermixed and keeps the
    plain reading."""

    _reading_intermixed = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        if self._reading_intermixed or not self._intermixable():
            return super().parse_known_args(args, namespace)
        # parse_known_intermixed_args calls parse_known_args (twice): those are plain.
        self._reading_intermixed = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._reading_intermixed = False

    def _intermixable(self) -> bool:
        return all(
            action.nargs not in (argparse.PARSER, argparse.REMAINDER)
            for action in self._get_positional_actions()
        )

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
    parent.add_argument(
        "--configurations",
        metavar="DIR",
        default=default,
        help="desired-state configurations folder (env OPSCONSOLE_CONFIGURATIONS; "
        "default ./configurations, else none)",
    )
    return parent


def build_parser(argv: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The parser for `argv`: with every command family when `argv` is None or names
    none of them (so `--help` and a mistyped command list them all)."""
    parser = _Parser(
        prog="opsconsole",
        description="Agentless operations console: inventory, exec, runbooks, jobs, schedules, "
        "webhooks; with no command, the full-screen console.",
        parents=[global_options()],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    common = global_options(argparse.SUPPRESS)
    for module in _modules_for(argv):
        importlib.import_module(module).register(sub, common)
    return parser


def _modules_for(argv: Sequence[str] | None) -> list[str]:
    """The module of the command `argv` names, or every module."""
    if argv is not None:
        command = _command_word(argv)
        if command in COMMAND_MODULES:
            return [COMMAND_MODULES[command]]
    return list(COMMAND_MODULES.values())


def _command_word(argv: Sequence[str]) -> str | None:
    """The first word of `argv` that is neither an option nor a global option's value."""
    words = iter(argv)
    for word in words:
        if word in _VALUE_OPTIONS:
            next(words, None)
        elif word == "--" or not word.startswith("-"):
            return None if word == "--" else word
    return None


def main(argv: Sequence[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(words).parse_args(words)
    settings = Settings.resolve(args.inventory, args.data_dir, args.runbooks, args.configurations)
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
