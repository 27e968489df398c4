"""The Windows collectors: their scripts, and their recorded outputs read into a Snapshot.

The recordings (tests/windows/recordings, provenance in its README) are what each
script prints on a Windows host; here they are read as the console reads them, and
`collect` is run against a stand-in host that answers each PowerShell command line
with its recording, which proves the dispatch and the command line's encoding. The
WS-Management test server runs the same recordings over real WinRM (tests/windows).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from console.changes.collector import CollectionFailed, collect
from console.changes.model import Package, Service
from console.changes.windows_collector import SCRIPTS
from console.changes.windows_parse import parse_windows
from console.inventory.model import Host
from console.windows.powershell import MAX_COMMAND_LINE, is_windows, powershell_command, script_name
from tests.windows.recorded_host import RECORDINGS, RecordedWindowsHost


def recording(name: str) -> Any:
    return json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))


def snapshot_of_recordings() -> Any:
    documents = {name: recording(name) for name in ("facts", "software", "services")}
    return parse_windows(documents, "win-app01", 1705399201.0)


WINDOWS = Host("win-app01", {"ansible_connection": "winrm"})


# --- the scripts ----------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_script_is_marked_and_prints_one_json_document(name: str) -> None:
    script = SCRIPTS[name]
    assert script.splitlines()[0] == f"# opsconsole-collector: {name}"
    assert script.rstrip().splitlines()[-1].startswith("ConvertTo-Json -InputObject")
    assert "-Depth 6 -Compress" in script


@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_each_script_fits_a_windows_command_line(name: str) -> None:
    command = powershell_command(SCRIPTS[name])
    assert len(command) <= MAX_COMMAND_LINE
    decoded = base64.b64decode(command.split()[-1]).decode("utf-16-le")
    assert decoded == SCRIPTS[name]


def test_a_script_too_long_for_cmd_is_refused_before_it_runs() -> None:
    from console.errors import UsageError

    with pytest.raises(UsageError, match="over the 8191"):
        powershell_command("# opsconsole-collector: big\n" + "#" * 4000)


def test_windows_hosts_are_told_by_winrm_or_the_os_family() -> None:
    assert is_windows(WINDOWS)
    assert is_windows(Host("w", {"ansible_os_family": "Windows"}))
    assert not is_windows(Host("l", {"ansible_connection": "ssh"}))


# --- the recordings read as a user would read them ------------------------------------


def test_facts_of_a_windows_host() -> None:
    facts = snapshot_of_recordings().facts
    assert facts.os_name == "Microsoft Windows Server 2022 Datacenter"
    assert facts.os_family == "windows"
    assert facts.os_version == "21H2"
    assert facts.kernel == "10.0.20348.2227"
    assert facts.arch == "x86_64"
    assert (facts.hostname, facts.fqdn) == ("WIN-APP01", "win-app01.corp.example.com")
    assert (facts.cpus, facts.memory_mb) == (4, 8191)
    assert facts.boot_time == 1705312801 and facts.uptime_s == 86400
    assert facts.ipv4 == ("10.20.1.14", "192.168.56.10")
    assert facts.ipv6 == ("fe80::8d4c:2b1e:93f0:7a16",)
    assert [(d.mount, d.fstype, d.size_mb, d.used_mb) for d in facts.disks] == [
        ("C:\\", "NTFS", 130569, 36660),
        ("D:\\", "NTFS", 262142, 12286),
    ]
    assert facts.virtualization == "hyperv"
    assert facts.machine_id == "6b29fc40-ca47-1067-b31d-00dd010662da"


def test_software_from_the_registry_and_hotfixes() -> None:
    software = snapshot_of_recordings().software
    by_name = {p.name: p for p in software}
    assert by_name["7-Zip 23.01 (x64)"] == Package("7-Zip 23.01 (x64)", "23.01", "x64", "registry")
    assert by_name["Microsoft Edge"].arch == "x86"  # from the WOW6432Node view
    code = by_name["Microsoft Visual Studio Code (User)"]
    assert (code.arch, code.source) == (
        "user",
        "registry:S-1-5-21-3623811015-3361044348-30300820-1013",
    )
    assert "Müller Zeiterfassung" in by_name
    assert [p.name for p in software].count("Notepad++ (64-bit x64)") == 1
    hotfixes = [p.name for p in software if p.source == "hotfix"]
    assert hotfixes == ["KB5012170", "KB5033914", "KB5034129", "KB5034439"]


def test_services_with_state_start_mode_and_start_time() -> None:
    services = {s.name: s for s in snapshot_of_recordings().services}
    assert services["WinRM"] == Service("WinRM", "running", "enabled", "windows", 1705312830.0)
    assert services["BITS"].enabled == "enabled-delayed"
    assert services["Spooler"] == Service("Spooler", "stopped", "disabled", "windows", None)
    assert (services["wuauserv"].state, services["wuauserv"].enabled) == ("stopped", "manual")
    assert services["TrustedInstaller"].state == "start pending"
    assert services["TrustedInstaller"].started is None  # only a running service's start


def test_a_document_of_the_wrong_shape_names_the_script_and_key() -> None:
    from console.changes.sections import OutputError

    documents = {"facts": recording("facts"), "software": {"software": "x"}, "services": {}}
    with pytest.raises(OutputError, match="software: software should be a list"):
        parse_windows(documents, "win-app01", 0.0)


# --- collect() on a Windows host -------------------------------------------------------


async def test_collect_runs_the_powershell_collectors_on_a_windows_host() -> None:
    transport = RecordedWindowsHost(WINDOWS)
    snapshot = await collect(transport, "win-app01")
    assert [script_name(s) for s in transport.scripts] == ["facts", "software", "services"]
    assert snapshot.host == "win-app01"
    assert snapshot.facts.os_family == "windows"
    assert any(s.name == "WinRM" and s.state == "running" for s in snapshot.services)


async def test_a_collector_printing_no_json_fails_the_collection_naming_it() -> None:
    answers = {
        "facts": (RECORDINGS / "facts.json").read_bytes(),
        "software": b"Get-ItemProperty : Access is denied\r\n",
        "services": b"{}",
    }
    with pytest.raises(CollectionFailed, match="the software script printed no JSON"):
        await collect(RecordedWindowsHost(WINDOWS, answers), "win-app01")
