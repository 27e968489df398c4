"""`opsconsole serve`: the engine without the UI.

It runs the job runner, the scheduler, the webhook listener and the control API until
SIGTERM or SIGINT; then it stops taking work, lets running jobs finish within a grace
period (stopping the rest, with the reason recorded), flushes, and exits 0. With
`until_idle` (used for `run --no-wait` when no engine ran) it also exits once no job has
been queued or running for a while.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from typing import Any

from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.jobs.events import EngineEvent
from console.jobs.model import Job
from console.settings import Settings

log = logging.getLogger("opsconsole.serve")

IDLE_EXIT_AFTER = 5.0


class _JobLogger:
    """Logs each job state change once (events also come for host-run changes)."""

    def __init__(self) -> None:
        self._last: dict[str, str] = {}

    def __call__(self, event: EngineEvent) -> None:
        job = event.job
        if job is None or self._last.get(job.id) == job.status.value:
            return
        if job.status.finished:
            self._last.pop(job.id, None)
        else:
            self._last[job.id] = job.status.value
        _log_job(job)


def _log_job(job: Job) -> None:
    log.info(
        "job %s",
        job.status.value.lower(),
        extra={
            "job_id": job.id,
            "runbook": job.runbook,
            "pattern": job.pattern,
            "status": job.status.value,
            "trigger": job.trigger.value,
            "trigger_ref": job.trigger_ref,
            "started_by": job.started_by,
            "hosts": len(job.hosts),
            **({"reason": job.reason} if job.reason else {}),
            **({"failed_hosts": job.failed_hosts()} if job.status.finished else {}),
        },
    )


async def serve(
    settings: Settings, options: EngineOptions, grace: float, until_idle: bool = False
) -> int:
    engine = Engine(settings, options)
    await engine.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    engine.subscribe(_JobLogger())
    log.info(
        "engine started",
        extra={
            "pid": os.getpid(),
            "data_dir": str(settings.data_dir),
            "inventory": str(settings.inventory),
            "runbooks": str(settings.runbooks),
            "webhooks": engine.webhooks.url_base,
        },
    )
    watcher: asyncio.Task[Any] | None = None
    if until_idle:
        watcher = asyncio.create_task(_stop_when_idle(engine, stop))
    await stop.wait()
    log.info("engine stopping", extra={"grace_seconds": grace})
    if watcher:
        watcher.cancel()
    await engine.close(grace=grace)
    log.info("engine stopped")
    return 0


async def _stop_when_idle(engine: Engine, stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    idle_from = loop.time()
    while True:
        await asyncio.sleep(0.5)
        if engine.runner is not None and engine.runner.active_jobs():
            idle_from = loop.time()
        elif loop.time() - idle_from > IDLE_EXIT_AFTER:
            stop.set()
            return
