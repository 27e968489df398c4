"""How a run's events travel back: lines batched by the worker arrive once and in order,
and the engine, woken by the events stream's announcements of what it stored, reads
each event once; an events stream made by an older version gets the announcements; a
run that prints nothing for longer than the engine's patience is kept alive."""

from __future__ import annotations

import nats
from nats.js.api import DiscardPolicy, RetentionPolicy, StreamConfig

from console.jobs.model import JobStatus
from console.workers.protocol import (
    DEDUP_WINDOW,
    EVENTS_MAX_AGE,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    LOST_AFTER,
)
from tests.workers.harness import World, wait_finished

# Three bursts of lines, a pause longer than the worker's batching between them: the
# lines travel in several events (and the last burst with `ended`).
BURSTS = (
    "#!/bin/sh\n"
    "for burst in 1 2 3; do\n"
    "  for i in $(seq 1 40); do echo line-$burst-$i; done\n"
    "  sleep 0.5\n"
    "done\n"
    "echo last\n"
)
EXPECTED = [f"line-{burst}-{i}" for burst in (1, 2, 3) for i in range(1, 41)] + ["last"]


async def test_lines_sent_in_several_batches_are_stored_once_and_in_order(world: World) -> None:
    world.runbook("bursts.sh", BURSTS)
    world.worker("w1")
    async with world.engine() as engine:
        job = await engine.start_job("bursts", "routed,routed2", {})
        done = await wait_finished(engine, job.id)
        records = await engine.streams(job.id)
    assert done.status is JobStatus.COMPLETED, done.host_runs
    for host in ("routed", "routed2"):
        assert [r.text for r in records if r.host == host] == EXPECTED


async def test_an_events_stream_without_announcements_is_given_them(world: World) -> None:
    client = await nats.connect(world.nats.url)
    js = client.jetstream()
    older = StreamConfig(  # as the first version of the events stream was made
        name=EVENTS_STREAM,
        subjects=[f"{EVENTS_PREFIX}.*"],
        retention=RetentionPolicy.LIMITS,
        max_age=EVENTS_MAX_AGE,
        duplicate_window=DEDUP_WINDOW,
        discard=DiscardPolicy.OLD,
    )
    await js.add_stream(older)
    try:
        world.runbook("bursts.sh", BURSTS)
        world.worker("w1")  # keeps the stream as it is
        async with world.engine() as engine:
            job = await engine.start_job("bursts", "routed", {})
            done = await wait_finished(engine, job.id)
            records = await engine.streams(job.id)
        config = (await js.stream_info(EVENTS_STREAM)).config
    finally:
        await client.close()
    assert done.status is JobStatus.COMPLETED, done.host_runs
    assert [r.text for r in records] == EXPECTED
    assert config.republish is not None and config.republish.headers_only
    assert config.max_age == EVENTS_MAX_AGE  # its other settings kept


async def test_a_run_silent_for_longer_than_the_lost_limit_is_not_lost(world: World) -> None:
    # The workload itself is silent (no synchronisation): only `alive` events speak.
    world.runbook("silent.sh", f"#!/bin/sh\necho begun\nsleep {LOST_AFTER + 2}\necho done\n")
    world.worker("w1")
    async with world.engine() as engine:
        job = await engine.start_job("silent", "routed", {})
        done = await wait_finished(engine, job.id)
        records = await engine.streams(job.id)
    assert done.status is JobStatus.COMPLETED, done.host_runs
    assert [r.text for r in records] == ["begun", "done"]
