"""Collecting a Windows host's inventory: three PowerShell scripts answering in JSON.

The Linux collector (`console.changes.collector`) is one `sh` script; on Windows the
same questions are asked of WMI/CIM and the registry by PowerShell, one script per
section (`facts`, `software`, `services`), each printing one JSON document that
`console.changes.windows_parse` reads into the same Snapshot. Three scripts, not one,
because a script travels on a command line of at most 8191 characters
(`console.windows.powershell`).

What each reads (all documented Windows interfaces, nothing installed on the host):
* facts: Win32_OperatingSystem (caption, version, build, memory, last boot),
  the registry's CurrentVersion (UBR, DisplayVersion), Win32_ComputerSystem (CPUs,
  maker and model for the virtualization hint), Win32_LogicalDisk (local disks),
  Win32_NetworkAdapterConfiguration (addresses), the Cryptography MachineGuid, and
  Get-HotFix (installed updates, which the snapshot lists as software);
* software: the Uninstall keys of HKLM (64-bit view and WOW6432Node) and of every
  loaded user hive under HKEY_USERS (per-user installs; unloaded hives are not read);
* services: Win32_Service (state, start mode, delayed start) and Win32_Process's
  CreationDate of each running service's process (its start time: a restart between
  two collections shows as a change; services sharing one svchost share its time).

Times are sent as epoch seconds: Windows PowerShell 5.1 would otherwise write dates as
`/Date(ms)/` strings. stdout is switched to UTF-8 so that names outside the console's
code page arrive intact.

Tracked files and registry keys (`C:\\...`, `HKLM:\\...`) are the `tracked` script's
(`console.changes.windows_tracked`); a POSIX path of the tracking configuration that
selects a Windows host is reported there as matching nothing.
"""

from __future__ import annotations

import time
from collections.abc import Iterable

from console.changes.model import Snapshot, TrackedPath
from console.changes.windows_parse import parse_windows
from console.changes.windows_tracked import parse_tracked, tracked_scripts
from console.transports.base import Transport
from console.windows.paths import is_windows_path
from console.windows.powershell import run_json

PRELUDE = r"""$ProgressPreference='SilentlyContinue';$ErrorActionPreference='Stop'
[Console]::OutputEncoding=[Text.Encoding]::UTF8
function U($d){if($d){[int64]($d.ToUniversalTime()-[datetime]'1970-01-01').TotalSeconds}}
"""

FACTS = (
    "# opsconsole-collector: facts\n"
    + PRELUDE
    + r"""$os=Get-CimInstance Win32_OperatingSystem
$cs=Get-CimInstance Win32_ComputerSystem
$cv=Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion'
$fqdn=try{[Net.Dns]::GetHostEntry('').HostName}catch{$env:COMPUTERNAME}
$r=[ordered]@{
hostname=$env:COMPUTERNAME;fqdn=$fqdn;caption=$os.Caption;version=$os.Version
build=$os.BuildNumber;ubr=$cv.UBR;display_version=$cv.DisplayVersion
arch=$env:PROCESSOR_ARCHITECTURE;logical_processors=$cs.NumberOfLogicalProcessors
memory_kb=$os.TotalVisibleMemorySize;last_boot=U $os.LastBootUpTime;now=U (Get-Date)
machine_guid=(Get-ItemProperty 'HKLM:\SOFTWARE\Microsoft\Cryptography').MachineGuid
manufacturer=$cs.Manufacturer;model=$cs.Model
disks=@(Get-CimInstance Win32_LogicalDisk -Filter 'DriveType=3'|%{[ordered]@{
id=$_.DeviceID;label=$_.VolumeName;fs=$_.FileSystem;size=$_.Size;free=$_.FreeSpace}})
ips=@(Get-CimInstance Win32_NetworkAdapterConfiguration -Filter 'IPEnabled=True'|%{$_.IPAddress})
hotfixes=@(Get-HotFix -EA SilentlyContinue|%{[ordered]@{
id=$_.HotFixID;description=$_.Description;installed_on=U $_.InstalledOn}})
}
ConvertTo-Json -InputObject $r -Depth 6 -Compress
"""
)

SOFTWARE = (
    "# opsconsole-collector: software\n"
    + PRELUDE
    + r"""$k='Microsoft\Windows\CurrentVersion\Uninstall\*'
$w=if([Environment]::Is64BitOperatingSystem){'x64'}else{'x86'}
$src=@(,@("HKLM:\SOFTWARE\$k",$w,''))
if($w -eq 'x64'){$src+=,@("HKLM:\SOFTWARE\WOW6432Node\$k",'x86','')}
foreach($h in Get-ChildItem Registry::HKEY_USERS -EA SilentlyContinue){
if($h.PSChildName -notlike '*_Classes'){
$src+=,@("Registry::$($h.Name)\Software\$k",'',$h.PSChildName)}}
$r=@(foreach($s in $src){Get-ItemProperty $s[0] -EA SilentlyContinue|
?{$_.DisplayName -and -not $_.SystemComponent -and -not $_.ParentKeyName}|%{[ordered]@{
name=$_.DisplayName;version=$_.DisplayVersion;publisher=$_.Publisher;arch=$s[1];user=$s[2]
key=$_.PSChildName}}})
ConvertTo-Json -InputObject ([ordered]@{software=$r}) -Depth 6 -Compress
"""
)

SERVICES = (
    "# opsconsole-collector: services\n"
    + PRELUDE
    + r"""$p=@{};$procs=Get-CimInstance Win32_Process -Property 'ProcessId','CreationDate'
foreach($x in $procs){$p[[int]$x.ProcessId]=U $x.CreationDate}
$r=@(Get-CimInstance Win32_Service|%{[ordered]@{
name=$_.Name;display_name=$_.DisplayName;state=$_.State;start_mode=$_.StartMode
delayed=$_.DelayedAutoStart;pid=$_.ProcessId;started=if($_.ProcessId){$p[[int]$_.ProcessId]}}})
ConvertTo-Json -InputObject ([ordered]@{services=$r}) -Depth 6 -Compress
"""
)

SCRIPTS = {"facts": FACTS, "software": SOFTWARE, "services": SERVICES}


async def collect_windows(
    transport: Transport,
    host_name: str,
    tracking: Iterable[TrackedPath],
    max_content: int,
    timeout: float,
) -> Snapshot:
    """`host_name`'s Snapshot from the scripts, run one after the other on its
    connection. Raises the transport's HostError, or ScriptFailed (any script)."""
    documents = {
        name: await run_json(transport, host_name, script, timeout)
        for name, script in SCRIPTS.items()
    }
    tracked = list(tracking)
    windows = [t for t in tracked if is_windows_path(t.path)]
    found = [
        await run_json(transport, host_name, script, timeout)
        for script in tracked_scripts(windows, max_content)
    ]
    files, unmatched = parse_tracked(found)
    elsewhere = [t.path for t in tracked if not is_windows_path(t.path)]
    return parse_windows(
        documents, host_name, time.time(), files=files, unmatched=[*unmatched, *elsewhere]
    )
