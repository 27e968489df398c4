"""What the check and apply scripts share: the sh prelude, the probes, and running one.

Why one script per host: a round trip per resource would cost a channel each, and
Ansible's per-task Python is what makes it slow. Like the change collector
(`console.changes.collector`), the script needs only `sh` and the base tools, runs
under `LC_ALL=C`, and prints raw facts in sections introduced by a marker holding a
per-run random nonce, so nothing a host prints (file content, a command's output) can
forge one. Comparing with what was declared happens on this side
(`console.state.compare`), where it is typed and tested.

A probe prints the actual state of one resource as `key=value` lines in a section
`probe N` (N: the resource's index). Probes change nothing on the host: they read
with stat, base64, dpkg-query, apt-cache policy (the lists as they are, never
refreshed), systemctl/init scripts' `status`, awk, getent, id; a `command`'s `check`
is the only user command a probe runs.

Every value reaches the script as a `shlex.quote`d word, never as code; the script's
body is wrapped in a function called with stdin from /dev/null, so no command it runs
can read the rest of the script from stdin.
"""

from __future__ import annotations

import re
import shlex

from console.changes.sections import OutputError, Section, marker_for, split_sections
from console.errors import HostError, UsageError
from console.state.model import Resource
from console.transports.base import StreamName, Transport

COMMAND = "LC_ALL=C; export LC_ALL; exec sh -s"
MAX_CONTENT = 1024 * 1024  # larger files are compared by sha256 only, without a diff
_STDERR_KEPT = 20

PRELUDE = r"""
M='@MARKER@'
MAX=@MAX@
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin
sec() { printf '%s %s %s\n' "$M" "$1" "${2-}"; }
kv() { printf '%s=%s\n' "$1" "$2"; }
have() { command -v "$1" >/dev/null 2>&1; }
b64() { base64 | tr -d '\n'; }
systemd_runs() {
    [ -d /run/systemd/system ] || [ "$(cat /proc/1/comm 2>/dev/null)" = systemd ]
}
unit_of() { case $1 in *.*) printf '%s' "$1" ;; *) printf '%s.service' "$1" ;; esac; }
sysv_enabled() {
    for l in /etc/rc[2345S].d/S[0-9][0-9]"$1"; do [ -e "$l" ] && return 0; done
    return 1
}

probe_path() {  # $1 path, $2 1 to read a regular file's content
    f=$1
    if [ ! -e "$f" ] && [ ! -L "$f" ]; then kv exists 0; return; fi
    kv exists 1
    if ! meta=$(stat -L -c '%F|%a|%U|%G|%s' -- "$f" 2>&1); then
        kv error "$(printf '%s' "${meta##*: }" | head -n 1)"; return
    fi
    kv meta "$meta"
    [ "$2" = 1 ] && [ -f "$f" ] || return 0
    [ -r "$f" ] || { kv error 'Permission denied'; return; }
    kv sha256 "$(sha256sum < "$f" | cut -d' ' -f1)"
    [ "${meta##*|}" -le "$MAX" ] && kv content "$(b64 < "$f")"
    return 0
}

probe_package() {  # $1 name, $2 1 to read the candidate version (state latest)
    if have dpkg-query; then
        kv manager dpkg
        kv status "$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}\n' -- "$1" \
            2>/dev/null | head -n 1)"
        [ "$2" = 1 ] || return 0
        cand=$(apt-cache policy -- "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
        kv candidate "$cand"
        inst=$(dpkg-query -W -f='${Version}' -- "$1" 2>/dev/null)
        newer=0
        [ -n "$inst" ] && [ -n "$cand" ] && [ "$cand" != '(none)' ] &&
            dpkg --compare-versions "$cand" gt "$inst" && newer=1
        kv newer "$newer"
    elif have rpm; then
        kv manager rpm
        v=
        rpm -q -- "$1" >/dev/null 2>&1 &&
            v=$(rpm -q --qf '%{VERSION}-%{RELEASE}\n' -- "$1" 2>/dev/null | head -n 1)
        kv status "${v:+ii |$v}"
        [ "$2" = 1 ] || return 0
        pm=dnf; have dnf || pm=yum
        $pm -C -q check-update -- "$1" >/dev/null 2>&1
        kv newer "$([ $? = 100 ] && echo 1 || echo 0)"
    else
        kv manager none
    fi
}

probe_service() {  # $1 name
    if systemd_runs; then
        u=$(unit_of "$1")
        kv manager systemd
        kv load "$(systemctl show -p LoadState --value -- "$u" 2>/dev/null)"
        kv active "$(systemctl is-active -- "$u" 2>/dev/null)"
        kv enabled "$(systemctl is-enabled -- "$u" 2>/dev/null)"
    else
        kv manager sysv
        if [ ! -x "/etc/init.d/$1" ]; then kv exists 0; return; fi
        kv exists 1
        "/etc/init.d/$1" status >/dev/null 2>&1
        kv status $?
        if sysv_enabled "$1"; then kv enabled enabled; else kv enabled disabled; fi
    fi
}

probe_lines() {  # $1 path, $2 ERE ('' for none), $3 line
    f=$1
    [ -e "$f" ] || { kv exists 0; return; }
    [ -r "$f" ] || { kv error 'Permission denied'; return; }
    kv exists 1
    if ! out=$(RE=$2 LINE=$3 awk '
        BEGIN { re = ENVIRON["RE"]; line = ENVIRON["LINE"]; exact = 0; matched = 0 }
        $0 == line { exact++ }
        re != "" && $0 ~ re { matched++; if (matched == 1) first = NR }
        END { printf "exact=%d\nmatched=%d\nfirst=%d\n", exact, matched, first }
    ' < "$f" 2>&1); then
        kv error "$(printf '%s' "$out" | head -n 1)"; return
    fi
    printf '%s\n' "$out"
    n=${out##*first=}
    [ "$n" -gt 0 ] && kv first_line "$(sed -n "${n}p" < "$f" | b64)"
    return 0
}

probe_user() {  # $1 name
    kv passwd "$(getent passwd -- "$1" 2>/dev/null)"
    kv groups "$(id -nG -- "$1" 2>/dev/null)"
}

probe_group() {  # $1 name
    kv group "$(getent group -- "$1" 2>/dev/null)"
}

probe_command() {  # $1 the check command
    out=$(sh -c "$1" 2>&1 </dev/null)
    kv rc $?
    kv output "$(printf '%s' "$out" | tail -n 3 | b64)"
}
"""


class StateScriptFailed(HostError):
    """A check or apply script ran but did not finish (non-zero exit, output cut
    short or unreadable); the message says which section."""

    kind = "state_script_failed"


def prelude(nonce: str) -> str:
    return PRELUDE.replace("@MARKER@", marker_for(nonce)).replace("@MAX@", str(MAX_CONTENT))


def q(value: object) -> str:
    """A value as one sh word."""
    return shlex.quote(str(value))


def probe_call(resource: Resource) -> str | None:
    """The probe of `resource` as an sh command line; None for a `command` without a
    `check` (nothing on the host can tell, and the command itself never runs in a
    check)."""
    props = resource.properties
    name = resource.identity
    if resource.type == "file":
        read = "content" in props or props.get("state") == "absent"  # the diff shows it
        return f"probe_path {q(name)} {1 if read else 0}"
    if resource.type == "directory":
        return f"probe_path {q(name)} 0"
    if resource.type == "package":
        return f"probe_package {q(name)} {1 if props.get('state') == 'latest' else 0}"
    if resource.type == "service":
        return f"probe_service {q(name)}"
    if resource.type == "lineinfile":
        return f"probe_lines {q(name)} {q(props.get('match', ''))} {q(props.get('line', ''))}"
    if resource.type in ("user", "group"):
        return f"probe_{resource.type} {q(name)}"
    if resource.type == "command":
        return f"probe_command {q(props['check'])}" if "check" in props else None
    raise UsageError(f"{resource.id}: unknown resource type {resource.type!r}")


_PACKAGE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._:~@-]*\Z")


def refuse_unsafe(resource: Resource) -> None:
    """Values the host tools would misread even when quoted: a newline in a path,
    name or line, a package name that reads as an option, a mode that is not octal."""
    props = resource.properties
    where = f"{resource.id} (line {resource.line})" if resource.line else resource.id
    texts = [resource.identity, *(v for v in props.values() if isinstance(v, str))]
    if any("\0" in text for text in texts):
        raise UsageError(f"{where}: a value contains a NUL byte")
    if resource.type != "file" and "\n" in resource.identity:
        raise UsageError(f"{where}: the name contains a newline")
    paths = ("file", "directory", "lineinfile")
    if resource.type in paths and (
        "\n" in resource.identity or not resource.identity.startswith("/")
    ):
        raise UsageError(f"{where}: give the path from / on one line")
    if "\n" in str(props.get("line", "")) + str(props.get("match", "")):
        raise UsageError(f"{where}: `line` and `match` are single lines")
    if resource.type == "package" and not _PACKAGE_NAME.match(resource.identity):
        raise UsageError(f"{where}: {resource.identity!r} is not a package name")
    mode = props.get("mode")
    if mode is not None and not re.fullmatch(r"[0-7]{3,4}", str(mode)):
        raise UsageError(f'{where}: mode {mode!r} is not octal like "0644"')


async def run_script(
    transport: Transport,
    host_name: str,
    script: str,
    nonce: str,
    timeout: float | None,
    what: str,
) -> list[Section]:
    """Run `script` on the host in one round trip and cut its output into sections;
    `timeout` None: no limit (an update deployment never stops an install midway).

    An unreachable host raises the transport's HostError unchanged; a script that
    exits non-zero or whose output is cut short raises StateScriptFailed."""
    stdout: list[bytes] = []
    stderr: list[bytes] = []

    def keep(stream: StreamName, line: bytes) -> None:
        if stream == "stdout":
            stdout.append(line)
        elif len(stderr) < _STDERR_KEPT:
            stderr.append(line)

    status = await transport.run(COMMAND, stdin=script.encode(), timeout=timeout, on_line=keep)
    if not status.ok:
        said = b"".join(stderr).decode(errors="replace").strip()
        ended = f"signal {status.signal}" if status.signal else f"status {status.code}"
        raise StateScriptFailed(host_name, f"the {what} script exited with {ended}: {said}")
    try:
        return split_sections(b"".join(stdout), nonce)
    except OutputError as error:
        raise StateScriptFailed(host_name, f"{what}: {error}") from error
