"""`opsconsole runbooks list|show`: what can be run, and with which parameters."""

from __future__ import annotations

import argparse
import sys
from dataclasses import asdict

from console.cli.output import print_json
from console.engine.wire import runbook_info
from console.runbooks.catalog import RunbookCatalog
from console.settings import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("runbooks", help="list and show runbooks", parents=[common])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list runbooks", parents=[common])
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=list_runbooks)
    show = actions.add_parser(
        "show", help="show a runbook's metadata and parameters", parents=[common]
    )
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=show_runbook)


def list_runbooks(args: argparse.Namespace, settings: Settings) -> int:
    catalog = RunbookCatalog(settings.runbooks)
    books = [runbook_info(book) for book in catalog.list()]
    if args.json:
        print_json([asdict(b) for b in books])
        return 0
    if not books:
        print(f"no runbooks in {settings.runbooks}")
    for book in books:
        print(f"{book.name:<24} {book.language:<11} {book.description}")
    for problem in catalog.scan().problems:
        print(f"! {problem.path}: {problem.error}", file=sys.stderr)
    return 0


def show_runbook(args: argparse.Namespace, settings: Settings) -> int:
    catalog = RunbookCatalog(settings.runbooks)
    book = runbook_info(catalog.get(args.name))
    if args.json:
        print_json(asdict(book))
        return 0
    print(f"{book.name} ({book.language}) {book.path}")
    if book.description:
        print(f"  {book.description}")
    if book.target:
        print(f"  default target: {book.target}")
    if book.timeout:
        print(f"  timeout: {book.timeout:g} s")
    for p in book.parameters:
        flags = "required" if p.required else f"default {p.default!r}"
        choices = f" one of {', '.join(p.choices)}" if p.choices else ""
        print(f"  -p {p.name}=<{p.type}>  ({flags}{choices}) {p.description}")
    return 0
