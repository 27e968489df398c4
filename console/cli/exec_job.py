"""`opsconsole exec` as a job: of the running engine, or of one started in this process.

Either way the command is recorded like any job (runbook `(command)`, trigger `cli`),
runs under the engine's runner (its limits, host keys, time limit and stream
classification) and is followed until it ends. So what exec prints and returns is the
same whether an engine was running or not: it is built from the job's stored output.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from console.engine.follow import JobFollower
from console.jobs.model import Job, JobStatus, StreamRecord, Trigger
from console.jobs.output_cap import DEFAULT_MAX_OUTPUT, OutputCap
from console.settings import Settings

# Kinds of error a host run ends with when its command ran to the end.
RAN_KINDS = ("", "exited_non_zero", "killed_by_signal")

# Called as (host, "stdout" or "stderr", line) for each line kept, as it arrives.
LinePrinter = Callable[[str, str, str], None]


@dataclass(frozen=True)
class HostResult:
    """How the command went on one host.

    `status` is `ok`, `failed` (ran, exited non-zero or was killed by a signal), or
    the kind of the error that kept it from running to the end (`unreachable`,
    `authentication_failed`, `host_key_unknown`, `host_key_changed`, `config_error`,
    `timed_out`, `cancelled`, `error`). `error` is `{"kind": ..., "message": ...}` or None.
    """

    host: str
    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    error: Mapping[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "duration": round(self.duration, 3),
            "error": dict(self.error) if self.error is not None else None,
        }


@dataclass
class _HostOutput:
    """One host's stdout (the Output stream) and stderr (every other stream), each
    capped at `--max-output` the way the runner caps what it records."""

    limit: int
    lines: dict[str, list[str]] = field(default_factory=lambda: {"stdout": [], "stderr": []})
    caps: dict[str, OutputCap] = field(default_factory=dict)

    def add(self, pipe: str, text: str) -> list[str]:
        cap = self.caps.get(pipe)
        if cap is None:
            cap = self.caps[pipe] = OutputCap(self.limit)
        kept = cap.add(text)
        self.lines[pipe] += kept
        return kept

    def text(self, pipe: str) -> str:
        return "".join(line + "\n" for line in self.lines[pipe])


class CommandOutput:
    """Collects the job's records per host as the follower shows them, prints the
    kept lines live, and makes the per-host results once the job has ended."""

    def __init__(self, limit: int, printer: Callable[[list[str]], LinePrinter] | None) -> None:
        self._limit = limit
        self._make_printer = printer
        self._printer: LinePrinter | None = None
        self._hosts: dict[str, _HostOutput] = {}

    def started(self, job: Job) -> None:
        """The job's hosts are known (before any record of it is shown)."""
        if self._make_printer is not None:
            self._printer = self._make_printer(job.hosts)

    def add(self, record: StreamRecord) -> None:
        pipe = "stdout" if record.stream == "output" else "stderr"
        host = self._hosts.get(record.host)
        if host is None:
            host = self._hosts[record.host] = _HostOutput(self._limit)
        for line in host.add(pipe, record.text):
            if self._printer is not None:
                self._printer(record.host, pipe, line)

    def results(self, job: Job) -> list[HostResult]:
        return [self._result(job, name) for name in job.hosts]

    def _result(self, job: Job, name: str) -> HostResult:
        run = job.host_runs[name]
        kind, message = run.error_kind or "", run.error or ""
        if run.status is JobStatus.COMPLETED:
            status = "ok"
        elif run.status is JobStatus.STOPPED:
            status = "cancelled"
        else:
            status = "failed" if kind in RAN_KINDS else kind
        output = self._hosts.get(name) or _HostOutput(self._limit)
        # From the job's start, like a user's wait: a host that never connected ran 0 s.
        begun = job.started or run.started or run.ended or 0.0
        return HostResult(
            host=name,
            status=status,
            exit_code=run.exit_code,
            stdout=output.text("stdout"),
            stderr=output.text("stderr"),
            duration=max((run.ended or begun) - begun, 0.0),
            error=None if status == "ok" else {"kind": kind or status, "message": message},
        )


async def run_command_job(
    settings: Settings,
    args: argparse.Namespace,
    command: str,
    printer: Callable[[list[str]], LinePrinter] | None,
) -> list[HostResult]:
    """Run `command` on `args.pattern` as a job and follow it to its end. With no
    engine running, a one-shot engine in this process runs it with `--forks`; an
    engine that runs already applies its own limits."""
    from console.engine.connect import engine_client, options_from_env

    options = options_from_env(forks=args.forks, services_on_request=True)
    output = CommandOutput(args.max_output or DEFAULT_MAX_OUTPUT, printer)
    async with (
        engine_client(settings, options) as client,
        JobFollower(client, output.add) as follower,
    ):
        job = await client.start_command(
            args.pattern, command, trigger=Trigger.CLI, timeout=args.timeout
        )
        output.started(job)
        final = await follower.follow(job.id)
    return output.results(final)
