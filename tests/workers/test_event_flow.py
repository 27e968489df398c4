"""How a run's events travel back: lines batched by the worker arrive once and in order,
and the engine applies the events stream's announcements of what it stored, without
reading the stream; an events stream made by an older version gets the announcements;
a forged announcement is refused and loses nothing; a run that prints nothing for
longer than the engine's patience is kept alive."""

from __future__ import annotations

import logging

import nats
import pytest
from nats.aio.msg import Msg
from nats.js.api import DiscardPolicy, RePublish, RetentionPolicy, StreamConfig

from console.jobs.model import JobStatus
from console.workers.protocol import (
    DEDUP_WINDOW,
    EVENTS_MAX_AGE,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    LOST_AFTER,
    STORED_PREFIX,
    events_subject,
    order_id,
)
from tests.workers.harness import World, wait_finished, wait_output

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


async def test_lines_in_several_batches_arrive_once_in_order_without_stream_reads(
    world: World,
) -> None:
    """The engine applies each announced event as it came: no read of the stream."""
    client = await nats.connect(world.nats.url)
    reads: list[str] = []

    async def count(msg: Msg) -> None:
        if EVENTS_STREAM in msg.subject:  # not the workers' presence, read meanwhile
            reads.append(msg.subject)

    # Every way to read a message of a stream: direct gets and the stream API.
    await client.subscribe("$JS.API.DIRECT.GET.>", cb=count)
    await client.subscribe("$JS.API.STREAM.MSG.GET.>", cb=count)
    try:
        world.runbook("bursts.sh", BURSTS)
        world.worker("w1")
        async with world.engine() as engine:
            job = await engine.start_job("bursts", "routed,routed2", {})
            done = await wait_finished(engine, job.id)
            records = await engine.streams(job.id)
        await client.flush()
    finally:
        await client.close()
    assert done.status is JobStatus.COMPLETED, done.host_runs
    for host in ("routed", "routed2"):
        assert [r.text for r in records if r.host == host] == EXPECTED
    assert reads == []


OLDER_ANNOUNCEMENTS = {
    "none": None,  # the first version of the events stream
    "headers only": RePublish(  # the second: the engine read each announced event
        src=f"{EVENTS_PREFIX}.*", dest=f"{STORED_PREFIX}.{{{{wildcard(1)}}}}", headers_only=True
    ),
}


@pytest.mark.parametrize("announced", OLDER_ANNOUNCEMENTS, ids=list(OLDER_ANNOUNCEMENTS))
async def test_an_events_stream_made_by_an_older_version_is_given_announcements(
    world: World, announced: str
) -> None:
    client = await nats.connect(world.nats.url)
    js = client.jetstream()
    older = StreamConfig(  # as an older version made the events stream
        name=EVENTS_STREAM,
        subjects=[f"{EVENTS_PREFIX}.*"],
        retention=RetentionPolicy.LIMITS,
        max_age=EVENTS_MAX_AGE,
        duplicate_window=DEDUP_WINDOW,
        discard=DiscardPolicy.OLD,
        republish=OLDER_ANNOUNCEMENTS[announced],
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
    assert config.republish is not None and not config.republish.headers_only
    assert config.max_age == EVENTS_MAX_AGE  # its other settings kept


async def test_a_forged_announcement_is_refused_and_loses_no_event(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """Anyone allowed to publish may send an announcement: one that does not verify
    must not move the engine past the run's real events."""
    world.runbook("pause.sh", "#!/bin/sh\necho before\nsleep 2\necho after\n")
    world.worker("w1")
    client = await nats.connect(world.nats.url)
    try:
        async with world.engine() as engine:
            job = await engine.start_job("pause", "routed", {})
            await wait_output(engine, job.id, ["before"])
            token = events_subject(order_id(job.id, "routed")).rpartition(".")[2]
            headers = {
                "Nats-Sequence": str(10**9),  # far beyond the run's real events
                "Nats-Last-Sequence": "0",
                "Nats-Msg-Id": f"{order_id(job.id, 'routed')}.w1.99",
                "Opsconsole-Signature": "0" * 64,
            }
            with caplog.at_level(logging.ERROR):
                await client.publish(f"{STORED_PREFIX}.{token}", b"forged", headers=headers)
                await client.flush()
                done = await wait_finished(engine, job.id)
            records = await engine.streams(job.id)
    finally:
        await client.close()
    assert done.status is JobStatus.COMPLETED, done.host_runs
    assert [r.text for r in records] == ["before", "after"]
    assert any("refused an event" in r.getMessage() for r in caplog.records)


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
