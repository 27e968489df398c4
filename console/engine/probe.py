"""Is a host there, and what is it: the cheap probe behind the Inventory pane's `p`
(and the control API's `probe`).

A Unix host answers `uname -sr` (or cmd.exe's `ver`). A Windows host gets a PowerShell
script instead, like the Windows collectors: over WinRM a command is a cmd.exe line,
where `uname` does not exist and `2>/dev/null` is not a redirection cmd.exe knows, so
the shell line could only fail there.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from console.engine.client import HostProbe
from console.errors import HostError, OpsError
from console.inventory.model import Host
from console.transports.base import Transport
from console.windows.powershell import ScriptFailed, is_windows, run_json

PROBE_TIMEOUT = 15.0
UNIX_PROBE = "uname -sr 2>/dev/null || ver"
# Caption and Version of Win32_OperatingSystem, e.g. "Microsoft Windows Server 2022
# Datacenter" and "10.0.20348"; joined on this side, where a missing one is typed.
WINDOWS_PROBE = r"""# opsconsole-collector: probe
$ProgressPreference='SilentlyContinue';$ErrorActionPreference='Stop'
[Console]::OutputEncoding=[Text.Encoding]::UTF8
$o=Get-CimInstance Win32_OperatingSystem
ConvertTo-Json -InputObject ([ordered]@{caption=$o.Caption;version=$o.Version}) -Compress
"""


async def probe_host(
    name: str, host: Host | None, transport_for: Callable[[Host], Transport]
) -> HostProbe:
    """One probe over the pooled connection; `host` is None when the name is not in
    the inventory. A host's failure is its answer (reachable False), never raised."""
    if host is None:
        return HostProbe(name, False, error="not in the inventory", checked=time.time())
    try:
        transport = transport_for(host)
        if is_windows(host):
            return HostProbe(name, True, os=await _windows_os(transport, name), checked=time.time())
        ok, text = await _unix_os(transport)
    except HostError as exc:
        return HostProbe(name, False, error=f"{exc.kind}: {exc.detail}", checked=time.time())
    except OpsError as exc:  # e.g. a connection type this engine cannot use
        return HostProbe(name, False, error=str(exc), checked=time.time())
    return HostProbe(name, ok, os=text, checked=time.time())


async def _unix_os(transport: Transport) -> tuple[bool, str]:
    """Whether the shell line succeeded, and what it printed (`Linux 6.1.0-18-amd64`)."""
    lines: list[bytes] = []
    status = await transport.run(
        UNIX_PROBE,
        timeout=PROBE_TIMEOUT,
        on_line=lambda s, b: lines.append(b) if s == "stdout" else None,
    )
    return status.ok, b"".join(lines).decode(errors="replace").strip()


async def _windows_os(transport: Transport, name: str) -> str:
    """`Caption Version` of the probe script's JSON. Caption is stripped: some Windows
    versions end it with a space."""
    doc = await run_json(transport, name, WINDOWS_PROBE, PROBE_TIMEOUT)
    caption = doc.get("caption") if isinstance(doc, dict) else None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(caption, str) or not isinstance(version, str):
        raise ScriptFailed(name, f"the probe script printed {doc!r}, not a caption and version")
    return f"{caption.strip()} {version.strip()}"
