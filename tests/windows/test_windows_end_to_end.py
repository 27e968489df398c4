"""A Windows host end to end: the real CLI (its engine in a subprocess) collects and
assesses a host behind a WS-Management test server (a stand-in for a Windows host,
see wsman_server.py), which answers the PowerShell collectors with the recorded
outputs of tests/windows/recordings (written from Microsoft's documented schemas,
not captured: see their README). And the console shows such a host: its facts,
software and services, and the checks its inventory relaxed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from console.settings import Settings
from tests.tui.seed import console_app, row
from tests.tui.test_changes import on_screen, open_host, show_tab
from tests.windows.conftest import winrm_vars
from tests.windows.wsman_server import WSManServer

pytestmark = pytest.mark.timeout(240)


@pytest.fixture
def site(http_server: WSManServer, https_server: WSManServer, tmp_path: Path) -> Path:
    hosts = {
        "win1": winrm_vars(http_server, None),
        "win-lax": winrm_vars(
            https_server,
            None,
            ansible_winrm_transport="basic",
            ansible_winrm_server_cert_validation="ignore",
        ),
    }
    (tmp_path / "inventory.yaml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (tmp_path / "runbooks").mkdir()
    return tmp_path


def cli(site: Path, *args: str, exits: tuple[int, ...] = (0,)) -> str:
    """`opsconsole ARGS` on the site, its stdout; its exit status must be in `exits`."""
    env = {
        **os.environ,
        "HOME": str(site),
        "OPSCONSOLE_INVENTORY": str(site / "inventory.yaml"),
        "OPSCONSOLE_DATA_DIR": str(site / "data"),
        "OPSCONSOLE_RUNBOOKS": str(site / "runbooks"),
    }
    env.pop("OPS_JOB_ID", None)
    done = subprocess.run(
        [sys.executable, "-m", "console", *args],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert done.returncode in exits, done.stderr
    return done.stdout


def opsconsole(site: Path, *args: str) -> Any:
    return json.loads(cli(site, *args, "--json"))


def deploy(site: Path, *args: str) -> Any:
    """`updates deploy ... --json`, whatever its exit status (1: not all succeeded)."""
    return json.loads(cli(site, "updates", "deploy", *args, "--json", exits=(0, 1)))


def test_a_windows_host_is_collected_and_assessed_through_the_cli(site: Path) -> None:
    (collected,) = opsconsole(site, "inventory", "collect", "win1")
    assert (collected["host"], collected["ok"]) == ("win1", True)
    facts = opsconsole(site, "inventory", "facts", "win1")
    assert (facts["hostname"], facts["os"]["family"]) == ("WIN-APP01", "windows")
    software = {p["name"] for p in opsconsole(site, "inventory", "software", "win1")}
    assert {"7-Zip 23.01 (x64)", "Microsoft Edge"} <= software
    services = {s["name"]: s for s in opsconsole(site, "inventory", "services", "win1")}
    assert services["Spooler"]["state"] == "stopped"

    opsconsole(site, "updates", "assess", "win1")
    (summary,) = opsconsole(site, "updates", "summary", "win1")
    assert (summary["critical"], summary["security"], summary["reboot_pending"]) == (1, 2, True)
    pending = {u["name"]: u for u in opsconsole(site, "updates", "list", "win1")}
    table = cli(site, "updates", "list", "win1").splitlines()
    # the classification column fits the longest name, UpdateRollup
    assert any(line.endswith(" UpdateRollup Windows Update") for line in table), table
    assert any(line.endswith(" Security     Windows Update") for line in table), table
    cumulative = pending["KB5034770"]
    assert (cumulative["classification"], cumulative["source"]) == ("Security", "Windows Update")
    assert cumulative["available"].endswith("(KB5034770)")


async def test_the_console_shows_a_windows_hosts_facts_software_and_services(
    site: Path,
) -> None:
    opsconsole(site, "inventory", "collect", "win1")
    settings = Settings(site / "inventory.yaml", site / "data", site / "runbooks")
    app = console_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        detail = await open_host(pilot, "win1")
        assert "Connection winrm" in on_screen(app)
        assert "WARNING    WinRM over plain HTTP" in on_screen(app)
        await show_tab(pilot, "2")
        assert "WIN-APP01" in on_screen(app) and "Windows Server 2022" in on_screen(app)
        await show_tab(pilot, "3")
        assert "7-Zip 23.01 (x64)" in on_screen(app)
        await show_tab(pilot, "4")
        services = detail.query_one("#services-table")
        assert row(services, "Spooler")[:3] == ("Spooler", "stopped", "disabled")  # type: ignore[arg-type]
        await pilot.press("escape")
        lax = await open_host(pilot, "win-lax")
        assert lax.host.name == "win-lax"
        text = on_screen(app)
        assert "TLS certificate NOT validated" in text
        assert "ansible_winrm_server_cert_validation: ignore" in text


def test_a_deployment_to_a_windows_host_reports_each_update(site: Path) -> None:
    """The install recording answers for the updates the assessment recording offers:
    the two Security ones selected here succeed and fail as recorded, the rest are
    NotSelected, the run is Failed (one selected update failed), and the pending
    reboot is reported, not done (Never)."""
    opsconsole(site, "updates", "assess", "win1")
    run = deploy(site, "patch-win", "win1", "--classification", "Security", "--reboot", "Never")
    (host,) = run["hosts"]
    selected = {
        p["name"]: (p["status"], p["message"])
        for p in host["packages"]
        if p["classification"] == "Security"
    }
    assert selected == {
        "KB5034770": ("Succeeded", ""),
        "KB5034685": ("Failed", "install failed (HRESULT 0x80240017)"),
    }
    others = {p["status"] for p in host["packages"] if p["classification"] != "Security"}
    assert others == {"NotSelected"}
    assert (run["status"], host["status"]) == ("Failed", "Failed")
    assert (host["rebooted"], host["reboot_note"]) == (False, "required, not allowed (Never)")
