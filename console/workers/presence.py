"""Which workers exist and which are online: heartbeats in a JetStream key-value bucket.

Why a KV bucket: it keeps the last heartbeat of every worker without anyone running a
registry; the engine and `opsconsole workers list` read it with nothing but the NATS
connection, and it survives NATS restarts (file storage). Each worker puts its entry
(key `GROUP.NAME`, a JSON value) when it starts and every `HEARTBEAT_S`; a reader calls
a worker offline when its last heartbeat is older than `OFFLINE_AFTER_S` (it died or
lost NATS) or when it said it stopped (a clean shutdown). An entry nobody refreshes is
dropped by the bucket after `FORGET_AFTER_S`, so long-gone workers leave the list.
`last_seen` is the worker's clock: the machines are assumed to keep time (NTP).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from importlib.metadata import PackageNotFoundError, version

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import BucketNotFoundError, NotFoundError
from nats.js.kv import KV_DEL, KV_OP, KV_PURGE, KeyValue

from console.errors import UsageError

log = logging.getLogger(__name__)

BUCKET = "opsconsole_workers"
HEARTBEAT_S = 5.0
OFFLINE_AFTER_S = 3 * HEARTBEAT_S  # three missed heartbeats
FORGET_AFTER_S = 24 * 3600.0  # the bucket's TTL: an entry not refreshed for a day goes
ONLINE, OFFLINE = "online", "offline"

# A group is one NATS subject token; a worker name may be a dotted host name.
_GROUP = re.compile(r"[A-Za-z0-9_-]+")
_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*")


def check_group(group: str) -> str:
    """`group` if it can name a worker group (letters, digits, `_`, `-`), else UsageError."""
    if not _GROUP.fullmatch(group):
        raise UsageError(
            f"worker group {group!r}: use letters, digits, '_' and '-' only (it names a "
            "NATS subject)"
        )
    return group


def check_worker_name(name: str) -> str:
    """`name` if it can name a worker (a host name does), else UsageError."""
    if not _NAME.fullmatch(name):
        raise UsageError(
            f"worker name {name!r}: use letters, digits, '_', '-' and inner dots only "
            "(--name / OPSCONSOLE_WORKER_NAME)"
        )
    return name


def opsconsole_version() -> str:
    try:
        return version("opsconsole")
    except PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class WorkerInfo:
    """One worker as its last heartbeat described it; `state` is derived on reading."""

    name: str
    group: str
    host: str
    version: str
    capacity: int
    running: int
    last_seen: float  # epoch seconds, the worker's clock
    stopped: bool = False  # it said goodbye (a clean shutdown)
    state: str = ONLINE

    @property
    def key(self) -> str:
        return f"{self.group}.{self.name}"

    def encode(self) -> bytes:
        fields = asdict(self)
        del fields["state"]  # derived by the reader, never stored
        return json.dumps(fields).encode()

    @classmethod
    def decode(cls, data: bytes) -> WorkerInfo:
        fields = json.loads(data)
        return cls(
            name=str(fields["name"]),
            group=str(fields["group"]),
            host=str(fields.get("host", "")),
            version=str(fields.get("version", "")),
            capacity=int(fields.get("capacity", 0)),
            running=int(fields.get("running", 0)),
            last_seen=float(fields["last_seen"]),
            stopped=bool(fields.get("stopped", False)),
        )

    def seen_at(self, now: float, offline_after_s: float = OFFLINE_AFTER_S) -> WorkerInfo:
        """This entry with its state as of `now`."""
        gone = self.stopped or now - self.last_seen > offline_after_s
        return replace(self, state=OFFLINE if gone else ONLINE)


async def workers_bucket(js: JetStreamContext) -> KeyValue:
    """The presence bucket, created on first use (by whichever side comes first)."""
    try:
        return await js.key_value(BUCKET)
    except BucketNotFoundError:
        return await js.create_key_value(bucket=BUCKET, history=1, ttl=FORGET_AFTER_S)


class Presence:
    """A worker's heartbeat: `start()` announces it and keeps announcing it every
    `heartbeat_s`, with how many runs it has now (`running()`); `stop()` says it
    stopped. Heartbeats that fail while NATS is away are logged and retried: the
    connection reconnects and the next heartbeat brings the worker back online."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        name: str,
        group: str,
        capacity: int,
        running: Callable[[], int],
        heartbeat_s: float = HEARTBEAT_S,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._js = js
        self._info = WorkerInfo(
            name=check_worker_name(name),
            group=check_group(group),
            host=socket.gethostname(),
            version=opsconsole_version(),
            capacity=capacity,
            running=0,
            last_seen=0.0,
        )
        self._running = running
        self._heartbeat_s = heartbeat_s
        self._clock = clock
        self._bucket: KeyValue | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def info(self) -> WorkerInfo:
        """What the last heartbeat said."""
        return self._info

    async def start(self) -> None:
        """Announce the worker now (errors reach the caller), then every heartbeat."""
        self._bucket = await workers_bucket(self._js)
        await self._announce(stopped=False)
        self._task = asyncio.create_task(self._beat(), name=f"presence {self._info.key}")

    async def stop(self) -> None:
        """Stop the heartbeats and mark the worker offline (a clean shutdown)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        if self._bucket is not None:
            await self._announce(stopped=True)

    async def _beat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            try:
                await self._announce(stopped=False)
            except (TimeoutError, nats.errors.Error, OSError) as exc:
                log.warning("heartbeat of worker %s failed: %s", self._info.key, exc)

    async def _announce(self, *, stopped: bool) -> None:
        assert self._bucket is not None
        info = replace(
            self._info, running=self._running(), last_seen=self._clock(), stopped=stopped
        )
        await self._bucket.put(info.key, info.encode())
        self._info = info


async def list_workers(
    js: JetStreamContext,
    *,
    offline_after_s: float = OFFLINE_AFTER_S,
    now: float | None = None,
) -> list[WorkerInfo]:
    """Every worker that announced itself (and was not forgotten), by group then name,
    with its state as of `now`."""
    try:
        values = await _values(js)
    except NotFoundError:
        return []  # no worker ever started: no bucket
    when = time.time() if now is None else now
    infos = [info.seen_at(when, offline_after_s) for info in _decoded(values)]
    return sorted(infos, key=lambda info: (info.group, info.name))


def _decoded(values: list[bytes]) -> list[WorkerInfo]:
    """The entries that are heartbeats; anything else someone put there is logged."""
    infos = []
    for value in values:
        try:
            infos.append(WorkerInfo.decode(value))
        except (ValueError, KeyError, TypeError) as exc:
            log.warning("ignoring a malformed entry in %s: %s", BUCKET, exc)
    return infos


async def online_workers(
    js: JetStreamContext, group: str, *, offline_after_s: float = OFFLINE_AFTER_S
) -> list[WorkerInfo]:
    """The workers of `group` that are online now."""
    workers = await list_workers(js, offline_after_s=offline_after_s)
    return [w for w in workers if w.group == group and w.state == ONLINE]


async def _values(js: JetStreamContext) -> list[bytes]:
    """The current value of every key: the bucket's subjects from the stream's state,
    then the last message of each. Read from the stream itself, not through a KV
    watcher, whose "no more initial values" mark could come before a value just put."""
    stream, prefix = f"KV_{BUCKET}", f"$KV.{BUCKET}."
    info = await js.stream_info(stream, subjects_filter=f"{prefix}>")
    values: list[bytes] = []
    for subject in sorted(info.state.subjects or {}):
        try:
            message = await js.get_last_msg(stream, subject)
        except NotFoundError:  # forgotten (its TTL) since the state was read
            continue
        operation = (message.headers or {}).get(KV_OP)
        if message.data and operation not in (KV_DEL, KV_PURGE):
            values.append(message.data)
    return values
