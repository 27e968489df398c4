"""The probe of a Windows host: a PowerShell script over WinRM, not a shell line.

The host is a WS-Management test server (a stand-in for a Windows host, see
wsman_server.py), which answers the probe script with the recording
`tests/windows/recordings/probe.json` (written from Win32_OperatingSystem's
documented schema, not captured: see that folder's README). Sent the Unix probe line,
it would run it with /bin/sh and "succeed" with Linux's name, so the OS shown proves
which of the two the console sent.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from console.engine.core import Engine
from console.engine.probe import WINDOWS_PROBE
from console.settings import Settings
from tests.windows.conftest import winrm_vars
from tests.windows.test_powershell_syntax import PARSER, syntax_errors
from tests.windows.wsman_server import WSManServer


async def test_a_windows_host_shows_its_windows_edition_and_version(
    http_server: WSManServer, tmp_path: Path
) -> None:
    hosts = {
        "win1": winrm_vars(http_server, None),
        "win-badpass": winrm_vars(http_server, None, ansible_password="not-the-password"),
        "here": {"ansible_connection": "local"},
    }
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    engine = Engine(Settings(inventory, tmp_path / "data", tmp_path / "runbooks"))
    await engine.start()
    try:
        win, badpass, here = await engine.probe(["win1", "win-badpass", "here"])
    finally:
        await engine.close()
    assert win.reachable, win.error
    assert win.os == "Microsoft Windows Server 2022 Datacenter 10.0.20348"
    assert not badpass.reachable and badpass.error.startswith("auth")
    assert here.reachable and here.os.startswith("Linux")


def test_the_probe_script_parses_as_powershell() -> None:
    assert syntax_errors(PARSER.parse(WINDOWS_PROBE.encode()).root_node) == []
