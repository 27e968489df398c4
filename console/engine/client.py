"""The one interface the console UI and the CLI use to talk to an engine.

It is the same whether the engine runs in-process (the TUI started it) or in another
process (`opsconsole serve`, reached over the control socket). The UI holds no business
logic: everything it shows or does goes through these calls.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from console.inventory.model import Host
from console.jobs.events import EventCallback
from console.jobs.model import Job, JobStatus, StreamRecord, Trigger


@dataclass(frozen=True)
class ParameterInfo:
    name: str
    type: str  # string, int, float, bool, choice, list, json, credential
    required: bool = False
    default: Any = None
    choices: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class RunbookInfo:
    name: str
    language: str
    path: str
    description: str = ""
    target: str | None = None
    timeout: float | None = None
    parameters: tuple[ParameterInfo, ...] = ()


@dataclass(frozen=True)
class HostProbe:
    """The result of a cheap reachability probe: is it up, and what OS it runs."""

    host: str
    reachable: bool
    os: str = ""
    error: str = ""
    checked: float = 0.0


class EngineClient(Protocol):
    # True when the engine runs in another process (`opsconsole serve`): quitting this
    # client then leaves its jobs running. False for the engine inside this process.
    is_attached: bool

    def hosts(self, pattern: str = "all") -> list[Host]:
        """Hosts matching an Ansible pattern (raises UsageError for a bad pattern)."""

    async def probe(self, hosts: Sequence[str]) -> list[HostProbe]: ...

    async def runbooks(self) -> list[RunbookInfo]: ...

    async def check_parameters(self, runbook: str, raw: Mapping[str, str]) -> dict[str, Any]:
        """Typed values for the raw strings, or UsageError naming the parameter and reason."""

    async def start_job(
        self,
        runbook: str,
        pattern: str,
        raw_parameters: Mapping[str, str],
        trigger: Trigger = Trigger.MANUAL,
    ) -> Job: ...

    async def start_command(
        self, pattern: str, command: str, trigger: Trigger = Trigger.MANUAL
    ) -> Job:
        """An ad-hoc command, recorded as a job of the pseudo-runbook `(command)`."""

    async def stop_job(self, job_id: str) -> Job: ...

    async def rerun_job(self, job_id: str, failed_only: bool = False) -> Job: ...

    async def jobs(
        self,
        *,
        status: JobStatus | Collection[JobStatus] | None = None,
        runbook: str | None = None,
        host: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Job]:
        """Newest first; page with `before_id` (the last id of the previous page).
        `status` is one status or several (any of them); `host` keeps jobs that ran on
        that host, reading as much history as it takes to find `limit` of them."""

    async def job(self, job_id: str) -> Job: ...

    async def streams(
        self, job_id: str, host: str | None = None, stream: str | None = None
    ) -> list[StreamRecord]: ...

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        """Call `callback` on every engine event; returns a function that unsubscribes."""
