"""A client that can publish to NATS cannot make workers run commands, nor forge a
run's result: orders and events are signed with the group key, forged ones refused."""

from __future__ import annotations

import json
from pathlib import Path

import nats

from console.jobs.model import JobStatus
from console.workers.protocol import ENDED, Event, Order, events_subject, order_id
from console.workers.signing import GroupSeal
from tests.workers.harness import World, await_until, wait_finished, wait_output


def order_to_touch(marker: Path, job: str) -> Order:
    return Order(
        job_id=job,
        host="routed",
        host_vars={"ansible_connection": "local"},
        command=f"touch {marker}",
        needs_workdir=False,
    )


async def test_a_forged_order_is_refused_logged_and_never_runs(world: World) -> None:
    marker = world.tmp / "forged-ran"
    worker = world.worker("w1")
    client = await nats.connect(world.nats.url)
    js = client.jetstream()
    unsigned = order_to_touch(marker, "forged1")
    await js.publish(
        "opsconsole.orders.g1",
        json.dumps(unsigned.encode().decode()).encode(),
        headers={"Nats-Msg-Id": unsigned.id, "Opsconsole-Signature": "00" * 32},
    )
    wrong_key = GroupSeal("another-key-not-the-groups-0123")
    signed_badly = order_to_touch(marker, "forged2")
    body, signature = wrong_key.seal("opsconsole.orders.g1", signed_badly.id, signed_badly.encode())
    await js.publish(
        "opsconsole.orders.g1",
        body,
        headers={"Nats-Msg-Id": signed_badly.id, "Opsconsole-Signature": signature},
    )
    await client.close()
    await await_until(
        lambda: (
            worker.text().count("refused: bad signature from subject opsconsole.orders.g1") == 2
        ),
        "refused twice",
    )
    # The worker goes on taking the group's real orders, which come after the forged ones.
    world.runbook("hello.sh", "#!/bin/sh\necho hello\n")
    async with world.engine() as engine:
        job = await engine.start_job("hello", "routed", {})
        done = await wait_finished(engine, job.id)
    assert done.status is JobStatus.COMPLETED
    assert not marker.exists()


async def test_a_forged_event_does_not_end_a_run(world: World) -> None:
    go = world.tmp / "go"
    world.runbook(
        "waits.sh",
        f"#!/bin/sh\necho begun\nwhile [ ! -e {go} ]; do sleep 0.05; done\necho after\nexit 3\n",
    )
    world.worker("w1")
    async with world.engine() as engine:
        job = await engine.start_job("waits", "routed", {})
        await wait_output(engine, job.id, ["begun"])
        client = await nats.connect(world.nats.url)
        order = order_id(job.id, "routed")
        forged = Event(ENDED, order, "mallory", code=0).encode()
        await client.jetstream().publish(
            events_subject(order), forged, headers={"Opsconsole-Signature": "ab" * 32}
        )
        await client.close()
        go.touch()
        done = await wait_finished(engine, job.id)
        records = await engine.streams(job.id)
    # the worker's real end (exit 3, after one more line), not the forged success
    assert done.host_runs["routed"].exit_code == 3
    assert done.status is JobStatus.FAILED
    assert [r.text for r in records] == ["begun", "after"]
