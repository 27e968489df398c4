"""What the WS-Management test server runs for a command: "fake PowerShell" or /bin/sh.

No Windows machine (and no PowerShell) runs here, so the test server decides from the
command line what a Windows host would do, as a stand-in:

- `powershell ... -EncodedCommand B64` (what pywinrm's `run_ps` and opsconsole's WinRM
  transport send): the script (UTF-16LE) is decoded. A `# opsconsole-transport: NAME`
  line marks one of the transport's own scripts (make/remove a workdir, an upload
  chunk), which the server carries out itself (`TransportScript`). A
  `# opsconsole-collector: NAME` line answers with the recording
  `tests/windows/recordings/NAME.json` as stdout. Anything else is run by bash after
  the fake PowerShell shim (`SHIM`), so scripts in the common subset
  (`Write-Output "x"`, `Write-Warning "y"`, `exit 3`) run.
- `powershell ... -File "WRAPPER" "SCRIPT"` (a `.ps1` runbook through the wrapper of
  `plugins/powershell.py`): SCRIPT runs as above, its `param(...)` block removed and the
  parameters of `opsconsole_params.json` (next to the wrapper) set as variables of
  the same names, as the wrapper's splatting would bind them.
- anything else: `/bin/sh -c COMMAND`.

Fake PowerShell's stderr is returned as CLIXML (`#< CLIXML` ...), as powershell.exe
writes its error stream when run over WinRM, with a progress record in front.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from dataclasses import dataclass
from pathlib import Path, PureWindowsPath
from xml.sax.saxutils import escape

RECORDINGS = Path(__file__).parent / "recordings"

# Fake PowerShell: the Write-* cmdlets as bash functions. The prefixes are those the
# runbook wrapper's redefinitions print (console/runbooks/streams.py maps them).
SHIM = r"""
Write-Output() { printf '%s\n' "$*"; }
Write-Host() { printf '%s\n' "$*"; }
Write-Warning() { printf '::warning::%s\n' "$*"; }
Write-Error() { printf '%s\n' "$*" >&2; }
Write-Verbose() { printf '::verbose::%s\n' "$*"; }
Write-Debug() { printf '::debug::%s\n' "$*"; }
Write-Progress() { printf '::progress::%s\n' "$*"; }
"""

_ENCODED = re.compile(r"^powershell(?:\.exe)?\s.*-(?:EncodedCommand|enc|e)\s+(\S+)", re.I | re.S)
_FILE = re.compile(r'^powershell(?:\.exe)?\s.*-File\s+"([^"]+)"\s+"([^"]+)"', re.I | re.S)
_MARK = re.compile(r"^# opsconsole-(transport|collector): ([\w.-]+)\s*$", re.M)
_VALUE = re.compile(r"^\$(\w+) = (?:'((?:[^']|'')*)'|\$(true|false))\s*$", re.M)
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


@dataclass(frozen=True)
class Plan:
    """What to do for a command: `argv` to run (with `script` on its stdin when
    given), or a `canned` (stdout, stderr, code) answer, or a transport `template`."""

    argv: tuple[str, ...] = ()
    script: bytes | None = None
    canned: tuple[bytes, bytes, int] | None = None
    template: tuple[str, dict[str, str]] | None = None
    clixml: bool = False


class WindowsPaths:
    """Maps `C:\\...` paths into the server's own "C:" root folder (and back)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def local(self, windows: str) -> Path:
        """The server-side path of a Windows path; refuses anything outside the root."""
        path = PureWindowsPath(windows.replace("/", "\\"))
        parts = [p for p in path.parts[1:] if p not in ("", ".")]
        if not path.drive.upper().startswith("C:") or ".." in parts:
            raise ValueError(f"not a path under C:\\ : {windows!r}")
        return self.root.joinpath(*parts)

    def windows(self, local: Path) -> str:
        return "C:\\" + "\\".join(local.relative_to(self.root).parts)


def plan_for(command: str, paths: WindowsPaths) -> Plan:
    """Decide how the command line `command` is answered (see the module docstring)."""
    encoded = _ENCODED.match(command)
    if encoded:
        script = base64.b64decode(encoded.group(1)).decode("utf-16-le")
        return _plan_script(script)
    by_file = _FILE.match(command)
    if by_file:
        wrapper, runbook = (paths.local(p) for p in by_file.groups())
        params = _params(wrapper.parent / "opsconsole_params.json")
        body = strip_param_block(runbook.read_text(encoding="utf-8-sig"))
        return _fake_powershell(params + body)
    return Plan(argv=("/bin/sh", "-c", command))


def _plan_script(script: str) -> Plan:
    mark = _MARK.search(script)
    if mark is None:
        return _fake_powershell(script)
    kind, name = mark.groups()
    if kind == "transport":
        values = {m.group(1): _value(m) for m in _VALUE.finditer(script)}
        return Plan(template=(name, values))
    recording = RECORDINGS / f"{name}.json"
    if not recording.is_file():
        message = f"fake PowerShell: no recording {recording} for collector {name!r}\n"
        return Plan(canned=(b"", message.encode(), 1))
    return Plan(canned=(recording.read_bytes(), b"", 0))


def _value(match: re.Match[str]) -> str:
    """A `$name = 'text'` value unquoted ('' is a quote), or `true`/`false`."""
    quoted = match.group(2)
    return quoted.replace("''", "'") if quoted is not None else match.group(3)


def _fake_powershell(script: str) -> Plan:
    """bash runs the shim and the script, read from stdin (no size limit)."""
    return Plan(argv=("/bin/bash", "-s"), script=(SHIM + script).encode(), clixml=True)


def _params(path: Path) -> str:
    """The runbook's parameters as bash variable assignments (what the wrapper binds)."""
    if not path.is_file():
        return ""
    payload = json.loads(path.read_text(encoding="utf-8"))
    lines = []
    for name, value in (payload.get("params") or {}).items():
        if _IDENTIFIER.match(name):
            text = value if isinstance(value, str) else json.dumps(value)
            lines.append(f"{name}={shlex.quote(text)}")
    return "\n".join(lines) + "\n"


def strip_param_block(script: str) -> str:
    """The script without its leading `[CmdletBinding()]` and `param(...)` block (bash
    cannot parse them); comment lines before them stay."""
    lines = script.splitlines(keepends=True)
    head = 0
    while head < len(lines) and (not lines[head].strip() or lines[head].lstrip().startswith("#")):
        head += 1
    rest = "".join(lines[head:])
    rest = re.sub(r"^\s*\[CmdletBinding\([^)]*\)\]\s*", "", rest, flags=re.I)
    if not re.match(r"\s*param\s*\(", rest, re.I):
        return script
    depth = 0
    for index, char in enumerate(rest):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ")" and depth == 0:
            return "".join(lines[:head]) + rest[index + 1 :]
    return script


def clixml(stderr: bytes) -> bytes:
    """stderr as powershell.exe sends its error stream over WinRM: a CLIXML document
    with a progress record first and every line an `S="Error"` string."""
    if not stderr:
        return b""
    records = "".join(
        f'<S S="Error">{_xml_text(line)}_x000D__x000A_</S>'
        for line in stderr.decode(errors="replace").splitlines()
    )
    progress = (
        '<Obj S="progress" RefId="0"><TN RefId="0"><T>System.Management.Automation.PSCustomObject'
        '</T><T>System.Object</T></TN><MS><I64 N="SourceId">1</I64><PR N="Record"><AV>Preparing '
        "modules for first use.</AV><AI>0</AI><Nil /><PI>-1</PI><PC>-1</PC><T>Completed</T>"
        "<SR>-1</SR><SD> </SD></PR></MS></Obj>"
    )
    document = (
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04">'
        f"{progress}{records}</Objs>"
    )
    return document.encode()


def _xml_text(line: str) -> str:
    """XML-escaped, with control characters as PowerShell's `_xHHHH_` escapes."""
    text = escape(line).replace("_x", "_x005F_x")
    return "".join(ch if ch >= " " or ch == "\t" else f"_x{ord(ch):04X}_" for ch in text)
