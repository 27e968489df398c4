"""A deterministic, in-memory EngineClient for rendering tests (snapshots, layout).

Snapshots need the same pixels on every run: fixed hosts, fixed job ids and clock,
no network. Behaviour (running, stopping, rerunning jobs) is tested against the real
engine and a real sshd fleet in test_behaviour.py; this client only serves data.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from console.client import EngineEvent, EventCallback, HostProbe, ParameterInfo, RunbookInfo
from console.errors import UsageError
from console.inventory.model import Host
from console.jobs import HostRun, Job, JobStatus, StreamRecord, Trigger

T0 = 1_714_564_800.0  # 2024-05-01 12:00:00 UTC


def sample_hosts() -> list[Host]:
    def host(name: str, groups: tuple[str, ...], **vars: Any) -> Host:
        return Host(name, {"ansible_host": vars.pop("addr"), **vars}, ("all", *groups))

    return [
        host("web01", ("web", "prod"), addr="10.0.1.11", console_tags="frontend"),
        host("web02", ("web", "prod"), addr="10.0.1.12"),
        host("web03", ("web", "prod"), addr="10.0.1.13"),
        host("db01", ("db", "prod"), addr="10.0.2.21", ansible_user="postgres"),
        host("db02", ("db", "prod"), addr="10.0.2.22"),
        host("stage-web01", ("web", "staging"), addr="10.0.9.11"),
        host("win01", ("windows", "prod"), addr="10.0.3.31", ansible_connection="winrm"),
        host("build", ("tools",), addr="127.0.0.1", ansible_connection="local"),
    ]


def sample_runbooks() -> list[RunbookInfo]:
    return [
        RunbookInfo("restart-service", "shell", "runbooks/restart-service.sh",
                    "Restart a systemd unit", "web",
                    parameters=(ParameterInfo("service", "string", True,
                                              description="unit name"),
                                ParameterInfo("delay", "int", False, 0),
                                ParameterInfo("mode", "choice", False, "restart",
                                              ("restart", "reload")))),
        RunbookInfo("disk-usage", "shell", "runbooks/disk-usage.sh", "Report disk usage"),
        RunbookInfo("patch-report", "python", "runbooks/patch-report.py",
                    "List pending updates"),
    ]


def _job(n: int, runbook: str, pattern: str, hosts: list[str], status: JobStatus,
         failed: Sequence[str] = (), trigger: Trigger = Trigger.MANUAL) -> Job:
    start = T0 + n * 600
    job = Job(id=f"{int(start * 1000):012x}{n:08x}", runbook=runbook, pattern=pattern,
              hosts=hosts, trigger=trigger, status=status, created=start,
              started=None if status is JobStatus.QUEUED else start,
              ended=start + 12 + n if status.finished else None)
    for name in hosts:
        done = status.finished
        bad = name in failed
        run_status = (JobStatus.FAILED if bad else JobStatus.COMPLETED) if done else status
        job.host_runs[name] = HostRun(name, run_status, (1 if bad else 0) if done else None,
                                      "exited_non_zero: status 1" if bad else None,
                                      start, start + 5 if done else None)
    return job


def sample_jobs() -> list[Job]:
    """Newest first, as `jobs()` returns them."""
    web = ["web01", "web02", "web03"]
    return [
        _job(5, "patch-report", "prod", ["web01", "db01"], JobStatus.QUEUED,
             trigger=Trigger.SCHEDULE),
        _job(4, "restart-service", "web", web, JobStatus.FAILED, failed=["web03"]),
        _job(3, "(command)", "db", ["db01", "db02"], JobStatus.COMPLETED),
        _job(2, "disk-usage", "all", ["web01", "db01", "build"], JobStatus.COMPLETED,
             trigger=Trigger.WEBHOOK),
        _job(1, "restart-service", "stage-web01", ["stage-web01"], JobStatus.STOPPED),
    ]


def sample_streams(job: Job) -> list[StreamRecord]:
    records = []
    for i, host in enumerate(job.hosts):
        t = (job.started or T0) + i
        records += [
            StreamRecord(t, host, "verbose", f"connecting to {host}"),
            StreamRecord(t + 0.1, host, "output", "Restarting nginx.service"),
            StreamRecord(t + 0.2, host, "warning", "config test printed 1 warning"),
            StreamRecord(t + 0.3, host, "progress", "50% done"),
            StreamRecord(t + 0.4, host, "debug", "pid 4242"),
        ]
        run = job.host_runs[host]
        if run.status is JobStatus.FAILED:
            records.append(StreamRecord(t + 0.5, host, "error", "Job for nginx failed."))
        else:
            records.append(StreamRecord(t + 0.5, host, "output", "active (running)"))
    return records


class SampleClient:
    """Serves the sample data; pattern support: names, groups, globs, `:`, `:&`, `:!`."""

    is_attached = False

    def __init__(self, hosts: list[Host] | None = None, jobs: list[Job] | None = None) -> None:
        self._hosts = hosts if hosts is not None else sample_hosts()
        self._jobs = jobs if jobs is not None else sample_jobs()
        self._callbacks: list[EventCallback] = []

    def _atom(self, atom: str) -> set[str]:
        if atom == "all" or atom == "*":
            return {h.name for h in self._hosts}
        found = {h.name for h in self._hosts
                 if fnmatch.fnmatchcase(h.name, atom) or atom in h.groups}
        if not found and not any(c in atom for c in "*?["):
            raise UsageError(f"no host or group matches {atom!r}")
        return found

    def hosts(self, pattern: str = "all") -> list[Host]:
        selected: set[str] = set()
        for part in (p for p in pattern.replace(",", ":").split(":") if p):
            if part.startswith("&"):
                selected &= self._atom(part[1:])
            elif part.startswith("!"):
                selected -= self._atom(part[1:])
            else:
                selected |= self._atom(part)
        return [h for h in self._hosts if h.name in selected]

    async def probe(self, hosts: Sequence[str]) -> list[HostProbe]:
        return [HostProbe(h, not h.startswith("win"), "" if h.startswith("win") else
                          "Debian 12", "unreachable: timed out" if h.startswith("win") else "",
                          T0) for h in hosts]

    async def runbooks(self) -> list[RunbookInfo]:
        return sample_runbooks()

    async def check_parameters(self, runbook: str, raw: Mapping[str, str]) -> dict[str, Any]:
        return dict(raw)

    async def start_job(self, runbook: str, pattern: str, raw_parameters: Mapping[str, str],
                        trigger: Trigger = Trigger.MANUAL) -> Job:
        raise UsageError("the sample client does not run jobs")

    async def start_command(self, pattern: str, command: str,
                            trigger: Trigger = Trigger.MANUAL) -> Job:
        raise UsageError("the sample client does not run jobs")

    async def stop_job(self, job_id: str) -> Job:
        raise UsageError("the sample client does not run jobs")

    async def rerun_job(self, job_id: str, failed_only: bool = False) -> Job:
        raise UsageError("the sample client does not run jobs")

    async def jobs(self, *, status: JobStatus | None = None, runbook: str | None = None,
                   limit: int = 200, before_id: str | None = None) -> list[Job]:
        found = [j for j in self._jobs
                 if (status is None or j.status is status)
                 and (runbook is None or j.runbook == runbook)
                 and (before_id is None or j.id < before_id)]
        return found[:limit]

    async def job(self, job_id: str) -> Job:
        return next(j for j in self._jobs if j.id == job_id)

    async def streams(self, job_id: str, host: str | None = None,
                      stream: str | None = None) -> list[StreamRecord]:
        return [r for r in sample_streams(await self.job(job_id))
                if host in (None, r.host) and stream in (None, r.stream)]

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        self._callbacks.append(callback)
        return lambda: self._callbacks.remove(callback)

    def emit(self, event: EngineEvent) -> None:
        for callback in list(self._callbacks):
            callback(event)
