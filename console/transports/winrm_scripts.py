"""The PowerShell the WinRM transport sends: how a script becomes a command line, and
the transport's own scripts (make and remove a workdir, upload a file in chunks).

A script goes as `powershell -NoProfile -NonInteractive -EncodedCommand B64` (base64
of UTF-16LE, as Ansible and pywinrm send it): no quoting problems whatever the script
holds. A Windows command line is limited (8191 characters through cmd.exe), and the
encoding makes a script 8/3 times longer, so an upload goes in chunks of base64
appended to a private temp file, renamed into place by the last chunk, so a reader
never sees half a file.

Each transport script starts with a `# opsconsole-transport: NAME` comment and sets
its values on lines of the form `$name = 'text'` or `$name = $true`: PowerShell
ignores the comment, and the WS-Management test server (tests/windows) recognises the
scripts by it.
"""

from __future__ import annotations

import base64
import math

POWERSHELL = "powershell -NoProfile -NonInteractive -EncodedCommand "
MAX_COMMAND_LINE = 8191

MAKE_WORKDIR = """# opsconsole-transport: make-workdir
$ErrorActionPreference = 'Stop'
$dir = Join-Path $env:TEMP ('opsconsole.' + [guid]::NewGuid().ToString('N'))
New-Item -ItemType Directory -Path $dir | Out-Null
Write-Output $dir
"""

_REMOVE_WORKDIR = """# opsconsole-transport: remove-workdir
$dir = {dir}
Remove-Item -LiteralPath $dir -Recurse -Force -ErrorAction SilentlyContinue
"""

_UPLOAD_CHUNK = """# opsconsole-transport: upload-chunk
$ErrorActionPreference = 'Stop'
$path = {path}
$data = '{data}'
$first = ${first}
$last = ${last}
$tmp = $path + '.opsconsole-tmp'
$bytes = [Convert]::FromBase64String($data)
if ($first) {{ $mode = [IO.FileMode]::Create }} else {{ $mode = [IO.FileMode]::Append }}
$stream = [IO.File]::Open($tmp, $mode, [IO.FileAccess]::Write)
try {{ $stream.Write($bytes, 0, $bytes.Length) }} finally {{ $stream.Dispose() }}
if ($last) {{ Move-Item -LiteralPath $tmp -Destination $path -Force }}
"""


def powershell_command(script: str) -> str:
    """The command line that runs `script` with Windows PowerShell (what exec and the
    Windows collectors send through `WinRMTransport.run`)."""
    return POWERSHELL + base64.b64encode(script.encode("utf-16-le")).decode()


def quote(text: str) -> str:
    """A PowerShell single-quoted string literal (no expansion; `'` doubled)."""
    return "'" + text.replace("'", "''") + "'"


def remove_workdir(path: str) -> str:
    return _REMOVE_WORKDIR.format(dir=quote(path))


def upload_scripts(data: bytes, path: str) -> list[str]:
    """The chunk scripts that write `data` to `path`, each fitting a command line."""
    size = chunk_size(path)
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    return [
        _upload_chunk(path, piece, first=index == 0, last=index == len(pieces) - 1)
        for index, piece in enumerate(pieces)
    ]


def chunk_size(path: str) -> int:
    """The most bytes one chunk can carry for `path` within MAX_COMMAND_LINE."""
    script_chars = (MAX_COMMAND_LINE - len(POWERSHELL)) * 3 // 8  # encoded: 8/3 longer
    room = script_chars - len(_upload_chunk(path, b"", first=False, last=False)) - 4
    if room < 4:
        raise ValueError(f"the path {path!r} is too long for an upload command")
    return math.floor(room / 4) * 3


def _upload_chunk(path: str, data: bytes, *, first: bool, last: bool) -> str:
    return _UPLOAD_CHUNK.format(
        path=quote(path),
        data=base64.b64encode(data).decode(),
        first=str(first).lower(),
        last=str(last).lower(),
    )
