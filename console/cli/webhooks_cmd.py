"""`opsconsole webhooks ...`: secret URLs that start a runbook.

The URL (and, with --secret, the HMAC secret) is printed once at creation; only a hash
of the token is stored, so it cannot be shown again: delete and create a new one.
`rotate-secret` prints a signed webhook's new secret once; the previous one is accepted
for a grace period (24 h unless --grace-hours says otherwise).
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from console.cli.admin import add_state_commands, admin_handler
from console.cli.assignments import parse_assignments
from console.cli.job_target import add_target_arguments, required_target
from console.cli.output import local_time, print_json
from console.errors import UsageError

if TYPE_CHECKING:
    from console.engine.client import EngineClient, WebhookAdmin


def _webhooks(client: EngineClient) -> WebhookAdmin:
    return client.webhooks


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("webhooks", help="create and manage webhooks", parents=[common])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    create = actions.add_parser(
        "create", help="create a webhook; prints its URL once", parents=[common]
    )
    create.add_argument("name")
    create.add_argument("runbook")
    add_target_arguments(create, "the hosts it runs on")
    create.add_argument("-p", "--param", action="append", default=[], metavar="NAME=VALUE")
    create.add_argument(
        "--expires", metavar="DATE", help="ISO date or time (default: one year from now)"
    )
    create.add_argument(
        "--secret",
        action="store_true",
        help="require an HMAC-SHA256 signature (X-Hub-Signature-256); the secret is printed once",
    )
    create.add_argument(
        "--allow-from",
        action="append",
        default=[],
        metavar="CIDR",
        help="accept requests only from these networks (repeatable)",
    )
    create.add_argument("--rate-limit", type=int, metavar="PER_MINUTE")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=admin_handler(_webhooks, _create))

    listing = actions.add_parser(
        "list", help="list webhooks (never their tokens)", parents=[common]
    )
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=admin_handler(_webhooks, _list))

    rotate = actions.add_parser(
        "rotate-secret",
        help="give a signed webhook a new HMAC secret, printed once",
        parents=[common],
    )
    rotate.add_argument("name")
    rotate.add_argument(
        "--grace-hours",
        type=float,
        metavar="HOURS",
        help="how long the previous secret stays valid (default: 24; 0 ends it now)",
    )
    rotate.add_argument("--json", action="store_true")
    rotate.set_defaults(handler=admin_handler(_webhooks, _rotate_secret))

    add_state_commands(actions, common, _webhooks, "webhook")


def _expiry(text: str | None) -> float | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f"--expires {text!r}: expected an ISO date or time, "
            "e.g. 2027-06-30 or 2027-06-30T18:00+02:00"
        ) from None
    return moment.timestamp()  # a naive time is this machine's local time


async def _create(service: WebhookAdmin, args: argparse.Namespace) -> int:
    view = await service.create(
        name=args.name,
        runbook=args.runbook,
        pattern=required_target(args),
        parameters=parse_assignments(args.param),
        expires=_expiry(args.expires),
        signed=args.secret,
        allow_from=args.allow_from,
        rate_limit=args.rate_limit,
    )
    if args.json:
        print_json(view)
        return 0
    print(view["url"])
    if view.get("secret"):
        print(f"secret: {view['secret']}")
    print(
        f"webhook {view['name']} starts {view['runbook']} on {view['pattern']}; expires "
        f"{local_time(view['expires'])}. Copy the URL now: it is not stored and cannot "
        "be shown again.",
        file=sys.stderr,
    )
    return 0


async def _rotate_secret(service: WebhookAdmin, args: argparse.Namespace) -> int:
    view = await service.rotate_secret(args.name, args.grace_hours)
    if args.json:
        print_json(view)
        return 0
    print(f"secret: {view['secret']}")
    until = view["previous_secret_until"]
    previous = (
        f"the previous secret stays valid for {view['grace_hours']:g} h, until {local_time(until)}"
        if until is not None
        else "the previous secret is no longer valid"
    )
    print(
        f"webhook {view['name']} has a new secret; {previous}. Copy the secret now: it is "
        "stored encrypted and cannot be shown again.",
        file=sys.stderr,
    )
    return 0


async def _list(service: WebhookAdmin, args: argparse.Namespace) -> int:
    rows = await service.entries()
    if args.json:
        print_json(rows)
        return 0
    print(f"{'NAME':<20} {'STATE':<9} {'RUNBOOK':<20} {'PATTERN':<16} {'EXPIRES':<19} SIGNED")
    for row in rows:
        state = "expired" if row["expired"] else ("enabled" if row["enabled"] else "disabled")
        print(
            f"{row['name'][:20]:<20} {state:<9} {row['runbook'][:20]:<20} "
            f"{row['pattern'][:16]:<16} {local_time(row['expires']):<19} "
            f"{'yes' if row['signed'] else 'no'}"
        )
    return 0
