"""Which hosts run on worker groups, for the job runner; the NATS side is loaded only
when a routed host first runs, so an engine whose hosts all run in it never imports
nats-py (0.2 s of start-up) nor needs a NATS server."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from console.assets.model import AssetResolver
from console.inventory.model import Host
from console.jobs.host_run import RunCallbacks, Work
from console.jobs.time_limit import TimeLimit
from console.transports.base import ExitStatus, Transport
from console.workers.connection import NatsSettings
from console.workers.progress import RunProgress
from console.workers.protocol import check_group

if TYPE_CHECKING:
    from console.workers.child_requests import ChildHandler
    from console.workers.dispatch import GroupDispatch


class WorkerRouting:
    """`console.jobs.host_run.GroupRuns` for an engine: `nats` None means no NATS (a
    routed host run then fails, naming the setting); `worker_wait`: how long a run
    waits for an online worker of its group before it fails."""

    def __init__(
        self,
        nats: NatsSettings | None,
        assets: Callable[[], AssetResolver],
        data_dir: Path,
        worker_wait: float,
        children: ChildHandler | None = None,
    ) -> None:
        self._nats = nats
        self._children = children
        self._worker_wait = worker_wait
        self._assets = assets
        self._dispatch: GroupDispatch | None = None
        self.progress = RunProgress(data_dir)

    def group_of(self, host: Host) -> str | None:
        group = host.worker_group
        return check_group(group) if group else None

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
        after = self.progress.unfinished(job_id).get(host.name, 0) if resume else 0
        self.progress.handed_over(job_id, host.name, resume)  # followed again after a crash

        def applied(sequence: int) -> None:
            self.progress.record(job_id, host.name, sequence)

        try:
            return await self._dispatcher().run(
                job_id, host, group, work, limit, calls, env, after, applied
            )
        finally:
            self.progress.run_ended(job_id, host.name)

    def transport(self, host: Host, group: str) -> Transport:
        """The transport of the engine's own steps on a routed host: each command goes
        to the group (console.workers.worker_transport)."""
        from console.workers.worker_transport import WorkerTransport

        return WorkerTransport(host, group, self._dispatcher())

    def _dispatcher(self) -> GroupDispatch:
        if self._dispatch is None:
            from console.workers.credentials import credentials_for
            from console.workers.dispatch import GroupDispatch, group_key_from

            self._dispatch = GroupDispatch(
                self._nats,
                group_key_from(self._assets()),
                self._worker_wait,
                self._children,
                lambda host: credentials_for(host, self._assets()),
            )
        return self._dispatch

    def resumable(self, job_id: str) -> list[str]:
        """The hosts of `job_id` whose runs were handed to groups and had not ended."""
        return list(self.progress.unfinished(job_id))

    async def close(self) -> None:
        if self._dispatch is not None:
            await self._dispatch.close()
        self.progress.close()
