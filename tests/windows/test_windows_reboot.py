"""Rebooting a Windows host after its updates: the boot time read before, the reboot
command run, and the host back once it answers with another boot time."""

from __future__ import annotations

import pytest

from console.errors import HostError
from console.inventory.model import Host
from console.updates.reboot import RebootTimedOut, reboot_and_wait, reboot_command_for
from console.windows.powershell import script_name
from console.windows.reboot import reboot_script
from tests.windows.recorded_host import RecordedWindowsHost

WINDOWS = Host("win-app01", {"ansible_connection": "winrm"})


def test_a_windows_host_reboots_with_shutdown_r_unless_told_otherwise() -> None:
    assert reboot_command_for(WINDOWS) == "shutdown /r /t 5"
    own = Host("w", {"ansible_connection": "winrm", "console_reboot_command": "Restart-Computer"})
    assert reboot_command_for(own) == "Restart-Computer"
    assert reboot_command_for(Host("l")) == "shutdown -r now"


def test_the_reboot_command_reaches_the_script_as_a_quoted_string() -> None:
    script = reboot_script("shutdown /r /t 5 /c 'patches'")
    assert "$c='shutdown /r /t 5 /c ''patches'''" in script


async def test_back_once_the_boot_time_changed() -> None:
    boots = [b'{"boot":100}', b'{"boot":100}', b'{"boot":250}']
    transport = RecordedWindowsHost(WINDOWS, {"boot-time": boots})
    note = await reboot_and_wait(transport, "win-app01", "shutdown /r /t 5", timeout=60)
    assert note.startswith("back after ")
    names = [script_name(s) for s in transport.scripts]
    assert names[:2] == ["boot-time", "reboot"] and names.count("boot-time") == 3
    assert "$c='shutdown /r /t 5'" in transport.scripts[1]


async def test_a_failing_reboot_command_says_why() -> None:
    refused = b'{"exit":5,"said":"Access is denied.(5)"}'
    transport = RecordedWindowsHost(WINDOWS, {"reboot": refused})
    with pytest.raises(HostError, match=r"failed: Access is denied.\(5\)"):
        await reboot_and_wait(transport, "win-app01", "shutdown /r /t 5", timeout=60)


async def test_a_host_that_never_reboots_times_out_saying_so() -> None:
    transport = RecordedWindowsHost(WINDOWS)  # the recorded boot time never changes
    with pytest.raises(RebootTimedOut, match="still up on the same boot"):
        await reboot_and_wait(transport, "win-app01", "shutdown /r /t 5", timeout=1)
