"""Turn a byte stream into lines as it arrives, for live display.

Both transports read stdout/stderr in chunks; this splits them into lines (newline
kept) so a caller can print each host's output as it happens. A "line" is bounded
(`MAX_LINE`): output with no newline at all (a binary blob, a progress bar) is
delivered in pieces instead of being held in memory whole.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from console.transports.base import LineCallback, StreamName

MAX_LINE = 64 * 1024
CHUNK = 64 * 1024


class LineSplitter:
    """Accumulates chunks and hands back complete lines (or MAX_LINE pieces)."""

    def __init__(self, max_line: int = MAX_LINE) -> None:
        self._buffer = bytearray()
        self._max_line = max_line

    def feed(self, chunk: bytes) -> list[bytes]:
        self._buffer += chunk
        lines: list[bytes] = []
        while True:
            end = self._buffer.find(b"\n", 0, self._max_line)
            if end >= 0:
                cut = end + 1
            elif len(self._buffer) >= self._max_line:
                cut = self._max_line
            else:
                return lines
            lines.append(bytes(self._buffer[:cut]))
            del self._buffer[:cut]

    def flush(self) -> bytes:
        """The trailing partial line, once the stream has ended."""
        rest = bytes(self._buffer)
        self._buffer.clear()
        return rest


async def pump_lines(
    read: Callable[[int], Awaitable[bytes]],
    stream: StreamName,
    on_line: LineCallback | None,
) -> None:
    """Read `read(CHUNK)` until EOF and call `on_line(stream, line)` for every line."""
    splitter = LineSplitter()
    while chunk := await read(CHUNK):
        for line in splitter.feed(chunk):
            if on_line is not None:
                on_line(stream, line)
    rest = splitter.flush()
    if rest and on_line is not None:
        on_line(stream, rest)


async def pump_outputs(
    feed_stdin: Coroutine[Any, Any, None],
    read_stdout: Callable[[int], Awaitable[bytes]],
    read_stderr: Callable[[int], Awaitable[bytes]],
    on_line: LineCallback | None,
    wait_exit: Callable[[], Awaitable[object]],
) -> None:
    """Feed stdin in the background while both outputs are read to EOF, line by line,
    then wait for the command to end (stdin keeps being fed until it does).

    Shared by the transports: only how stdin is written and closed, and how the end
    is awaited, differ."""
    feeder = asyncio.ensure_future(feed_stdin)
    try:
        await asyncio.gather(
            pump_lines(read_stdout, "stdout", on_line),
            pump_lines(read_stderr, "stderr", on_line),
        )
        await wait_exit()
    finally:
        feeder.cancel()
