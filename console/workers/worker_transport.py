"""The transport of a host routed to a worker group, for the engine's own steps.

A runbook on a routed host goes to a worker whole (one order per host run). The
engine's steps (desired-state checks and applies, update assessments and deployments,
inventory collection, the probe) are Python in the engine that runs commands through a
transport; for a host only a worker can reach, each of those commands becomes an order
of its own, run by any worker of the group with its own transport, its output and exit
status streamed back. So every step works on routed hosts unchanged, with the delivery
guarantees of docs/workers.md for each command.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING

from console.errors import HostError
from console.inventory.model import Host
from console.jobs.host_run import RunCallbacks, Work
from console.jobs.time_limit import TimeLimit
from console.runbooks.plugin_api import Invocation
from console.transports.base import ExitStatus, LineCallback, Transport

if TYPE_CHECKING:
    from console.workers.dispatch import GroupDispatch


class WorkerTransport(Transport):
    """Runs each command on `host` through one worker of `group`."""

    def __init__(self, host: Host, group: str, dispatch: GroupDispatch) -> None:
        super().__init__(host)
        self.group = group
        self._dispatch = dispatch

    async def connect(self) -> None:
        """No connection of its own; a missing NATS setting or group key fails here,
        before the host run takes a slot."""
        await self._dispatch.check_ready(self.host, self.group)

    async def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
    ) -> ExitStatus:
        invocation = Invocation(command=command, env=dict(env or {}), stdin=stdin)
        work = Work(build=lambda _host, _workdir: invocation, needs_workdir=False)
        calls = RunCallbacks(on_line or _ignore_line, _ignore, _ignore, _nothing)
        # Each command is an order of its own: a unique id, never a host run's.
        command_id = f"step-{uuid.uuid4().hex}"
        return await self._dispatch.run(
            command_id, self.host, self.group, work, TimeLimit(timeout), calls, {}
        )

    async def upload(self, data: bytes, remote_path: str, mode: int = 0o600) -> None:
        """The engine's steps upload nothing; a runbook's files travel in its order."""
        raise HostError(
            self.host.name,
            f"files cannot be uploaded to a host of worker group {self.group} from the "
            "engine; they travel with the runbook's order",
        )

    async def close(self) -> None:
        return None


def _ignore_line(stream: str, line: bytes) -> None:
    return None


def _ignore(text: str) -> None:
    return None


def _nothing() -> None:
    return None
