"""The engine's side of desired state (`StateAdmin`): check and apply as jobs, their
reports, and node statuses.

A check or apply of one configuration is one job (runbook `(state check)` or
`(state apply)`, parameter `configuration`) over the configuration's target hosts,
so it shows in the Jobs pane, obeys `max_jobs`, `max_runs_per_host` and `forks`, can
be stopped, and keeps what it did in its streams. Each host run is an engine step
(`console.jobs.host_run.Work.step`): one round trip that checks (or applies) every
resource (`console.state.checks`, `console.state.apply`), records a report in the
`StateStore`, and writes a readable summary to the job's output: one line per
resource, each drift's diff below it. The host run completes when the check or apply
did its work (drift found is a NotCompliant report, not a failed run) and fails when it
could not (a Failed report), as an unreachable host's run fails.

Node status: Compliant / NotCompliant / Failed from the resources; Unresponsive when
the host could not be reached (the report says why, and the host run fails with the
transport's reason); Pending for an assigned host never checked. An apply whose
configuration changed since the host's last report made intentional changes; one
under the same configuration corrected drift (Puppet's distinction).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from pathlib import Path

from console.engine.job_building import STATE_APPLY_RUNBOOK, STATE_CHECK_RUNBOOK
from console.errors import HostError, OpsError, UsageError
from console.inventory.model import Host, Inventory
from console.jobs.host_run import Work
from console.jobs.model import Job, Trigger, default_starter, new_job_id
from console.state.apply import apply_resources
from console.state.checks import check_resources
from console.state.config import load_all
from console.state.model import (
    Configuration,
    ConfigurationInfo,
    NodeState,
    NodeStatus,
    Report,
    ResourceResult,
    ResourceStatus,
    node_status,
)
from console.state.store import StateStore
from console.transports.base import ExitStatus, StreamName, Transport

CHECK_RUNBOOK = STATE_CHECK_RUNBOOK
APPLY_RUNBOOK = STATE_APPLY_RUNBOOK

# A host that did not answer is Unresponsive; one that answered but refused the login,
# or whose check failed, is Failed (something on it needs fixing).
NO_ANSWER = frozenset({"unreachable", "timed_out"})
Submit = Callable[[Job, Work], Awaitable[None]]
OnLine = Callable[[StreamName, bytes], None]


class StateService:
    """`console.engine.client.StateAdmin` of the engine that owns the data directory."""

    def __init__(
        self,
        data_dir: Path,
        folder: Path | None,
        inventory: Callable[[], Inventory],
        submit: Submit,
    ) -> None:
        self._data_dir = data_dir
        self._folder = folder
        self._inventory = inventory
        self._submit = submit
        self._store: StateStore | None = None

    @property
    def store(self) -> StateStore:
        if self._store is None:
            self._store = StateStore(self._data_dir)
        return self._store

    # -- configurations -------------------------------------------------------------

    async def configurations(self) -> list[ConfigurationInfo]:
        return load_all(self._folder)[1]

    def loaded(self) -> list[Configuration]:
        """The configurations that parse (a broken file is listed by `configurations`)."""
        return load_all(self._folder)[0]

    def configuration(self, name: str) -> Configuration:
        configurations, infos = load_all(self._folder)
        for configuration in configurations:
            if configuration.name == name:
                return configuration
        for info in infos:
            if info.name == name:
                raise UsageError(f"configuration {name!r} cannot be used: {info.problem}")
        known = ", ".join(i.name for i in infos) or "none"
        where = self._folder or "(no configurations folder: --configurations DIR)"
        raise UsageError(f"no configuration {name!r} in {where} (configurations: {known})")

    def targets(self, configuration: Configuration, pattern: str | None = None) -> list[Host]:
        """The configuration's hosts, narrowed to those of `pattern`."""
        inventory = self._inventory()
        hosts = inventory.select(configuration.targets)
        if pattern is not None:
            wanted = {h.name for h in inventory.select(pattern)}
            hosts = [h for h in hosts if h.name in wanted]
        return hosts

    # -- check and apply, as jobs ---------------------------------------------------

    async def check(
        self, configuration: str | None = None, pattern: str | None = None
    ) -> list[Job]:
        chosen = self.loaded() if configuration is None else [self.configuration(configuration)]
        if configuration is None and not chosen:
            raise UsageError(f"no usable configuration in {self._folder or '(no folder)'}")
        jobs = [await self.start(c, "check", pattern, Trigger.CLI) for c in chosen]
        return [job for job in jobs if job is not None] or _nothing(pattern)

    async def apply(self, configuration: str, pattern: str | None = None) -> Job:
        job = await self.start(self.configuration(configuration), "apply", pattern, Trigger.CLI)
        return job if job is not None else _nothing(pattern)[0]

    async def start(
        self,
        configuration: Configuration,
        kind: str,
        pattern: str | None,
        trigger: Trigger,
        hosts: list[Host] | None = None,
    ) -> Job | None:
        """A check or apply job of `configuration` on its targets (or `hosts`); None
        when no host is left to run it on."""
        hosts = self.targets(configuration, pattern) if hosts is None else hosts
        if not hosts:
            return None
        runbook = CHECK_RUNBOOK if kind == "check" else APPLY_RUNBOOK
        ref = f"state:{configuration.name}" if trigger is Trigger.SCHEDULE else None
        job = Job(
            id=new_job_id(),
            runbook=runbook,
            pattern=pattern or configuration.targets,
            hosts=[h.name for h in hosts],
            parameters={"configuration": configuration.name},
            runbook_hash=configuration.digest,
            trigger=trigger,
            trigger_ref=ref,
            started_by=default_starter(trigger, ref),
        )
        await self._submit(job, self.work(configuration, kind, job.id))
        return job

    def work_for(self, job: Job) -> Work:
        """The work of a stored check/apply job (one queued when an engine stopped)."""
        configuration = self.configuration(str(job.parameters.get("configuration", "")))
        kind = "check" if job.runbook == CHECK_RUNBOOK else "apply"
        return self.work(configuration, kind, job.id)

    def work(self, configuration: Configuration, kind: str, job_id: str) -> Work:
        async def step(
            transport: Transport,
            host: Host,
            seconds: float | None,
            on_line: OnLine,
            _env: Mapping[str, str],
        ) -> ExitStatus:
            report = await self._run(configuration, kind, job_id, transport, host, seconds)
            for line in report_lines(report):
                on_line("stdout", line.encode())
            # A check that found drift did its job: the host run completes and the
            # report says NotCompliant; it fails when the check or apply itself failed.
            return ExitStatus(1 if report.status is NodeStatus.FAILED else 0)

        async def host_failed(host: Host, error: HostError) -> None:
            status = NodeStatus.UNRESPONSIVE if error.kind in NO_ANSWER else NodeStatus.FAILED
            report = self._report(configuration, kind, job_id, host)
            await self._record(
                replace(report, status=status, error=f"{error.kind}: {error.detail}")
            )

        return Work(step=step, needs_workdir=False, host_failed=host_failed)

    def _report(self, configuration: Configuration, kind: str, job_id: str, host: Host) -> Report:
        """A report of this run, Failed until the results say otherwise."""
        previous = self.store.summary(host.name, configuration.name)
        return Report(
            host=host.name,
            configuration=configuration.name,
            kind=kind,
            status=NodeStatus.FAILED,
            time=time.time(),
            job_id=job_id,
            digest=configuration.digest,
            intentional=kind == "apply"
            and previous is not None
            and previous.digest != configuration.digest,
        )

    async def _run(
        self,
        configuration: Configuration,
        kind: str,
        job_id: str,
        transport: Transport,
        host: Host,
        seconds: float | None,
    ) -> Report:
        base = self._report(configuration, kind, job_id, host)
        timeout = {"timeout": seconds} if seconds else {}
        try:
            if kind == "check":
                results = await check_resources(
                    transport, host.name, configuration.resources, **timeout
                )
            else:
                results = await apply_resources(
                    transport, host.name, configuration.resources, **timeout
                )
        except HostError:
            raise  # recorded by the work's host_failed, as when the host never answered
        except OpsError as error:
            report = replace(base, error=str(error))
            await self._record(report)
            return report
        report = replace(base, status=node_status(results), resources=tuple(results))
        await self._record(report)
        return report

    async def _record(self, report: Report) -> None:
        await asyncio.to_thread(self.store.record, report)

    # -- reading --------------------------------------------------------------------

    async def status(self) -> list[NodeState]:
        summaries = self.store.summaries()
        rows: list[NodeState] = []
        for configuration in self.loaded():
            for host in self.targets(configuration):
                summary = summaries.get((host.name, configuration.name))
                if summary is None:
                    rows.append(NodeState(host.name, configuration.name, NodeStatus.PENDING))
                else:
                    rows.append(
                        NodeState(
                            host.name,
                            configuration.name,
                            summary.status,
                            summary.time,
                            summary.drifted,
                            summary.job_id,
                        )
                    )
        return sorted(rows, key=lambda row: (row.host, row.configuration))

    async def report(self, host: str, configuration: str) -> Report | None:
        return self.store.latest(host, configuration)

    async def reports(self, host: str) -> list[Report]:
        if host not in self._inventory().hosts:
            raise UsageError(f"no host {host!r} in {self._inventory().path}")
        return self.store.latest_for_host(host)

    def apply_retention(self, days: float) -> int:
        """Drop status history older than `days`; 0 when nothing was ever checked."""
        if self._store is None and not (self._data_dir / "state").is_dir():
            return 0
        return self.store.apply_retention(days=days)


def _nothing(pattern: str | None) -> list[Job]:
    narrowed = f" and the pattern {pattern!r}" if pattern else ""
    raise UsageError(f"no host is targeted by the configuration{narrowed}")


def report_lines(report: Report) -> list[str]:
    """What a job's output says of one host's report: its status, then each resource,
    a drift's diff indented below it."""
    what = "apply" if report.kind == "apply" else "check"
    head = f"{report.configuration}: {report.status}"
    if report.error:
        head += f" ({report.error})"
    elif report.kind == "apply" and report.intentional:
        head += " (intentional changes: the configuration changed)"
    lines = [f"{what} {head}"]
    for result in report.resources:
        lines.append(f"  {result.status:<9} {result.resource}{_message(result)}")
        if result.status in (ResourceStatus.DRIFTED, ResourceStatus.CHANGED) and result.diff:
            lines += [f"      {line}" for line in result.diff.splitlines()]
    return lines


def _message(result: ResourceResult) -> str:
    return f": {result.message}" if result.message else ""
