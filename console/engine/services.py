"""The engine's trigger side: what starts jobs without a command (schedules, webhooks),
what keeps the store tidy (retention), and what other processes reach the engine
through (the control API).

Kept apart from `console.engine.core` because a one-shot engine (`exec`, `run`) never
starts most of it, and imports of aiohttp and croniter happen here, on start only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from console.engine.job_building import UPDATES_ASSESS_RUNBOOK, UPDATES_DEPLOY_RUNBOOK, JobBuilder
from console.engine.webhook_jobs import WebhookJobImporter
from console.errors import ConfigError, OpsError
from console.jobs.events import EngineEvent, EventHub
from console.jobs.model import Job, Trigger
from console.jobs.runner import JobRunner
from console.store import Store
from console.store.writer import StoreWriter
from console.webhooks.intake.journal import intake_dir, rejected_path

if TYPE_CHECKING:
    from pathlib import Path

    from console.engine.control import ControlServer, ServedEngine
    from console.engine.inventory_data import InventoryData
    from console.engine.options import EngineOptions
    from console.engine.periodic_assessment import PeriodicAssessment
    from console.engine.periodic_collection import PeriodicCollection
    from console.engine.state_schedule import StateSchedule
    from console.engine.state_service import StateService
    from console.engine.updates_service import UpdatesService
    from console.schedules.book import ScheduleBook
    from console.schedules.model import Schedule
    from console.schedules.scheduler import Scheduler
    from console.webhooks.service import WebhookService

log = logging.getLogger(__name__)

RETENTION_INTERVAL = 24 * 3600.0
WANTED_POLL = 0.25  # how often an engine started with services_on_request looks


def control_wanted_path(data_dir: Path) -> Path:
    """The file a command leaves to ask the engine holding `data_dir` for its control
    API (see EngineOptions.services_on_request)."""
    return data_dir / "control.wanted"


@dataclass(frozen=True)
class EngineParts:
    """What the services share with the engine that owns them."""

    client: ServedEngine  # the engine itself, as the control API serves it
    inventory_data: Callable[[], InventoryData]  # the engine's, made at first use
    state: Callable[[], StateService]  # likewise
    updates: Callable[[], UpdatesService]  # likewise
    data_dir: Path
    store: Store
    writer: StoreWriter
    runner: JobRunner
    events: EventHub
    builder: JobBuilder
    start_job: Callable[..., Awaitable[Job]]


class EngineServices:
    """Schedules, webhooks, retention and the control API of one started engine; also
    the scheduler's JobLauncher."""

    def __init__(self, parts: EngineParts, options: EngineOptions) -> None:
        self._parts = parts
        self._options = options
        self.control: ControlServer | None = None
        self.schedules: ScheduleBook | None = None
        self.webhooks: WebhookService | None = None
        self._scheduler: Scheduler | None = None
        self._collection: PeriodicCollection | None = None
        self._state_schedule: StateSchedule | None = None
        self._assessments: PeriodicAssessment | None = None
        self._retention: asyncio.Task[None] | None = None
        self._later: asyncio.Task[None] | None = None
        self.listener_problem: str | None = None

    async def start(self) -> None:
        """At once, or (services_on_request) once a command asks to attach."""
        if self._options.services_on_request:
            self._later = asyncio.create_task(self._start_when_wanted(), name="engine-services")
        else:
            await self._start()

    async def _start(self) -> None:
        from console.engine.control import ControlServer
        from console.store.lock import socket_path

        await self._start_triggers()
        self.control = ControlServer(self._parts.client, socket_path(self._parts.data_dir))
        await self.control.start()

    async def _start_when_wanted(self) -> None:
        """A stat every quarter second is all it costs while nobody asks. A request
        left for an engine that has gone is dropped; a waiting command renews its own
        (console.engine.connect.attach)."""
        wanted = control_wanted_path(self._parts.data_dir)
        wanted.unlink(missing_ok=True)
        while not wanted.exists():
            await asyncio.sleep(WANTED_POLL)
        wanted.unlink(missing_ok=True)
        try:
            await self._start()
        except OpsError as exc:  # this process's own work goes on without them
            log.warning("the engine's control API did not start: %s", exc)
        except Exception:
            log.exception("the engine's control API did not start")

    async def _start_triggers(self) -> None:
        from console.schedules.book import ScheduleBook
        from console.schedules.scheduler import Scheduler
        from console.webhooks.listener import listener_url
        from console.webhooks.service import WebhookService, parse_listen

        parts, opts = self._parts, self._options
        host, port = parse_listen(opts.listen)
        url_base = listener_url(host, port, opts.tls_cert is not None, opts.public_url)
        book = ScheduleBook(parts.store, self._check_schedule, self._wake_scheduler)
        self.schedules = book
        self.webhooks = WebhookService(
            parts.store, parts.data_dir, url_base, parts.builder.check_target
        )
        if not opts.triggers:
            return
        self._scheduler = Scheduler(book, self, book, book)
        self._scheduler.start()
        self._retention = asyncio.create_task(self._retention_forever(), name="retention")
        if opts.collection:
            from console.engine.periodic_collection import PeriodicCollection

            self._collection = PeriodicCollection(parts.inventory_data)
            self._collection.start()
        if opts.assessment:
            from console.engine.periodic_assessment import PeriodicAssessment

            self._assessments = PeriodicAssessment(parts.updates, self._assessing)
            self._assessments.start()
        if opts.desired_state:
            from console.engine.state_schedule import StateSchedule

            self._state_schedule = StateSchedule(parts.state, self._state_busy)
            self._state_schedule.start()
        parts.events.subscribe(self._on_event_for_scheduler)
        try:
            await self.webhooks.start_listener(
                WebhookJobImporter(
                    parts.builder,
                    parts.writer,
                    parts.runner,
                    parts.events,
                    rejected_path(intake_dir(parts.data_dir)),
                ).import_requests,
                parts.writer.flush,
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

    async def stop_starting(self) -> None:
        """Before the stop steps: nothing may start meanwhile."""
        if self._retention is not None:
            self._retention.cancel()
        if self._later is not None:
            self._later.cancel()
            await asyncio.gather(self._later, return_exceptions=True)

    def stop_steps(self) -> list[tuple[str, Any]]:
        """The parts to stop first when the engine closes, in order."""
        return [
            ("webhook listener", self.webhooks and self.webhooks.stop_listener),
            ("scheduler", self._scheduler and self._scheduler.stop),
            ("periodic collection", self._collection and self._collection.stop),
            ("periodic assessment", self._assessments and self._assessments.stop),
            ("desired state", self._state_schedule and self._state_schedule.stop),
            ("control API", self.control and self.control.stop),
        ]

    async def _retention_forever(self) -> None:
        """Azure keeps 30 days of jobs and of changes; so do we, checked at start and
        then daily."""
        store, days = self._parts.store, self._options.retention_days
        while True:
            try:
                removed = await asyncio.to_thread(store.apply_retention)
                if removed:
                    log.info("retention removed old jobs", extra={"removed": removed})
                data = self._parts.inventory_data()
                removed = await asyncio.to_thread(data.apply_retention, days)
                if removed:
                    log.info("retention removed old changes", extra={"removed": removed})
                state = self._parts.state()
                removed = await asyncio.to_thread(state.apply_retention, days)
                if removed:
                    log.info("retention removed old state history", extra={"removed": removed})
            except OpsError as exc:
                log.warning("retention failed: %s", exc)
            except Exception:  # a bug: logged, and tried again at the next interval
                log.exception("retention failed")
            await asyncio.sleep(RETENTION_INTERVAL)

    # ------------------------------------------------------------------ the scheduler's
    def _check_schedule(self, schedule: Schedule) -> None:
        if schedule.runbook == UPDATES_DEPLOY_RUNBOOK:  # a deployment kept by `updates deploy`
            self._parts.updates().deployment(schedule.parameters.get("deployment", ""))
            return
        self._parts.builder.check_target(schedule.runbook, schedule.pattern, schedule.parameters)

    async def fire(self, schedule: Schedule, fire_time: datetime) -> str:
        """One run of a schedule (JobLauncher)."""
        if schedule.runbook == UPDATES_DEPLOY_RUNBOOK:
            updates = self._parts.updates()
            deployment = updates.deployment(schedule.parameters["deployment"])
            return (await updates.deploy(deployment, Trigger.SCHEDULE)).id
        job = await self._parts.start_job(
            schedule.runbook,
            schedule.pattern,
            schedule.parameters,
            trigger=Trigger.SCHEDULE,
            trigger_ref=schedule.name,
        )
        return job.id

    def _assessing(self) -> bool:
        return any(
            job.runbook == UPDATES_ASSESS_RUNBOOK and job.trigger is Trigger.SCHEDULE
            for job in self._parts.runner.active_jobs()
        )

    def _state_busy(self, ref: str) -> bool:
        return any(
            job.trigger is Trigger.SCHEDULE and job.trigger_ref == ref
            for job in self._parts.runner.active_jobs()
        )

    def is_running(self, schedule_name: str) -> bool:
        return any(
            job.trigger is Trigger.SCHEDULE and job.trigger_ref == schedule_name
            for job in self._parts.runner.active_jobs()
        )

    def _wake_scheduler(self) -> None:
        if self._scheduler is not None:
            self._scheduler.wake()

    def _on_event_for_scheduler(self, event: EngineEvent) -> None:
        job = event.job
        if job is not None and job.trigger is Trigger.SCHEDULE and job.status.finished:
            self._wake_scheduler()  # a run queued behind this one may start now
