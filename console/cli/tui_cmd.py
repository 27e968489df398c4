"""`opsconsole tui`: the full-screen console (also what `opsconsole` alone runs).

The console's composition root: it decides which engine the app talks to (attach to a
running one, else start one in the app's own loop) and hands the app a client; the
app (`screens/`) never builds an engine. Textual is imported only when the command
runs, so other commands never pay for it.
"""

from __future__ import annotations

import argparse

from console.cli.nats_args import add_engine_nats_options, nats_settings, worker_wait
from console.settings import Settings


def register(subparsers: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = subparsers.add_parser(
        "tui",
        parents=[common],
        help="the keyboard-driven console (the default command)",
        description="Full-screen console: inventory, jobs, runbooks. Usable at 80x24 over "
        "SSH; set TEXTUAL_THEME=ansi-dark or pass --ansi to use the terminal's palette.",
    )
    parser.add_argument(
        "--ansi",
        action="store_true",
        help="use the terminal's own 16-colour palette (theme ansi-dark)",
    )
    add_engine_nats_options(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
    from console.engine.connect import console_options, engine_client
    from screens.app import OpsConsoleApp
    from screens.keymap import load_keymap

    options = console_options(
        nats=nats_settings(args, required=False), worker_wait=worker_wait(args)
    )
    app = OpsConsoleApp(
        client_factory=lambda: engine_client(settings, options),
        keymap=load_keymap(),
        ansi=bool(getattr(args, "ansi", False)),
    )
    return int(app.run() or 0)
