"""The local transport: real subprocesses on this machine, same semantics as SSH."""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import time
from pathlib import Path

import pytest

from console.errors import Cancelled, TimedOut
from console.inventory.model import Host
from console.transports.factory import transport_for
from console.transports.local import LocalTransport
from console.transports.pool import TransportPool
from tests.transports.helpers import run_on_hosts

LOCAL = Host("localhost", {"ansible_connection": "local"})


def _running(marker: str) -> bool:
    pattern = f"[{marker[0]}]{marker[1:]}"
    return subprocess.run(["pgrep", "-f", pattern], capture_output=True).returncode == 0


async def test_factory_picks_local_and_it_runs_commands() -> None:
    pool = TransportPool(ssh_config=[])
    assert isinstance(transport_for(LOCAL, pool), LocalTransport)
    [result] = await run_on_hosts([LOCAL], "echo out; echo err >&2; exit 4", pool)
    assert (result.status, result.exit_code) == ("failed", 4)
    assert (result.stdout, result.stderr) == ("out\n", "err\n")


async def test_env_stdin_and_lines() -> None:
    lines: list[tuple[str, bytes]] = []
    status = await LocalTransport(LOCAL).run(
        'printf "%s|" "$X"; cat; echo; echo e >&2',
        env={"X": '"; touch /tmp/local-pwned #\nline2'},
        stdin=b"from stdin",
        on_line=lambda stream, line: lines.append((stream, line)),
    )
    assert status.ok
    assert (
        b"".join(line for stream, line in lines if stream == "stdout")
        == b'"; touch /tmp/local-pwned #\nline2|from stdin\n'
    )
    assert ("stderr", b"e\n") in lines
    assert not Path("/tmp/local-pwned").exists()


async def test_timeout_kills_the_process_group() -> None:
    marker = f"local-timeout-{secrets.token_hex(4)}"
    started = time.monotonic()
    with pytest.raises(TimedOut):
        await LocalTransport(LOCAL).run(
            f"sh -c 'sleep 300; : {marker}' & sh -c 'sleep 301; : {marker}'", timeout=0.5
        )
    assert time.monotonic() - started < 30  # not the 300 s of the sleeps
    assert not _running(marker)


async def test_cancel_kills_the_process_group() -> None:
    marker = f"local-cancel-{secrets.token_hex(4)}"
    task = asyncio.ensure_future(
        LocalTransport(LOCAL).run(f"sh -c 'trap \"\" TERM; sleep 300; : {marker}'")
    )
    await asyncio.sleep(0.3)
    assert _running(marker)
    task.cancel()
    with pytest.raises(Cancelled):
        await task
    assert not _running(marker)  # even though it ignored SIGTERM


async def test_upload_writes_with_mode(tmp_path: Path) -> None:
    target = tmp_path / "file.bin"
    await LocalTransport(LOCAL).upload(b"\x00\x01data", str(target), 0o640)
    assert target.read_bytes() == b"\x00\x01data"
    assert target.stat().st_mode & 0o777 == 0o640
