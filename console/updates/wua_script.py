"""The Windows Update scripts: assessing (`wua-assess`) and installing (`wua-install`).

Both drive the Windows Update Agent's COM API (`Microsoft.Update.Session`), as Azure's
Windows patch agent does, and print one JSON document (`console.windows.powershell`).

* wua-assess searches `IsInstalled=0 and IsHidden=0` (online, or against the cached
  catalog when no refresh is asked) and prints per update its UpdateID, title, KB
  numbers, categories (name, type, id), MSRC severity, reboot behaviour
  (InstallationBehavior.RebootBehavior: 0 never, 1 always, 2 can request) and whether
  it is downloaded, plus whether a reboot is pending (the Windows Update and
  Component Based Servicing registry keys). A failed search is `error`, not a crash.
* wua-install installs the given UpdateIDs one at a time, in the order given, each
  downloaded then installed, and prints per update the download and install result
  codes (OperationResultCode: 2 succeeded, 3 with errors, 4 failed, 5 aborted), the
  HRESULT and whether it wants a reboot. Before each update it checks the maintenance
  window as the Linux script does: the engine sends the seconds left, the host counts
  from its own start, and with less than PACKAGE_MARGIN_S left that update and the
  rest are `window`.

* wua-install runs in a scheduled task (`install_task_script`): Windows refuses
  IUpdateDownloader.Download and IUpdateInstaller.Install to a process of a network
  logon, as WinRM's are (E_ACCESSDENIED, 0x80070005). So the install script is
  uploaded, and a one-off task registered to run it as SYSTEM (what PSWindowsUpdate's
  Invoke-WUJob does), which writes its JSON to a file; the wrapper waits for the task,
  removes it and prints the file. A task that writes nothing makes every update of the
  batch NotAttempted with the task's result code.

Not verified against a real Windows host (none is available here): written from the
WUA and ScheduledTasks documentation.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

from console.errors import UsageError
from console.transports.winrm_scripts import quote
from console.updates.model import PACKAGE_MARGIN_S

PRELUDE = r"""$ProgressPreference='SilentlyContinue';$ErrorActionPreference='Stop'
[Console]::OutputEncoding=[Text.Encoding]::UTF8
$wu='HKLM:\SOFTWARE\Microsoft\Windows\CurrentVersion\'
function Pending{(Test-Path ($wu+'WindowsUpdate\Auto Update\RebootRequired')) -or
(Test-Path ($wu+'Component Based Servicing\RebootPending'))}
function Err($e){'0x{0:X8} {1}' -f $e.Exception.HResult,$e.Exception.Message}
$s=New-Object -ComObject Microsoft.Update.Session;$s.ClientApplicationID='opsconsole'
"""

ASSESS = (
    "# opsconsole-collector: wua-assess\n"
    + PRELUDE
    + r"""$r=[ordered]@{reboot_pending=(Pending);error=$null;updates=@()}
try{$q=$s.CreateUpdateSearcher();$q.Online=@ONLINE@
$found=$q.Search('IsInstalled=0 and IsHidden=0').Updates
$r.updates=@(foreach($u in $found){[ordered]@{
id=$u.Identity.UpdateID;title=$u.Title;kb=@($u.KBArticleIDs)
categories=@(foreach($c in $u.Categories){[ordered]@{name=$c.Name;type=$c.Type;id=$c.CategoryID}})
severity=$u.MsrcSeverity;reboot=$u.InstallationBehavior.RebootBehavior
downloaded=$u.IsDownloaded}})}catch{$r.error=Err $_}
ConvertTo-Json -InputObject $r -Depth 6 -Compress
"""
)

INSTALL = (
    "# opsconsole-collector: wua-install\n"
    + PRELUDE
    + r"""$ids=@(@IDS@);$left=@LEFT@;$margin=@MARGIN@;$t0=Get-Date
$r=[ordered]@{error=$null;reboot_required=$false;results=@()}
$all=@();if($ids){try{$q=$s.CreateUpdateSearcher()
$all=@($q.Search('IsInstalled=0 and IsHidden=0').Updates)}catch{$r.error=Err $_}}
$r.results=@(foreach($id in $ids){
$o=[ordered]@{id=$id;outcome='';left=$null;download=$null;install=$null;hresult=$null
reboot=$false;message=$null}
$u=$all|?{$_.Identity.UpdateID -eq $id}|select -First 1
$rest=[int]($left-((Get-Date)-$t0).TotalSeconds)
if($r.error){$o.outcome='notattempted';$o.message=$r.error}
elseif($rest -lt $margin){$o.outcome='window';$o.left=$rest}
elseif(-not $u){$o.outcome='gone'}
else{try{if(-not $u.EulaAccepted){$u.AcceptEula()}
$c=New-Object -ComObject Microsoft.Update.UpdateColl;[void]$c.Add($u)
$d=$s.CreateUpdateDownloader();$d.Updates=$c;$dr=$d.Download()
$o.download=[int]$dr.ResultCode;$o.hresult=$dr.HResult;$o.outcome='done'
if($o.download -in 2,3){$i=$s.CreateUpdateInstaller();$i.Updates=$c
$x=$i.Install().GetUpdateResult(0);$o.install=[int]$x.ResultCode;$o.hresult=$x.HResult
$o.reboot=$x.RebootRequired}}catch{$o.outcome='failed';$o.message=Err $_}}
$o})
$r.reboot_required=(Pending) -or @($r.results|?{$_.reboot}).Count -gt 0
ConvertTo-Json -InputObject $r -Depth 6 -Compress@TO_FILE@
"""
)

# Runs the uploaded install script as SYSTEM in a one-off scheduled task and prints the
# JSON it wrote (see the module docstring). No time limit on the task, as on Linux: an
# install already started is never cut off.
INSTALL_TASK = (
    "# opsconsole-collector: wua-install\n"
    + r"""$ProgressPreference='SilentlyContinue';$ErrorActionPreference='Stop'
[Console]::OutputEncoding=[Text.Encoding]::UTF8
$script=@SCRIPT@;$out=@OUT@;$ids=@(@IDS@)
$name='opsconsole-wua-'+[guid]::NewGuid().ToString('N')
$arg='-NoProfile -NonInteractive -ExecutionPolicy Bypass -File "{0}"' -f $script
$a=New-ScheduledTaskAction -Execute 'powershell.exe' -Argument $arg
$pp=@{UserId='NT AUTHORITY\SYSTEM';LogonType='ServiceAccount';RunLevel='Highest'}
$p=New-ScheduledTaskPrincipal @pp
$so=@{AllowStartIfOnBatteries=$true;DontStopIfGoingOnBatteries=$true
ExecutionTimeLimit=[TimeSpan]::Zero};$o=New-ScheduledTaskSettingsSet @so
Register-ScheduledTask -TaskName $name -Action $a -Principal $p -Settings $o -Force|Out-Null
try{Start-ScheduledTask -TaskName $name
do{Start-Sleep -Seconds 2;$t=Get-ScheduledTask -TaskName $name
}while($t.State -in 'Queued','Running')
$code=(Get-ScheduledTaskInfo -TaskName $name).LastTaskResult}
finally{Unregister-ScheduledTask -TaskName $name -Confirm:$false}
if(Test-Path -LiteralPath $out){Get-Content -Raw -Encoding UTF8 -LiteralPath $out}else{
$m='the install task ended with 0x{0:X8} and wrote no result' -f $code
ConvertTo-Json -Depth 6 -Compress -InputObject ([ordered]@{error=$m;reboot_required=$false
results=@(foreach($id in $ids){[ordered]@{id=$id;outcome='notattempted';message=$m}})})}
"""
)

# A deployment's updates go to the host in batches of this many, each its own run, so
# that every script fits a command line (tests/windows/test_wua.py checks the size).
INSTALL_BATCH = 20
_UPDATE_ID = re.compile(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}\Z")


def assess_script(refresh: bool) -> str:
    """The assessment script; without `refresh` it searches the cached catalog only."""
    return ASSESS.replace("@ONLINE@", "$true" if refresh else "$false")


def install_script(
    update_ids: Sequence[str], seconds_left: float, result_path: str | None = None
) -> str:
    """The install script for these UpdateIDs (GUIDs, checked: nothing else can reach
    the script), none starting with less than PACKAGE_MARGIN_S of `seconds_left`. It
    prints its JSON, or writes it to `result_path` (run by the task)."""
    to_file = (
        f"|Set-Content -Encoding UTF8 -LiteralPath {quote(result_path)}" if result_path else ""
    )
    return (
        INSTALL.replace("@IDS@", _id_list(update_ids))
        .replace("@LEFT@", str(math.floor(seconds_left)))
        .replace("@MARGIN@", str(PACKAGE_MARGIN_S))
        .replace("@TO_FILE@", to_file)
    )


def install_task_script(update_ids: Sequence[str], script_path: str, result_path: str) -> str:
    """The wrapper that runs the uploaded install script as SYSTEM in a scheduled task
    and prints the JSON it wrote to `result_path`."""
    return (
        INSTALL_TASK.replace("@SCRIPT@", quote(script_path))
        .replace("@OUT@", quote(result_path))
        .replace("@IDS@", _id_list(update_ids))
    )


def _id_list(update_ids: Sequence[str]) -> str:
    for update_id in update_ids:
        if not _UPDATE_ID.match(update_id):
            raise UsageError(f"{update_id!r} is not a Windows Update id (a GUID)")
    return ",".join(f"'{i}'" for i in update_ids)
