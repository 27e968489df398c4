"""`opsconsole exec` while an engine runs: the command becomes a job of that engine.

Every console then sees it (trigger `cli`, runbook `(command)`), and the engine's
limits and host keys apply. The printed output and the `--json` result have the same
shape as the direct fan-out's.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from console.engine.connect import attach
from console.engine.follow import JobFollower
from console.errors import ConfigError
from console.jobs.fanout import DEFAULT_MAX_OUTPUT, HostResult, truncation_marker
from console.jobs.model import Job, JobStatus, StreamRecord, Trigger
from console.settings import Settings

Printer = Callable[[str, Any, str], None]


async def run_attached(
    settings: Settings, args: argparse.Namespace, command: str, printer: Printer | None
) -> list[HostResult]:
    client = await attach(settings)
    if client is None:
        raise ConfigError(f"the engine of {settings.data_dir} stopped; run the command again")
    try:

        def show(record: StreamRecord) -> None:
            if printer is not None:
                stream = "stdout" if record.stream == "output" else "stderr"
                printer(record.host, stream, record.text)

        async with JobFollower(client, show) as follower:
            job = await client.start_command(
                args.pattern, command, trigger=Trigger.CLI, timeout=args.timeout
            )
            final = await follower.follow(job.id)
        records = await client.streams(job.id)
    finally:
        await client.close()
    limit = args.max_output or DEFAULT_MAX_OUTPUT
    return [_result(final, host, records, limit) for host in final.hosts]


def _result(job: Job, host: str, records: list[StreamRecord], limit: int) -> HostResult:
    run = job.host_runs[host]
    kind, message = run.error_kind or "", run.error or ""
    if run.status is JobStatus.COMPLETED:
        status = "ok"
    elif run.status is JobStatus.STOPPED:
        status = "cancelled"
    else:
        status = "failed" if kind in ("", "exited_non_zero") else kind
    mine = [r for r in records if r.host == host]
    return HostResult(
        host=host,
        status=status,
        exit_code=run.exit_code,
        stdout=_capped([r.text for r in mine if r.stream == "output"], limit),
        stderr=_capped([r.text for r in mine if r.stream != "output"], limit),
        duration=(run.ended or 0.0) - (run.started or run.ended or 0.0),
        error=None if status == "ok" else {"kind": kind or status, "message": message},
    )


def _capped(lines: list[str], limit: int) -> str:
    text = "".join(line + "\n" for line in lines)
    if len(text.encode()) <= limit:
        return text
    return text.encode()[:limit].decode(errors="ignore") + truncation_marker(limit) + "\n"
