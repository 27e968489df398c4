"""`opsconsole schedules ...`: runbooks started by time, and every decision about them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from console.cli.admin import add_state_commands, admin_handler
from console.cli.job_target import add_target_arguments, required_target
from console.cli.output import print_json
from console.cli.schedule_args import add_schedule_arguments, schedule_from_args

if TYPE_CHECKING:
    from console.engine.client import EngineClient, ScheduleAdmin


def _schedules(client: EngineClient) -> ScheduleAdmin:
    return client.schedules


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("schedules", help="create and manage schedules", parents=[common])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser("create", help="schedule a runbook", parents=[common])
    create.add_argument("name")
    create.add_argument("runbook")
    add_target_arguments(create, "the hosts it runs on")
    add_schedule_arguments(create)
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=admin_handler(_schedules, _create))

    listing = actions.add_parser(
        "list", help="list schedules with their next run", parents=[common]
    )
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=admin_handler(_schedules, _list))

    show = actions.add_parser("show", help="a schedule and its recent decisions", parents=[common])
    show.add_argument("name")
    show.add_argument("--decisions", type=int, default=20, metavar="N")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=admin_handler(_schedules, _show))

    add_state_commands(actions, common, _schedules, "schedule")

    upcoming = actions.add_parser("next", help="print the next fire times", parents=[common])
    upcoming.add_argument("name")
    upcoming.add_argument("--count", type=int, default=5)
    upcoming.add_argument("--json", action="store_true")
    upcoming.set_defaults(handler=admin_handler(_schedules, _next))


async def _create(book: ScheduleAdmin, args: argparse.Namespace) -> int:
    schedule = schedule_from_args(args.name, args.runbook, required_target(args), args)
    view = await book.create(schedule)
    if args.json:
        print_json(view)
    else:
        print(f"schedule {view['name']}: {view['describe']}; next run {view['next'] or 'none'}")
    return 0


async def _list(book: ScheduleAdmin, args: argparse.Namespace) -> int:
    rows = await book.entries()
    if args.json:
        print_json(rows)
        return 0
    print(f"{'NAME':<20} {'ON':<3} {'RUNBOOK':<20} {'PATTERN':<16} {'NEXT':<26} WHEN")
    for row in rows:
        print(
            f"{row['name'][:20]:<20} {'yes' if row['enabled'] else 'no':<3} "
            f"{row['runbook'][:20]:<20} {row['pattern'][:16]:<16} "
            f"{row['next'] or '-':<26} {row['describe']}"
        )
    return 0


async def _show(book: ScheduleAdmin, args: argparse.Namespace) -> int:
    view = await book.show(args.name, args.decisions)
    if args.json:
        print_json(view)
        return 0
    print(
        f"schedule {view['name']} ({'enabled' if view['enabled'] else 'disabled'}): "
        f"{view['describe']}"
    )
    print(f"  runbook {view['runbook']} on {view['pattern']}  parameters {view['parameters']}")
    print(
        f"  overlap {view['overlap']}  misfire {view['misfire']} "
        f"(grace {view['misfire_grace']:g}s)  next {view['next'] or '-'}"
    )
    for d in view["decisions"]:
        job = f" job {d['job_id']}" if d.get("job_id") else ""
        print(
            f"  {d['decided_at']}  {d['action']:<16} due {d['due'] or '-'}  "
            f"delay {d['delay']:.1f}s{job} {d['detail']}"
        )
    return 0


async def _next(book: ScheduleAdmin, args: argparse.Namespace) -> int:
    times = await book.next(args.name, args.count)
    if args.json:
        print_json(times)
    else:
        print("\n".join(times))
    return 0
