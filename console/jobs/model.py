"""Jobs: one start of a runbook against a target, with one host run per host.

States and their names follow Azure Automation. Every state change goes through
`Job.transition` / `HostRun.transition`, the one place that knows which changes
are legal, so a bug elsewhere cannot, say, resurrect a Stopped job.
"""

from __future__ import annotations

import os
import pwd
import random
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from console.errors import (
    AuthenticationFailed,
    Cancelled,
    ExitedNonZero,
    HostConfigError,
    HostError,
    HostKeyChanged,
    HostKeyUnknown,
    NoOnlineWorker,
    OpsError,
    TimedOut,
    Unreachable,
)

# Why a host run failed, as a stable machine-readable name: the HostError kinds, plus
# the reasons the runner and crash recovery give themselves.
INTERNAL_ERROR_KIND = "internal_error"
INTERRUPTED_KIND = "interrupted"
NOT_IN_INVENTORY_KIND = "not_in_inventory"
KILLED_BY_SIGNAL_KIND = "killed_by_signal"  # a host run a signal ended (exec shows it)
HOST_RUN_ERROR_KINDS = frozenset(
    cls.kind
    for cls in (
        HostError,
        HostConfigError,
        Unreachable,
        AuthenticationFailed,
        HostKeyUnknown,
        HostKeyChanged,
        TimedOut,
        Cancelled,
        ExitedNonZero,
        NoOnlineWorker,
    )
) | {INTERNAL_ERROR_KIND, INTERRUPTED_KIND, NOT_IN_INVENTORY_KIND, KILLED_BY_SIGNAL_KIND}


class JobStatus(StrEnum):
    QUEUED = "Queued"
    STARTING = "Starting"
    RUNNING = "Running"
    COMPLETED = "Completed"
    FAILED = "Failed"
    STOPPING = "Stopping"
    STOPPED = "Stopped"

    @property
    def finished(self) -> bool:
        return self in (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPED)


_ALLOWED: dict[JobStatus, frozenset[JobStatus]] = {
    JobStatus.QUEUED: frozenset(
        {JobStatus.STARTING, JobStatus.STOPPING, JobStatus.STOPPED, JobStatus.FAILED}
    ),
    JobStatus.STARTING: frozenset({JobStatus.RUNNING, JobStatus.FAILED, JobStatus.STOPPING}),
    JobStatus.RUNNING: frozenset({JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.STOPPING}),
    JobStatus.STOPPING: frozenset({JobStatus.STOPPED, JobStatus.FAILED}),
    JobStatus.COMPLETED: frozenset(),
    JobStatus.FAILED: frozenset(),
    JobStatus.STOPPED: frozenset(),
}


class InvalidTransition(OpsError):
    """A state change the job model does not allow (a bug, not a user error)."""


def check_transition(current: JobStatus, new: JobStatus) -> None:
    if new not in _ALLOWED[current]:
        raise InvalidTransition(f"a job cannot go from {current.value} to {new.value}")


class Trigger(StrEnum):
    """Who started a job."""

    MANUAL = "manual"  # the console
    CLI = "cli"
    SCHEDULE = "schedule"
    WEBHOOK = "webhook"
    PARENT = "parent"  # a running job started this one
    ALERT = "alert"  # a change-tracking alert (trigger_ref: the alert's name)


UNKNOWN_STARTER = "unknown"  # jobs stored before `started_by` was recorded


def user_name(uid: int) -> str:
    """The login name of a Unix user id (the number itself when it has no name)."""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def default_starter(trigger: Trigger, trigger_ref: str | None) -> str:
    """Who started a job when no other process vouches for someone: the schedule, the
    webhook, the parent job or the alert that fired it, else the user this engine runs as."""
    prefix = {
        Trigger.SCHEDULE: "schedule",
        Trigger.WEBHOOK: "webhook",
        Trigger.PARENT: "job",
        Trigger.ALERT: "alert",
    }
    if trigger in prefix:
        return f"{prefix[trigger]}:{trigger_ref}"
    return user_name(os.getuid())


_last_id_ms = 0


def new_job_id(now: float | None = None) -> str:
    """A job id that sorts by creation time: 12 hex digits of milliseconds since the
    epoch, then 8 random hex digits. Strictly increasing within one process."""
    global _last_id_ms
    ms = int((time.time() if now is None else now) * 1000)
    if now is None:
        ms = max(ms, _last_id_ms + 1)
        _last_id_ms = ms
    # Not a secret, only unique: the process's seeded PRNG makes no system call, where
    # os.urandom would make one per job in a webhook flood.
    return f"{ms:012x}{random.getrandbits(32):08x}"


def job_id_time(job_id: str) -> float:
    """The creation time encoded in a job id (seconds since the epoch)."""
    return int(job_id[:12], 16) / 1000


@dataclass
class HostRun:
    host: str
    status: JobStatus = JobStatus.QUEUED
    exit_code: int | None = None
    error_kind: str | None = None  # why it failed, one of HOST_RUN_ERROR_KINDS
    error: str | None = None  # the message for a person, e.g. "connection refused"
    started: float | None = None
    ended: float | None = None
    worker: str | None = None  # the worker that ran it (worker groups), else None

    def transition(self, new: JobStatus, now: float | None = None) -> None:
        check_transition(self.status, new)
        self.status = new
        stamp = time.time() if now is None else now
        if new is JobStatus.RUNNING and self.started is None:
            self.started = stamp
        if new.finished:
            self.ended = stamp

    def fail_with(self, kind: str, message: str) -> None:
        """Record why the run failed, unless a reason is already recorded (the first
        reason is the cause; later ones, such as the job being stopped, are effects)."""
        if self.error_kind is None and self.error is None:
            self.error_kind, self.error = kind, message

    @property
    def error_text(self) -> str | None:
        """The reason as people read it: "kind: message"."""
        if self.error_kind is None:
            return self.error
        return f"{self.error_kind}: {self.error}" if self.error else self.error_kind

    def copy(self) -> HostRun:
        """A snapshot (all fields are immutable values, so a shallow copy is whole)."""
        new = object.__new__(HostRun)
        new.__dict__.update(self.__dict__)
        return new

    def to_dict(self) -> dict[str, Any]:
        data = {
            "host": self.host,
            "status": self.status.value,
            "exit_code": self.exit_code,
            "error_kind": self.error_kind,
            "error": self.error,
            "started": self.started,
            "ended": self.ended,
        }
        if self.worker is not None:  # only runs on a worker carry it: records stay as they were
            data["worker"] = self.worker
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostRun:
        kind, error = data.get("error_kind"), data.get("error")
        if kind is None and error is not None:
            kind, error = split_error_text(error)
        return cls(
            host=data["host"],
            status=JobStatus(data["status"]),
            exit_code=data.get("exit_code"),
            error_kind=kind,
            error=error,
            started=data.get("started"),
            ended=data.get("ended"),
            worker=data.get("worker"),
        )


def split_error_text(text: str) -> tuple[str | None, str]:
    """A stored "kind: message" (jobs written before the kind had its own field) as
    (kind, message); text that does not start with a known kind is all message."""
    kind, sep, message = text.partition(": ")
    if sep and kind in HOST_RUN_ERROR_KINDS:
        return kind, message
    return None, text


@dataclass
class Job:
    id: str
    runbook: str
    pattern: str
    hosts: list[str]
    parameters: dict[str, Any] = field(default_factory=dict)
    runbook_hash: str = ""
    trigger: Trigger = Trigger.MANUAL
    trigger_ref: str | None = None  # schedule or webhook name, or the parent job id
    # Who: a Unix user ("alice"), "schedule:NAME", "webhook:NAME" or "job:PARENT_ID".
    started_by: str = UNKNOWN_STARTER
    status: JobStatus = JobStatus.QUEUED
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    reason: str | None = None  # why it failed or stopped, when not a host's own error
    host_runs: dict[str, HostRun] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for host in self.hosts:
            self.host_runs.setdefault(host, HostRun(host))

    def transition(
        self, new: JobStatus, reason: str | None = None, now: float | None = None
    ) -> None:
        check_transition(self.status, new)
        self.status = new
        stamp = time.time() if now is None else now
        if new is JobStatus.STARTING and self.started is None:
            self.started = stamp
        if new.finished:
            self.ended = stamp
        if reason:
            self.reason = reason

    def outcome(self) -> JobStatus:
        """Completed when every host run completed, else Failed (Azure's rule)."""
        runs = self.host_runs.values()
        return (
            JobStatus.COMPLETED
            if all(r.status is JobStatus.COMPLETED for r in runs)
            else JobStatus.FAILED
        )

    def failed_hosts(self) -> list[str]:
        return [
            h
            for h, r in self.host_runs.items()
            if r.status in (JobStatus.FAILED, JobStatus.STOPPED)
        ]

    @property
    def duration(self) -> float | None:
        if self.started is None:
            return None
        return (self.ended or time.time()) - self.started

    def copy(self) -> Job:
        """A snapshot: its lists, parameters (one level) and host runs are its own.

        Built field by field rather than with `dataclasses.replace`, which re-runs
        `__init__` and `__post_init__`: the engine copies a job on every event it
        publishes, and this is about four times cheaper."""
        new = object.__new__(Job)
        new.__dict__.update(self.__dict__)
        new.hosts = list(self.hosts)
        new.parameters = dict(self.parameters)
        new.host_runs = {h: r.copy() for h, r in self.host_runs.items()}
        return new

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "runbook": self.runbook,
            "runbook_hash": self.runbook_hash,
            "pattern": self.pattern,
            "hosts": list(self.hosts),
            "parameters": self.parameters,
            "trigger": self.trigger.value,
            "trigger_ref": self.trigger_ref,
            "started_by": self.started_by,
            "status": self.status.value,
            "created": self.created,
            "started": self.started,
            "ended": self.ended,
            "reason": self.reason,
            "host_runs": [r.to_dict() for r in self.host_runs.values()],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Job:
        runs = [HostRun.from_dict(r) for r in data.get("host_runs", [])]
        return cls(
            id=data["id"],
            runbook=data["runbook"],
            runbook_hash=data.get("runbook_hash", ""),
            pattern=data["pattern"],
            hosts=list(data["hosts"]),
            parameters=dict(data.get("parameters") or {}),
            trigger=Trigger(data.get("trigger", "manual")),
            trigger_ref=data.get("trigger_ref"),
            started_by=data.get("started_by") or UNKNOWN_STARTER,
            status=JobStatus(data["status"]),
            created=data["created"],
            started=data.get("started"),
            ended=data.get("ended"),
            reason=data.get("reason"),
            host_runs={r.host: r for r in runs},
        )


STREAMS = ("output", "error", "warning", "verbose", "progress", "debug")


@dataclass(frozen=True)
class StreamRecord:
    """One line of a job's output: which host, which stream, when, what."""

    time: float
    host: str
    stream: str  # one of STREAMS
    text: str

    def to_dict(self) -> dict[str, Any]:
        return {"time": self.time, "host": self.host, "stream": self.stream, "text": self.text}
