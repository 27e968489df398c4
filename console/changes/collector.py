"""Collecting one host's inventory in one round trip: a POSIX `sh` script on stdin.

Why one script: a round trip per fact would cost a channel (or worse, a connection)
each, and Ansible's per-module Python is what makes it ten times slower. The script
needs nothing on the host but `sh` and the usual base tools (coreutils, procps), runs
under `LC_ALL=C` so every tool prints the same words everywhere, and prints raw
command output in sections that `console.changes.parse` reads. Parsing stays on this
side, where it is typed and tested; the host only runs commands and `cat`s files.

Windows hosts run PowerShell collectors instead (`console.changes.windows_collector`);
a tracked Windows path (`C:\\...`, `HKLM:\\...`) is reported unmatched on a Linux host.

Sections are introduced by a marker line holding a per-run random nonce, so no file
content, package name or service description can forge one (tracked file content
travels as base64 besides). A glob is expanded on the host; paths and their
keep-content flags are embedded in the script as quoted `sh` words, never run.
"""

from __future__ import annotations

import secrets
import shlex
import time
from collections.abc import Iterable
from dataclasses import replace

from console.changes.model import Snapshot, TrackedPath
from console.changes.parse import parse_output
from console.changes.sections import OutputError, marker_for
from console.changes.windows_collector import collect_windows
from console.errors import HostError, UsageError
from console.transports.base import StreamName, Transport
from console.windows.paths import is_windows_path
from console.windows.powershell import ScriptFailed, is_windows

DEFAULT_MAX_CONTENT = 1024 * 1024  # 1 MiB: text files up to this keep their content
DEFAULT_TIMEOUT = 120.0
COMMAND = "LC_ALL=C; export LC_ALL; exec sh -s"
_STDERR_KEPT = 20  # lines of stderr quoted when the script itself fails


class CollectionFailed(HostError):
    """The collector ran but did not finish (non-zero exit, output cut short)."""

    kind = "collection_failed"


SCRIPT = r"""
M='@MARKER@'
MAX=@MAX@
NL='
'
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin
sec() { printf '%s %s %s\n' "$M" "$1" "${2-}"; }
have() { command -v "$1" >/dev/null 2>&1; }

virt_hint() {
    v=
    have systemd-detect-virt && v=$(systemd-detect-virt 2>/dev/null)
    [ "$v" = none ] && v=
    [ -z "$v" ] && [ -e /.dockerenv ] && v=docker
    [ -z "$v" ] && [ -e /run/.containerenv ] && v=podman
    if [ -z "$v" ] && [ -r /proc/1/cgroup ]; then
        case $(cat /proc/1/cgroup) in
            *docker*) v=docker ;; *kubepods*) v=kubernetes ;; *lxc*) v=lxc ;;
        esac
    fi
    [ -z "$v" ] && grep -q '^flags.* hypervisor' /proc/cpuinfo 2>/dev/null && v=vm
    printf '%s' "$v"
}

sec facts
printf 'hostname=%s\n' "$(uname -n)"
printf 'fqdn=%s\n' "$(hostname -f 2>/dev/null || uname -n)"
printf 'kernel=%s\n' "$(uname -r)"
printf 'arch=%s\n' "$(uname -m)"
printf 'cpus=%s\n' "$(nproc 2>/dev/null || grep -c '^processor' /proc/cpuinfo)"
mid=$(cat /etc/machine-id 2>/dev/null || cat /var/lib/dbus/machine-id 2>/dev/null)
printf 'machine_id=%s\n' "$mid"
printf 'uptime=%s\n' "$(cut -d' ' -f1 /proc/uptime 2>/dev/null)"
printf 'btime=%s\n' "$(sed -n 's/^btime //p' /proc/stat 2>/dev/null)"
printf 'memtotal_kb=%s\n' "$(sed -n 's/^MemTotal: *\([0-9]*\).*/\1/p' /proc/meminfo 2>/dev/null)"
printf 'virtualization=%s\n' "$(virt_hint)"
sec os-release
cat /etc/os-release 2>/dev/null || cat /usr/lib/os-release 2>/dev/null
sec df
df -P -k 2>/dev/null
sec mounts
cat /proc/mounts 2>/dev/null
if have ip; then
    sec ip
    ip -o addr show 2>/dev/null
else
    sec if-inet6
    cat /proc/net/if_inet6 2>/dev/null
    sec fib-trie
    cat /proc/net/fib_trie 2>/dev/null
fi

if have dpkg-query; then
    sec dpkg
    dpkg-query -W 2>/dev/null \
        -f='${binary:Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n'
fi
if have rpm; then
    sec rpm
    rpm -qa --qf '%{NAME}\t%{EPOCH}\t%{VERSION}\t%{RELEASE}\t%{ARCH}\n' 2>/dev/null
fi

if [ -d /run/systemd/system ] || [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]; then
    sec systemd-units
    systemctl list-units --type service --all --plain --no-legend --no-pager 2>/dev/null
    sec systemd-unit-files
    systemctl list-unit-files --type service --no-legend --no-pager 2>/dev/null
    sec systemd-starts
    systemctl show --no-pager -p Id -p ActiveEnterTimestampMonotonic '*.service' 2>/dev/null
else
    if have service; then
        sec sysv-status-all
        service --status-all 2>&1
    else
        sec sysv-init-status
        for f in /etc/init.d/*; do
            [ -x "$f" ] || continue
            "$f" status >/dev/null 2>&1
            printf '%s\t%s\n' "$?" "${f##*/}"
        done
    fi
    sec sysv-links
    for f in /etc/rc[0-6S].d/[SK]*; do [ -e "$f" ] && printf '%s\n' "$f"; done
    sec pid-starts
    tck=$(getconf CLK_TCK 2>/dev/null) || tck=100
    for f in /run/*.pid /run/*/*.pid; do
        [ -f "$f" ] || continue
        pid=$(head -n 1 "$f" 2>/dev/null | tr -dc 0-9)
        [ -n "$pid" ] && [ -r "/proc/$pid/stat" ] || continue
        printf '%s\t%s\t%s\n' "$f" "$tck" "$(cat "/proc/$pid/stat" 2>/dev/null)"
    done
fi

file_entry() {
    f=$1; keep=$2
    case $f in *"$NL"*)
        sec file unreadable; printf '%s\n' "$f" | tr '\n' '?'; echo
        echo 'its name contains a newline'; return ;;
    esac
    if ! meta=$(stat -L -c '%a	%U	%G	%s	%Y' -- "$f" 2>&1); then
        case $meta in
            *'No such file'*) sec file missing; printf '%s\n' "$f" ;;
            *) sec file unreadable; printf '%s\n%s\n' "$f" "${meta##*: }" ;;
        esac
        return
    fi
    if [ ! -f "$f" ]; then
        sec file unreadable; printf '%s\nnot a regular file\n' "$f"; return
    fi
    if [ ! -r "$f" ]; then
        sec file unreadable; printf '%s\nPermission denied\n' "$f"; return
    fi
    size=${meta#*	*	*	}; size=${size%%	*}
    if [ "$keep" = 1 ] && [ "$size" -le "$MAX" ]; then
        sec file content; printf '%s\n%s\n' "$meta" "$f"
        base64 < "$f" 2>/dev/null
    else
        sec file hash; printf '%s\n%s\n' "$meta" "$f"
        sha256sum < "$f" 2>/dev/null
    fi
    sec file-end "$?"
}

track() {
    keep=$1; pattern=$2
    case $pattern in
        *[*?[]*)
            found=0
            for g in $pattern; do
                [ -f "$g" ] || continue
                found=1; file_entry "$g" "$keep"
            done
            [ "$found" = 1 ] || { sec unmatched; printf '%s\n' "$pattern"; } ;;
        *) file_entry "$pattern" "$keep" ;;
    esac
}

IFS=
@TRACK@
sec end
"""


def build_script(
    nonce: str, tracking: Iterable[TrackedPath], max_content: int = DEFAULT_MAX_CONTENT
) -> bytes:
    """The collector script for one run: `nonce` marks its sections, `tracking` lists
    the paths and globs to collect (their host `pattern` is not looked at here) and
    `max_content` bounds the content kept."""
    if max_content < 0:
        raise UsageError(f"the content size limit must be 0 or more bytes, not {max_content}")
    calls = []
    for tracked in tracking:
        _check_pattern(tracked.path)
        calls.append(f"track {1 if tracked.content else 0} {shlex.quote(tracked.path)}")
    script = (
        SCRIPT.replace("@MARKER@", marker_for(nonce))
        .replace("@MAX@", str(max_content))
        .replace("@TRACK@", "\n".join(calls))
    )
    return script.encode()


def _check_pattern(pattern: str) -> None:
    if not pattern.startswith("/"):
        raise UsageError(f"tracked path {pattern!r} is not absolute; give it from /")
    if "\n" in pattern or "\0" in pattern:
        raise UsageError(f"tracked path {pattern!r} contains a newline or NUL byte")


async def collect(
    transport: Transport,
    host_name: str,
    tracking: Iterable[TrackedPath] = (),
    max_content: int = DEFAULT_MAX_CONTENT,
    timeout: float = DEFAULT_TIMEOUT,
) -> Snapshot:
    """Collect `host_name`'s facts, software, services and tracked files in one run.

    A host that cannot be reached raises the transport's `HostError` (Unreachable,
    AuthenticationFailed, TimedOut, ...) unchanged; a script that fails or whose
    output cannot be read raises `CollectionFailed` naming the section. A Windows
    host (`console.windows.powershell.is_windows`) runs the PowerShell collectors
    (`console.changes.windows_collector`) instead of the `sh` script."""
    if is_windows(transport.host):
        try:
            return await collect_windows(transport, host_name, tracking, max_content, timeout)
        except ScriptFailed as error:
            raise CollectionFailed(host_name, error.detail) from error
        except OutputError as error:
            raise CollectionFailed(host_name, str(error)) from error
    nonce = secrets.token_hex(16)
    tracked = list(tracking)
    elsewhere = tuple(t.path for t in tracked if is_windows_path(t.path))  # C:\, HKLM:\
    here = [t for t in tracked if not is_windows_path(t.path)]
    script = build_script(nonce, here, max_content)
    stdout: list[bytes] = []
    stderr: list[bytes] = []

    def keep(stream: StreamName, line: bytes) -> None:
        if stream == "stdout":
            stdout.append(line)
        elif len(stderr) < _STDERR_KEPT:
            stderr.append(line)

    status = await transport.run(COMMAND, stdin=script, timeout=timeout, on_line=keep)
    if not status.ok:
        said = b"".join(stderr).decode(errors="replace").strip()
        ended = f"signal {status.signal}" if status.signal else f"status {status.code}"
        raise CollectionFailed(host_name, f"the collector exited with {ended}: {said}")
    try:
        snapshot = parse_output(b"".join(stdout), nonce, host_name, time.time())
    except ValueError as error:
        raise CollectionFailed(host_name, str(error)) from error
    return replace(snapshot, unmatched=snapshot.unmatched + elsewhere)
