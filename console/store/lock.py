"""The data-directory lock: one engine per data directory, ever.

`DataDirLock.acquire` takes an exclusive, non-blocking `flock` on
`<data dir>/engine.lock` and writes the holder's pid into it. The kernel releases a
flock when its holder dies, however it dies, so a crashed engine never leaves a stale
lock behind, and the pid in the file is only a hint for messages and attaching.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from console.errors import OpsError

LOCK_FILE = "engine.lock"


class EngineRunning(OpsError):
    """Another live engine holds the data directory's lock."""

    def __init__(self, data_dir: Path, pid: int | None) -> None:
        who = f"pid {pid}" if pid is not None else "pid unknown"
        super().__init__(
            f"another opsconsole engine ({who}) owns {data_dir}; attach to it through its "
            "control socket, stop it, or use another --data-dir"
        )
        self.data_dir = data_dir
        self.pid = pid


def ensure_data_dir(data_dir: Path) -> None:
    """Create the data directory private to its owner (0700) if it is missing."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)


class DataDirLock:
    """An exclusive lock on a data directory, held until `release` or process death."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        """Take the lock or raise `EngineRunning` naming the holder's pid."""
        if self._fd is not None:
            return
        ensure_data_dir(self.data_dir)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pid = _read_pid(fd)
            os.close(fd)
            raise EngineRunning(self.data_dir, pid) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        os.ftruncate(self._fd, 0)
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
        self._fd = None

    def holder_pid(self) -> int | None:
        """The pid of the live engine holding the lock (maybe this process), or None."""
        if self._fd is not None:
            return os.getpid()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _read_pid(fd)
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None  # nobody holds it: a pid in the file is from a dead engine
        finally:
            os.close(fd)

    def __enter__(self) -> DataDirLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    """The pid the holder wrote; None while it is still writing it (or garbage)."""
    text = os.pread(fd, 32, 0).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None
