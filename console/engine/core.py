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
import hashlib
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console.engine.client import EngineEvent, EventCallback, HostProbe, RunbookInfo
from console.engine.events import EventHub
from console.engine.wire import runbook_info
from console.errors import ConfigError, HostError, OpsError, UsageError
from console.inventory.live import LiveInventory
from console.inventory.model import Host, Inventory
from console.jobs.model import Job, JobStatus, StreamRecord, Trigger, default_starter, new_job_id
from console.jobs.runner import JobRunner, Work, local_job_env
from console.runbooks.catalog import Runbook, RunbookCatalog
from console.runbooks.languages import Invocation, TargetInfo
from console.runbooks.parameters import parse_values
from console.settings import Settings
from console.store import Store
from console.store.jobs import DuplicateJob, JobNotFound
from console.store.lock import DataDirLock
from console.store.recovery import INTERRUPTED as INTERRUPTED  # the reason, re-exported
from console.store.recovery import fail_job, recover_interrupted
from console.store.writer import StoreWriter
from console.transports.base import Transport
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from console.webhooks.intake.journal import IntakeRecord, intake_dir, rejected_path
from console.webhooks.intake.limits import MAX_JSON_DEPTH

if TYPE_CHECKING:  # imported where used: a one-shot engine never loads aiohttp or croniter
    from console.engine.control import ControlServer
    from console.schedules.book import ScheduleBook
    from console.schedules.model import Schedule
    from console.schedules.scheduler import Scheduler
    from console.webhooks.service import WebhookService

log = logging.getLogger(__name__)

COMMAND_RUNBOOK = "(command)"
HOST_SCAN_PAGE = 1000  # jobs read per store call when filtering by host
RETENTION_INTERVAL = 24 * 3600.0
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
    # A one-shot engine (`exec`) starts its control API and its schedule and webhook
    # admin only once it has run this many seconds: a short command never pays for
    # them, and a command that finds the lock held waits for the socket meanwhile
    # (console.engine.connect.attach). 0: at start, like every other engine.
    services_after: float = 0.0


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
        self._control: ControlServer | None = None
        self.schedules: ScheduleBook | None = None
        self.webhooks: WebhookService | None = None
        self._scheduler: Scheduler | None = None
        self._retention: asyncio.Task[None] | None = None
        self._services_later: asyncio.Task[None] | None = None
        self._accepting = False
        self.listener_problem: str | None = None

    # ------------------------------------------------------------------ lifecycle
    async def start(self) -> None:
        self._lock.acquire()
        try:
            self.store = Store(self.settings.data_dir)
            self._writer = StoreWriter(self.store)
            self._inventory.current()
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
            self._recover()
            self.runner.start()
            self._accepting = True
            delay = self.options.services_after
            if delay > 0:
                later = self._start_services_later(delay)
                self._services_later = asyncio.create_task(later, name="engine-services")
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

    async def _start_services_later(self, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            await self._start_services()
        except OpsError as exc:  # this process's own work goes on without them
            log.warning("the engine's control API did not start: %s", exc)
        except Exception:
            log.exception("the engine's control API did not start")

    async def _start_triggers(self) -> None:
        from console.schedules.book import ScheduleBook
        from console.schedules.scheduler import Scheduler
        from console.webhooks.http import listener_url
        from console.webhooks.service import WebhookService, parse_listen

        assert self.store is not None and self._writer is not None
        opts = self.options
        host, port = parse_listen(opts.listen)
        url_base = listener_url(host, port, opts.tls_cert is not None, opts.public_url)
        self.schedules = ScheduleBook(self.store, self._check_schedule, self._wake_scheduler)
        self.webhooks = WebhookService(
            self.store, self.settings.data_dir, url_base, self._check_target
        )
        if not opts.triggers:
            return
        self._scheduler = Scheduler(self.schedules, self, self.schedules, self.schedules)
        self._scheduler.start()
        self._retention = asyncio.create_task(self._retention_forever(), name="retention")
        self.events.subscribe(self._on_event_for_scheduler)
        try:
            await self.webhooks.start_listener(
                self._import_webhook_requests,
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
            ("webhook listener", self.webhooks and self.webhooks.stop_listener),
            ("scheduler", self._scheduler and self._scheduler.stop),
            ("control API", self._control and self._control.stop),
            ("job runner", runner and (lambda: runner.close(grace, reason=reason))),
            ("connection pool", self._pool and self._pool.close),
            ("store writer", self._writer and self._writer.close),
        ]
        return [(part, stop) for part, stop in parts if stop]

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
                self.runner.enqueue(job, self._work_for_job(job))
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

        async def one(name: str) -> HostProbe:
            host = resolved.get(name)
            if host is None:
                return HostProbe(name, False, error="not in the inventory", checked=time.time())
            lines: list[bytes] = []
            try:
                status = await self._transport(host).run(
                    "uname -sr 2>/dev/null || ver",
                    timeout=15,
                    on_line=lambda s, b: lines.append(b) if s == "stdout" else None,
                )
            except HostError as exc:
                return HostProbe(
                    name, False, error=f"{exc.kind}: {exc.detail}", checked=time.time()
                )
            except OpsError as exc:  # e.g. a connection type this engine cannot use
                return HostProbe(name, False, error=str(exc), checked=time.time())
            text = b"".join(lines).decode(errors="replace").strip()
            return HostProbe(name, status.ok, os=text, checked=time.time())

        return list(await asyncio.gather(*(one(name) for name in hosts)))

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
    ) -> Job:
        """`started_by`: the user the control API vouches for (its peer's uid); without
        it, `default_starter` (this engine's user, or the schedule, webhook or parent)."""
        job = await self._start_runbook_job(
            runbook,
            pattern,
            raw_parameters,
            trigger,
            trigger_ref,
            webhook_data,
            timeout,
            started_by,
        )
        return job.copy()

    async def _start_runbook_job(
        self,
        runbook: str,
        pattern: str,
        raw_parameters: Mapping[str, str],
        trigger: Trigger,
        trigger_ref: str | None,
        webhook_data: dict[str, Any] | None,
        timeout: float | None,
        started_by: str | None = None,
    ) -> Job:
        """`start_job` minus the caller's copy: returns the runner's live job, which the
        caller must only read at once."""
        job, work, book_timeout = self._runbook_job(
            runbook,
            pattern,
            raw_parameters,
            trigger,
            trigger_ref,
            webhook_data,
            started_by=started_by,
        )
        await self._submit(job, work, timeout or book_timeout)
        return job

    def _runbook_job(
        self,
        runbook: str,
        pattern: str,
        raw_parameters: Mapping[str, str],
        trigger: Trigger,
        trigger_ref: str | None,
        webhook_data: dict[str, Any] | None,
        job_id: str | None = None,
        created: float | None = None,
        started_by: str | None = None,
    ) -> tuple[Job, Work, float | None]:
        """A new Queued job of a runbook, its work and the runbook's timeout. Raises
        OpsError when the runbook, its parameters or the pattern do not fit."""
        book = self.catalog.get(runbook)
        params = parse_values(book.metadata.parameters, raw_parameters, book.name)
        if webhook_data is not None:
            params["WebhookData"] = webhook_data
        hosts = self._select_for_job(pattern)
        job = Job(
            id=job_id or new_job_id(),
            runbook=book.name,
            pattern=pattern,
            hosts=[h.name for h in hosts],
            parameters=params,
            runbook_hash=book.hash,
            trigger=trigger,
            trigger_ref=trigger_ref,
            started_by=started_by or default_starter(trigger, trigger_ref),
            created=time.time() if created is None else created,
        )
        return job, self._runbook_work(book, params), book.metadata.timeout

    async def start_command(
        self,
        pattern: str,
        command: str,
        trigger: Trigger = Trigger.MANUAL,
        timeout: float | None = None,
        started_by: str | None = None,
    ) -> Job:
        if not command.strip():
            raise UsageError("the command is empty")
        hosts = self._select_for_job(pattern)
        job = Job(
            id=new_job_id(),
            runbook=COMMAND_RUNBOOK,
            pattern=pattern,
            hosts=[h.name for h in hosts],
            parameters={"command": command},
            runbook_hash=hashlib.sha256(command.encode()).hexdigest(),
            trigger=trigger,
            started_by=started_by or default_starter(trigger, None),
        )
        await self._submit(job, _command_work(command), timeout)
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

    def _work_for_job(self, job: Job) -> Work:
        if job.runbook == COMMAND_RUNBOOK:
            return _command_work(str(job.parameters.get("command", "")))
        return self._runbook_work(self.catalog.get(job.runbook), dict(job.parameters))

    def _runbook_work(self, book: Runbook, params: dict[str, Any]) -> Work:
        webhook_data = params.get("WebhookData")
        script_params = {k: v for k, v in params.items() if k != "WebhookData"}

        def build(host: Host, workdir: str) -> Invocation:
            return self.catalog.build_invocation(
                book, script_params, TargetInfo.from_host(host), workdir, webhook_data
            )

        return Work(build=build)

    # ------------------------------------------------------------------ triggers
    def _check_target(self, runbook: str, pattern: str, raw: Mapping[str, str]) -> None:
        """A schedule or webhook is checked when created, not first when it fires."""
        book = self.catalog.get(runbook)
        parse_values(book.metadata.parameters, raw, book.name)
        self._select_for_job(pattern)

    def _check_schedule(self, schedule: Schedule) -> None:
        self._check_target(schedule.runbook, schedule.pattern, schedule.parameters)

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

    async def _import_webhook_requests(
        self, records: list[IntakeRecord]
    ) -> list[tuple[IntakeRecord, str]]:
        """Jobs for the webhook requests the intake worker acknowledged (their 202 with
        the job id is sent): each becomes a Queued job, or a Failed one saying why when
        it cannot run (its runbook, parameters or hosts changed since the webhook was
        made). A record already stored (imported before a crash) is skipped. A record
        that cannot be imported at all (too deep, or a bug) fails its job alone, with
        its data left out; it is returned with the reason, for the intake to keep."""
        rejected: list[tuple[IntakeRecord, str]] = []
        for record in records:
            try:
                self._import_record(record)
            except Exception as exc:  # this record alone, never the importer
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                rejected.append((record, reason))
                self._fail_rejected(record, reason)
        return rejected

    def _import_record(self, record: IntakeRecord) -> None:
        assert self._writer is not None and self.runner is not None
        if record.too_deep():
            raise UsageError(f"its data nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            job, work, timeout = self._runbook_job(
                record.runbook,
                record.pattern,
                record.parameters,
                Trigger.WEBHOOK,
                record.webhook,
                record.data,
                job_id=record.id,
                created=record.created,
            )
        except OpsError as exc:
            job, work, timeout = _unstartable(record, exc), None, None
        published = job.copy()  # before storing: a job that cannot be copied is not stored
        try:
            self._writer.add_later(job)
        except DuplicateJob:
            return
        if work is not None:
            self.runner.enqueue(job, work, timeout)
        self.events.publish(EngineEvent(job_id=job.id, job=published))

    def _fail_rejected(self, record: IntakeRecord, reason: str) -> None:
        """The Failed job of a rejected record (its caller has the id), without the
        request's data, which is kept in the intake's rejected file instead."""
        assert self._writer is not None
        problem = OpsError(
            f"the webhook request could not be imported ({reason}); it is kept in "
            f"{rejected_path(intake_dir(self.settings.data_dir))}"
        )
        bare = replace(record, parameters={}, data={"WebhookName": record.webhook})
        job = _unstartable(bare, problem)
        try:
            self._writer.add_later(job)
        except DuplicateJob:
            return
        except Exception:  # the request stays in the rejected file
            log.exception("webhook job %s: could not store its failure", record.id)
            return
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
        raw = {k: _raw(v) for k, v in old.parameters.items() if k != "WebhookData"}
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
        # The store keeps no per-host index: a host that ran few jobs makes this read
        # the whole history (~0.5 s at 100,000 jobs), so it runs off the event loop.
        return await asyncio.to_thread(self._jobs_on_host, host, status, runbook, limit, before_id)

    def _jobs_on_host(
        self,
        host: str,
        status: JobStatus | Collection[JobStatus] | None,
        runbook: str | None,
        limit: int,
        before_id: str | None,
    ) -> list[Job]:
        assert self.store is not None
        found: list[Job] = []
        while len(found) < limit:
            page = self.store.list_jobs(
                status=status, runbook=runbook, limit=HOST_SCAN_PAGE, before_id=before_id
            )
            found += [job for job in page if host in job.host_runs]
            if len(page) < HOST_SCAN_PAGE:
                break
            before_id = page[-1].id
        return found[:limit]

    async def job(self, job_id: str) -> Job:
        assert self.store is not None and self.runner is not None
        try:
            return self.runner.live_job(job_id) or self.store.get_job(job_id)
        except JobNotFound:
            intake = self.webhooks.intake if self.webhooks else None
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


def _unstartable(record: IntakeRecord, problem: OpsError) -> Job:
    """The Failed job of a webhook request whose job cannot run: the caller got its id,
    so the job exists and says why."""
    job = Job(
        id=record.id,
        runbook=record.runbook,
        pattern=record.pattern,
        hosts=[],
        parameters={"WebhookData": record.data},
        trigger=Trigger.WEBHOOK,
        trigger_ref=record.webhook,
        started_by=default_starter(Trigger.WEBHOOK, record.webhook),
        created=record.created,
    )
    job.transition(JobStatus.FAILED, f"could not start: {problem}")
    return job


def _command_work(command: str) -> Work:
    return Work(
        build=lambda host, workdir: Invocation(command=command, files={}, env={}, stdin=None),
        needs_workdir=False,
    )


def _raw(value: Any) -> str:
    """The CLI form of a typed parameter value, for running a job again."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)
