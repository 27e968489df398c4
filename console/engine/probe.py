"""Is a host there, and what is it: the cheap probe behind `inventory --probe` and the
Inventory pane."""

from __future__ import annotations

import time
from collections.abc import Callable

from console.engine.client import HostProbe
from console.errors import HostError, OpsError
from console.inventory.model import Host
from console.transports.base import Transport


async def probe_host(
    name: str, host: Host | None, transport_for: Callable[[Host], Transport]
) -> HostProbe:
    """One `uname -sr` (or `ver`) over the pooled connection; `host` is None when the
    name is not in the inventory."""
    if host is None:
        return HostProbe(name, False, error="not in the inventory", checked=time.time())
    lines: list[bytes] = []
    try:
        status = await transport_for(host).run(
            "uname -sr 2>/dev/null || ver",
            timeout=15,
            on_line=lambda s, b: lines.append(b) if s == "stdout" else None,
        )
    except HostError as exc:
        return HostProbe(name, False, error=f"{exc.kind}: {exc.detail}", checked=time.time())
    except OpsError as exc:  # e.g. a connection type this engine cannot use
        return HostProbe(name, False, error=str(exc), checked=time.time())
    text = b"".join(lines).decode(errors="replace").strip()
    return HostProbe(name, status.ok, os=text, checked=time.time())
