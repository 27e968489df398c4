"""`opsconsole worker`: run host runs for a worker group (docs/workers.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
from pathlib import Path
from typing import TYPE_CHECKING

from console.cli.nats_args import add_nats_options, nats_settings
from console.errors import ConfigError
from console.settings import Settings

if TYPE_CHECKING:
    from console.workers.worker import Worker

KEY_ENV = "OPSCONSOLE_GROUP_KEY"


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser(
        "worker", help="run host runs for a worker group, over NATS", parents=[common]
    )
    parser.add_argument("--group", required=True, metavar="NAME", help="the worker group")
    parser.add_argument(
        "--name",
        metavar="NAME",
        help="this worker's name (env OPSCONSOLE_WORKER_NAME; default the hostname)",
    )
    parser.add_argument(
        "--capacity", type=int, default=16, metavar="N", help="host runs at once (default 16)"
    )
    parser.add_argument(
        "--group-key-file",
        metavar="FILE",
        help=f"file holding the group key, the engine's asset worker-group-NAME (env {KEY_ENV})",
    )
    parser.add_argument(
        "--ack-wait",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="how long an order a worker died holding waits before another worker gets it "
        "(the same for every worker of a group; default 30)",
    )
    add_nats_options(parser)
    parser.set_defaults(handler=worker_command)


def group_key(key_file: str | None) -> str:
    if key_file:
        try:
            return Path(key_file).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"cannot read the group key file {key_file}: {exc}") from exc
    key = os.environ.get(KEY_ENV, "").strip()
    if not key:
        raise ConfigError(f"give the group key: --group-key-file FILE or env {KEY_ENV}")
    return key


def worker_command(args: argparse.Namespace, settings: Settings) -> int:
    from console import logs
    from console.workers.protocol import check_group
    from console.workers.worker import Worker, WorkerConfig

    nats = nats_settings(args, required=True)
    assert nats is not None
    if args.capacity < 0:
        raise ConfigError(f"--capacity must be 0 or more, not {args.capacity}")
    logs.configure()
    config = WorkerConfig(
        group=check_group(args.group),
        nats=nats,
        name=args.name or os.environ.get("OPSCONSOLE_WORKER_NAME") or socket.gethostname(),
        group_key=group_key(args.group_key_file),
        capacity=args.capacity,
        ack_wait=args.ack_wait,
    )
    asyncio.run(_serve_until_signalled(Worker(config)))
    return 0


async def _serve_until_signalled(worker: Worker) -> None:
    """SIGTERM (systemd stop) or SIGINT ends the worker cleanly (see Worker.serve).
    Its commands are reaped through pidfds (see console.workers.child_reaping)."""
    from console.workers.child_reaping import reap_with_pidfds

    task = asyncio.current_task()
    assert task is not None
    loop = asyncio.get_running_loop()
    reap_with_pidfds(loop)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await worker.serve()
