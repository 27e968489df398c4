"""`opsconsole jobs list|show|stop`: job history and control.

Reading history needs no engine: with none running, the store is read directly,
holding the data-directory lock and after crash recovery (console.store.recovery).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from contextlib import ExitStack
from typing import Any

from console.cli.output import (
    job_detail,
    job_summary,
    local_time,
    print_host_runs,
    print_job_table,
    print_json,
    print_parameters,
    printable,
    stream_line,
)
from console.errors import ConfigError, UsageError
from console.jobs.model import STREAMS, JobStatus
from console.settings import Settings


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("jobs", help="list, show and stop jobs", parents=[common])
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)

    listing = actions.add_parser("list", help="list jobs, newest first", parents=[common])
    listing.add_argument("--status", type=_status, help="Queued, Running, Completed, ...")
    listing.add_argument("--runbook")
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(handler=list_jobs)

    show = actions.add_parser(
        "show", help="show a job, its host runs and streams", parents=[common]
    )
    show.add_argument("id")
    show.add_argument("--stream", choices=STREAMS, help="only this stream")
    show.add_argument("--json", action="store_true")
    show.set_defaults(handler=show_job)

    stop = actions.add_parser("stop", help="stop a queued or running job", parents=[common])
    stop.add_argument("id")
    stop.set_defaults(handler=stop_job)


def _status(text: str) -> JobStatus:
    for status in JobStatus:
        if status.value.lower() == text.lower():
            return status
    raise argparse.ArgumentTypeError(
        f"unknown status {text!r}; one of {', '.join(s.value for s in JobStatus)}"
    )


async def _reader(settings: Settings) -> Any:
    """An attached client, or, when no engine runs, the store itself, opened under the
    data-directory lock with crash recovery applied (so a job a killed engine left
    Running shows as Failed). An engine starting meanwhile wins the lock: attach."""
    from console.engine.connect import attach
    from console.store.lock import EngineRunning
    from console.store.recovery import open_recovered

    for _ in range(3):
        client = await attach(settings)
        if client is not None:
            return client
        stack = ExitStack()
        try:
            store = stack.enter_context(open_recovered(settings.data_dir))
        except EngineRunning:
            continue
        return _StoreReader(store, stack)
    raise ConfigError(f"could not read {settings.data_dir}: an engine keeps starting and stopping")


class _StoreReader:
    """The read-only part of the client interface, straight from the store."""

    def __init__(self, store: Any, owner: ExitStack) -> None:
        self.store = store
        self._owner = owner  # closes the store and releases the lock

    async def jobs(self, **query: Any) -> Any:
        return self.store.list_jobs(**query)

    async def job(self, job_id: str) -> Any:
        return self.store.get_job(job_id)

    async def streams(self, job_id: str, host: str | None = None, stream: str | None = None) -> Any:
        return self.store.read_streams(job_id, host=host, stream=stream)

    async def close(self) -> None:
        self._owner.close()


def list_jobs(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")

    async def go() -> int:
        reader = await _reader(settings)
        try:
            jobs = await reader.jobs(status=args.status, runbook=args.runbook, limit=args.limit)
        finally:
            await reader.close()
        if args.json:
            print_json([job_summary(j) for j in jobs])
        else:
            print_job_table(jobs)
        return 0

    return asyncio.run(go())


def show_job(args: argparse.Namespace, settings: Settings) -> int:
    async def go() -> int:
        reader = await _reader(settings)
        try:
            job = await reader.job(args.id)
            records = await reader.streams(args.id, stream=args.stream)
        finally:
            await reader.close()
        if args.json:
            print_json(job_detail(job, records))
            return 0
        ref = f" {job.trigger_ref}" if job.trigger_ref else ""
        print(
            printable(
                f"job {job.id}  {job.status.value}  runbook {job.runbook}  pattern {job.pattern}"
            )
        )
        print(
            f"  trigger {job.trigger.value}{printable(ref)}"
            f"  started by {printable(job.started_by)}"
            f"  created {local_time(job.created)}  started {local_time(job.started)}"
            f"  ended {local_time(job.ended)}"
        )
        print_parameters(job.parameters)
        if job.reason:
            print(f"  reason: {printable(job.reason)}")
        print_host_runs(job)
        width = max((len(h) for h in job.hosts), default=4)
        for record in records:
            print(stream_line(record, width))
        return 0

    return asyncio.run(go())


def stop_job(args: argparse.Namespace, settings: Settings) -> int:
    from console.engine.connect import engine_client

    async def go() -> int:
        async with engine_client(settings) as client:
            job = await client.stop_job(args.id)
        print(f"job {job.id} {job.status.value}", file=sys.stderr)
        return 0

    return asyncio.run(go())
