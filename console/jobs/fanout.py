"""Run one command on many hosts at once and collect one result per host.

This is `opsconsole exec`'s engine and the fast path for ad-hoc commands: no module
upload, no remote interpreter, one channel per host on the pool's shared connection.
Every host runs concurrently (the pool's `forks` bounds it); a host's failure is its
own result (status and typed error) and never stops or delays the others.

Output is kept per host and per stream up to `max_output` bytes (default 1 MiB);
beyond that it is dropped with a visible marker, so a runaway `cat /dev/urandom`
cannot exhaust the console's memory. Bytes that are not UTF-8 are shown with
replacement characters rather than crashing anything.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from console.errors import OpsError
from console.inventory.model import Host
from console.transports.base import ExitStatus, StreamName
from console.transports.factory import transport_for
from console.transports.pool import TransportPool

DEFAULT_MAX_OUTPUT = 1024 * 1024

# Called as (host name, stream, line of text without its newline) as output arrives.
HostLineCallback = Callable[[str, StreamName, str], None]


@dataclass(frozen=True)
class HostResult:
    """How the command went on one host.

    `status` is `ok`, `failed` (ran, exited non-zero or was killed by a signal), or
    the kind of the error that kept it from running to the end (`unreachable`,
    `authentication_failed`, `host_key_unknown`, `host_key_changed`, `timed_out`,
    `cancelled`, `error`). `error` is `{"kind": ..., "message": ...}` or None.
    """

    host: str
    status: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration: float
    error: Mapping[str, str] | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "status": self.status,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "duration": round(self.duration, 3),
            "error": dict(self.error) if self.error is not None else None,
        }


def truncation_marker(limit: int) -> str:
    return f"[... output truncated at {_size(limit)} ...]"


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


class _CappedStream:
    """One stream's kept output: at most `limit` bytes, then the marker once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.data = bytearray()
        self.truncated = False

    def add(self, line: bytes) -> tuple[bytes | None, bool]:
        """Keep what fits; return (the part kept, whether truncation started now)."""
        if self.truncated:
            return None, False
        room = self.limit - len(self.data)
        if len(line) <= room:
            self.data += line
            return line, False
        self.data += line[:room]
        self.truncated = True
        return (line[:room] or None), True

    def text(self) -> str:
        text = self.data.decode(errors="replace")
        if self.truncated:
            if text and not text.endswith("\n"):
                text += "\n"
            text += truncation_marker(self.limit) + "\n"
        return text


async def run_on_hosts(
    hosts: Sequence[Host],
    command: str,
    pool: TransportPool,
    *,
    timeout: float | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    on_line: HostLineCallback | None = None,
) -> list[HostResult]:
    """Run `command` on every host concurrently; results in the order of `hosts`."""
    return list(
        await asyncio.gather(
            *(
                run_on_host(
                    host,
                    command,
                    pool,
                    timeout=timeout,
                    max_output=max_output,
                    env=env,
                    stdin=stdin,
                    on_line=on_line,
                )
                for host in hosts
            )
        )
    )


async def run_on_host(
    host: Host,
    command: str,
    pool: TransportPool,
    *,
    timeout: float | None = None,
    max_output: int = DEFAULT_MAX_OUTPUT,
    env: Mapping[str, str] | None = None,
    stdin: bytes | None = None,
    on_line: HostLineCallback | None = None,
) -> HostResult:
    """Run `command` on one host; every failure becomes part of the result."""
    streams = {"stdout": _CappedStream(max_output), "stderr": _CappedStream(max_output)}

    def collect(stream: StreamName, line: bytes) -> None:
        kept, truncated_now = streams[stream].add(line)
        if on_line is None:
            return
        if kept:
            on_line(host.name, stream, kept.decode(errors="replace").rstrip("\n"))
        if truncated_now:
            on_line(host.name, stream, truncation_marker(max_output))

    started = time.monotonic()
    status: ExitStatus | None = None
    error: OpsError | None = None
    try:
        transport = transport_for(host, pool)
        status = await transport.run(
            command, stdin=stdin, env=env, timeout=timeout, on_line=collect
        )
    except OpsError as exc:
        error = exc
    except Exception as exc:  # a bug on one host must not take the others down
        error = OpsError(f"{host.name}: internal error: {exc!r}")
    duration = time.monotonic() - started
    return _result(host, status, error, streams, duration)


def _result(
    host: Host,
    status: ExitStatus | None,
    error: OpsError | None,
    streams: Mapping[str, _CappedStream],
    duration: float,
) -> HostResult:
    if error is not None:
        kind = getattr(error, "kind", "error")
        detail = getattr(error, "detail", error.message)
        state = "failed" if kind == "exited_non_zero" else kind
        code = None
        failure: dict[str, str] | None = {"kind": kind, "message": detail}
    else:
        assert status is not None
        code = status.code
        state = "ok" if status.ok else "failed"
        failure = None
        if status.signal is not None:
            failure = {"kind": "killed_by_signal", "message": f"killed by signal {status.signal}"}
        elif not status.ok:
            failure = {"kind": "exited_non_zero", "message": f"exited with status {code}"}
    return HostResult(
        host=host.name,
        status=state,
        exit_code=code,
        stdout=streams["stdout"].text(),
        stderr=streams["stderr"].text(),
        duration=duration,
        error=failure,
    )
