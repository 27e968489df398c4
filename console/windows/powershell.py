"""Running one PowerShell script on a Windows host and reading the JSON it prints.

Every Windows collector (facts, software, services, Windows Update) is a PowerShell
script whose first line is `# opsconsole-collector: NAME` and whose stdout is one JSON
document (`ConvertTo-Json -Depth 6 -Compress`): parsing stays on this side, typed and
tested, as for the Linux `sh` collectors. The marker line names the script in logs
and lets the WS-Management test server answer it with a recorded output.

The script travels as `-EncodedCommand` (base64 of UTF-16LE), so no quoting of the
host's shell applies to it. WinRS runs a command through cmd.exe, whose command line
holds at most 8191 characters: a script that would not fit is refused here, before
anything runs, rather than failing on the host with "The command line is too long".
"""

from __future__ import annotations

import json
import math
from typing import Any

from console.errors import HostError, UsageError
from console.inventory.model import Host
from console.runbooks.plugin_api import TargetInfo
from console.transports.base import StreamName, Transport
from console.transports.winrm_scripts import MAX_COMMAND_LINE, POWERSHELL
from console.transports.winrm_scripts import powershell_command as encoded_command

MARKER = "# opsconsole-collector: "
_STDERR_KEPT = 20


class ScriptFailed(HostError):
    """A PowerShell collector ran but failed: non-zero exit, or stdout that is not
    one JSON document. Callers re-raise it as their own kind (collection, assessment)."""

    kind = "powershell_failed"


def is_windows(host: Host) -> bool:
    """Whether `host` gets the PowerShell collectors: WinRM, or `ansible_os_family:
    windows` (the rule the runbook plugins use, `TargetInfo.windows`)."""
    return TargetInfo.from_host(host).windows


def script_name(script: str) -> str:
    """The NAME of a script's `# opsconsole-collector: NAME` first line."""
    first = script.split("\n", 1)[0]
    if not first.startswith(MARKER) or not first[len(MARKER) :].strip():
        raise UsageError(f"a collector script must start with {MARKER!r}NAME, not {first!r}")
    return first[len(MARKER) :].strip()


def fits_command_line(script: str) -> bool:
    """Whether `script` makes a command line cmd.exe accepts (UTF-16LE in base64)."""
    return len(POWERSHELL) + 4 * math.ceil(len(script.encode("utf-16-le")) / 3) <= MAX_COMMAND_LINE


def powershell_command(script: str) -> str:
    """The command line that runs `script` with Windows PowerShell, non-interactive
    and without profiles (a profile could print before the JSON or change settings)."""
    command = encoded_command(script)
    if len(command) > MAX_COMMAND_LINE:
        raise UsageError(
            f"the PowerShell script {script_name(script)!r} makes a {len(command)}-character "
            f"command line, over the {MAX_COMMAND_LINE} cmd.exe allows; select fewer items"
        )
    return command


async def run_json(transport: Transport, host_name: str, script: str, timeout: float | None) -> Any:
    """Run `script` on the host and return the JSON document it printed.

    An unreachable host raises the transport's HostError unchanged; a failing script
    or output that is not JSON raises ScriptFailed naming the script."""
    name = script_name(script)
    stdout: list[bytes] = []
    stderr: list[bytes] = []

    def keep(stream: StreamName, line: bytes) -> None:
        if stream == "stdout":
            stdout.append(line)
        elif len(stderr) < _STDERR_KEPT:
            stderr.append(line)

    status = await transport.run(powershell_command(script), timeout=timeout, on_line=keep)
    if not status.ok:
        said = b"".join(stderr).decode(errors="replace").strip()
        ended = f"signal {status.signal}" if status.signal else f"status {status.code}"
        raise ScriptFailed(host_name, f"the {name} script exited with {ended}: {said}")
    return parse_json(host_name, name, b"".join(stdout))


def parse_json(host_name: str, name: str, output: bytes) -> Any:
    """The one JSON document of a script's stdout (a UTF-8 BOM and blank lines allowed)."""
    text = output.decode("utf-8-sig", errors="replace").strip()
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ScriptFailed(
            host_name, f"the {name} script printed no JSON document ({error}): {text[:200]!r}"
        ) from error
