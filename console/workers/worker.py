"""The worker process: takes its group's orders from JetStream and runs them on hosts
with its own transports, streaming events back. It holds no store.

The order of things on receiving an order is what makes the delivery guarantees
(docs/workers.md, Guarantees): verify the seal -> publish `started` (acknowledged, with
a message id per order, so a second worker's `started` is a duplicate and that worker
does not run it) -> ack the order -> run -> stream lines -> `ended`. Until `started`,
the order is held with `in_progress` heartbeats: a worker killed before it started
the run leaves the order unacknowledged, and JetStream hands it to another worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig
from nats.js.errors import BadRequestError

from console.errors import Cancelled, HostError, OpsError
from console.inventory.model import Host
from console.jobs.host_run import Work, execute
from console.jobs.time_limit import TimeLimit
from console.runbooks.plugin_api import Invocation
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from console.workers.child_relay import ChildRelay
from console.workers.connection import NatsSettings
from console.workers.credentials import ReceivedCredentials
from console.workers.events_out import RunEvents
from console.workers.nats_link import MSG_ID_HEADER, ensure_streams, open_message, open_nats
from console.workers.presence import Presence
from console.workers.protocol import (
    ENDED,
    ORDERS_STREAM,
    WORKDIR_PLACEHOLDER,
    Event,
    Order,
    Stop,
    control_subject,
    order_subject,
    unb64,
)
from console.workers.signing import ForgedMessage, GroupSeal

log = logging.getLogger("opsconsole.worker")

DEFAULT_ACK_WAIT = 30.0  # seconds JetStream waits for a word from a worker holding an order
FETCH_WAIT = 5.0  # seconds one fetch of orders waits for any
MORE_WAIT = 0.02  # seconds a fetch waits for more orders before those fetched start
MORE_FOR = 0.2  # ... at most, in all: the first fetched start at most this much later
RETRY_WAIT = 0.5  # seconds before fetching again after NATS failed
# Test hook: when set to a folder, a worker that received an order writes
# `<folder>/<worker>.held` and holds the order (with heartbeats) instead of starting it,
# so a test can kill it at exactly that point.
HOLD_ENV = "OPSCONSOLE_WORKER_TEST_HOLD"


@dataclass(frozen=True)
class WorkerConfig:
    group: str
    nats: NatsSettings
    name: str
    group_key: str
    capacity: int = 16
    ack_wait: float = DEFAULT_ACK_WAIT


def _invocation(order: Order, workdir: str) -> Invocation:
    """The engine's invocation with the workdir made here put in its place."""

    def put(text: str) -> str:
        return text.replace(WORKDIR_PLACEHOLDER, workdir)

    return Invocation(
        command=put(order.command),
        files={name: unb64(data) for name, data, mode in order.uploads if mode != 0o600},
        data_files={name: unb64(data) for name, data, mode in order.uploads if mode == 0o600},
        env={name: put(value) for name, value in order.env.items()},
        stdin=unb64(order.stdin) if order.stdin is not None else None,
    )


class Worker:
    def __init__(self, config: WorkerConfig) -> None:
        self.config = config
        self._seal = GroupSeal(config.group_key)
        self._credentials = ReceivedCredentials()
        self._pool = TransportPool(assets=self._credentials)
        self._runs: dict[str, asyncio.Task[Event]] = {}  # order id -> its run
        self._handling: set[asyncio.Task[None]] = set()  # orders taken, at most `capacity`
        self._room = asyncio.Event()
        self._js: JetStreamContext | None = None
        self._relay: ChildRelay | None = None

    async def serve(self) -> None:
        """Take orders until cancelled; then the runs going on are stopped and end as
        "stopped on the worker" (not lost), and the connection is closed."""
        nc = await open_nats(self.config.nats, f"opsconsole worker {self.config.name}")
        presence: Presence | None = None
        try:
            self._js = nc.jetstream()
            await ensure_streams(self._js)
            presence = Presence(
                self._js,
                name=self.config.name,
                group=self.config.group,
                capacity=self.config.capacity,
                running=lambda: len(self._runs),
            )
            await presence.start()
            await nc.subscribe(control_subject(self.config.group), cb=self._on_control)
            self._relay = ChildRelay(nc, self._seal, self.config.group)
            await self._relay.start()
            subscription = await self._orders_subscription(self._js)
            log.info(
                "worker %s takes orders of group %s (capacity %d)",
                self.config.name,
                self.config.group,
                self.config.capacity,
            )
            await self._take_orders(subscription)
        finally:
            for task in list(self._handling):
                task.cancel()
            await asyncio.gather(*self._handling, return_exceptions=True)
            if presence is not None:  # a clean stop: offline at once in `workers list`
                await presence.stop()
            await self._pool.close()
            if self._relay is not None:
                await self._relay.close()
            await nc.close()

    async def _orders_subscription(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        """The group's durable pull consumer, shared by all its workers."""
        group = self.config.group
        config = ConsumerConfig(
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=self.config.ack_wait,
            max_deliver=-1,
            max_ack_pending=-1,
        )
        try:
            return await js.pull_subscribe(
                order_subject(group), durable=f"group-{group}", config=config
            )
        except BadRequestError as exc:  # made by a worker with another --ack-wait: use it
            log.warning("the group's consumer exists with other settings (%s); using it", exc)
            return await js.pull_subscribe_bind(durable=f"group-{group}", stream=ORDERS_STREAM)

    async def _take_orders(self, subscription: JetStreamContext.PullSubscription) -> None:
        while True:
            free = self.config.capacity - len(self._handling)
            if free <= 0:
                self._room.clear()
                await self._room.wait()
                continue
            try:
                messages = await subscription.fetch(free, timeout=FETCH_WAIT)
            except (TimeoutError, NatsTimeout):
                continue
            except Exception as exc:  # NATS away: the client reconnects meanwhile
                log.warning("fetching orders failed (%s); trying again", exc)
                await asyncio.sleep(RETRY_WAIT)
                continue
            # Room counted now, not before the fetch: runs that ended while it waited
            # for orders left room, and a job's orders beyond the fetch's batch would
            # otherwise wait, as a second wave, for the runs started now.
            room = self.config.capacity - len(self._handling) - len(messages)
            messages += await self._more_orders(subscription, room)
            log.info("took %d order(s)", len(messages))
            for msg in messages:
                self._start(msg)

    async def _more_orders(
        self, subscription: JetStreamContext.PullSubscription, room: int
    ) -> list[Msg]:
        """The orders that arrive within MORE_WAIT of each other (for MORE_FOR at most),
        before any starts. A fetch returns what JetStream had stored when it answered,
        often part of a job's orders; once runs start, their local commands keep this
        process busy, and the rest would wait for them as a second wave."""
        more: list[Msg] = []
        until = time.monotonic() + MORE_FOR
        while room > len(more) and time.monotonic() < until:
            try:
                more += await subscription.fetch(room - len(more), timeout=MORE_WAIT)
            except Exception:  # none within MORE_WAIT (or NATS away): start what we have
                break
        return more

    def _start(self, msg: Msg) -> None:
        task = asyncio.create_task(self._handle(msg))
        self._handling.add(task)
        task.add_done_callback(self._handled)

    def _handled(self, task: asyncio.Task[None]) -> None:
        self._handling.discard(task)
        self._room.set()

    async def _handle(self, msg: Msg) -> None:
        try:
            order = Order.decode(open_message(self._seal, msg))
            if order.id != (msg.headers or {}).get(MSG_ID_HEADER):
                raise ForgedMessage(f"an order under another message id on {msg.subject}")
        except (ForgedMessage, ValueError, TypeError) as exc:
            log.error("refused: %s (message %s)", exc, (msg.headers or {}).get("Nats-Msg-Id"))
            with contextlib.suppress(Exception):
                await msg.term()
            return
        events = RunEvents(self._js_ctx(), self._seal, order.id, self.config.name)
        async with self._held(msg):
            await self._hold_for_tests(order)
            if not await events.started():
                log.info("order %s was started by another worker; dropped", order.id)
                await self._ack(msg)
                return
        await self._ack(msg)
        log.info("running %s", order.id)
        run = self._runs[order.id] = asyncio.create_task(self._run(order, events))
        try:
            ended = await run
        except asyncio.CancelledError:
            if not run.cancelled():
                raise
            ended = _stopped(order)  # stopped before it began
        finally:
            self._runs.pop(order.id, None)
        await events.ended(ended)
        log.info("ended %s", order.id)

    @contextlib.asynccontextmanager
    async def _held(self, msg: Msg) -> AsyncIterator[None]:
        """Tell JetStream, meanwhile, that the order is being worked on."""

        async def beat() -> None:
            while True:
                await asyncio.sleep(self.config.ack_wait / 3)
                with contextlib.suppress(Exception):
                    await msg.in_progress()

        beating = asyncio.create_task(beat())
        try:
            yield
        finally:
            beating.cancel()

    async def _hold_for_tests(self, order: Order) -> None:
        folder = os.environ.get(HOLD_ENV)
        if folder:
            Path(folder, f"{self.config.name}.held").write_text(order.id)
            await asyncio.Event().wait()

    async def _ack(self, msg: Msg) -> None:
        try:  # not waiting for the server's word: `started` is stored, a redelivery drops
            await msg.ack()
        except Exception as exc:
            log.warning("acknowledging an order failed (%s)", exc)

    def _js_ctx(self) -> JetStreamContext:
        assert self._js is not None
        return self._js

    async def _run(self, order: Order, events: RunEvents) -> Event:
        """Run the order on its host; how it ended, as an `ended` event."""
        host = Host(order.host, order.host_vars)
        limit = TimeLimit(order.time_left)
        ended = Event(ENDED, order.id, self.config.name)
        try:
            self._credentials.update(order.credentials)
            transport = transport_for(host, self._pool)
            await limit.bound(transport.connect(), host, "not connected within")
            work = Work(
                build=lambda _host, workdir: _invocation(order, workdir),
                needs_workdir=order.needs_workdir,
            )
            with self._child_relay(host, order) as extra_env:
                status = await execute(transport, host, work, limit, events.line, extra_env)
            ended.code, ended.signal = status.code, status.signal
        except HostError as exc:
            ended.error_kind, ended.error = exc.kind, exc.detail
        except OpsError as exc:
            ended.error_kind, ended.error = HostError.kind, str(exc)
        except asyncio.CancelledError:
            return _stopped(order)
        except Exception as exc:  # a bug fails this run, never the worker
            log.exception("the run of %s failed unexpectedly", order.id)
            ended.error_kind, ended.error = HostError.kind, f"{type(exc).__name__}: {exc}"
        return ended

    @contextlib.contextmanager
    def _child_relay(self, host: Host, order: Order) -> Iterator[dict[str, str]]:
        """A local run with its job's token (the engine sends it only to local runs)
        may start child runbooks through the relay while it runs."""
        job_id, token = order.env.get("OPS_JOB_ID"), order.env.get("OPS_JOB_TOKEN")
        if host.connection != "local" or not job_id or not token or self._relay is None:
            yield {}
            return
        self._relay.admit(job_id, token)
        try:
            yield self._relay.run_env()
        finally:
            self._relay.dismiss(job_id)

    async def _on_control(self, msg: Msg) -> None:
        try:
            stop = Stop.decode(open_message(self._seal, msg))
        except (ForgedMessage, ValueError, TypeError) as exc:
            log.error("refused: %s", exc)
            return
        task = self._runs.get(stop.order)
        if task is not None:
            log.info("stopping %s: %s", stop.order, stop.reason)
            task.cancel()


def _stopped(order: Order) -> Event:
    return Event(ENDED, order.id, "", error_kind=Cancelled.kind, error="stopped on the worker")
