"""The data-directory lock, held by real processes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from console.store import DataDirLock, EngineRunning

HOLDER = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from console.store import DataDirLock
    DataDirLock(Path(sys.argv[1])).acquire()
    print("locked", flush=True)
    time.sleep(60)
""")


def start_holder(data_dir: Path) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data_dir)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_engine_is_refused_until_the_first_dies(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    holder = start_holder(data_dir)
    try:
        assert data_dir.stat().st_mode & 0o777 == 0o700
        lock = DataDirLock(data_dir)
        assert lock.holder_pid() == holder.pid
        with pytest.raises(EngineRunning) as caught:
            lock.acquire()
        assert f"pid {holder.pid}" in str(caught.value)
        assert str(data_dir) in str(caught.value)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()

    assert lock.holder_pid() is None  # the kernel dropped the dead holder's lock
    lock.acquire()
    assert lock.holder_pid() == os.getpid()
    assert (data_dir / "engine.lock").read_text().strip() == str(os.getpid())
    lock.release()


def test_a_released_lock_can_be_taken_by_another_process(tmp_path: Path) -> None:
    with DataDirLock(tmp_path) as lock:
        assert lock.held
    holder = start_holder(tmp_path)
    holder.kill()
    holder.wait()


READER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from console.store import DataDirLock
    lock = DataDirLock(Path(sys.argv[1]))
    lock.acquire(reader=True)
    print("locked", flush=True)
    sys.stdin.readline()
    lock.release()
""")


def test_a_reader_is_waited_for_and_never_attached_to(tmp_path: Path) -> None:
    """A command reading the store holds the lock for a moment: an engine starting
    then waits for it instead of failing, and nobody tries to attach to it."""
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None and reader.stdout is not None
    assert reader.stdout.readline().strip() == "locked"
    lock = DataDirLock(tmp_path)
    assert lock.holder_pid() is None
    with pytest.raises(EngineRunning):
        lock.acquire(wait=0.2)  # still held after a short wait
    reader.stdin.write("done\n")
    reader.stdin.flush()
    lock.acquire()  # waits for the reader to let go
    assert lock.holder_pid() == os.getpid()
    lock.release()
    reader.wait()
    assert reader.returncode == 0
