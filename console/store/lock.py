"""The data-directory lock: one engine per data directory, ever.

`DataDirLock.acquire` takes an exclusive, non-blocking `flock` on
`<data dir>/engine.lock` and writes the holder's pid into it. The kernel releases a
flock when its holder dies, however it dies, so a crashed engine never leaves a stale
lock behind, and the pid in the file is only a hint for messages and attaching.

A CLI command that reads the store with no engine running (`jobs list`) takes the
same lock for a moment, as a *reader*: it writes `<pid> reader`, so nobody tries to
attach to it, and an engine (or another reader) that finds the lock held by a reader,
or by a holder that has not written its pid yet, waits up to READER_WAIT for it instead
of failing. Only a live engine's pid makes `acquire` raise `EngineRunning`.
"""

from __future__ import annotations

import fcntl
import logging
import os
import stat
import time
from pathlib import Path

from console.errors import OpsError

LOCK_FILE = "engine.lock"
SOCKET_NAME = "control.sock"  # the lock holder's control API (console.engine.control)
READER_MARK = "reader"
READER_WAIT = 30.0  # a reader holds the lock for one listing; this bounds a stuck one

log = logging.getLogger(__name__)


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


def socket_path(data_dir: Path) -> Path:
    """Where the engine holding `data_dir`'s lock answers its control API."""
    return data_dir / SOCKET_NAME


def ensure_data_dir(data_dir: Path) -> None:
    """Create the data directory private to its owner (0700) if it is missing, and make
    an existing one private: it holds the secret key, the control socket and every
    job's parameters, so a directory others may enter is tightened (as PostgreSQL and
    OpenSSH refuse a group- or world-accessible data directory), and the fix logged."""
    data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = data_dir.stat()
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 and info.st_uid == os.geteuid():
        os.chmod(data_dir, 0o700)
        log.warning(
            "data directory %s was mode %04o; made it 0700 (only its owner may use it)",
            data_dir,
            mode,
        )


class DataDirLock:
    """An exclusive lock on a data directory, held until `release` or process death."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self, *, reader: bool = False, wait: float = READER_WAIT) -> None:
        """Take the lock or raise `EngineRunning` naming the engine's pid. A reader
        (or a holder still writing its pid) is waited for, up to `wait` seconds."""
        if self._fd is not None:
            return
        ensure_data_dir(self.data_dir)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                pid, is_reader = _read_holder(fd)
                engine = pid is not None and not is_reader and _alive(pid)
                if engine or time.monotonic() > deadline:
                    os.close(fd)
                    raise EngineRunning(self.data_dir, pid) from None
                time.sleep(0.02)
        os.ftruncate(fd, 0)
        mark = f" {READER_MARK}" if reader else ""
        os.pwrite(fd, f"{os.getpid()}{mark}\n".encode(), 0)
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
        """The pid of the live engine holding the lock (maybe this process), or None
        (also while a reader holds it: there is no engine to attach to)."""
        if self._fd is not None:
            return os.getpid()
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            pid, is_reader = _read_holder(fd)
            return None if is_reader else pid
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


def _read_holder(fd: int) -> tuple[int | None, bool]:
    """The pid the holder wrote (None while it is still writing it, or garbage) and
    whether it marked itself a reader."""
    words = os.pread(fd, 64, 0).decode(errors="replace").split()
    pid = int(words[0]) if words and words[0].isdigit() else None
    return pid, words[1:] == [READER_MARK]


def _alive(pid: int) -> bool:
    """False for a pid no process has: a stale pid a crashed holder left in the file,
    read in the moment before the new holder wrote its own."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
