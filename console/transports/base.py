"""The transport interface every connection type implements.

A transport runs one command on one host: optional stdin and environment, stdout and
stderr delivered line by line as they are produced (for live display), the exit
status, a timeout, and cancellation that ends the remote process rather than only
the reading of it. It also uploads files. Failures raise the typed `HostError`s of
`console.errors`, so callers record them against the host and carry on.
"""

from __future__ import annotations

import contextlib
import shlex
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from console.errors import HostError
from console.inventory.model import Host

StreamName = Literal["stdout", "stderr"]
MAKE_WORKDIR = 'umask 077 && mktemp -d "${TMPDIR:-/tmp}/opsconsole.XXXXXXXX"'
# Called once per line (bytes, newline kept when there was one) as it arrives.
LineCallback = Callable[[StreamName, bytes], None]


@dataclass(frozen=True)
class ExitStatus:
    """How the command ended: an exit code, or the signal that killed it."""

    code: int | None
    signal: str | None = None

    @property
    def ok(self) -> bool:
        return self.code == 0


class Transport(ABC):
    """A (possibly pooled) connection to one host."""

    def __init__(self, host: Host) -> None:
        self.host = host

    @abstractmethod
    async def run(
        self,
        command: str,
        *,
        stdin: bytes | None = None,
        env: Mapping[str, str] | None = None,
        timeout: float | None = None,
        on_line: LineCallback | None = None,
    ) -> ExitStatus:
        """Run `command` (a shell command line) and wait for it to end.

        Raises `TimedOut` after `timeout` seconds and `Cancelled` when the calling task
        is cancelled; in both cases the remote process is gone when this returns.
        Environment values never appear on the remote command line.
        """

    async def connect(self) -> None:
        """Open the connection ahead of a run, so that a run slot is taken only once the
        host answered. Connectionless transports (local) have nothing to do."""
        return None

    @abstractmethod
    async def upload(self, data: bytes, remote_path: str, mode: int = 0o600) -> None:
        """Write `data` to `remote_path` on the host with permissions `mode`."""

    async def make_workdir(self) -> str:
        """A new private (0700) temporary directory on the host, for a job's files.

        The default asks a POSIX shell; transports that can do it cheaper override it."""
        lines: list[bytes] = []

        def collect(stream: StreamName, line: bytes) -> None:
            if stream == "stdout":
                lines.append(line)

        status = await self.run(MAKE_WORKDIR, timeout=60, on_line=collect)
        path = b"".join(lines).decode(errors="replace").strip()
        if not status.ok or not path.startswith("/"):
            raise HostError(self.host.name, "could not create a temporary directory on the host")
        return path

    async def remove_workdir(self, path: str) -> None:
        """Remove a directory made by `make_workdir`; best effort, never raises."""
        with contextlib.suppress(HostError, OSError):
            await self.run(f"rm -rf {shlex.quote(path)}", timeout=30)

    @abstractmethod
    async def close(self) -> None:
        """Release the connection; later calls may reconnect."""
