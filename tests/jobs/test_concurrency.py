"""The runner's limits: max_jobs (FIFO queue) and max_runs_per_host, watched via events."""

from __future__ import annotations

import pytest

from console.jobs.events import EngineEvent
from console.jobs.model import JobStatus
from tests.jobs.helpers import JobEnv, wait_finished

pytestmark = pytest.mark.timeout(180)

NAP = "#!/bin/sh\nsleep 0.6\necho rested\n"


async def test_max_jobs_keeps_the_rest_queued_and_starts_them_in_order(job_env: JobEnv) -> None:
    job_env.runbook("nap.sh", NAP)
    active: set[str] = set()
    peak = 0
    started: list[str] = []

    def on_event(event: EngineEvent) -> None:
        nonlocal peak
        if event.job is None:
            return
        if event.job.status in (JobStatus.STARTING, JobStatus.RUNNING):
            if event.job.id not in active and event.job.id not in started:
                started.append(event.job.id)
            active.add(event.job.id)
        else:
            active.discard(event.job.id)
        peak = max(peak, len(active))

    async with job_env.engine(max_jobs=2) as engine:
        engine.subscribe(on_event)
        jobs = [
            await engine.start_job("nap", host, {})
            for host in ("host14", "host15", "host16", "host17")
        ]
        assert [(await engine.job(j.id)).status for j in jobs[2:]] == [JobStatus.QUEUED] * 2
        done = [await wait_finished(engine, j.id) for j in jobs]
    assert {j.status for j in done} == {JobStatus.COMPLETED}
    assert peak == 2
    assert started == [j.id for j in jobs]
    # The third job started only once one of the first two had ended.
    assert done[2].started is not None and done[0].ended is not None
    assert done[2].started >= min(done[0].ended, done[1].ended or 0)


async def test_one_run_per_host_at_a_time(job_env: JobEnv) -> None:
    job_env.runbook("nap.sh", NAP)
    async with job_env.engine(max_jobs=4, max_runs_per_host=1) as engine:
        first = await engine.start_job("nap", "host18", {})
        second = await engine.start_job("nap", "host18:host19", {})
        a = (await wait_finished(engine, first.id)).host_runs["host18"]
        done = await wait_finished(engine, second.id)
    b = done.host_runs["host18"]
    assert done.status is JobStatus.COMPLETED
    assert a.started and a.ended and b.started and b.ended
    assert a.ended <= b.started, "two runs overlapped on host18"
    # host19 was free, so the second job's run there did not wait for host18.
    other = done.host_runs["host19"]
    assert other.started is not None and other.started < a.ended


async def test_two_runs_per_host_overlap_when_allowed(job_env: JobEnv) -> None:
    job_env.runbook("nap.sh", NAP)
    async with job_env.engine(max_jobs=4, max_runs_per_host=2) as engine:
        first = await engine.start_job("nap", "host20", {})
        second = await engine.start_job("nap", "host20", {})
        a = (await wait_finished(engine, first.id)).host_runs["host20"]
        b = (await wait_finished(engine, second.id)).host_runs["host20"]
    assert a.started and a.ended and b.started and b.ended
    assert b.started < a.ended, "the second run waited although two were allowed"


async def test_dispatcher_goes_on_after_an_injected_bug(
    job_env: JobEnv, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No real input makes dispatching raise today; a bug injected once (a monkeypatch,
    the only way to raise there) must not leave every later job Queued forever."""
    job_env.runbook("nap.sh", NAP)
    async with job_env.engine() as engine:
        assert engine.runner is not None
        runner = engine.runner
        original = runner._next_startable
        calls = 0

        def buggy_once() -> object:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise RuntimeError("injected dispatch bug")
            return original()

        monkeypatch.setattr(runner, "_next_startable", buggy_once)
        job = await engine.start_job("nap", "host14", {})
        assert (await wait_finished(engine, job.id)).status is JobStatus.COMPLETED
        assert calls >= 2
