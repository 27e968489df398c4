"""`opsconsole tracking ...`: which files are collected where, how often, and the
alerts that start runbooks when something changes.

A path is absolute and may be a glob (expanded on each host at collection; one that
matches nothing there is said in `inventory collect`, not an error). `--no-content`
keeps only the hash of the files (for secrets, or files too big to diff).
`tracking interval 15m` sets how often a running engine (`serve`, the console)
collects each host; `off` stops that. `tracking alert NAME --when EXPR --runbook RB`
starts RB with the change as ChangeData when a collection records a matching change.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.cli.admin import admin_handler
from console.cli.assignments import parse_assignments
from console.cli.output import duration, print_json, printable
from console.errors import EXIT_OK

if TYPE_CHECKING:
    from console.changes.model import TrackedPath
    from console.changes.tracking import Alert
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
    _register_interval(actions, common)
    _register_alerts(actions, common)


def _register_interval(
    actions: argparse._SubParsersAction, common: argparse.ArgumentParser
) -> None:
    interval = actions.add_parser(
        "interval", parents=[common], help="how often a running engine collects each host"
    )
    interval.add_argument(
        "every", nargs="?", metavar="DURATION|off", help="e.g. 15m, 1h; off: no periodic collection"
    )
    interval.add_argument("--json", action="store_true", help="print the seconds as JSON")
    interval.set_defaults(handler=admin_handler(_changes, _interval))


def _register_alerts(actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    alert = actions.add_parser(
        "alert", parents=[common], help="start a runbook when a matching change is recorded"
    )
    alert.add_argument("name")
    alert.add_argument(
        "--when", required=True, metavar="EXPR", help="e.g. 'type=file name=/etc/passwd'"
    )
    alert.add_argument("--runbook", required=True)
    alert.add_argument("--pattern", help="run it on these hosts (default: the host that changed)")
    alert.add_argument("-p", "--param", action="append", metavar="NAME=VALUE", default=[])
    alert.set_defaults(handler=admin_handler(_changes, _add_alert))
    remove = actions.add_parser("remove-alert", parents=[common], help="delete an alert")
    remove.add_argument("name")
    remove.set_defaults(handler=admin_handler(_changes, _remove_alert))
    listing = actions.add_parser("alerts", parents=[common], help="the alerts")
    listing.add_argument("--json", action="store_true", help="print a JSON array")
    listing.set_defaults(handler=admin_handler(_changes, _alerts))


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


async def _interval(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    if args.every is None:
        seconds = await admin.interval()
    elif args.every.strip().lower() == "off":
        seconds = await admin.set_interval(None)
    else:
        from console.schedules.building import parse_duration

        seconds = await admin.set_interval(parse_duration(args.every, "interval"))
    if args.json:
        print_json(seconds)
    elif seconds is None:
        print("periodic collection is off (`opsconsole inventory collect` still works)")
    else:
        print(f"each host is collected every {duration(seconds)}")
    return EXIT_OK


def _describe_alert(alert: Alert) -> str:
    where = alert.pattern or "the host that changed"
    params = "".join(f" -p {k}={v}" for k, v in alert.parameters.items())
    return f"{alert.name}  when {alert.when}  run {alert.runbook}{params} on {where}"


async def _add_alert(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    alert = await admin.add_alert(
        args.name, args.when, args.runbook, args.pattern, parse_assignments(args.param)
    )
    print(printable(f"alert {_describe_alert(alert)}"))
    return EXIT_OK


async def _remove_alert(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    alert = await admin.remove_alert(args.name)
    print(printable(f"removed alert {alert.name}"))
    return EXIT_OK


async def _alerts(admin: ChangesAdmin, args: argparse.Namespace) -> int:
    alerts = await admin.alerts()
    if args.json:
        from console.engine.changes_wire import alert_to_dict

        print_json([alert_to_dict(a) for a in alerts])
        return EXIT_OK
    for alert in alerts:
        print(printable(_describe_alert(alert)))
    if not alerts:
        print("no alerts (add one with `opsconsole tracking alert NAME --when EXPR --runbook RB`)")
    return EXIT_OK
