"""The engine: the one owner of a data directory, and the in-process EngineClient.

It wires the inventory, runbook catalog, transports, store and job runner together;
its trigger side (scheduler, webhook listener, retention, control API) is in
`console.engine.services`. It holds the data
directory's exclusive lock for its whole life, so two engines can never run jobs or
write the store of one directory. The console UI and the CLI use it through the
`EngineClient` interface; an attached client (`console.engine.remote`) offers the same calls
over the control socket.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from console.assets.masking import SecretMasker
from console.engine.asset_wiring import open_vault
from console.engine.client import HostProbe, RunbookInfo
from console.engine.job_building import (
    COMMAND_RUNBOOK,
    STATE_APPLY_RUNBOOK,
    STATE_CHECK_RUNBOOK,
    UPDATES_ASSESS_RUNBOOK,
    UPDATES_DEPLOY_RUNBOOK,
    JobBuilder,
)
from console.engine.local_workdirs import fresh_local_workdirs
from console.engine.options import EngineOptions
from console.engine.probe import probe_host
from console.engine.services import EngineParts, EngineServices
from console.engine.wire import runbook_info
from console.engine.worker_children import WorkerChildren
from console.errors import OpsError, UsageError
from console.inventory.live import LiveInventory
from console.inventory.model import Host, Inventory
from console.jobs.events import EngineEvent, EventCallback, EventHub
from console.jobs.host_run import Work, local_job_env
from console.jobs.model import Job, JobStatus, StreamRecord, Trigger
from console.jobs.runner import JobRunner
from console.runbooks.catalog import RunbookCatalog
from console.runbooks.parameters import parse_values
from console.settings import Settings
from console.store import Store
from console.store.job_records import JobNotFound
from console.store.lock import DataDirLock
from console.store.recovery import INTERRUPTED, fail_job, recover_interrupted
from console.store.writer import StoreWriter
from console.transports.base import Transport
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from console.workers.protocol import run_on_host
from console.workers.routing import WorkerRouting

if TYPE_CHECKING:  # imported where used: a one-shot engine never loads aiohttp or croniter
    from console.assets.vault import AssetVault
    from console.engine.inventory_data import InventoryData
    from console.engine.state_service import StateService
    from console.engine.updates_service import UpdatesService
    from console.schedules.book import ScheduleBook
    from console.webhooks.service import WebhookService

log = logging.getLogger(__name__)

SELECTIONS_KEPT = 256  # host patterns whose selection is kept (typed filters come and go)


class Engine:
    """Runs jobs for one data directory; implements `console.engine.client.EngineClient`."""

    is_attached = False

    def __init__(
        self,
        settings: Settings,
        options: EngineOptions | None = None,
        pool: TransportPool | None = None,
    ) -> None:
        self.settings = settings
        self.options = options or EngineOptions()
        self._lock = DataDirLock(settings.data_dir)
        self._pool = pool
        self.events = EventHub()
        self.store: Store | None = None
        self._writer: StoreWriter | None = None
        self.runner: JobRunner | None = None
        self._inventory = LiveInventory(settings.inventory)
        self._selected_from: Inventory | None = None  # the inventory `_selected` is of
        self._selected: dict[str, list[Host]] = {}  # pattern -> its hosts
        self.catalog = RunbookCatalog(settings.runbooks)
        self._builder = JobBuilder(self.catalog, self._select_for_job, lambda: self._vault)
        self._services: EngineServices | None = None
        self._vault: AssetVault | None = None
        self._inventory_data: InventoryData | None = None
        self._state: StateService | None = None
        self._updates: UpdatesService | None = None
        self._accepting = False
        self._routing = WorkerRouting(
            self.options.nats,
            lambda: self.assets,
            settings.data_dir,
            self.options.worker_wait,
            WorkerChildren(self, self.check_parent),
        )

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        read_only = self.options.read_only
        self._lock.acquire(reader=read_only)
        try:
            self.store = Store(self.settings.data_dir)
            self._writer = StoreWriter(self.store)
            self._vault = open_vault(self)
            if not read_only:
                self._inventory.current()  # a broken inventory stops the engine at once
            if self._pool is None:
                self._pool = TransportPool(forks=self.options.forks, resolve_host=self._host_named)
            if self._pool.assets is None:  # hosts log in and become with its credentials
                self._pool.assets = self._vault
            self.runner = JobRunner(
                self._writer,
                self.events,
                self._transport,
                self._resolve_hosts,
                max_jobs=self.options.max_jobs,
                max_runs_per_host=self.options.max_runs_per_host,
                local_env=local_job_env(self.settings),
                mask=SecretMasker(self._vault.secret_values, self._vault.secrets_version).mask,
                groups=self._routing,
            )
            if read_only:
                recover_interrupted(self.store, keep=self._routing.progress.has)
                return
            self._pool.local_workdirs = fresh_local_workdirs(self.settings.data_dir)
            self._recover()
            self.runner.start()
            self._accepting = True
            self._services = EngineServices(
                EngineParts(
                    self,
                    lambda: self.changes,
                    lambda: self.state,
                    lambda: self.updates,
                    self.settings.data_dir,
                    self.store,
                    self._writer,
                    self.runner,
                    self.events,
                    self._builder,
                    self.start_job,
                ),
                self.options,
            )
            await self._services.start()
        except BaseException:
            await self.close()
            raise

    async def close(self, grace: float = 0.0) -> None:
        """Stop taking work (webhooks, schedules, the control API), give running jobs
        `grace` seconds, stop the rest with a recorded reason, flush, release the lock.
        A part that fails to stop is logged and the others still stop: the lock is
        always released, never held by a half-closed engine."""
        self._accepting = False
        if self._services is not None:
            await self._services.stop_starting()
        try:
            for part, stop in self._shutdown_steps(grace):
                try:
                    await stop()
                except Exception:
                    log.exception("engine shutdown: stopping the %s failed; going on", part)
            if self.store is not None:
                self.store.close()
        finally:
            if self._lock.held:
                self._lock.release()

    def _shutdown_steps(self, grace: float) -> list[tuple[str, Callable[[], Awaitable[None]]]]:
        """The engine's parts that need stopping, in order: intake first (its requests
        become jobs), the store writer last (everything recorded is durable)."""
        reason = (
            f"engine shut down: still running after the {grace:g} s grace period"
            if grace
            else "engine shut down while the job was running"
        )
        runner = self.runner
        parts: list[tuple[str, Any]] = [
            *(self._services.stop_steps() if self._services else []),
            ("job runner", runner and (lambda: runner.close(grace, reason=reason))),
            ("connection pool", self._pool and self._pool.close),
            ("worker groups", self._routing.close),
            ("store writer", self._writer and self._writer.close),
        ]
        return [(part, stop) for part, stop in parts if stop]

    @property
    def schedules(self) -> ScheduleBook:
        """The schedule admin (`console.engine.client.ScheduleAdmin`) of a started engine."""
        book = self._services.schedules if self._services else None
        if book is None:
            raise OpsError("this engine manages no schedules (it is not started, or only reads)")
        return book

    @property
    def webhooks(self) -> WebhookService:
        """The webhook admin (`console.engine.client.WebhookAdmin`) of a started engine."""
        service = self._services.webhooks if self._services else None
        if service is None:
            raise OpsError("this engine manages no webhooks (it is not started, or only reads)")
        return service

    @property
    def assets(self) -> AssetVault:
        """The asset admin (`AssetAdmin`) and resolver (`AssetResolver`) of a started engine."""
        if self._vault is None:
            raise OpsError("this engine has no assets (it is not started)")
        return self._vault

    @property
    def changes(self) -> InventoryData:
        """The inventory data and change tracking (`ChangesAdmin`) of a started engine."""
        if self.store is None:
            raise OpsError("this engine has no inventory data (it is not started)")
        if self._inventory_data is None:
            from console.engine.inventory_data import InventoryData

            self._inventory_data = InventoryData(
                self.settings.data_dir,
                self.store,
                self._inventory.current,
                self._transport,
                start_job=self.start_job,
                check_alert=self._builder.check_target,
            )
        return self._inventory_data

    @property
    def state(self) -> StateService:
        """Desired state (`console.engine.client.StateAdmin`) of a started engine."""
        if self.store is None:
            raise OpsError("this engine has no desired state (it is not started)")
        if self._state is None:
            from console.engine.state_service import StateService

            self._state = StateService(
                self.settings.data_dir,
                self.settings.configurations,
                self._inventory.current,
                lambda job, work: self._submit(job, work, None),
            )
        return self._state

    @property
    def updates(self) -> UpdatesService:
        """Update management (`console.engine.client.UpdatesAdmin`) of a started engine."""
        if self.store is None:
            raise OpsError("this engine has no update management (it is not started)")
        if self._updates is None:
            from console.engine.updates_service import UpdatesService

            self._updates = UpdatesService(
                self.settings.data_dir,
                self.store,
                self._inventory.current,
                lambda job, work: self._submit(job, work, None),
                self._builder.runbook_work,
                lambda: self.schedules,
            )
        return self._updates

    @property
    def listener_problem(self) -> str | None:
        """Why webhooks are not served, when the console started without them."""
        return self._services.listener_problem if self._services else None

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _recover(self) -> None:
        """Jobs a crashed engine left running are Failed (console.store.recovery, which
        `jobs list` also applies), except their runs handed to worker groups, which
        went on and are followed again; Queued ones start again."""
        assert self.store is not None and self.runner is not None
        self._resume_worker_runs()
        for job in recover_interrupted(self.store, keep=self._routing.progress.has):
            try:
                self.runner.enqueue(job, self._work_for(job))
            except OpsError as exc:
                fail_job(self.store, job, f"could not restart after an engine restart: {exc}")

    def _resume_worker_runs(self) -> None:
        assert self.store is not None and self.runner is not None
        progress = self._routing.progress
        for job in self.store.unfinished_jobs():
            if not progress.has(job.id):
                continue
            hosts = self._routing.resumable(job.id)
            if job.status not in (JobStatus.STARTING, JobStatus.RUNNING) or not hosts:
                progress.forget(job.id)  # recovery fails it as any interrupted job
                continue
            try:
                self.runner.resume(job, self._work_for(job), hosts, INTERRUPTED)
            except OpsError as exc:
                progress.forget(job.id)
                fail_job(self.store, job, f"could not follow after an engine restart: {exc}")

    def _work_for(self, job: Job) -> Work:
        if job.runbook in (STATE_CHECK_RUNBOOK, STATE_APPLY_RUNBOOK):
            return self.state.work_for(job)
        if job.runbook in (UPDATES_ASSESS_RUNBOOK, UPDATES_DEPLOY_RUNBOOK):
            return self.updates.work_for(job)
        return self._builder.work_for(job)

    # ------------------------------------------------------------------ inventory
    def hosts(self, pattern: str = "all") -> list[Host]:
        """Hosts matching `pattern` in the current inventory. A selection is kept until
        the inventory file changes (a new Inventory object): a webhook burst resolves
        the same pattern per request."""
        inventory = self._inventory.current()
        if inventory is not self._selected_from or len(self._selected) >= SELECTIONS_KEPT:
            self._selected_from, self._selected = inventory, {}
        hosts = self._selected.get(pattern)
        if hosts is None:
            hosts = self._selected[pattern] = inventory.select(pattern)
        return list(hosts)

    def _host_named(self, name: str) -> Host | None:
        return self._inventory.current().hosts.get(name)

    def _resolve_hosts(self, names: list[str]) -> dict[str, Host]:
        inventory = self._inventory.current()
        hosts = {name: inventory.hosts[name] for name in names if name in inventory.hosts}
        for name in names:  # a run-on target is no inventory host (console.workers)
            if name not in hosts and (worker := run_on_host(name)) is not None:
                hosts[name] = worker
        return hosts

    def _transport(self, host: Host) -> Transport:
        """A routed host is reached through its worker group (`console_worker_group`)."""
        assert self._pool is not None
        group = self._routing.group_of(host)
        if group is not None:
            return self._routing.transport(host, group)
        return transport_for(host, self._pool)

    async def probe(self, hosts: Sequence[str]) -> list[HostProbe]:
        """A cheap probe per host, all at once: `uname -sr` over the pooled connection, or
        a PowerShell look at Win32_OperatingSystem on a Windows host (console.engine.probe)."""
        resolved = self._resolve_hosts(list(hosts))

        return list(
            await asyncio.gather(
                *(probe_host(name, resolved.get(name), self._transport) for name in hosts)
            )
        )

    # ------------------------------------------------------------------ runbooks
    async def runbooks(self) -> list[RunbookInfo]:
        return [runbook_info(rb) for rb in self.catalog.list()]

    async def check_parameters(self, runbook: str, raw: Mapping[str, str]) -> dict[str, Any]:
        book = self.catalog.get(runbook)
        return parse_values(book.metadata.parameters, raw, book.name)

    # ------------------------------------------------------------------ jobs
    async def start_job(
        self,
        runbook: str,
        pattern: str,
        raw_parameters: Mapping[str, str],
        trigger: Trigger = Trigger.MANUAL,
        trigger_ref: str | None = None,
        webhook_data: dict[str, Any] | None = None,
        timeout: float | None = None,
        started_by: str | None = None,
        parent_token: str | None = None,
        change_data: dict[str, Any] | None = None,
    ) -> Job:
        """`started_by`: the user the control API vouches for (its peer's uid); without
        it, `default_starter` (this engine's user, or the schedule, webhook or parent).
        A child job (trigger PARENT) is started only with its running parent's token."""
        if trigger is Trigger.PARENT:
            self.check_parent(trigger_ref, parent_token)
        job, work, book_timeout = self._builder.runbook_job(
            runbook,
            pattern,
            raw_parameters,
            trigger,
            trigger_ref,
            webhook_data,
            started_by=started_by,
            change_data=change_data,
        )
        await self._submit(job, work, timeout or book_timeout)
        return job.copy()  # the runner's live job is the runner's own

    def check_parent(self, parent: str | None, token: str | None) -> None:
        """Only a running job may start children (they skip `max_jobs`), proven by the
        per-job token its host runs were given (OPS_JOB_TOKEN)."""
        assert self.runner is not None
        if not self.runner.is_parent(parent or "", token or ""):
            raise UsageError(
                f"job {parent or '(none)'} is not a running job that may start children "
                "(a child job is started from inside its parent, with OPS_JOB_TOKEN)"
            )

    async def start_command(
        self,
        pattern: str,
        command: str,
        trigger: Trigger = Trigger.MANUAL,
        timeout: float | None = None,
        started_by: str | None = None,
    ) -> Job:
        job, work = self._builder.command_job(pattern, command, trigger, started_by)
        await self._submit(job, work, timeout)
        return job.copy()

    def _select_for_job(self, pattern: str) -> list[Host]:
        worker = run_on_host(pattern)
        if worker is not None:
            return [worker]
        hosts = self.hosts(pattern)
        if not hosts:
            raise UsageError(
                f"the pattern {pattern!r} matches no host in {self.settings.inventory}"
            )
        return hosts

    async def _submit(self, job: Job, work: Work, timeout: float | None) -> None:
        """Store the job durably, then queue it: a job is acknowledged only once stored.
        Jobs submitted at once (a webhook burst) share one fsync (see StoreWriter).
        `job` is the runner's from then on: callers hand out copies of it."""
        assert self._writer is not None and self.runner is not None
        if not self._accepting:
            raise OpsError("the engine is shutting down and takes no new jobs")
        await self._writer.add(job)
        self.runner.enqueue(job, work, timeout)
        self.events.publish(EngineEvent(job_id=job.id, job=job.copy()))

    async def stop_job(self, job_id: str) -> Job:
        assert self.runner is not None
        await self.job(job_id)  # a webhook job still in the intake journal: import it first
        stopped = await self.runner.stop(job_id)
        return stopped if stopped is not None else await self.job(job_id)

    async def rerun_job(
        self, job_id: str, failed_only: bool = False, started_by: str | None = None
    ) -> Job:
        old = await self.job(job_id)
        hosts = old.failed_hosts() if failed_only else list(old.hosts)
        if not hosts:
            raise UsageError(f"job {job_id} has no failed hosts to run again")
        pattern = ",".join(hosts) if failed_only else old.pattern
        if old.runbook == COMMAND_RUNBOOK:
            command = str(old.parameters["command"])
            return await self.start_command(pattern, command, started_by=started_by)
        if old.runbook in (STATE_CHECK_RUNBOOK, STATE_APPLY_RUNBOOK):
            return await self._rerun_state(old, hosts)
        if old.runbook in (UPDATES_ASSESS_RUNBOOK, UPDATES_DEPLOY_RUNBOOK):
            raise UsageError(
                f"job {job_id} is an update {old.runbook[9:-1]}: start a new one "
                "(`opsconsole updates assess` or `updates deploy`)"
            )
        raw = self._builder.raw_parameters(old)
        return await self.start_job(old.runbook, pattern, raw, started_by=started_by)

    async def _rerun_state(self, old: Job, hosts: list[str]) -> Job:
        state = self.state
        configuration = state.configuration(str(old.parameters["configuration"]))
        kind = "check" if old.runbook == STATE_CHECK_RUNBOOK else "apply"
        resolved = self._resolve_hosts(hosts)
        job = await state.start(
            configuration, kind, None, Trigger.MANUAL, [resolved[h] for h in hosts if h in resolved]
        )
        if job is None:
            raise UsageError(f"job {old.id}'s hosts have left the inventory")
        return job.copy()

    async def jobs(
        self,
        *,
        status: JobStatus | Collection[JobStatus] | None = None,
        runbook: str | None = None,
        host: str | None = None,
        limit: int = 200,
        before_id: str | None = None,
    ) -> list[Job]:
        assert self.store is not None
        if host is None:
            return self.store.list_jobs(
                status=status, runbook=runbook, limit=limit, before_id=before_id
            )
        return await asyncio.to_thread(
            functools.partial(
                self.store.jobs_on_host,
                host,
                status=status,
                runbook=runbook,
                limit=limit,
                before_id=before_id,
            )
        )

    async def job(self, job_id: str) -> Job:
        assert self.store is not None and self.runner is not None
        try:
            return self.runner.live_job(job_id) or self.store.get_job(job_id)
        except JobNotFound:
            webhooks = self._services.webhooks if self._services else None
            intake = webhooks.intake if webhooks else None
            if intake is None or not await intake.import_pending(job_id):
                raise
        return self.runner.live_job(job_id) or self.store.get_job(job_id)

    async def streams(
        self, job_id: str, host: str | None = None, stream: str | None = None
    ) -> list[StreamRecord]:
        assert self.store is not None
        return self.store.read_streams(job_id, host=host, stream=stream)

    def subscribe(self, callback: EventCallback) -> Callable[[], None]:
        return self.events.subscribe(callback)

    async def wait_subscribed(self) -> None:
        """Subscribers of this engine get every event from the moment they subscribe."""
