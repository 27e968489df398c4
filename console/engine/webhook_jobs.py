"""Jobs for the webhook requests the intake worker acknowledged.

The worker answered 202 with the job id before the engine saw the request, so every
record becomes a job with that id: a Queued one, or a Failed one saying why when it
cannot run (its runbook, parameters or hosts changed since the webhook was made).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

from console.engine.job_building import JobBuilder
from console.errors import OpsError, UsageError
from console.jobs.events import EngineEvent, EventHub
from console.jobs.model import Job, JobStatus, Trigger, default_starter
from console.jobs.runner import JobRunner
from console.store.job_records import DuplicateJob
from console.store.writer import StoreWriter
from console.webhooks.intake.journal import IntakeRecord
from console.webhooks.limits import MAX_JSON_DEPTH

log = logging.getLogger("console.engine.core")


class WebhookJobImporter:
    """Turns intake records into stored jobs, queued on the runner; `rejected` is the
    intake's file for the records that cannot be imported at all (named in their
    jobs' reason)."""

    def __init__(
        self,
        builder: JobBuilder,
        writer: StoreWriter,
        runner: JobRunner,
        events: EventHub,
        rejected: Path,
    ) -> None:
        self._builder = builder
        self._writer = writer
        self._runner = runner
        self._events = events
        self._rejected = rejected

    async def import_requests(self, records: list[IntakeRecord]) -> list[tuple[IntakeRecord, str]]:
        """A job per record; a record already stored (imported before a crash) is
        skipped. A record that cannot be imported at all (too deep, or a bug) fails its
        job alone, with its data left out; it is returned with the reason, for the
        intake to keep."""
        rejected: list[tuple[IntakeRecord, str]] = []
        for record in records:
            try:
                self._import(record)
            except Exception as exc:  # this record alone, never the importer
                reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                rejected.append((record, reason))
                self._fail_rejected(record, reason)
        return rejected

    def _import(self, record: IntakeRecord) -> None:
        if record.too_deep():
            raise UsageError(f"its data nests deeper than {MAX_JSON_DEPTH} levels")
        try:
            job, work, timeout = self._builder.runbook_job(
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
            job, work, timeout = unstartable(record, exc), None, None
        published = job.copy()  # before storing: a job that cannot be copied is not stored
        try:
            self._writer.add_later(job)
        except DuplicateJob:
            return
        if work is not None:
            self._runner.enqueue(job, work, timeout)
        self._events.publish(EngineEvent(job_id=job.id, job=published))

    def _fail_rejected(self, record: IntakeRecord, reason: str) -> None:
        """The Failed job of a rejected record (its caller has the id), without the
        request's data, which is kept in the intake's rejected file instead."""
        problem = OpsError(
            f"the webhook request could not be imported ({reason}); it is kept in {self._rejected}"
        )
        bare = replace(record, parameters={}, data={"WebhookName": record.webhook})
        job = unstartable(bare, problem)
        try:
            self._writer.add_later(job)
        except DuplicateJob:
            return
        except Exception:  # the request stays in the rejected file
            log.exception("webhook job %s: could not store its failure", record.id)
            return
        self._events.publish(EngineEvent(job_id=job.id, job=job.copy()))


def unstartable(record: IntakeRecord, problem: OpsError) -> Job:
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
