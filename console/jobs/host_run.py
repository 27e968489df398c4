"""One host run's execution: prepare the host, run the invocation within the job's
time limit, clean up, and record how it ended (`end_run`, the one place a host run
gets its final state and reason)."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from console.errors import ExitedNonZero, HostError, TimedOut
from console.inventory.model import Host
from console.jobs.model import KILLED_BY_SIGNAL_KIND, HostRun, JobStatus
from console.jobs.time_limit import TimeLimit
from console.runbooks.plugin_api import Invocation
from console.settings import Settings
from console.transports.base import ExitStatus, StreamName, Transport

# Work done by the engine itself on a host (a desired-state check, say): it runs its
# own commands over the transport within `seconds` (None: no limit), reports what a
# person should read through `on_line` (it becomes the job's streams), and returns
# the host run's exit status. The mapping is what the runner gives a runbook of the
# job on that host (a local host's job id and engine paths), for the runbooks a step
# starts itself (an update deployment's pre and post runbooks).
EngineStep = Callable[
    [
        Transport,
        Host,
        "float | None",
        Callable[[StreamName, bytes], None],
        Mapping[str, str],
    ],
    Awaitable[ExitStatus],
]


@dataclass(frozen=True)
class Work:
    """What a job runs on each host: a runbook's or command's invocation, built once the
    workdir exists, or an engine step (`step`), which needs no workdir."""

    build: Callable[[Host, str], Invocation] | None = None
    needs_workdir: bool = True
    step: EngineStep | None = None
    # Told when a host run fails on the host's side (unreachable, refused, timed out),
    # before or during the work: an engine step records that as its own result.
    host_failed: Callable[[Host, HostError], Awaitable[None]] | None = None


@dataclass(frozen=True)
class RunCallbacks:
    """What a run handed to a worker group tells the runner: it is queued (the reason
    to show), a worker started it, and each line, as a transport's `on_line` would."""

    on_line: Callable[[StreamName, bytes], None]
    on_started: Callable[[str], None]
    on_queued: Callable[[str], None]
    # The lines given so far are to be stored now (before the engine notes how far it got).
    flush: Callable[[], None]


class GroupRuns(Protocol):
    """Worker groups as the runner sees them (console.workers.routing): which group,
    if any, runs a host's runs, and running one there."""

    def group_of(self, host: Host) -> str | None: ...

    async def run(
        self,
        job_id: str,
        host: Host,
        group: str,
        work: Work,
        limit: TimeLimit,
        calls: RunCallbacks,
        env: Mapping[str, str],
        resume: bool = False,
    ) -> ExitStatus:
        """`env`: added to the invocation's environment (a local run's job token);
        `resume`: an engine restarted while this run was handed over: follow it on
        from where the last engine got."""
        ...


def queued_for_group(run: HostRun, touch: Callable[[], None], reason: str) -> None:
    """A run handed to a worker group shows why it waits, while it waits."""
    if run.status is JobStatus.QUEUED:
        run.error = reason
        touch()


def started_on_worker(run: HostRun, touch: Callable[[], None], worker: str) -> None:
    """A worker started the run (after an engine restart it may be Running already)."""
    run.error = None
    run.worker = worker
    if run.status is JobStatus.QUEUED:
        run.transition(JobStatus.STARTING)
        run.transition(JobStatus.RUNNING)
    touch()


def record_exit(run: HostRun, status: ExitStatus) -> None:
    run.exit_code = status.code
    if status.ok:
        run.transition(JobStatus.COMPLETED)
        return
    if status.signal is None:
        end_run(run, JobStatus.FAILED, ExitedNonZero.kind, f"exited with status {status.code}")
    else:
        end_run(run, JobStatus.FAILED, KILLED_BY_SIGNAL_KIND, f"killed by signal {status.signal}")


def end_run(run: HostRun, final: JobStatus, kind: str, message: str) -> None:
    """Finish a host run that has not finished, through the legal transitions, with
    why (`kind`, one of HOST_RUN_ERROR_KINDS) and a message for people."""
    if run.status.finished:
        return
    if final is JobStatus.STOPPED and run.status in (JobStatus.STARTING, JobStatus.RUNNING):
        run.transition(JobStatus.STOPPING)
    run.transition(final)
    run.fail_with(kind, message)


async def execute(
    transport: Transport,
    host: Host,
    work: Work,
    limit: TimeLimit,
    on_line: Callable[[StreamName, bytes], None],
    extra_env: Mapping[str, str],
) -> ExitStatus:
    """Create a private workdir, upload the invocation's files, run it, clean up; all
    within the job's time limit. An engine step runs as it is, within the limit."""
    if work.step is not None:
        return await work.step(transport, host, limit.left(), on_line, extra_env)
    assert work.build is not None, "a Work has an invocation or a step"
    workdir = ""
    if work.needs_workdir:
        workdir = await limit.bound(transport.make_workdir(), host, "not prepared within")
    try:
        invocation = work.build(host, workdir)
        for file_name, data, mode in invocation.uploads():
            upload = transport.upload(data, f"{workdir}/{file_name}", mode)
            await limit.bound(upload, host, "files not uploaded within")
        remaining = limit.left()
        if remaining == 0.0:
            raise TimedOut(host.name, "the job's time limit ran out before this host started")
        return await transport.run(
            invocation.command,
            stdin=invocation.stdin,
            env={**invocation.env, **extra_env},
            timeout=remaining,
            on_line=on_line,
        )
    finally:
        if workdir:
            await asyncio.shield(transport.remove_workdir(workdir))


def local_job_env(settings: Settings) -> dict[str, str]:
    """What a job on the console machine needs to start child runbooks: the engine's
    three paths (so `opsconsole run` attaches to this engine through its control socket)
    and a PATH that ends with this installation's scripts folder, so `opsconsole` is
    found even when the engine runs from a virtualenv that is not on PATH.

    Paths only, never the secret key or other settings: the local transport starts
    from a clean environment and adds just these and the job's own OPS_* variables.
    Knowing where the socket is grants nothing: the data directory is 0700 and the
    socket 0600, so only the engine's own user (whom a local job runs as anyway)
    can connect."""
    return {
        "OPSCONSOLE_INVENTORY": str(settings.inventory.resolve()),
        "OPSCONSOLE_DATA_DIR": str(settings.data_dir.resolve()),
        "OPSCONSOLE_RUNBOOKS": str(settings.runbooks.resolve()),
        "PATH": path_with_opsconsole(),
    }


def path_with_opsconsole() -> str:
    """This process's PATH, ending with this installation's scripts folder."""
    path = os.environ.get("PATH", os.defpath)
    scripts = os.path.dirname(sys.executable)
    if scripts not in path.split(os.pathsep):
        path = f"{path}{os.pathsep}{scripts}"
    return path
