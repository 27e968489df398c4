"""`opsconsole workers list`: the workers of every group, as their heartbeats say.

It talks to NATS directly (not through the engine): the workers' presence lives in
NATS, so an operator can look at the workers from any machine that reaches NATS, with
or without an engine. `add_nats_options` and `nats_settings` are the NATS options of
every command that uses NATS (`serve`, `worker`, the console), so they read alike.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import TYPE_CHECKING

from console.cli.output import iso, local_time, print_json, printable
from console.settings import Settings
from console.workers.connection import ENV_FILES, ENV_URL, NatsSettings

if TYPE_CHECKING:
    from console.workers.presence import WorkerInfo


def add_nats_options(parser: argparse.ArgumentParser) -> None:
    """`--nats URL` and its credential and TLS files, each defaulting to its variable."""
    group = parser.add_argument_group("NATS (worker groups)")
    group.add_argument(
        "--nats",
        metavar="URL",
        help=f"NATS server, nats://[user:password@]host:4222 or tls://... (env {ENV_URL})",
    )
    files = {
        "creds": ("--nats-creds", "NATS credentials file (.creds: JWT and nkey seed)"),
        "nkey_seed": ("--nats-nkey", "NATS nkey seed file"),
        "ca": ("--nats-ca", "CA certificate that signed the NATS server's certificate"),
        "cert": ("--nats-cert", "TLS client certificate for NATS"),
        "key": ("--nats-key", "private key of --nats-cert"),
    }
    for name, (option, text) in files.items():
        group.add_argument(
            option, dest=f"nats_{name}", metavar="FILE", help=f"{text} (env {ENV_FILES[name]})"
        )


def nats_settings(args: argparse.Namespace, *, required: bool) -> NatsSettings | None:
    """The settings `add_nats_options` parsed (environment variables fill the gaps);
    with `required`, a missing URL is an error naming `--nats` / `OPSCONSOLE_NATS`."""
    options = {name: getattr(args, f"nats_{name}", None) for name in ENV_FILES}
    if required:
        return NatsSettings.required(getattr(args, "nats", None), **options)
    return NatsSettings.from_options(getattr(args, "nats", None), **options)


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
