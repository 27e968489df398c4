"""`opsconsole exec` on Windows hosts: the real CLI (and its engine) in a subprocess,
against WS-Management test servers (stand-ins for Windows hosts). The command is
PowerShell there; the test server runs it as fake PowerShell (bash with Write-*
functions), whose Write-Error comes back as CLIXML, as from powershell.exe."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.windows.conftest import winrm_vars
from tests.windows.wsman_server import WSManServer

pytestmark = pytest.mark.timeout(180)

SCRIPT = """Write-Output "hello from $HOSTNAME_FOR_TEST"
Write-Error 'something failed'
exit 4"""


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def inventory(
    http_server: WSManServer,
    https_server: WSManServer,
    tls_files: tuple[Path, Path],
    tmp_path: Path,
) -> Path:
    hosts = {
        "win-http": winrm_vars(http_server, None),
        "win-https": winrm_vars(https_server, tls_files, ansible_winrm_transport="basic"),
        "win-badpass": winrm_vars(http_server, None, ansible_password="wrong"),
        "win-closed": winrm_vars(http_server, None, ansible_port=_closed_port()),
        "win-typo": winrm_vars(http_server, None, ansible_winrm_transport="ntlmv2"),
    }
    path = tmp_path / "inventory.yaml"
    path.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    return path


def opsconsole(inventory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    data = inventory.parent / "data"
    env = {
        **os.environ,
        "HOME": str(inventory.parent),
        "OPSCONSOLE_DATA_DIR": str(data),
        "OPSCONSOLE_RUNBOOKS": str(inventory.parent / "runbooks"),
    }
    env.pop("OPS_JOB_ID", None)
    return subprocess.run(
        [sys.executable, "-m", "console", "-i", str(inventory), "exec", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_exec_runs_powershell_with_separate_streams_and_exit_codes(inventory: Path) -> None:
    done = opsconsole(inventory, "win-http:win-https", "--json", "--", SCRIPT)
    assert done.returncode == 1, done.stderr  # both exited 4
    results = {r["host"]: r for r in json.loads(done.stdout)}
    for name in ("win-http", "win-https"):
        result = results[name]
        assert result["exit_code"] == 4
        assert result["stdout"].strip() == "hello from"  # a variable nobody set is empty
        assert result["stderr"].strip() == "something failed"  # CLIXML decoded to its text
        assert "CLIXML" not in result["stderr"]


def test_exec_prints_lines_per_host_and_zero_when_all_succeed(inventory: Path) -> None:
    done = opsconsole(inventory, "win-http:win-https", "--", "Write-Output ok; Write-Warning hm")
    assert done.returncode == 0, done.stderr
    lines = [" ".join(line.split()) for line in done.stdout.splitlines()]  # names are padded
    for name in ("win-http", "win-https"):
        assert f"{name} | ok" in lines
        assert f"{name} ! hm" in lines  # the Warning stream, shown with errors
    assert "2 ok, 0 failed" in lines[-1]


def test_bad_hosts_fail_with_clear_errors_and_the_others_go_on(inventory: Path) -> None:
    done = opsconsole(inventory, "all", "--json", "--", "Write-Output fine")
    assert done.returncode == 1
    results = {r["host"]: r for r in json.loads(done.stdout)}
    assert results["win-http"]["exit_code"] == 0 and results["win-http"]["stdout"] == "fine\n"
    assert results["win-https"]["exit_code"] == 0
    errors = {name: results[name]["error"] for name in ("win-badpass", "win-closed", "win-typo")}
    assert errors["win-badpass"]["kind"] == "authentication_failed"
    assert "refused the login of 'opsadmin'" in errors["win-badpass"]["message"]
    assert errors["win-closed"]["kind"] == "unreachable"
    assert "cannot connect to" in errors["win-closed"]["message"]
    assert errors["win-typo"]["kind"] == "config_error"
    assert "unknown ansible_winrm_transport 'ntlmv2'" in errors["win-typo"]["message"]
