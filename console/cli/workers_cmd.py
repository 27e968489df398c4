"""`opsconsole workers list`: the workers of every group, as their heartbeats say.

It talks to NATS directly (not through the engine): the workers' presence lives in
NATS, so an operator can look at the workers from any machine that reaches NATS, with
or without an engine. Its NATS options are those of every command that uses NATS
(`console.cli.nats_args`).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from console.cli.nats_args import add_nats_options, nats_settings
from console.cli.output import iso, local_time, print_json, printable
from console.settings import Settings

if TYPE_CHECKING:
    from console.workers.presence import WorkerInfo


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "workers", help="list the workers of the worker groups", parents=[common]
    )
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", help="list workers, online or offline", parents=[common])
    listing.add_argument("--json", action="store_true")
    add_nats_options(listing)
    listing.set_defaults(handler=list_workers_command)


def list_workers_command(args: argparse.Namespace, settings: Settings) -> int:
    settings_nats = nats_settings(args, required=True)
    assert settings_nats is not None
    from console.workers.connection import connect_nats
    from console.workers.presence import list_workers

    async def go() -> list[WorkerInfo]:
        client = await connect_nats(settings_nats, "opsconsole workers list")
        try:
            return await list_workers(client.jetstream())
        finally:
            await client.close()

    workers = asyncio.run(go())
    if args.json:
        print_json([_as_json(w) for w in workers])
    else:
        _print_table(workers)
    return 0


def _as_json(worker: WorkerInfo) -> dict[str, object]:
    return {
        "name": worker.name,
        "group": worker.group,
        "host": worker.host,
        "version": worker.version,
        "last_seen": iso(worker.last_seen),
        "running": worker.running,
        "capacity": worker.capacity,
        "state": worker.state,
    }


def _print_table(workers: list[WorkerInfo]) -> None:
    print(
        f"{'NAME':<20} {'GROUP':<16} {'STATE':<8} {'RUNS':<7} {'HOST':<20} {'VERSION':<10} "
        "LAST SEEN"
    )
    for w in workers:
        print(
            f"{printable(w.name)[:20]:<20} {printable(w.group)[:16]:<16} {w.state:<8} "
            f"{f'{w.running}/{w.capacity}':<7} {printable(w.host)[:20]:<20} "
            f"{printable(w.version)[:10]:<10} {local_time(w.last_seen)}"
        )
