"""A worker's outgoing events of one host run: sealed, published in order, never lost.

Lines are queued as the command prints them and sent in batches (one acknowledged
publish carries every line queued meanwhile, and a batch waits `LINES_LINGER` for
more), so a chatty command does not wait for one round trip per line; the last ones
travel with `ended` (a run shorter than `LINES_LINGER` sends `started` and `ended`
only: each event is a publish for the worker and a read for the engine). A publish
that fails (NATS restarting) is tried again with the same message id: JetStream's
duplicate window drops a copy that did arrive.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque

from nats.js import JetStreamContext
from nats.js.api import PubAck

from console.transports.base import StreamName
from console.workers.nats_link import sealed_headers
from console.workers.protocol import (
    ALIVE,
    ALIVE_INTERVAL,
    ENDED,
    LINES,
    STARTED,
    Event,
    b64,
    events_subject,
)
from console.workers.signing import GroupSeal

log = logging.getLogger(__name__)

RETRY_WAIT = 0.5  # seconds between attempts to publish an event
PUBLISH_TIMEOUT = 5.0
MAX_BATCH_BYTES = 256 * 1024
LINES_LINGER = 0.5  # seconds lines wait for more (see RunEvents.line)


async def publish_until_stored(
    js: JetStreamContext, seal: GroupSeal, subject: str, message_id: str, plain: bytes
) -> PubAck:
    """Publish with acknowledgement, trying again until JetStream stored it."""
    body, headers = sealed_headers(seal, subject, message_id, plain)
    while True:
        try:
            return await js.publish(subject, body, headers=headers, timeout=PUBLISH_TIMEOUT)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("publishing %s failed (%s); trying again", message_id, exc)
            await asyncio.sleep(RETRY_WAIT)


class RunEvents:
    """The events of one host run, from `started` to `ended`."""

    def __init__(self, js: JetStreamContext, seal: GroupSeal, order: str, worker: str) -> None:
        self._js = js
        self._seal = seal
        self._order = order
        self._worker = worker
        self._subject = events_subject(order)
        self._count = 0
        self._lines: deque[tuple[str, str]] = deque()
        self._closing = False  # `ended` is being sent: lines go with it
        self._lines_timer: asyncio.TimerHandle | None = None
        self._sender: asyncio.Task[None] | None = None
        self._last_sent = time.monotonic()
        self._alive_timer: asyncio.TimerHandle | None = None
        self._alive: asyncio.Task[None] | None = None

    async def started(self) -> bool:
        """Publish `started`; False when another worker already started this run (its
        `started` has the same message id, so JetStream reports this one a duplicate)."""
        event = Event(STARTED, self._order, self._worker)
        ack = await publish_until_stored(
            self._js, self._seal, self._subject, f"{self._order}.started", event.encode()
        )
        if ack.duplicate:
            return False
        self._alive_after(ALIVE_INTERVAL)
        return True

    def line(self, stream: StreamName, data: bytes) -> None:
        """Queue a line. The first of a batch sends the batch LINES_LINGER later, so
        that the lines of a burst (and all those of a short run, which then go with
        `ended`) make one event: each event is a publish and a read by the engine. A
        timer, not a task per run: most runs end before it fires.

        Half a second, not less: a busy worker (hundreds of runs starting at once)
        notices a command's exit a few hundred milliseconds after its last line, and
        with 0.2 s a third to two thirds of 500 trivial runs sent their line as an event
        of its own."""
        self._lines.append((stream, b64(data)))
        if self._lines_timer is None and self._sender is None and not self._closing:
            self._lines_timer = asyncio.get_running_loop().call_later(LINES_LINGER, self._lines_due)

    def _lines_due(self) -> None:
        self._lines_timer = None
        if not self._closing:
            self._sender = asyncio.create_task(self._send_lines())

    async def _send_lines(self) -> None:
        """Send the queued lines, and those queued meanwhile, one publish at a time."""
        try:
            while self._lines and not self._closing:
                await self._publish_batch()
        finally:
            self._sender = None

    async def ended(self, event: Event) -> None:
        """Send `ended` (the run's last event) with the lines still queued."""
        self._closing = True
        for timer in (self._lines_timer, self._alive_timer):
            if timer is not None:
                timer.cancel()
        for task in (self._alive, self._sender):  # one in flight ends before `ended`
            if task is not None:
                await task
        while sum(len(data) for _, data in self._lines) > MAX_BATCH_BYTES:
            await self._publish_batch()
        event.kind, event.order, event.worker = ENDED, self._order, self._worker
        event.lines = list(self._lines)
        self._lines.clear()
        await self._publish(event)

    async def _publish_batch(self) -> None:
        batch, size = [], 0
        while self._lines and size < MAX_BATCH_BYTES:
            item = self._lines.popleft()
            batch.append(item)
            size += len(item[1])
        await self._publish(Event(LINES, self._order, self._worker, lines=batch))

    def _alive_after(self, seconds: float) -> None:
        self._alive_timer = asyncio.get_running_loop().call_later(seconds, self._alive_due)

    def _alive_due(self) -> None:
        """An `alive` once the run sent nothing for ALIVE_INTERVAL: any event tells the
        engine that the worker lives, so a run that prints sends none. A timer, not a
        task per run: most runs end before their first."""
        quiet_for = time.monotonic() - self._last_sent
        if quiet_for < ALIVE_INTERVAL:
            self._alive_after(ALIVE_INTERVAL - quiet_for)
        elif not self._closing:
            self._alive = asyncio.create_task(self._send_alive())

    async def _send_alive(self) -> None:
        """Publish one `alive` and plan the next. `ended` waits for it rather than
        cancelling it: nats-py's request (asyncio.wait_for in Python 3.11) can swallow a
        cancellation that arrives as its reply does, and a swallowed one would hang."""
        await self._publish(Event(ALIVE, self._order, self._worker))
        if not self._closing:
            self._alive_after(ALIVE_INTERVAL)

    async def _publish(self, event: Event) -> None:
        self._last_sent = time.monotonic()
        self._count += 1
        message_id = f"{self._order}.{self._worker}.{self._count}"
        await publish_until_stored(self._js, self._seal, self._subject, message_id, event.encode())
