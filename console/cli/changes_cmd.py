"""`opsconsole changes list|show`: the change log of the tracked hosts.

`--since` takes a duration back from now (`90m`, `2h`, `7d`) or a time (ISO 8601,
`2024-05-01` or `2024-05-01T09:30`, local time unless it names an offset).
"""

from __future__ import annotations

import argparse
import re
import time
from datetime import datetime
from typing import TYPE_CHECKING

from console.cli.admin import admin_handler
from console.cli.output import local_time, print_json, printable
from console.errors import EXIT_OK, UsageError

if TYPE_CHECKING:
    from console.changes.model import Change
    from console.engine.client import ChangesAdmin, EngineClient

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _changes(client: EngineClient) -> ChangesAdmin:
    return client.changes


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("changes", parents=[common], help="what changed on the hosts")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="changes, newest first")
    listing.add_argument("--host", help="only this host's changes")
    listing.add_argument("--type", help="software, service, file or fact")
    listing.add_argument("--since", metavar="DURATION_OR_TIME", help="e.g. 2h, 7d, 2024-05-01")
    listing.add_argument("--limit", type=int, default=200, help="at most this many (200)")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=admin_handler(_changes, _list))
    show = actions.add_parser("show", parents=[common], help="one change, as a diff")
    show.add_argument("id")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=admin_handler(_changes, _show))


def parse_since(text: str, now: float) -> float:
    """The epoch time `--since TEXT` means; a UsageError saying what it accepts."""
    match = _DURATION.match(text.strip().lower())
    if match:
        return now - float(match.group(1)) * _UNITS[match.group(2)]
    try:
        return datetime.fromisoformat(text.strip()).timestamp()
    except ValueError:
        raise UsageError(
            f"--since: {text!r} is neither a duration (90m, 2h, 7d) nor a time "
            "(2024-05-01 or 2024-05-01T09:30)"
        ) from None


async def _list(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    since = parse_since(args.since, time.time()) if args.since else None
    found = await admin.changes(host=args.host, type=args.type, since=since, limit=args.limit)
    if args.json:
        from console.changes.codec import change_to_dict

        print_json([change_to_dict(c) for c in found])
        return EXIT_OK
    for change in found:
        print(printable(_line(change)))
    return EXIT_OK


def _line(change: Change) -> str:
    return (
        f"{change.id}  {local_time(change.time)}  {change.host}  "
        f"{change.type} {change.change}  {change.name}"
    )


async def _show(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    change = await admin.change(args.id)
    if args.json:
        from console.changes.codec import change_to_dict

        print_json(change_to_dict(change))
        return EXIT_OK
    from console.changes.diff import unified_diff

    print(printable(_line(change)))
    print(printable(unified_diff(change)), end="")
    return EXIT_OK
