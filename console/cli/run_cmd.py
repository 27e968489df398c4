"""`opsconsole run RUNBOOK PATTERN`: start a runbook, follow its streams, exit 0/1.

Inside a running job (the engine sets OPS_JOB_ID and OPS_JOB_TOKEN on its local host
runs), the new job records that job as its parent, which is how a runbook starts a
child runbook and waits for its result; the engine checks the token.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from console.cli.assignments import parse_assignments
from console.cli.job_target import add_target_arguments, given_target
from console.cli.output import (
    job_detail,
    print_host_runs,
    print_json,
    printable,
    stream_line,
)
from console.engine.follow import JobFollower
from console.errors import EXIT_FAILED, EXIT_OK, UsageError
from console.jobs.model import Job, JobStatus, StreamRecord, Trigger
from console.settings import Settings

if TYPE_CHECKING:
    from console.engine.client import EngineClient
    from console.engine.remote import RemoteClient


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("run", help="run a runbook on the hosts of a pattern", parents=[common])
    parser.add_argument("runbook")
    add_target_arguments(parser, "hosts (default: the runbook's target)")
    parser.add_argument(
        "-p",
        "--param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a runbook parameter (repeatable)",
    )
    parser.add_argument(
        "--param-file",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a runbook parameter read from a UTF-8 file, for values too long for a command line",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the finished job as JSON instead of live output"
    )
    parser.add_argument(
        "--no-wait", action="store_true", help="print the job id and return at once"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="stop the job after this long (default: the runbook's own)",
    )
    parser.set_defaults(handler=run_runbook)


def read_param_files(values: list[str]) -> dict[str, str]:
    """`--param-file NAME=PATH`: the file's text is the value (Linux refuses a single
    command-line argument over 128 KiB, so big values cannot come through `-p`)."""
    params: dict[str, str] = {}
    for name, path in parse_assignments(values, "--param-file").items():
        try:
            params[name] = Path(path).read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--param-file {name}={path}: cannot be read: {exc}") from None
    return params


def run_runbook(args: argparse.Namespace, settings: Settings) -> int:
    params = {**parse_assignments(args.param), **read_param_files(args.param_file)}
    parent = os.environ.get("OPS_JOB_ID")
    trigger = Trigger.PARENT if parent else Trigger.CLI
    if args.no_wait:
        return asyncio.run(_start_detached(args, settings, params, trigger, parent))
    return asyncio.run(_run_and_follow(args, settings, params, trigger, parent))


async def _start(
    client: EngineClient,
    args: argparse.Namespace,
    params: dict[str, str],
    trigger: Trigger,
    parent: str | None,
) -> Job:
    pattern = given_target(args) or await _default_target(client, args.runbook)
    return await client.start_job(
        args.runbook,
        pattern,
        params,
        trigger=trigger,
        trigger_ref=parent,
        timeout=args.timeout,
        parent_token=os.environ.get("OPS_JOB_TOKEN", "") if parent else None,
    )


async def _default_target(client: EngineClient, runbook: str) -> str:
    for info in await client.runbooks():
        if info.name == runbook and info.target:
            return str(info.target)
    raise UsageError(f"give a PATTERN: runbook {runbook!r} declares no default target")


async def _start_detached(
    args: argparse.Namespace,
    settings: Settings,
    params: dict[str, str],
    trigger: Trigger,
    parent: str | None,
) -> int:
    """--no-wait: the job must outlive this command, so it needs an engine that stays."""
    from console.engine.connect import attach, spawn_background_engine

    client = await attach(settings)
    if client is None:
        spawn_background_engine(settings)
        client = await _wait_for_background_engine(settings)
    try:
        job = await _start(client, args, params, trigger, parent)
    finally:
        await client.close()
    if args.json:
        print_json({"id": job.id, "status": job.status.value, "hosts": job.hosts})
    else:
        print(job.id)
    return EXIT_OK


async def _wait_for_background_engine(settings: Settings, timeout: float = 10.0) -> RemoteClient:
    """Attach to the engine just spawned. Until it takes the lock there is nothing to
    attach to; once it has, `attach` waits for its control socket to answer (an
    attach that does not wait fails while the engine is still starting up)."""
    from console.engine.connect import attach

    deadline = asyncio.get_running_loop().time() + timeout
    while (client := await attach(settings)) is None:
        if asyncio.get_running_loop().time() > deadline:
            raise UsageError(
                f"the background engine did not start; see "
                f"{settings.data_dir / 'background-engine.log'}"
            )
        await asyncio.sleep(0.05)
    return client


async def _run_and_follow(
    args: argparse.Namespace,
    settings: Settings,
    params: dict[str, str],
    trigger: Trigger,
    parent: str | None,
) -> int:
    from console.engine.connect import engine_client

    async with engine_client(settings) as client:
        width = 8

        def show(record: StreamRecord) -> None:
            target = sys.stdout if record.stream == "output" else sys.stderr
            print(stream_line(record, width), file=target, flush=True)

        async with JobFollower(client, None if args.json else show) as follower:
            job = await _start(client, args, params, trigger, parent)
            width = max(len(h) for h in job.hosts)
            try:
                final = await follower.follow(job.id)
            except asyncio.CancelledError:
                if not client.is_attached:
                    await client.stop_job(job.id)
                raise
        if args.json:
            print_json(job_detail(final, await client.streams(job.id)))
        else:
            _print_summary(final)
        return EXIT_OK if final.status is JobStatus.COMPLETED else EXIT_FAILED


def _print_summary(job: Job) -> None:
    counts: dict[str, int] = {}
    for run in job.host_runs.values():
        counts[run.status.value] = counts.get(run.status.value, 0) + 1
    tally = ", ".join(f"{n} {status.lower()}" for status, n in sorted(counts.items()))
    reason = f" ({printable(job.reason)})" if job.reason else ""
    print(f"job {job.id} {job.status.value}: {tally}{reason}", file=sys.stderr)
    if job.status is not JobStatus.COMPLETED:
        print_host_runs(job)
