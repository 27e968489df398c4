"""Replay protection: a delivery sent twice starts one job.

Senders retry (a timeout, a 5xx, a "redeliver" button), and a captured signed request
can be sent again by anyone: the signature covers the body, not the moment. So, as
GitHub, Stripe and the IETF idempotency-key draft expect of a receiver, a request
carrying a delivery id (`DELIVERY_HEADERS`, the first present) that this webhook has
accepted in the last `REPLAY_WINDOW` seconds is answered 202 with the job ids of the
first delivery, and starts nothing.

The ids seen are kept in `DATA_DIR/intake/deliveries.log`, one line per accepted
delivery, synced before the 202 (several requests share one fdatasync), and read back
when a worker starts, so a worker or engine restart forgets nothing. Entries older than
the window are dropped when the file is rewritten (at start, and as it grows). The file
holds an HMAC of the delivery id keyed by the webhook's token hash, not the id itself:
one webhook's ids never match another's, and the file says nothing about the requests.

One window is not covered: the journal line (the job) is synced first, then the
delivery line; a worker killed between the two had not answered yet, and a retry of
that request then starts a second job (at-least-once, as for any unanswered request).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from console.store.jsonl import Line, line_numbers, read_jsonl
from console.webhooks.rate_limit import open_private
from console.webhooks.registry import Webhook

log = logging.getLogger("console.webhooks.intake")

REPLAY_WINDOW = 24 * 3600.0  # seconds a delivery id is remembered
DELIVERY_HEADERS = ("X-GitHub-Delivery", "X-Request-Id", "Idempotency-Key")
DELIVERY_FILE = "deliveries.log"
COMPACT_AFTER = 10_000  # lines appended, beyond the live entries, before a rewrite

Start = Callable[[], Awaitable[list[str]]]


def delivery_key(webhook: Webhook, headers: Mapping[str, str]) -> str | None:
    """The request's delivery id as this webhook remembers it, or None without one."""
    for name in DELIVERY_HEADERS:
        value = headers.get(name, "").strip()
        if value:
            raw = value.encode("utf-8", "surrogateescape")
            return hmac.new(webhook.token_hash.encode(), raw, hashlib.sha256).hexdigest()
    return None


class DeliveryLog:
    """The deliveries accepted in the last REPLAY_WINDOW, in memory and (with a path)
    in a file. Must be made and used on one event loop."""

    def __init__(self, path: Path | None = None, now: Callable[[], float] = time.time) -> None:
        self._path = path
        self._now = now
        self._seen: dict[str, tuple[float, list[str]]] = {}  # key -> (accepted, job ids)
        self._in_flight: dict[str, asyncio.Future[list[str] | None]] = {}
        self._fd: int | None = None
        self._appended = 0
        self._written = 0  # lines written, and lines known durable
        self._synced = 0
        self._syncing: asyncio.Future[None] | None = None
        if path is not None:
            self._load(path)
            self._rewrite()

    def seen(self, key: str) -> list[str] | None:
        """The job ids of an earlier delivery with this key, if within the window."""
        entry = self._seen.get(key)
        if entry is None or entry[0] <= self._now() - REPLAY_WINDOW:
            return None
        return list(entry[1])

    async def once(self, key: str, start: Start) -> list[str]:
        """The job ids of delivery `key`: `start()`'s, or those of an earlier (or
        concurrent) delivery with the same key, in which case nothing is started."""
        while (pending := self._in_flight.get(key)) is not None:
            first = await asyncio.shield(pending)
            if first is not None:
                return first  # a concurrent copy got there first
        earlier = self.seen(key)
        if earlier is not None:
            return earlier
        done: asyncio.Future[list[str] | None] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = done
        ids: list[str] | None = None
        try:
            ids = await start()
            await self._remember(key, ids)
            return ids
        finally:
            del self._in_flight[key]
            done.set_result(ids)  # None: nothing started, so a waiting copy starts

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    async def _remember(self, key: str, ids: list[str]) -> None:
        accepted = self._now()
        self._seen.pop(key, None)  # an expired entry: to the end, keeping time order
        self._seen[key] = (accepted, list(ids))
        self._forget_expired(accepted)
        if self._path is None:
            return
        try:
            assert self._fd is not None
            os.write(self._fd, _line(key, accepted, ids).encode())
        except OSError as exc:  # the job is durable: answer it; only a retry may repeat it
            log.error("cannot record the delivery in %s: %s", self._path, exc)
            return
        self._written += 1
        self._appended += 1
        await self._sync(self._written)
        if self._syncing is None and self._appended > len(self._seen) + COMPACT_AFTER:
            self._rewrite()  # not while a sync thread holds the descriptor

    async def _sync(self, line: int) -> None:
        """Return once line number `line` is durable; one fdatasync at a time serves
        every line written before it started (group commit)."""
        while self._synced < line:
            if self._syncing is None:
                self._syncing = asyncio.ensure_future(self._sync_once())
            await asyncio.shield(self._syncing)

    async def _sync_once(self) -> None:
        upto, fd = self._written, self._fd
        try:
            if fd is not None:
                await asyncio.to_thread(os.fdatasync, fd)
        except OSError as exc:  # the jobs are durable: answer them; only a retry may repeat
            log.error("cannot sync %s: %s", self._path, exc)
        finally:
            self._synced = max(self._synced, upto)
            self._syncing = None

    def _forget_expired(self, now: float) -> None:
        """Entries are in the order accepted: drop from the front while expired."""
        cutoff = now - REPLAY_WINDOW
        while self._seen:
            key, (accepted, _) = next(iter(self._seen.items()))
            if accepted > cutoff:
                return
            del self._seen[key]

    def _load(self, path: Path) -> None:
        parsed = read_jsonl(path, _entry)
        for key, accepted, ids in parsed.items:
            self._seen[key] = (accepted, ids)
        if parsed.damage:  # those deliveries are forgotten: a retry of one starts a job
            log.warning(
                "%s: skipped %d damaged line(s) (line %s)",
                path,
                len(parsed.damage),
                line_numbers(parsed.damage),
            )
        self._seen = dict(sorted(self._seen.items(), key=lambda item: item[1][0]))
        self._forget_expired(self._now())

    def _rewrite(self) -> None:
        """Replace the file by the live entries (temp file, fsync, rename)."""
        assert self._path is not None
        self.close()
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open_private(tmp) as file:
            file.writelines(
                _line(key, accepted, ids) for key, (accepted, ids) in self._seen.items()
            )
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, self._path)
        self._fd = os.open(self._path, os.O_WRONLY | os.O_APPEND, 0o600)
        self._appended = 0
        self._synced = self._written  # every live entry was just synced


def _entry(line: Line) -> tuple[str, float, list[str]]:
    """(key, accepted, job ids) of one line of the file; ValueError if it is damaged."""
    doc = json.loads(line.raw)
    try:
        return str(doc["k"]), float(doc["t"]), [str(i) for i in doc["j"]]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a delivery: {exc!r}") from None


def _line(key: str, accepted: float, ids: list[str]) -> str:
    return json.dumps({"k": key, "t": accepted, "j": ids}, separators=(",", ":")) + "\n"
