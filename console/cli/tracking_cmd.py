"""`opsconsole tracking add-file|remove-file|list`: which files are collected where.

A path is absolute and may be a glob (expanded on each host at collection; one that
matches nothing there is said in `inventory collect`, not an error). `--no-content`
keeps only the hash of the files (for secrets, or files too big to diff).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.cli.admin import admin_handler
from console.cli.output import print_json, printable
from console.errors import EXIT_OK

if TYPE_CHECKING:
    from console.changes.model import TrackedPath
    from console.engine.client import ChangesAdmin, EngineClient


def _changes(client: EngineClient) -> ChangesAdmin:
    return client.changes


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("tracking", parents=[common], help="tracked files")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser("add-file", parents=[common], help="track a file or glob")
    add.add_argument("path", metavar="PATH_OR_GLOB", help="absolute path, globs allowed")
    add.add_argument("--pattern", default="all", help="on the hosts of this pattern (all)")
    add.add_argument("--no-content", action="store_true", help="keep the hash only, no diffs")
    add.set_defaults(handler=admin_handler(_changes, _add))
    remove = actions.add_parser("remove-file", parents=[common], help="stop tracking a path")
    remove.add_argument("path", metavar="PATH_OR_GLOB")
    remove.set_defaults(handler=admin_handler(_changes, _remove))
    listing = actions.add_parser("list", parents=[common], help="the tracked paths")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=admin_handler(_changes, _list))


def _describe(tracked: TrackedPath) -> str:
    content = "content" if tracked.content else "hash only"
    return f"{tracked.path}  on {tracked.pattern}  ({content})"


async def _add(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    tracked = await admin.add_file(args.path, args.pattern, not args.no_content)
    print(printable(f"tracking {_describe(tracked)}"))
    return EXIT_OK


async def _remove(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    tracked = await admin.remove_file(args.path)
    print(printable(f"no longer tracking {tracked.path}"))
    return EXIT_OK


async def _list(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    files = await admin.files()
    if args.json:
        from console.engine.changes_wire import tracked_to_dict

        print_json([tracked_to_dict(t) for t in files])
        return EXIT_OK
    for tracked in files:
        print(printable(_describe(tracked)))
    if not files:
        print("no tracked files (add one with `opsconsole tracking add-file PATH`)")
    return EXIT_OK
