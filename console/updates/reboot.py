"""Rebooting a host after its updates and waiting until it is back.

"Back" must mean rebooted, not merely answering: right after the reboot command the
old system still answers for a moment. So before rebooting, the host gets a marker
file in /run (a tmpfs: a reboot empties it) and its boot id is read
(`/proc/sys/kernel/random/boot_id`, new at every boot); the host is back when it
answers and the boot id changed or the marker is gone. The marker alone covers hosts
whose boot id cannot change (containers sharing a kernel); the boot id alone covers a
/run that is not a tmpfs.

The reboot command (`shutdown -r now` unless the host's `console_reboot_command` says
otherwise) is started detached, a second after the round trip that armed it ends, so
the connection's drop never looks like a failure of the arming. The pooled connection
is then dropped (`Transport.close`, which forgets it in the pool), since it dies with
the host, and every later attempt connects afresh, waiting longer between attempts
(up to RETRY_MAX_S) until the timeout.

A Windows host has neither /run nor a boot id: its last boot time stands for the boot
id, and its reboot command (`shutdown /r /t 5` by default) runs as PowerShell
(`console.windows.reboot`).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable
from functools import partial

from console.errors import (
    AuthenticationFailed,
    HostConfigError,
    HostError,
    HostKeyChanged,
    HostKeyUnknown,
)
from console.inventory.model import Host
from console.state.state_script import q
from console.transports.base import StreamName, Transport
from console.updates.model import REBOOT_MARGIN_S
from console.windows import reboot as windows_reboot
from console.windows.powershell import is_windows

REBOOT_COMMAND_VAR = "console_reboot_command"
DEFAULT_REBOOT_COMMAND = "shutdown -r now"
DEFAULT_REBOOT_TIMEOUT = 600.0
RETRY_FIRST_S = 0.5
RETRY_MAX_S = 10.0
PROBE_TIMEOUT_S = 30.0
# A host that answers with one of these will not answer otherwise by waiting longer.
_FINAL = (AuthenticationFailed, HostConfigError, HostKeyChanged, HostKeyUnknown)

# $1 the marker, $2 the reboot command. The marker holds the command's output, which
# tells why when the host never went down.
_ARM = r"""
: > "$1" || exit 1
cat /proc/sys/kernel/random/boot_id
if command -v setsid >/dev/null 2>&1; then detach=setsid; else detach=; fi
$detach nohup sh -c 'sleep 1; eval "$2"' reboot "$1" "$2" > "$1" 2>&1 < /dev/null &
"""
# $1 the marker: the boot id, then `marker` and its content while it exists.
_PROBE = r"""
cat /proc/sys/kernel/random/boot_id
[ -e "$1" ] && { echo marker; tail -n 5 "$1"; }
exit 0
"""


class RebootTimedOut(HostError):
    """The host did not come back rebooted within the timeout; says whether it ever
    went down (a reboot command that did nothing) and the last error seen."""

    kind = "reboot_timed_out"


def reboot_command_for(host: Host) -> str:
    """The host's reboot command: its `console_reboot_command`, else shutdown -r now
    (`shutdown /r /t 5` on Windows, console.windows.reboot)."""
    default = windows_reboot.DEFAULT_REBOOT_COMMAND if is_windows(host) else DEFAULT_REBOOT_COMMAND
    command = host.vars.get(REBOOT_COMMAND_VAR, default)
    if not isinstance(command, str) or not command.strip():
        raise HostConfigError(
            host.name, f"{REBOOT_COMMAND_VAR} must be a command line, not {command!r}"
        )
    return command


def reboot_fits(deadline: float, now: float | None = None) -> bool:
    """Whether a reboot may start: at least REBOOT_MARGIN_S left before `deadline`
    (epoch seconds), Azure's rule."""
    return deadline - (time.time() if now is None else now) >= REBOOT_MARGIN_S


async def reboot_and_wait(
    transport: Transport,
    host_name: str,
    command: str = DEFAULT_REBOOT_COMMAND,
    timeout: float = DEFAULT_REBOOT_TIMEOUT,
) -> str:
    """Reboot the host with `command` and return once it is back rebooted, with a
    note like "back after 42 s".

    Raises the transport's HostError when the host cannot be reached to start the
    reboot, and RebootTimedOut when it is not back within `timeout` seconds. A
    Windows host's boot time stands for the boot id (console.windows.reboot)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    probe: Callable[[float], Awaitable[tuple[str, bool, str] | None]]
    if is_windows(transport.host):
        boot_id = await windows_reboot.arm_reboot(transport, host_name, command)
        probe = partial(windows_reboot.probe_boot, transport, host_name)
    else:
        marker = f"/run/opsconsole-reboot-{secrets.token_hex(8)}"
        boot_id = await _arm(transport, host_name, marker, command)
        probe = partial(_probe, transport, marker)
    await transport.close()
    went_down, last = False, ""
    pause = RETRY_FIRST_S
    while (left := timeout - (loop.time() - started)) > 0:
        try:
            probed = await probe(min(left, PROBE_TIMEOUT_S))
        except _FINAL:
            raise
        except HostError as error:
            went_down, last = True, f"{error.kind}: {error.detail}"
            await transport.close()
        else:
            if probed is not None and (probed[0] != boot_id or not probed[1]):
                return f"back after {loop.time() - started:.0f} s"
            last = probed[2] if probed else last
        await asyncio.sleep(min(pause, max(timeout - (loop.time() - started), 0)))
        pause = min(pause * 2, RETRY_MAX_S)
    raise RebootTimedOut(host_name, _never_back(timeout, went_down, last))


def _never_back(timeout: float, went_down: bool, last: str) -> str:
    if went_down:
        return f"did not come back in {timeout:g} s (last: {last})"
    said = f"; it said: {last}" if last else ""
    return (
        f"still up on the same boot after {timeout:g} s: the reboot command did not reboot it{said}"
    )


async def _arm(transport: Transport, host_name: str, marker: str, command: str) -> str:
    """Write the marker, read the boot id and start the reboot command detached."""
    out: list[bytes] = []
    err: list[bytes] = []

    def keep(stream: StreamName, line: bytes) -> None:
        (out if stream == "stdout" else err).append(line)

    script = f"set -- {q(marker)} {q(command)}\n{_ARM}"
    try:
        status = await transport.run("sh -s", stdin=script.encode(), timeout=60, on_line=keep)
    except HostError:
        if not out:  # the drop after the boot id is the reboot under way
            raise
        return out[0].decode(errors="replace").strip()
    boot_id = b"".join(out).decode(errors="replace").strip()
    if not status.ok or not boot_id:
        said = b"".join(err).decode(errors="replace").strip()
        raise HostError(host_name, f"could not prepare the reboot (marker in /run): {said}")
    return boot_id


async def _probe(transport: Transport, marker: str, timeout: float) -> tuple[str, bool, str] | None:
    """(boot id, marker still there, the reboot command's output); None when the
    host answered but the probe failed (still shutting down)."""
    out: list[str] = []

    def keep(stream: StreamName, line: bytes) -> None:
        if stream == "stdout":
            out.append(line.decode(errors="replace").rstrip("\n"))

    script = f"set -- {q(marker)}\n{_PROBE}"
    status = await transport.run("sh -s", stdin=script.encode(), timeout=timeout, on_line=keep)
    if not status.ok or not out:
        return None
    has_marker = len(out) > 1 and out[1] == "marker"
    return out[0].strip(), has_marker, " ".join(line.strip() for line in out[2:])
