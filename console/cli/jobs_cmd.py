"""`opsconsole jobs list|show|stop`: job history and control.

Through the engine client like every command. With no engine running, reading history
starts a read-only one (`reader_options`): it holds the data-directory lock as a
reader, applies crash recovery (a job a killed engine left Running shows as Failed)
and starts no job, so a Queued job stays Queued for the next engine.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

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
from console.errors import UsageError
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


def list_jobs(args: argparse.Namespace, settings: Settings) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")

    from console.engine.connect import engine_client, reader_options

    async def go() -> int:
        async with engine_client(settings, reader_options()) as client:
            jobs = await client.jobs(status=args.status, runbook=args.runbook, limit=args.limit)
        if args.json:
            print_json([job_summary(j) for j in jobs])
        else:
            print_job_table(jobs)
        return 0

    return asyncio.run(go())


def show_job(args: argparse.Namespace, settings: Settings) -> int:
    from console.engine.connect import engine_client, reader_options

    async def go() -> int:
        async with engine_client(settings, reader_options()) as client:
            job = await client.job(args.id)
            records = await client.streams(args.id, stream=args.stream)
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
