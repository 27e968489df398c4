"""The engine: the one owner of a data directory, and the in-process EngineClient.

It wires the inventory, runbook catalog, transports, store and job runner together,
and later the scheduler, webhook listener and control API. It holds the data
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
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console.engine.client import HostProbe, RunbookInfo
from console.engine.job_building import COMMAND_RUNBOOK, JobBuilder
from console.engine.probe import probe_host
from console.engine.webhook_jobs import WebhookJobImporter
from console.engine.wire import runbook_info
from console.errors import ConfigError, OpsError, UsageError
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
from console.store.recovery import fail_job, recover_interrupted
from console.store.writer import StoreWriter
from console.transports.base import Transport
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from console.webhooks.intake.journal import intake_dir, rejected_path

if TYPE_CHECKING:  # imported where used: a one-shot engine never loads aiohttp or croniter
    from pathlib import Path

    from console.engine.control import ControlServer
    from console.schedules.book import ScheduleBook
    from console.schedules.model import Schedule
    from console.schedules.scheduler import Scheduler
    from console.webhooks.service import WebhookService

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 24 * 3600.0
WANTED_POLL = 0.25  # how often an engine started with services_on_request looks
SELECTIONS_KEPT = 256  # host patterns whose selection is kept (typed filters come and go)


@dataclass(frozen=True)
class EngineOptions:
    max_jobs: int = 8
    max_runs_per_host: int = 1
    forks: int | None = None
    retention_days: int = 30
    # The scheduler and the webhook listener run in long-lived engines (serve, the
    # console); a one-shot CLI engine only runs the jobs it was asked for.
    triggers: bool = False
    listen: str = "127.0.0.1:8080"
    # serve fails when it cannot listen; the console starts anyway (and says why).
    listener_required: bool = True
    tls_cert: str | None = None
    tls_key: str | None = None
    public_url: str | None = None
    # A one-shot engine for a command that only reads jobs (`jobs list`, `jobs show`):
    # it holds the lock as a reader (an engine starting meanwhile waits for it, and
    # nobody attaches to it) and recovers a crashed engine's jobs, but starts nothing:
    # no job, trigger or control API. Queued jobs stay Queued for the next engine.
    read_only: bool = False
    # A one-shot engine (`exec`) starts its control API and its schedule and webhook
    # admin only when another command asks to attach (console.engine.connect.attach
    # leaves a request file, see `control_wanted_path`): a command nobody attaches to
    # never pays for them. False: at start, like every other engine.
    services_on_request: bool = False


def control_wanted_path(data_dir: Path) -> Path:
    """The file a command leaves to ask the engine holding `data_dir` for its control
    API (see EngineOptions.services_on_request)."""
    return data_dir / "control.wanted"


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
        self._builder = JobBuilder(self.catalog, self._select_for_job)
        self._control: ControlServer | None = None
        self._schedules: ScheduleBook | None = None
        self._webhooks: WebhookService | None = None
        self._scheduler: Scheduler | None = None
        self._retention: asyncio.Task[None] | None = None
        self._services_later: asyncio.Task[None] | None = None
        self._accepting = False
        self.listener_problem: str | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        read_only = self.options.read_only
        self._lock.acquire(reader=read_only)
        try:
            self.store = Store(self.settings.data_dir)
            self._writer = StoreWriter(self.store)
            if not read_only:
                self._inventory.current()  # a broken inventory stops the engine at once
            if self._pool is None:
                self._pool = TransportPool(forks=self.options.forks, resolve_host=self._host_named)
            self.runner = JobRunner(
                self._writer,
                self.events,
                self._transport,
                self._resolve_hosts,
                max_jobs=self.options.max_jobs,
                max_runs_per_host=self.options.max_runs_per_host,
                local_env=local_job_env(self.settings),
            )
            if read_only:
                recover_interrupted(self.store)
                return
            self._recover()
            self.runner.start()
            self._accepting = True
            if self.options.services_on_request:
                wanted = self._start_services_when_wanted()
                self._services_later = asyncio.create_task(wanted, name="engine-services")
            else:
                await self._start_services()
        except BaseException:
            await self.close()
            raise

    async def _start_services(self) -> None:
        """What other processes and the triggers reach the engine through."""
        from console.engine.control import ControlServer, socket_path

        await self._start_triggers()
        self._control = ControlServer(self, socket_path(self.settings.data_dir))
        await self._control.start()

    async def _start_services_when_wanted(self) -> None:
        """Start the services once a command asks to attach. A stat every quarter
        second is all it costs while nobody does. A request left for an engine that
        has gone is dropped; a waiting command renews its own (connect.attach)."""
        wanted = control_wanted_path(self.settings.data_dir)
        wanted.unlink(missing_ok=True)
        while not wanted.exists():
            await asyncio.sleep(WANTED_POLL)
        wanted.unlink(missing_ok=True)
        try:
            await self._start_services()
        except OpsError as exc:  # this process's own work goes on without them
            log.warning("the engine's control API did not start: %s", exc)
        except Exception:
            log.exception("the engine's control API did not start")

    async def _start_triggers(self) -> None:
        from console.schedules.book import ScheduleBook
        from console.schedules.scheduler import Scheduler
        from console.webhooks.listener import listener_url
        from console.webhooks.service import WebhookService, parse_listen

        assert self.store is not None and self._writer is not None and self.runner is not None
        opts = self.options
        host, port = parse_listen(opts.listen)
        url_base = listener_url(host, port, opts.tls_cert is not None, opts.public_url)
        book = ScheduleBook(self.store, self._check_schedule, self._wake_scheduler)
        self._schedules = book
        self._webhooks = WebhookService(
            self.store, self.settings.data_dir, url_base, self._builder.check_target
        )
        if not opts.triggers:
            return
        self._scheduler = Scheduler(book, self, book, book)
        self._scheduler.start()
        self._retention = asyncio.create_task(self._retention_forever(), name="retention")
        self.events.subscribe(self._on_event_for_scheduler)
        try:
            await self.webhooks.start_listener(
                WebhookJobImporter(
                    self._builder,
                    self._writer,
                    self.runner,
                    self.events,
                    rejected_path(intake_dir(self.settings.data_dir)),
                ).import_requests,
                self._writer.flush,
                host,
                port,
                opts.tls_cert,
                opts.tls_key,
                opts.public_url,
            )
        except ConfigError as exc:
            if opts.listener_required:
                raise
            self.listener_problem = f"webhooks are not served: {exc}"
            log.warning(self.listener_problem)

    async def close(self, grace: float = 0.0) -> None:
        """Stop taking work (webhooks, schedules, the control API), give running jobs
        `grace` seconds, stop the rest with a recorded reason, flush, release the lock.
        A part that fails to stop is logged and the others still stop: the lock is
        always released, never held by a half-closed engine."""
        self._accepting = False
        if self._retention is not None:
            self._retention.cancel()
        if self._services_later is not None:
            self._services_later.cancel()
            await asyncio.gather(self._services_later, return_exceptions=True)
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
            ("webhook listener", self._webhooks and self._webhooks.stop_listener),
            ("scheduler", self._scheduler and self._scheduler.stop),
            ("control API", self._control and self._control.stop),
            ("job runner", runner and (lambda: runner.close(grace, reason=reason))),
            ("connection pool", self._pool and self._pool.close),
            ("store writer", self._writer and self._writer.close),
        ]
        return [(part, stop) for part, stop in parts if stop]

    @property
    def schedules(self) -> ScheduleBook:
        """The schedule admin (`console.engine.client.ScheduleAdmin`) of a started engine."""
        if self._schedules is None:
            raise OpsError("this engine manages no schedules (it is not started, or only reads)")
        return self._schedules

    @property
    def webhooks(self) -> WebhookService:
        """The webhook admin (`console.engine.client.WebhookAdmin`) of a started engine."""
        if self._webhooks is None:
            raise OpsError("this engine manages no webhooks (it is not started, or only reads)")
        return self._webhooks

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def _recover(self) -> None:
        """Jobs a crashed engine left running are Failed (console.store.recovery, which
        `jobs list` also applies); Queued ones start again."""
        assert self.store is not None and self.runner is not None
        for job in recover_interrupted(self.store):
            try:
                self.runner.enqueue(job, self._builder.work_for(job))
            except OpsError as exc:
                fail_job(self.store, job, f"could not restart after an engine restart: {exc}")

    async def _retention_forever(self) -> None:
        """Azure keeps 30 days of jobs; so do we, checked at start and then daily."""
        assert self.store is not None
        while True:
            try:
                removed = await asyncio.to_thread(self.store.apply_retention)
                if removed:
                    log.info("retention removed old jobs", extra={"removed": removed})
            except OpsError as exc:
                log.warning("retention failed: %s", exc)
            except Exception:  # a bug: logged, and tried again at the next interval
                log.exception("retention failed")
            await asyncio.sleep(RETENTION_INTERVAL)

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
        return {name: inventory.hosts[name] for name in names if name in inventory.hosts}

    def _transport(self, host: Host) -> Transport:
        assert self._pool is not None
        return transport_for(host, self._pool)

    async def probe(self, hosts: Sequence[str]) -> list[HostProbe]:
        """A cheap probe: one `uname -s` over the pooled connection, per host, at once."""
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
    ) -> Job:
        """`started_by`: the user the control API vouches for (its peer's uid); without
        it, `default_starter` (this engine's user, or the schedule, webhook or parent).
        A child job (trigger PARENT) is started only with its running parent's token."""
        if trigger is Trigger.PARENT:
            self._check_parent(trigger_ref, parent_token)
        job, work, book_timeout = self._builder.runbook_job(
            runbook,
            pattern,
            raw_parameters,
            trigger,
            trigger_ref,
            webhook_data,
            started_by=started_by,
        )
        await self._submit(job, work, timeout or book_timeout)
        return job.copy()  # the runner's live job is the runner's own

    def _check_parent(self, parent: str | None, token: str | None) -> None:
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

    # ------------------------------------------------------------------ triggers
    def _check_schedule(self, schedule: Schedule) -> None:
        self._builder.check_target(schedule.runbook, schedule.pattern, schedule.parameters)

    async def fire(self, schedule: Schedule, fire_time: datetime) -> str:
        """The scheduler's JobLauncher: one run of a schedule."""
        job = await self.start_job(
            schedule.runbook,
            schedule.pattern,
            schedule.parameters,
            trigger=Trigger.SCHEDULE,
            trigger_ref=schedule.name,
        )
        return job.id

    def is_running(self, schedule_name: str) -> bool:
        assert self.runner is not None
        return any(
            job.trigger is Trigger.SCHEDULE and job.trigger_ref == schedule_name
            for job in self.runner.active_jobs()
        )

    def _wake_scheduler(self) -> None:
        if self._scheduler is not None:
            self._scheduler.wake()

    def _on_event_for_scheduler(self, event: EngineEvent) -> None:
        job = event.job
        if job is not None and job.trigger is Trigger.SCHEDULE and job.status.finished:
            self._wake_scheduler()  # a run queued behind this one may start now

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
        raw = self._builder.raw_parameters(old)
        return await self.start_job(old.runbook, pattern, raw, started_by=started_by)

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
            intake = self._webhooks.intake if self._webhooks else None
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
