"""Rebooting a Windows host and telling when it is back: its last boot time.

Windows has no boot id; Win32_OperatingSystem.LastBootUpTime is fixed for one boot and
new after each, so the host is back rebooted when it answers with another boot time
(`console.updates.reboot` waits for that as it waits for a new boot id on Linux).

The reboot command is its own run after the boot time is read: `shutdown /r /t 5`
(the default) registers the restart with Windows and returns at once, so the run ends
before the host goes down; a command that reboots at once (`Restart-Computer -Force`)
drops the connection instead, which is taken as the reboot under way.
"""

from __future__ import annotations

from console.errors import HostError
from console.transports.base import Transport
from console.windows.powershell import ScriptFailed, run_json

DEFAULT_REBOOT_COMMAND = "shutdown /r /t 5"
_PRELUDE = r"""$ProgressPreference='SilentlyContinue';$ErrorActionPreference='Stop'
[Console]::OutputEncoding=[Text.Encoding]::UTF8
"""
BOOT_TIME = (
    "# opsconsole-collector: boot-time\n"
    + _PRELUDE
    + r"""$b=(Get-CimInstance Win32_OperatingSystem).LastBootUpTime.ToUniversalTime()
$s=[int64]($b-[datetime]'1970-01-01').TotalSeconds
ConvertTo-Json -InputObject ([ordered]@{boot=$s}) -Compress
"""
)
REBOOT = (
    "# opsconsole-collector: reboot\n"
    + _PRELUDE
    + r"""$c=@COMMAND@
try{$o=Invoke-Expression $c 2>&1|Out-String;$e=if($LASTEXITCODE){$LASTEXITCODE}else{0}}
catch{$o=$_.Exception.Message;$e=1}
ConvertTo-Json -InputObject ([ordered]@{exit=$e;said="$o".Trim()}) -Compress
"""
)


def reboot_script(command: str) -> str:
    """The reboot script running `command` (a PowerShell command line, given to the
    script as a single-quoted string, so it is run only by Invoke-Expression)."""
    return REBOOT.replace("@COMMAND@", "'" + command.replace("'", "''") + "'")


async def boot_time(transport: Transport, host_name: str, timeout: float) -> str:
    """The host's last boot time (epoch seconds, as text: it stands for a boot id)."""
    doc = await run_json(transport, host_name, BOOT_TIME, timeout)
    boot = doc.get("boot") if isinstance(doc, dict) else None
    if not isinstance(boot, int):
        raise ScriptFailed(host_name, f"the boot-time script printed {doc!r}, not a boot time")
    return str(boot)


async def arm_reboot(transport: Transport, host_name: str, command: str) -> str:
    """Read the boot time, then start `command`; returns the boot time before it.
    A command that fails (exit status, error) raises HostError with what it said."""
    before = await boot_time(transport, host_name, 60)
    try:
        doc = await run_json(transport, host_name, reboot_script(command), 60)
    except ScriptFailed:
        raise
    except HostError:
        return before  # the connection dropped: the host is going down
    if not isinstance(doc, dict) or doc.get("exit") != 0:
        said = doc.get("said", "") if isinstance(doc, dict) else doc
        raise HostError(host_name, f"the reboot command {command!r} failed: {said}")
    return before


async def probe_boot(
    transport: Transport, host_name: str, timeout: float
) -> tuple[str, bool, str] | None:
    """(boot time, True, "") in the shape of the Linux probe (no marker: the boot time
    alone tells); None when the host answered but the script failed (shutting down)."""
    try:
        return await boot_time(transport, host_name, timeout), True, ""
    except ScriptFailed:
        return None
