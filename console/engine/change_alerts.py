"""Alerts that start runbooks when a collection records a change.

Each change a collection records is matched against the tracking configuration's
alerts (`console.changes.tracking.matching`); a match starts the alert's runbook on
the alert's pattern, or on the host that changed, with the change as `ChangeData`
(`console.changes.change_data`), as trigger `alert` so the Jobs pane says which
alert started it. An alert's job is checked when the alert is added (runbook,
parameters, pattern); one that cannot start later (the runbook was removed, the
pattern now matches no host) is logged and skipped: a collection never fails
because of an alert.

A burst is bounded: one collection of one host starts at most `JOBS_PER_ALERT` jobs
per alert (an upgrade of 300 packages must not start 300 jobs); the rest are
logged as not started, with the count, and stay in the change log.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from console.changes.change_data import change_data
from console.changes.model import Change
from console.changes.tracking import Alert, Tracking, matching
from console.errors import OpsError
from console.inventory.model import Inventory
from console.jobs.model import Job, Trigger

log = logging.getLogger(__name__)

JOBS_PER_ALERT = 10


class StartJob(Protocol):
    def __call__(
        self,
        runbook: str,
        pattern: str,
        raw_parameters: Mapping[str, str],
        *,
        trigger: Trigger,
        trigger_ref: str,
        change_data: dict[str, Any],
    ) -> Awaitable[Job]: ...


class AlertFirer:
    """Starts the jobs of the alerts a host's new changes match."""

    def __init__(
        self, tracking: Tracking, inventory: Callable[[], Inventory], start_job: StartJob
    ) -> None:
        self._tracking = tracking
        self._inventory = inventory
        self._start_job = start_job

    async def fire(self, changes: list[Change]) -> list[str]:
        """The ids of the jobs started for `changes` (all of one host's collection)."""
        alerts = self._tracking.alerts()
        if not alerts or not changes:
            return []
        inventory = self._inventory()
        started: list[str] = []
        for alert in alerts:
            matched = [c for c in changes if matching([alert], c, inventory)]
            for change in matched[:JOBS_PER_ALERT]:
                job_id = await self._start(alert, change)
                if job_id is not None:
                    started.append(job_id)
            if len(matched) > JOBS_PER_ALERT:
                log.warning(
                    "alert %s: %d more changes on %s matched; no job started for them "
                    "(at most %d per collection of a host; see `opsconsole changes list`)",
                    alert.name,
                    len(matched) - JOBS_PER_ALERT,
                    matched[0].host,
                    JOBS_PER_ALERT,
                )
        return started

    async def _start(self, alert: Alert, change: Change) -> str | None:
        try:
            job = await self._start_job(
                alert.runbook,
                alert.pattern or change.host,
                {str(k): str(v) for k, v in alert.parameters.items()},
                trigger=Trigger.ALERT,
                trigger_ref=alert.name,
                change_data=change_data(change, alert.name),
            )
        except OpsError as exc:
            log.warning(
                "alert %s could not start %s for change %s: %s",
                alert.name,
                alert.runbook,
                change.id,
                exc,
            )
            return None
        log.info("alert %s started job %s for change %s", alert.name, job.id, change.id)
        return job.id
