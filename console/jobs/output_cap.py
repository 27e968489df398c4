"""How much of one stream's output is kept: at most a byte limit, then a marker once.

A runaway command (`cat /dev/urandom`) must not exhaust the engine's memory or disk,
nor a follower's screen. The job runner caps every stream of every host run when it
records it (Azure keeps 1 MiB per stream); `opsconsole exec --max-output` applies a
smaller cap the same way to what it prints and returns. A line that crosses the limit
is cut at it (never mid-character), and the marker says where the output stopped.
"""

from __future__ import annotations

DEFAULT_MAX_OUTPUT = 1024 * 1024


def truncation_marker(limit: int) -> str:
    return f"[... output truncated at {_size(limit)} ...]"


def _size(n: int) -> str:
    for unit, factor in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


class OutputCap:
    """One stream's kept lines: `limit` bytes at most (each line counts its newline),
    then the truncation marker once, then nothing."""

    def __init__(self, limit: int = DEFAULT_MAX_OUTPUT) -> None:
        self.limit = limit
        self.used = 0
        self.truncated = False

    def add(self, line: str) -> list[str]:
        """The lines to keep for `line` (a line without its newline): the line itself,
        or the part of it that fits and the marker, or none once truncated."""
        if self.truncated:
            return []
        data = line.encode()
        room = self.limit - self.used
        if len(data) + 1 <= room:
            self.used += len(data) + 1
            return [line]
        self.truncated = True
        self.used = self.limit
        part = data[: max(room - 1, 0)].decode(errors="ignore")
        marker = truncation_marker(self.limit)
        return [part, marker] if part else [marker]
