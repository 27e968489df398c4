"""The engine following the events of the host runs it handed to worker groups.

Each run's events are read from the events stream by sequence (JetStream's "next
message on this subject from sequence N"), so they come once and in order, from any
point (an engine restarted reads on from its last applied sequence), and no consumer is
kept on the server per run: a server limits consumers, and a thousand runs at once
would need a thousand. A single plain subscription on every run's subject is the
doorbell: a new event wakes its run's follower, which then reads it from the stream.
A follower also looks every `POLL` seconds, for a doorbell missed while NATS was away.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.errors import NotFoundError

from console.errors import Cancelled, HostError, TimedOut
from console.inventory.model import Host
from console.jobs.host_run import RunCallbacks
from console.transports.base import ExitStatus
from console.workers.nats_link import MSG_ID_HEADER
from console.workers.protocol import (
    ALIVE,
    ENDED,
    EVENTS_PREFIX,
    EVENTS_STREAM,
    LINES,
    LOST_AFTER,
    STARTED,
    Event,
    events_subject,
    unb64,
)
from console.workers.signing import SIGNATURE_HEADER, ForgedMessage, GroupSeal

log = logging.getLogger(__name__)

# Seconds between looks at the stream without a doorbell: a started run is looked at
# often (a silent worker is lost after LOST_AFTER); a queued one waits for its doorbell
# (rung for all runs, too, when the engine got back to NATS after losing it).
POLL = 1.0
POLL_QUEUED = 10.0
RECONNECT_CHECK = 0.5  # seconds between looks at the connection, for the reconnect ring
BELL_EARLY = 0.005  # seconds before looking again when a doorbell found nothing yet
EARLY_LOOKS = 5  # ... doubling each time (5 to 80 ms), then every POLL


class Doorbells:
    """One subscription on every run's events subject; wakes the run's follower."""

    def __init__(self) -> None:
        self._bells: dict[str, asyncio.Event] = {}
        self._sub: Subscription | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self, nc: NATS) -> None:
        self._sub = await nc.subscribe(f"{EVENTS_PREFIX}.*", cb=self._ring)
        self._watch = asyncio.create_task(self._ring_after_reconnect(nc))

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()

    async def _ring_after_reconnect(self, nc: NATS) -> None:
        """Doorbells rung while NATS was away are lost: ring every bell once back."""
        was_connected = True
        while True:
            await asyncio.sleep(RECONNECT_CHECK)
            if nc.is_connected and not was_connected:
                for bell in self._bells.values():
                    bell.set()
            was_connected = nc.is_connected

    async def _ring(self, msg: Msg) -> None:
        bell = self._bells.get(msg.subject)
        if bell is not None:
            bell.set()

    def bell(self, subject: str) -> asyncio.Event:
        bell = self._bells[subject] = asyncio.Event()
        return bell

    def forget(self, subject: str) -> None:
        self._bells.pop(subject, None)


class Follower:
    """One host run's events, read in stream order from just after `after`."""

    def __init__(
        self,
        nc: NATS,
        seal: GroupSeal,
        host: Host,
        order: str,
        doorbells: Doorbells,
        after: int = 0,
        applied: Callable[[int], None] | None = None,
        direct: bool = False,
    ) -> None:
        self._direct = direct
        self._nc = nc
        self._seal = seal
        self._host = host
        self._order = order
        self._subject = events_subject(order)
        self._doorbells = doorbells
        self._bell = doorbells.bell(self._subject)
        self._next = after + 1
        self._started = after > 0  # only `started` and `lines` events are noted as applied
        self._applied = applied
        self.ended = False

    @property
    def started(self) -> bool:
        """A worker took the run (its `started` event was applied)."""
        return self._started

    @property
    def host_name(self) -> str:
        return self._host.name

    def close(self) -> None:
        self._doorbells.forget(self._subject)

    async def follow(self, calls: RunCallbacks) -> ExitStatus:
        """Apply the run's events until `ended`; HostError as a transport would raise."""
        heard = time.monotonic()
        early = 0  # looks left soon after a doorbell
        while True:
            self._bell.clear()
            event = await self._read()
            now = time.monotonic()
            if event is None:
                if not self._nc.is_connected:
                    heard = now  # silence while NATS is away says nothing of the worker
                if self._started and now - heard > LOST_AFTER:
                    raise HostError(self._host.name, "worker lost while the run was in progress")
                # A doorbell can come before the stream stored its event: look again soon.
                idle = POLL if self._started else POLL_QUEUED
                wait = BELL_EARLY * 2 ** (EARLY_LOOKS - early) if early else idle
                early = max(0, early - 1)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._bell.wait(), wait)
                if self._bell.is_set():
                    early = EARLY_LOOKS
                continue
            heard = now
            if self._apply(event, calls):
                self.ended = True
                return self._exit(event)

    def _apply(self, event: Event, calls: RunCallbacks) -> bool:
        """Apply one event; True when it ends the run."""
        sequence = self._next - 1
        if event.kind == STARTED and not self._started:
            self._started = True
            calls.on_started(event.worker)
        elif event.kind in (LINES, ENDED):
            for stream, data in event.lines:
                calls.on_line(stream, unb64(data))  # type: ignore[arg-type]
            calls.flush()
            if event.kind == ENDED:
                return True
        elif event.kind != ALIVE and event.kind != STARTED:
            log.warning("unknown event %r for %s", event.kind, self._order)
            return False
        if self._applied is not None and event.kind in (STARTED, LINES):
            self._applied(sequence)
        return False

    async def _read(self) -> Event | None:
        """The run's next event in the stream, or None when there is none (yet)."""
        try:
            raw = await self._nc.jetstream().get_msg(
                EVENTS_STREAM, seq=self._next, subject=self._subject, next=True, direct=self._direct
            )
        except NotFoundError:
            return None
        except Exception as exc:  # NATS away or slow: look again later
            log.debug("reading events of %s: %s", self._order, exc)
            return None
        assert raw.seq is not None
        self._next = raw.seq + 1
        headers = raw.headers or {}
        try:
            body = self._seal.open(
                self._subject,
                headers.get(MSG_ID_HEADER, ""),
                raw.data or b"",
                headers.get(SIGNATURE_HEADER),
            )
            event = Event.decode(body)
        except (ForgedMessage, ValueError, TypeError) as exc:
            log.error("refused an event for %s: %s", self._order, exc)
            return None
        if event.order != self._order:
            log.error("refused an event for %s: it names %s", self._order, event.order)
            return None
        return event

    def _exit(self, event: Event) -> ExitStatus:
        if event.error_kind is None:
            return ExitStatus(event.code, event.signal)
        message = event.error or event.error_kind
        if event.error_kind == TimedOut.kind:
            raise TimedOut(self._host.name, message)
        if event.error_kind == Cancelled.kind:
            raise Cancelled(self._host.name, message)
        error = HostError(self._host.name, message)
        error.kind = event.error_kind
        raise error
