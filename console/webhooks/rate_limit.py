"""Rate limits of the webhook listener: token buckets that outlive the worker process.

Each bucket is keyed by a string: one per webhook for the requests that start jobs,
and one per webhook and client address for the requests that start nothing (a failed
signature, a replayed delivery), so that a client sending those cannot spend the
budget of the webhook's real sender (see `console.webhooks.http`).

With a `BucketFile`, every change of a bucket is appended to a small file in the
intake directory and read back when a worker starts: a worker that is killed, or
restarted with its engine, resumes with the buckets as they were, rather than handing
every caller a fresh burst. The lines are written with one `write` each and never
synced: they survive the death of the process (they are in the kernel's page cache),
not a crash of the whole machine, after which the buckets start full.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from console.store.jsonl import Line, line_numbers, read_jsonl

log = logging.getLogger("console.webhooks.intake")

RATE_FILE = "ratelimit.log"
COMPACT_EVERY = 10_000  # lines appended before the file is rewritten with live buckets


def open_private(path: Path) -> IO[str]:
    """A new file for writing that only its owner can read (0600 whatever the umask):
    these files tell who calls which webhook how often."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w")


@dataclass
class Bucket:
    rate: float  # tokens added per second
    capacity: float
    tokens: float
    last: float

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.last)  # a clock stepped backwards adds nothing
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        self.last = now

    def full_at(self, now: float) -> bool:
        return self.tokens + max(0.0, now - self.last) * self.rate >= self.capacity


class BucketFile:
    """Append-only record of bucket states; the last line of a key is its state."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._fd: int | None = None
        self._appended = 0

    def load(self, now: float) -> dict[str, Bucket]:
        """The buckets that are not full again by `now`; rewrites the file with them."""
        parsed = read_jsonl(self._path, _entry)
        buckets = dict(parsed.items)  # the last line of a key is its state
        if parsed.damage:  # those keys start full
            log.warning(
                "%s: skipped %d damaged line(s) (line %s)",
                self._path,
                len(parsed.damage),
                line_numbers(parsed.damage),
            )
        live = {key: b for key, b in buckets.items() if not b.full_at(now)}
        self.compact(live)
        return live

    def record(self, key: str, bucket: Bucket) -> None:
        try:
            os.write(self._open(), _line(key, bucket).encode())
        except OSError as exc:  # a full disk must not refuse webhooks
            log.error("cannot record the rate limit in %s: %s", self._path, exc)
        self._appended += 1

    def due(self) -> bool:
        return self._appended >= COMPACT_EVERY

    def compact(self, buckets: dict[str, Bucket]) -> None:
        """Replace the file by one line per bucket (atomically: temp file, rename)."""
        self.close()
        tmp = self._path.with_name(f".{self._path.name}.{os.getpid()}.tmp")
        try:
            self._path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            with open_private(tmp) as file:
                file.writelines(_line(key, bucket) for key, bucket in buckets.items())
            os.replace(tmp, self._path)
        except OSError as exc:
            log.error("cannot rewrite %s: %s", self._path, exc)
        self._appended = 0

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _open(self) -> int:
        if self._fd is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
            self._fd = os.open(self._path, flags, 0o600)
        return self._fd


def _entry(line: Line) -> tuple[str, Bucket]:
    """(key, bucket) of one line of the file; ValueError if it is damaged."""
    doc = json.loads(line.raw)
    try:
        bucket = Bucket(float(doc["r"]), float(doc["c"]), float(doc["n"]), float(doc["l"]))
        return str(doc["k"]), bucket
    except (KeyError, TypeError) as exc:
        raise ValueError(f"not a bucket: {exc!r}") from None


def _line(key: str, bucket: Bucket) -> str:
    doc = {"k": key, "r": bucket.rate, "c": bucket.capacity, "n": bucket.tokens, "l": bucket.last}
    return json.dumps(doc, separators=(",", ":")) + "\n"


class RateLimiter:
    """Token buckets: `per_minute` requests a minute, `burst` at once, per key."""

    def __init__(self, file: BucketFile | None = None, now: float = 0.0) -> None:
        self._file = file
        self._buckets: dict[str, Bucket] = {} if file is None else file.load(now)

    def wait(self, key: str, per_minute: int, burst: int, now: float) -> float | None:
        """None if a request may be charged now, else the seconds until it may."""
        bucket = self._bucket(key, per_minute, burst, now)
        bucket.refill(now)
        return None if bucket.tokens >= 1.0 else (1.0 - bucket.tokens) / bucket.rate

    def take(self, key: str, per_minute: int, burst: int, now: float) -> float | None:
        """Spend one token. None if allowed, else the seconds until one is available."""
        wait = self.wait(key, per_minute, burst, now)
        if wait is None:
            self._buckets[key].tokens -= 1.0
            self._record(key, now)
        return wait

    def _bucket(self, key: str, per_minute: int, burst: int, now: float) -> Bucket:
        rate, capacity = per_minute / 60.0, float(burst)
        bucket = self._buckets.get(key)
        if bucket is None or (bucket.rate, bucket.capacity) != (rate, capacity):
            bucket = self._buckets[key] = Bucket(rate, capacity, capacity, now)
        return bucket

    def _record(self, key: str, now: float) -> None:
        if self._file is None:
            return
        self._file.record(key, self._buckets[key])
        if self._file.due():  # drop the buckets that are full again: they are the default
            self._buckets = {k: b for k, b in self._buckets.items() if not b.full_at(now)}
            self._file.compact(self._buckets)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
