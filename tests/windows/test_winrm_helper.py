"""The WinRM helper process (pywinrm's calls run there, out of the console's process):
what a run does when it ends, against the WS-Management test server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from console.errors import WinRMHelperLost
from console.transports import winrm_remote
from console.transports.base import StreamName
from console.transports.factory import transport_for
from console.transports.pool import TransportPool
from tests.windows.conftest import win_host
from tests.windows.wsman_server import WSManServer

pytestmark = pytest.mark.timeout(120)


def gone(pid_file: Path) -> bool:
    return not Path(f"/proc/{pid_file.read_text().strip()}").exists()


async def test_a_helper_that_dies_fails_the_run_and_the_next_run_starts_a_new_one(
    http_server: WSManServer, pool: TransportPool
) -> None:
    started = asyncio.Event()

    def on_line(stream: StreamName, line: bytes) -> None:
        started.set()

    host = win_host(http_server, None)
    run = asyncio.ensure_future(
        transport_for(host, pool).run("echo $$ > pid; echo started; exec sleep 60", on_line=on_line)
    )
    await started.wait()
    dying = winrm_remote.helper()
    dying.stop()
    with pytest.raises(WinRMHelperLost, match="WinRM helper process ended with exit code -9"):
        await run
    # the run stopped its command through a new helper, as after a cancel
    assert gone(http_server.root / "pid")
    assert winrm_remote.helper() is not dying
    lines: list[bytes] = []
    status = await transport_for(host, pool).run(
        "echo again", on_line=lambda s, ln: lines.append(ln)
    )
    assert status.ok
    assert [line.rstrip(b"\r\n") for line in lines] == [b"again"]


async def test_the_helper_ends_when_the_console_closes_its_input(
    http_server: WSManServer, pool: TransportPool
) -> None:
    """No helper outlives the console: its stdin closing (the console's process ended)
    ends it, threads blocked in a Receive or not."""
    started = asyncio.Event()
    host = win_host(http_server, None)
    run = asyncio.ensure_future(
        transport_for(host, pool).run(
            "echo started; exec sleep 60", on_line=lambda s, ln: started.set()
        )
    )
    await started.wait()
    helper = winrm_remote.helper()
    assert helper.process.stdin is not None
    helper.process.stdin.close()
    with pytest.raises(WinRMHelperLost, match="exit code 0"):
        await run
    assert helper.process.wait(timeout=10) == 0
