"""Worker presence with a real nats-server: announced workers are listed online, a
worker whose heartbeats stop turns offline, a clean stop is offline at once, and
heartbeats resume after NATS restarts."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import AsyncIterator, Callable

import pytest
from nats.aio.client import Client as NATS

from console.errors import UsageError
from console.workers.connection import NatsSettings, connect_nats
from console.workers.presence import (
    OFFLINE,
    ONLINE,
    Presence,
    WorkerInfo,
    list_workers,
    online_workers,
    opsconsole_version,
)
from tests.nats_server import NatsServer

BEAT_S = 0.2  # fast heartbeats so the tests wait little
OFFLINE_S = 1.0  # five missed heartbeats


async def client_of(server: NatsServer, name: str) -> NATS:
    return await connect_nats(NatsSettings.required(server.url, environ={}), name)


@pytest.fixture
async def reader(nats_server: NatsServer) -> AsyncIterator[NATS]:
    """The engine's (or `workers list`'s) own connection."""
    client = await client_of(nats_server, "engine")
    yield client
    await client.close()


async def wait_for_worker(
    reader: NATS, name: str, condition: Callable[[WorkerInfo], bool], limit_s: float = 60.0
) -> WorkerInfo:
    """Poll the listing until worker `name` satisfies `condition` (the limit only stops
    a hung test)."""
    deadline = time.monotonic() + limit_s
    while True:
        workers = await list_workers(reader.jetstream(), offline_after_s=OFFLINE_S)
        found = [w for w in workers if w.name == name]
        if found and condition(found[0]):
            return found[0]
        assert time.monotonic() < deadline, f"worker {name} never got there: {workers}"
        await asyncio.sleep(0.05)


async def started(client: NATS, name: str, group: str, running: Callable[[], int]) -> Presence:
    presence = Presence(
        client.jetstream(), name=name, group=group, capacity=4, running=running, heartbeat_s=BEAT_S
    )
    await presence.start()
    return presence


async def test_no_worker_ever_started_lists_none(reader: NATS) -> None:
    assert await list_workers(reader.jetstream()) == []


async def test_an_announced_worker_is_listed_online_with_what_it_said(
    nats_server: NatsServer, reader: NATS
) -> None:
    worker = await client_of(nats_server, "worker dmz-1")
    busy = [0]
    presence = await started(worker, "dmz-1", "dmz", running=lambda: busy[0])
    other = await started(worker, "lab-1", "lab", running=lambda: 0)

    listed = await wait_for_worker(reader, "dmz-1", lambda w: w.state == ONLINE)
    assert (listed.group, listed.host, listed.version, listed.capacity, listed.running) == (
        "dmz",
        socket.gethostname(),
        opsconsole_version(),
        4,
        0,
    )
    assert [w.name for w in await online_workers(reader.jetstream(), "dmz")] == ["dmz-1"]

    busy[0] = 3  # the next heartbeat says how many runs it has
    await wait_for_worker(reader, "dmz-1", lambda w: w.running == 3)
    await presence.stop()
    await other.stop()
    await worker.close()


async def test_a_worker_whose_heartbeats_stop_turns_offline(
    nats_server: NatsServer, reader: NATS
) -> None:
    worker = await client_of(nats_server, "worker dmz-1")
    await started(worker, "dmz-1", "dmz", running=lambda: 0)
    await wait_for_worker(reader, "dmz-1", lambda w: w.state == ONLINE)

    await worker.close()  # it lost NATS (or died): no goodbye, no more heartbeats

    gone = await wait_for_worker(reader, "dmz-1", lambda w: w.state == OFFLINE)
    assert time.time() - gone.last_seen > OFFLINE_S
    assert await online_workers(reader.jetstream(), "dmz", offline_after_s=OFFLINE_S) == []


async def test_a_clean_stop_is_offline_at_once(nats_server: NatsServer, reader: NATS) -> None:
    worker = await client_of(nats_server, "worker dmz-1")
    presence = await started(worker, "dmz-1", "dmz", running=lambda: 0)
    await presence.stop()

    # Even a reader that waits an hour for missed heartbeats sees it offline now.
    [listed] = await list_workers(reader.jetstream(), offline_after_s=3600)
    assert (listed.name, listed.state) == ("dmz-1", OFFLINE)
    await worker.close()


@pytest.mark.parametrize("kill", [False, True], ids=["restart", "kill-9-restart"])
async def test_heartbeats_resume_after_nats_restarts(
    nats_server: NatsServer, reader: NATS, kill: bool
) -> None:
    worker = await client_of(nats_server, "worker dmz-1")
    presence = await started(worker, "dmz-1", "dmz", running=lambda: 0)
    await wait_for_worker(reader, "dmz-1", lambda w: w.state == ONLINE)

    await asyncio.to_thread(nats_server.restart, kill)
    restarted_at = time.time()

    back = await wait_for_worker(reader, "dmz-1", lambda w: w.last_seen > restarted_at)
    assert back.state == ONLINE
    await presence.stop()
    await worker.close()


@pytest.mark.parametrize(("name", "group"), [("dmz 1", "dmz"), ("dmz-1", "dmz.a"), (".x", "g")])
async def test_a_name_or_group_nats_cannot_carry_is_refused(
    reader: NATS, name: str, group: str
) -> None:
    with pytest.raises(UsageError, match=r"use letters, digits"):
        Presence(reader.jetstream(), name=name, group=group, capacity=1, running=lambda: 0)
