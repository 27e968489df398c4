"""`.ps1` runbooks as jobs of a real engine on Windows hosts, through the WinRM transport
against WS-Management test servers (stand-ins for Windows hosts).

The test server runs the runbook as fake PowerShell (bash with Write-* functions that
print the prefixes the runbook wrapper's redefinitions print, parameters bound as
variables of their names): what is verified is the transport's part — workdir,
chunked uploads, the wrapper's command line, parameters delivered, both pipes mapped
to the six job streams, the exit code, the cleanup — not PowerShell itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from console.engine.core import Engine
from console.engine.options import EngineOptions
from console.jobs.model import JobStatus
from console.settings import Settings
from tests.jobs.helpers import wait_finished
from tests.windows.conftest import winrm_vars
from tests.windows.wsman_server import WSManServer

pytestmark = pytest.mark.timeout(180)

GREET = """# /// runbook
# description = "greets from Windows in every stream"
# [parameters.Name]
# required = true
# [parameters.Count]
# type = "int"
# ///
param(
    [Parameter(Mandatory = $true)][string]$Name,
    [int]$Count = 1
)
Write-Output "hello $Name x$Count"
Write-Warning "careful"
Write-Verbose "details"
Write-Debug "dbg"
Write-Progress "halfway"
Write-Error "it broke"
exit 7
"""


@pytest.fixture
def settings(
    http_server: WSManServer,
    https_server: WSManServer,
    tls_files: tuple[Path, Path],
    tmp_path: Path,
) -> Settings:
    hosts = {
        "win-http": winrm_vars(http_server, None),
        "win-https": winrm_vars(https_server, tls_files, ansible_winrm_transport="basic"),
    }
    inventory = tmp_path / "inventory.yaml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    runbooks = tmp_path / "runbooks"
    runbooks.mkdir()
    return Settings(inventory=inventory, data_dir=tmp_path / "data", runbooks=runbooks)


async def _run(settings: Settings, name: str, params: dict[str, str]) -> tuple[Engine, str]:
    engine = Engine(settings, EngineOptions())
    await engine.start()
    job = await engine.start_job(name, "win-http:win-https", params)
    return engine, job.id


async def test_a_ps1_runbook_fills_the_six_streams_and_keeps_the_exit_code(
    settings: Settings, http_server: WSManServer, https_server: WSManServer
) -> None:
    (settings.runbooks / "Greet.ps1").write_text(GREET)
    engine, job_id = await _run(settings, "Greet", {"Name": "Ada", "Count": "3"})
    try:
        done = await wait_finished(engine, job_id)
        for host in ("win-http", "win-https"):
            run = done.host_runs[host]
            assert (run.status, run.exit_code) == (JobStatus.FAILED, 7), run
            records = await engine.streams(job_id, host=host)
            assert {(r.stream, r.text) for r in records} == {
                ("output", "hello Ada x3"),
                ("warning", "careful"),
                ("verbose", "details"),
                ("debug", "dbg"),
                ("progress", "halfway"),
                ("error", "it broke"),
            }
    finally:
        await engine.close()
    for server in (http_server, https_server):
        command = next(c for c in server.stats.commands if " -File " in c)
        assert command.startswith("powershell.exe -NoLogo -NoProfile -NonInteractive")
        _assert_workdirs_removed(server)


async def test_a_large_runbook_is_uploaded_in_chunks_and_removed_afterwards(
    settings: Settings, http_server: WSManServer, https_server: WSManServer
) -> None:
    padding = "".join(f"# padding line {i:05} to make the script large\n" for i in range(1500))
    script = GREET.replace('Write-Output "hello', padding + 'Write-Output "hello')
    assert len(script) > 60_000
    (settings.runbooks / "Big.ps1").write_text(script)
    engine, job_id = await _run(settings, "Big", {"Name": "Grace"})
    try:
        done = await wait_finished(engine, job_id)
        for host in ("win-http", "win-https"):
            assert done.host_runs[host].exit_code == 7
            output = await engine.streams(job_id, host=host, stream="output")
            assert [r.text for r in output] == ["hello Grace x"]  # Count unset: empty
    finally:
        await engine.close()
    for server in (http_server, https_server):
        uploads = [c for c in server.stats.commands if c.startswith("powershell -NoProfile")]
        assert len(uploads) > 25  # 60 KB in chunks of a ~8 KB command line
        _assert_workdirs_removed(server)


def _assert_workdirs_removed(server: WSManServer) -> None:
    temp = server.root / "Users" / "opsadmin" / "AppData" / "Local" / "Temp"
    assert temp.is_dir(), "the job made its workdir in $env:TEMP"
    assert list(temp.iterdir()) == [], "the workdir was removed after the run"
