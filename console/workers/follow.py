"""The engine following the events of the host runs it handed to worker groups.

Each run's events are read from the events stream by sequence (JetStream's "next
message on this subject from sequence N"), so they come once and in order, from any
point (an engine restarted reads on from its last applied sequence), and no consumer is
kept on the server per run: a server limits consumers, and a thousand runs at once
would need a thousand. A single plain subscription is the doorbell: the events stream
announces each event it stored (republish, with its sequence and the previous sequence
of its subject), which wakes the run's follower. An announced event that directly follows
the last one applied is applied as it came; otherwise (an announcement missed, one
without a body, an engine restarted) the follower reads the event from the stream, and
reads on only while the stream announced more: no empty reads, and in the usual case no
read at all.
(A stream made by an older version announces nothing: the events themselves ring then,
possibly before they are stored, and the follower reads on until it finds none.)
A follower that heard nothing for `QUIET_LOOK` seconds looks anyway, every `POLL`
seconds, for a doorbell missed (NATS away, a slow subscriber) before it calls a
worker lost.
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
    STORED_PREFIX,
    Event,
    events_subject,
    unb64,
)
from console.workers.signing import SIGNATURE_HEADER, ForgedMessage, GroupSeal

log = logging.getLogger(__name__)

# Seconds between looks at the stream without a doorbell: a started run is looked at
# often once it was quiet for QUIET_LOOK (a silent worker is lost after LOST_AFTER); a
# queued one waits for its doorbell (rung for all runs, too, when the engine got back
# to NATS after losing it).
POLL = 1.0
POLL_QUEUED = 10.0
QUIET_LOOK = LOST_AFTER / 2
RECONNECT_CHECK = 0.5  # seconds between looks at the connection, for the reconnect ring
BELL_EARLY = 0.005  # seconds before looking again when a doorbell found nothing yet
EARLY_LOOKS = 5  # ... doubling each time (5 to 80 ms), then every POLL


SEQUENCE_HEADER = "Nats-Sequence"  # set by the stream on what it announces
PREVIOUS_HEADER = "Nats-Last-Sequence"  # ... and the previous sequence of the same subject
# What a bell knows of the stream when the events themselves ring it: nothing, so its
# follower reads on after each event until it finds none.
UNKNOWN = 2**63


class Bell:
    """One run's doorbell; `stored`: the highest stream sequence announced for its
    subject (UNKNOWN when the stream announces nothing)."""

    def __init__(self) -> None:
        self.stored = 0
        self._rung = False
        self._waiter: asyncio.Future[None] | None = None
        # sequence -> (the subject's previous sequence, headers, body) of announced events
        # not applied yet
        self._announced: dict[int, tuple[int, dict[str, str], bytes]] = {}

    def keep(self, sequence: int, previous: int, headers: dict[str, str], body: bytes) -> None:
        self._announced[sequence] = (previous, headers, body)

    def take(self, next_sequence: int) -> tuple[int, dict[str, str], bytes] | None:
        """The announced event that is the subject's first from `next_sequence` on
        (sequence, headers, body), or None when that one was not announced here."""
        for sequence in sorted(self._announced):
            if sequence < next_sequence:  # read from the stream meanwhile
                del self._announced[sequence]
                continue
            previous, headers, body = self._announced[sequence]
            if previous >= next_sequence:  # an event before it was missed here
                return None
            del self._announced[sequence]
            return sequence, headers, body
        return None

    def ring(self) -> None:
        self._rung = True
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def answer(self) -> bool:
        """Whether it rang since last answered."""
        rang, self._rung = self._rung, False
        return rang

    async def wait(self, seconds: float) -> None:
        """Until it rings or `seconds` passed: a future and a timer, not the task
        and the timer of `asyncio.wait_for`, for each of a thousand followers' waits."""
        if self._rung:
            return
        loop = asyncio.get_running_loop()
        waiter = self._waiter = loop.create_future()
        timer = loop.call_later(seconds, _wake, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            self._waiter = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


class Doorbells:
    """One subscription on every run's announced (or, on an older stream, raw) events;
    rings the run's bell."""

    def __init__(self) -> None:
        self._bells: dict[str, Bell] = {}  # by the subject's last token
        self._announced = False
        self._sub: Subscription | None = None
        self._watch: asyncio.Task[None] | None = None

    async def start(self, nc: NATS, announced: bool) -> None:
        """`announced`: the events stream republishes what it stored (STORED_PREFIX)."""
        self._announced = announced
        prefix = STORED_PREFIX if announced else EVENTS_PREFIX
        self._sub = await nc.subscribe(f"{prefix}.*", cb=self._ring)
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
                    bell.ring()
            was_connected = nc.is_connected

    async def _ring(self, msg: Msg) -> None:
        bell = self._bells.get(msg.subject.rpartition(".")[2])
        if bell is None:
            return
        if not self._announced:
            bell.stored = UNKNOWN
        else:
            headers = msg.headers or {}
            with contextlib.suppress(ValueError):  # a hint only: a bad one costs a read
                sequence = int(headers.get(SEQUENCE_HEADER, ""))
                bell.stored = max(bell.stored, sequence)
                if msg.data:  # not a headers-only announcement (older stream settings)
                    bell.keep(sequence, int(headers.get(PREVIOUS_HEADER, "")), headers, msg.data)
        bell.ring()

    def bell(self, subject: str) -> Bell:
        bell = self._bells[subject.rpartition(".")[2]] = Bell()
        return bell

    def forget(self, subject: str) -> None:
        self._bells.pop(subject.rpartition(".")[2], None)


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

    async def follow(self, calls: RunCallbacks, look_first: bool = True) -> ExitStatus:
        """Apply the run's events until `ended`; HostError as a transport would raise.
        `look_first`: False when the run's order was just stored for the first time
        (no event can precede it: the bell was in place before the order went out)."""
        heard = time.monotonic()
        early = 0  # quick looks left after a doorbell that found nothing
        look = look_first or self._started  # resumed after an applied event: read on
        while True:
            rang = self._bell.answer()
            event = await self._read() if look or rang else None
            now = time.monotonic()
            if event is not None:
                heard, early = now, 0
                if self._apply(event, calls):
                    self.ended = True
                    return self._exit(event)
                look = self._bell.stored >= self._next  # the stream has more: read on
                continue
            if look or rang:  # looked and found nothing
                if not self._nc.is_connected:
                    heard = now  # silence while NATS is away says nothing of the worker
                if self._started and now - heard > LOST_AFTER:
                    raise HostError(self._host.name, "worker lost while the run was in progress")
                if rang:  # an event that rang before it was stored: look again soon
                    early = EARLY_LOOKS
            idle = POLL if self._started else POLL_QUEUED
            wait = BELL_EARLY * 2 ** (EARLY_LOOKS - early) if early else idle
            await self._bell.wait(wait)
            quiet = time.monotonic() - heard >= QUIET_LOOK
            look = early > 0 or not self._started or quiet
            early = max(0, early - 1)

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
        """The run's next event (as announced, or read from the stream), or None when
        there is none (yet) or it was refused."""
        announced = self._bell.take(self._next)
        found = announced or await self._read_stream()
        if found is None:
            return None
        sequence, headers, data = found
        if announced is None:  # stored in the stream: passed over even when refused
            self._next = sequence + 1
        event = self._verified(headers, data)
        if event is not None:  # a refused announcement moves nothing: anyone may send one
            self._next = sequence + 1
        return event

    def _verified(self, headers: dict[str, str], data: bytes) -> Event | None:
        try:
            body = self._seal.open(
                self._subject, headers.get(MSG_ID_HEADER, ""), data, headers.get(SIGNATURE_HEADER)
            )
            event = Event.decode(body)
        except (ForgedMessage, ValueError, TypeError) as exc:
            log.error("refused an event for %s: %s", self._order, exc)
            return None
        if event.order != self._order:
            log.error("refused an event for %s: it names %s", self._order, event.order)
            return None
        return event

    async def _read_stream(self) -> tuple[int, dict[str, str], bytes] | None:
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
        return raw.seq, raw.headers or {}, raw.data or b""

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
