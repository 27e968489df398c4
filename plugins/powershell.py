"""PowerShell runbooks (`.ps1`): `pwsh` on Linux, Windows PowerShell over WinRM.

The program started is a wrapper, `opsconsole_runbook.ps1`, uploaded next to the
runbook with `opsconsole_params.json`. It:

- builds `$Params` (a hashtable, via `ConvertFrom-Json -AsHashtable`; a recursive
  conversion on Windows PowerShell 5.1, which lacks that switch) and `$WebhookData`;
- redefines Write-Warning, Write-Verbose, Write-Debug and Write-Progress to print the
  `::warning::`-style line prefixes, so those records reach the right job stream
  (Write-Error already goes to stderr, the Error stream);
- runs the runbook with the parameters its `param()` block declares splatted in
  (Azure's style, including `$WebhookData`), and exits with its exit code.

`$Params`, `$WebhookData` and the bound parameters hold values of any size (the JSON
file has no limit). Parameters are also in the environment as `OPS_PARAM_<NAME>` like
in every language, or as a file named by `OPS_PARAM_<NAME>_FILE` when too big for it
(see `console.runbooks.env_files`).
"""

from __future__ import annotations

import json
import shlex
from typing import Any

from console.runbooks.plugin_api import (
    Invocation,
    Runbook,
    RunbookLanguage,
    TargetInfo,
    posix_path,
    runbook_env,
    windows_path,
)

WRAPPER = "opsconsole_runbook.ps1"
PARAMS_FILE = "opsconsole_params.json"
_FLAGS = "-NoLogo -NoProfile -NonInteractive"

WRAPPER_SOURCE = r"""# opsconsole's runbook wrapper: $Params, $WebhookData and the stream prefixes.
param([Parameter(Mandatory = $true)][string]$RunbookPath)
$ErrorActionPreference = 'Continue'

function ConvertTo-OpsHashtable($Value) {
    if ($Value -is [System.Management.Automation.PSCustomObject]) {
        $table = @{}
        foreach ($property in $Value.PSObject.Properties) {
            $table[$property.Name] = ConvertTo-OpsHashtable $property.Value
        }
        return $table
    }
    if ($Value -is [System.Collections.IList]) {
        return , @($Value | ForEach-Object { ConvertTo-OpsHashtable $_ })
    }
    return $Value
}

$paramsFile = Join-Path $PSScriptRoot 'opsconsole_params.json'
$json = Get-Content -Raw -Encoding UTF8 -LiteralPath $paramsFile
if ($PSVersionTable.PSVersion.Major -ge 6) {
    $payload = $json | ConvertFrom-Json -AsHashtable
} else {
    $payload = ConvertTo-OpsHashtable ($json | ConvertFrom-Json)
}
$Params = $payload['params']
if ($null -eq $Params) { $Params = @{} }
$WebhookData = $payload['webhook_data']

function Write-OpsLine([string]$Prefix, $Message) {
    foreach ($line in ("$Message" -split "`r?`n")) { [Console]::Out.WriteLine($Prefix + $line) }
}
function Write-Warning {
    [CmdletBinding()]
    param([Parameter(Position = 0, ValueFromPipeline = $true)][string]$Message)
    process { Write-OpsLine '::warning::' $Message }
}
function Write-Verbose {
    [CmdletBinding()]
    param([Parameter(Position = 0, ValueFromPipeline = $true)][string]$Message)
    process { Write-OpsLine '::verbose::' $Message }
}
function Write-Debug {
    [CmdletBinding()]
    param([Parameter(Position = 0, ValueFromPipeline = $true)][string]$Message)
    process { Write-OpsLine '::debug::' $Message }
}
function Write-Progress {
    [CmdletBinding()]
    param(
        [Parameter(Position = 0)][string]$Activity,
        [Parameter(Position = 1)][string]$Status,
        [int]$Id, [int]$ParentId = -1, [int]$PercentComplete = -1,
        [int]$SecondsRemaining = -1, [string]$CurrentOperation, [switch]$Completed
    )
    $text = $Activity
    if ($Status) { $text = "${text}: $Status" }
    if ($PercentComplete -ge 0) { $text = "$text ($PercentComplete%)" }
    if ($Completed) { $text = "$text (completed)" }
    Write-OpsLine '::progress::' $text
}

$runbook = Get-Command -Name $RunbookPath -CommandType ExternalScript
$bound = @{}
foreach ($key in @($Params.Keys)) {
    if ($runbook.Parameters.ContainsKey($key)) { $bound[$key] = $Params[$key] }
}
if ($runbook.Parameters.ContainsKey('WebhookData')) { $bound['WebhookData'] = $WebhookData }

$global:LASTEXITCODE = 0
try {
    & $RunbookPath @bound
} catch {
    [Console]::Error.WriteLine(($_ | Out-String).TrimEnd())
    exit 1
}
exit $LASTEXITCODE
"""


class PowerShellLanguage(RunbookLanguage):
    suffixes = (".ps1",)

    def build_invocation(
        self,
        runbook: Runbook,
        params: dict[str, Any],
        target: TargetInfo,
        workdir: str,
        webhook_data: dict[str, Any] | None,
    ) -> Invocation:
        script = runbook.upload_name
        if script == WRAPPER:
            script = "runbook-" + script
        files = {
            script: runbook.content,
            WRAPPER: WRAPPER_SOURCE.encode(),
            PARAMS_FILE: json.dumps({"params": params, "webhook_data": webhook_data}).encode(),
        }
        if target.windows:
            command = (
                f"powershell.exe {_FLAGS} -ExecutionPolicy Bypass -File "
                f"{windows_path(workdir, WRAPPER)} {windows_path(workdir, script)}"
            )
        else:
            command = (
                f"cd {shlex.quote(workdir)} && exec pwsh {_FLAGS} -File "
                f"{posix_path(workdir, WRAPPER)} {posix_path(workdir, script)}"
            )
        return Invocation(
            command=command, files=files, env=runbook_env(runbook, params, workdir, webhook_data)
        )
