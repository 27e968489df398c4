"""Tracked files and registry keys on Windows: the tracking configuration takes their
paths, the `tracked` recording is read into tracked files, a registry value changed
between two collections is a file change with a diff, and each host collects only
the paths of its own kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from console.changes.collector import collect
from console.changes.diff import changes_between, unified_diff
from console.changes.model import ChangeKind, FileStatus, TrackedPath
from console.changes.tracking import Tracking
from console.changes.windows_parse import parse_windows
from console.changes.windows_tracked import parse_tracked, tracked_scripts
from console.errors import UsageError
from console.inventory.model import Host
from console.store import Store
from console.transports.local import LocalTransport
from console.windows.powershell import MAX_COMMAND_LINE, powershell_command, script_name
from tests.windows.recorded_host import RECORDINGS, RecordedWindowsHost

HOSTS = "C:\\Windows\\System32\\drivers\\etc\\hosts"
AU_KEY = "HKLM:\\SOFTWARE\\Policies\\Microsoft\\Windows\\WindowsUpdate\\AU"
WINDOWS = Host("win-app01", {"ansible_connection": "winrm"})


def tracked_recording() -> dict[str, object]:
    return json.loads((RECORDINGS / "tracked.json").read_text(encoding="utf-8"))


@pytest.fixture
def tracking(tmp_path: Path) -> Iterator[Tracking]:
    store = Store(tmp_path / "data")
    yield Tracking(store)
    store.close()


def test_windows_paths_and_registry_keys_can_be_tracked(tracking: Tracking) -> None:
    tracking.add_file(HOSTS)
    tracking.add_file(AU_KEY, content=True)
    tracking.add_file("C:\\inetpub\\wwwroot\\*.config", content=False)
    assert [t.path for t in tracking.files()][:2] == [HOSTS, AU_KEY]
    with pytest.raises(UsageError, match=r"holds '\.\.'"):
        tracking.add_file("C:\\inetpub\\..\\Windows\\win.ini")
    with pytest.raises(UsageError, match="or C:\\\\ or HKLM:\\\\ on Windows"):
        tracking.add_file("Windows\\win.ini")


def test_the_tracked_recording_read_as_tracked_files() -> None:
    files, unmatched = parse_tracked([tracked_recording()])
    by_path = {f.path: f for f in files}
    hosts = by_path[HOSTS]
    assert hosts.status is FileStatus.OK and "db01.corp.example.com" in (hosts.content or "")
    assert (hosts.owner, hosts.mode) == ("NT AUTHORITY\\SYSTEM", "")
    config = by_path["C:\\inetpub\\wwwroot\\web.config"]
    assert config.status is FileStatus.HASH_ONLY and config.sha256.startswith("9f86d081")
    key = by_path[AU_KEY]
    assert key.status is FileStatus.OK
    assert (key.content or "").splitlines()[0] == "AUOptions (DWord) = 3"
    assert by_path["C:\\ProgramData\\Contoso\\agent.ini"].status is FileStatus.MISSING
    sam = by_path["C:\\Windows\\System32\\config\\SAM"]
    assert sam.status is FileStatus.UNREADABLE and "used by another process" in sam.error
    assert unmatched == ["C:\\logs\\*.cfg"]


def test_a_registry_value_changed_is_a_file_change_with_a_diff() -> None:
    documents = {
        name: json.loads((RECORDINGS / f"{name}.json").read_text(encoding="utf-8"))
        for name in ("facts", "software", "services")
    }
    files, _ = parse_tracked([tracked_recording()])
    before = parse_windows(documents, "win-app01", 1.0, files=files)
    changed = tracked_recording()
    for entry in changed["tracked"]:  # type: ignore[attr-defined]
        if entry.get("path") == AU_KEY:
            entry["text"] = entry["text"].replace(
                "NoAutoUpdate (DWord) = 0", "NoAutoUpdate (DWord) = 1"
            )
    after = replace(before, collected=2.0, files=tuple(parse_tracked([changed])[0]))
    (change,) = changes_between(before, after, 2.0)
    assert (change.change, change.name) == (ChangeKind.MODIFIED, AU_KEY)
    diff = unified_diff(change)
    assert "-NoAutoUpdate (DWord) = 0" in diff and "+NoAutoUpdate (DWord) = 1" in diff


def test_paths_reach_the_script_quoted_and_in_batches_that_fit() -> None:
    (script,) = tracked_scripts([TrackedPath("C:\\Users\\O'Brien\\notes.txt")], 1024)
    assert script_name(script) == "tracked"
    assert ",@('C:\\Users\\O''Brien\\notes.txt',1)" in script
    many = [TrackedPath(f"C:\\inetpub\\site{n:03}\\{'x' * 120}\\*.config") for n in range(60)]
    scripts = tracked_scripts(many, 1024)
    assert len(scripts) > 1
    assert all(len(powershell_command(s)) <= MAX_COMMAND_LINE for s in scripts)
    assert sum(s.count("\\site") for s in scripts) == 60


async def test_a_windows_host_collects_its_paths_and_not_posix_ones() -> None:
    transport = RecordedWindowsHost(WINDOWS)
    tracked = [TrackedPath(HOSTS), TrackedPath("/etc/passwd"), TrackedPath(AU_KEY)]
    snapshot = await collect(transport, "win-app01", tracked)
    names = [script_name(s) for s in transport.scripts]
    assert names == ["facts", "software", "services", "tracked"]
    assert "/etc/passwd" not in transport.scripts[-1]
    assert "/etc/passwd" in snapshot.unmatched
    assert any(f.path == AU_KEY and f.status is FileStatus.OK for f in snapshot.files)


async def test_a_linux_host_reports_windows_paths_as_unmatched(tmp_path: Path) -> None:
    tracked_file = tmp_path / "tracked.conf"
    tracked_file.write_text("x = 1\n")
    local = LocalTransport(Host("localhost", {"ansible_connection": "local"}))
    tracked = [TrackedPath(str(tracked_file)), TrackedPath(HOSTS)]
    snapshot = await collect(local, "localhost", tracked)
    assert [f.path for f in snapshot.files] == [str(tracked_file)]
    assert snapshot.unmatched == (HOSTS,)
