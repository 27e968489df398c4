"""The sh that brings one resource to its declared state, for the apply script.

Each fix looks first and changes only what differs, so applying twice changes nothing
the second time. Every change it makes prints a `did N what` section; a command that
fails prints `fail N` with its message and the fix returns non-zero, so the script
marks the resource bad and skips those that require it. Commands' output goes to a log
file, never to the script's stdout: a daemon started by an init script keeps its
stdout open, and would otherwise hold the SSH channel (and this run) open.

Files are replaced atomically (a temp file beside the target, then `mv`), keeping the
mode and owner of the file replaced. Line edits go through awk with the line and the
pattern in the environment (`ENVIRON`), never spliced into a program. Package
commands wait for the dpkg lock up to LOCK seconds (apt's `DPkg::Lock::Timeout`, and a
retry loop for apt older than 1.9.11, which ignores it).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any

from console.state.model import Resource
from console.state.state_script import q

APPLY_HELPERS = r"""
LOCK=@LOCK@
LOG=$(mktemp "${TMPDIR:-/tmp}/opsconsole-apply.XXXXXXXX") || exit 1
trap 'rm -f "$LOG"' EXIT
did() { sec did "$N $*"; }
fail() { sec fail "$N"; printf '%s\n' "$@"; return 1; }
try() {
    "$@" >"$LOG" 2>&1 </dev/null && return 0
    rc=$?
    fail "$* exited with status $rc" "$(tail -n 20 "$LOG")"
}
temp_beside() {  # $1 path: a new temp file in its directory, for an atomic mv
    d=${1%/*}; [ -n "$d" ] || d=/
    [ -d "$d" ] || { fail "directory $d does not exist (declare it before $1)"; return 1; }
    mktemp "$d/.opsconsole.XXXXXXXX" 2>"$LOG" && return 0
    fail "cannot create a file in $d" "$(cat "$LOG")"
}
install_temp() {  # $1 temp file, $2 path: keeps the mode and owner of the file replaced
    if [ -e "$2" ]; then
        chmod --reference="$2" -- "$1"; chown --reference="$2" -- "$1" 2>/dev/null
    else
        chmod 644 -- "$1"
    fi
    mv -f -- "$1" "$2" 2>"$LOG" && return 0
    rm -f -- "$1"; fail "cannot replace $2" "$(cat "$LOG")"
}
write_file() {  # $1 path, the content on stdin
    t=$(temp_beside "$1") || { printf '%s\n' "$t"; return 1; }
    cat > "$t" && install_temp "$t" "$1"
}
fix_attrs() {  # $1 path, $2 mode, $3 owner, $4 group ('' when not declared)
    if [ -n "$2" ] && [ "$(stat -c %a -- "$1")" != "$2" ]; then
        try chmod "$2" -- "$1" && did "mode $2" || return 1
    fi
    if [ -n "$3" ] && [ "$(stat -c %U -- "$1")" != "$3" ]; then
        try chown -- "$3" "$1" && did "owner $3" || return 1
    fi
    if [ -n "$4" ] && [ "$(stat -c %G -- "$1")" != "$4" ]; then
        try chgrp -- "$4" "$1" && did "group $4" || return 1
    fi
}
fix_file() {  # $1 path, $2 state, $3 sha256 ('' = any), $4 base64 content, $5-$7 attrs
    f=$1
    if [ -d "$f" ] && [ ! -L "$f" ]; then fail "$f is a directory, not a file"; return; fi
    if [ "$2" = absent ]; then
        if [ -e "$f" ] || [ -L "$f" ]; then try rm -f -- "$f" && did "removed $f"; fi
        return
    fi
    if [ ! -e "$f" ]; then
        printf '%s' "$4" | base64 -d | write_file "$f" && did "created $f" || return 1
    elif [ -n "$3" ] && [ "$(sha256sum < "$f" | cut -d' ' -f1)" != "$3" ]; then
        printf '%s' "$4" | base64 -d | write_file "$f" && did "content of $f" || return 1
    fi
    fix_attrs "$f" "$5" "$6" "$7"
}
fix_directory() {  # $1 path, $2 state, $3-$5 attrs
    if [ "$2" = absent ]; then
        if [ -e "$1" ] || [ -L "$1" ]; then try rm -rf -- "$1" && did "removed $1"; fi
        return
    fi
    if [ ! -d "$1" ]; then
        [ -e "$1" ] && { fail "$1 exists and is not a directory"; return; }
        try mkdir -p -- "$1" && did "created $1" || return 1
    fi
    fix_attrs "$1" "$3" "$4" "$5"
}
fix_lines() {  # $1 path, $2 state, $3 ERE ('' for none), $4 line
    f=$1
    if [ ! -e "$f" ]; then
        [ "$2" = absent ] && return 0
        printf '%s\n' "$4" | write_file "$f" && did "created $f with the line"; return
    fi
    t=$(temp_beside "$f") || { printf '%s\n' "$t"; return 1; }
    if ! RE=$3 LINE=$4 STATE=$2 awk '
        BEGIN { re = ENVIRON["RE"]; line = ENVIRON["LINE"]; absent = ENVIRON["STATE"] == "absent" }
        absent && ((re != "" && $0 ~ re) || (re == "" && $0 == line)) { next }
        !absent && !done && re != "" && $0 ~ re { print line; done = 1; next }
        $0 == line { seen = 1 }
        { print }
        END { if (!absent && !done && !seen) print line }
    ' < "$f" > "$t" 2>"$LOG"; then
        rm -f -- "$t"; fail "cannot edit $f" "$(cat "$LOG")"; return
    fi
    if cmp -s "$t" "$f"; then rm -f -- "$t"; return 0; fi
    install_temp "$t" "$f" || return 1
    if [ "$2" = absent ]; then did "removed the line from $f"; else did "set the line in $f"; fi
}
apt_do() {  # apt-get arguments; waits up to LOCK seconds for the dpkg lock
    start=$(date +%s)
    while :; do
        DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get -y -q \
            -o DPkg::Lock::Timeout="$LOCK" -o Dpkg::Options::=--force-confdef \
            -o Dpkg::Options::=--force-confold "$@" >"$LOG" 2>&1 </dev/null && return 0
        rc=$?
        if grep -q -e 'Could not get lock' -e 'Unable to acquire the dpkg' "$LOG"; then
            [ $(( $(date +%s) - start )) -lt "$LOCK" ] && { sleep 1; continue; }
            fail "dpkg lock held for ${LOCK}s: $(grep -m 1 '^E:' "$LOG")"; return
        fi
        fail "apt-get $* exited with status $rc" "$(tail -n 20 "$LOG")"; return
    done
}
rpm_do() { pm=dnf; have dnf || pm=yum; try "$pm" -y "$@"; }
fix_package() {  # $1 name, $2 present|absent|latest|version, $3 version
    if have dpkg-query; then
        st=$(dpkg-query -W -f='${db:Status-Abbrev}|${Version}\n' -- "$1" 2>/dev/null | head -n 1)
        case $st in ?[iWt]*) inst=${st#*|} ;; *) inst= ;; esac
        case $2 in
            absent) [ -z "$inst" ] || { apt_do remove "$1" && did "removed $1 $inst"; }; return ;;
            present) [ -n "$inst" ] && return 0; apt_do install "$1" ;;
            version) [ "$inst" = "$3" ] && return 0; apt_do install "$1=$3" ;;
            latest)
                cand=$(apt-cache policy -- "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p')
                if [ -n "$inst" ]; then
                    [ -z "$cand" ] || [ "$cand" = '(none)' ] && return 0
                    dpkg --compare-versions "$cand" gt "$inst" || return 0
                fi
                apt_do install "$1" ;;
        esac || return 1
        did "installed $1 $(dpkg-query -W -f='${Version}' -- "$1" 2>/dev/null)"
    elif have rpm; then
        inst=
        rpm -q "$1" >/dev/null 2>&1 &&
            inst=$(rpm -q --qf '%{VERSION}-%{RELEASE}\n' "$1" | head -n 1)
        case $2 in
            absent) [ -z "$inst" ] || { rpm_do remove "$1" && did "removed $1 $inst"; }; return ;;
            present) [ -n "$inst" ] && return 0; rpm_do install "$1" ;;
            version) [ "$inst" = "$3" ] && return 0; rpm_do install "$1-$3" ;;
            latest)
                pm=dnf; have dnf || pm=yum
                [ -z "$inst" ] && { rpm_do install "$1"; return; }
                $pm -C -q check-update "$1" >/dev/null 2>&1
                [ $? = 100 ] || return 0
                rpm_do upgrade "$1" ;;
        esac || return 1
        did "installed $1 $(rpm -q --qf '%{VERSION}-%{RELEASE}' "$1")"
    else
        fail "neither dpkg nor rpm on the host"
    fi
}
svc_running() {
    if systemd_runs; then systemctl is-active --quiet -- "$(unit_of "$1")"
    else "/etc/init.d/$1" status >/dev/null 2>&1 </dev/null; fi
}
svc_enabled() {
    if systemd_runs; then
        case $(systemctl is-enabled -- "$(unit_of "$1")" 2>/dev/null) in
            enabled|enabled-runtime|static|alias|indirect) return 0 ;;
        esac
        return 1
    fi
    sysv_enabled "$1"
}
svc_run() {  # $1 name, $2 start|stop
    if systemd_runs; then try systemctl "$2" -- "$(unit_of "$1")"
    elif have service; then try service "$1" "$2"
    else try "/etc/init.d/$1" "$2"; fi
}
svc_boot() {  # $1 name, $2 enable|disable
    if systemd_runs; then try systemctl "$2" -- "$(unit_of "$1")"
    elif have update-rc.d; then
        if [ "$2" = enable ] && ! ls /etc/rc?.d/[SK][0-9][0-9]"$1" >/dev/null 2>&1; then
            try update-rc.d "$1" defaults
        else
            try update-rc.d "$1" "$2"
        fi
    elif have chkconfig; then
        if [ "$2" = enable ]; then try chkconfig "$1" on; else try chkconfig "$1" off; fi
    else
        fail "no systemctl, update-rc.d or chkconfig on the host to $2 $1"
    fi
}
fix_service() {  # $1 name, $2 running, $3 enabled (true|false|'')
    if systemd_runs; then
        [ "$(systemctl show -p LoadState --value -- "$(unit_of "$1")" 2>/dev/null)" = not-found ] &&
            { fail "no service $1 (no systemd unit $(unit_of "$1"))"; return; }
    elif [ ! -x "/etc/init.d/$1" ]; then
        fail "no service $1 (no /etc/init.d/$1)"; return
    fi
    case $3 in
        true) svc_enabled "$1" || { svc_boot "$1" enable && did "enabled $1"; } || return 1 ;;
        false) ! svc_enabled "$1" || { svc_boot "$1" disable && did "disabled $1"; } || return 1 ;;
    esac
    case $2 in
        true) svc_running "$1" || { svc_run "$1" start && did "started $1"; } || return 1 ;;
        false) ! svc_running "$1" || { svc_run "$1" stop && did "stopped $1"; } || return 1 ;;
    esac
}
in_group() { case " $(id -nG -- "$1" 2>/dev/null) " in *" $2 "*) return 0 ;; esac; return 1; }
passwd_field() { getent passwd -- "$1" | cut -d: -f"$2"; }
"""


def fix_body(resource: Resource) -> str:
    """The sh body of the function that brings `resource` to its declared state."""
    props = resource.properties
    name = q(resource.identity)
    state = str(props.get("state", "present"))
    attrs = " ".join(q(_attr(props, key)) for key in ("mode", "owner", "group"))
    if resource.type == "file":
        content = str(props.get("content", "")).encode()
        digest = hashlib.sha256(content).hexdigest() if "content" in props else ""
        encoded = base64.b64encode(content).decode()
        return f"fix_file {name} {q(state)} {q(digest)} {q(encoded)} {attrs}"
    if resource.type == "directory":
        return f"fix_directory {name} {q(state)} {attrs}"
    if resource.type == "package":
        wanted = "version" if "version" in props else state
        return f"fix_package {name} {q(wanted)} {q(props.get('version', ''))}"
    if resource.type == "service":
        running, enabled = (_flag(props.get(key)) for key in ("running", "enabled"))
        return f"fix_service {name} {running} {enabled}"
    if resource.type == "lineinfile":
        match, line = q(props.get("match", "")), q(props.get("line", ""))
        return f"fix_lines {name} {q(state)} {match} {line}"
    if resource.type == "user":
        return _fix_user(resource)
    if resource.type == "group":
        return _fix_group(resource.identity, state)
    return _fix_command(resource.identity, props.get("check"))


def _attr(props: Mapping[str, Any], key: str) -> str:
    """A declared mode, owner or group as the fix compares it ('' when not declared);
    a mode as `stat -c %a` prints it (no leading zero)."""
    value = props.get(key)
    if value is None:
        return ""
    return f"{int(str(value), 8):o}" if key == "mode" else str(value)


def _flag(value: object) -> str:
    return "''" if value is None else ("true" if value else "false")


def _fix_user(resource: Resource) -> str:
    props = resource.properties
    name = q(resource.identity)
    if props.get("state", "present") == "absent":
        return (
            f"getent passwd -- {name} >/dev/null || return 0\n"
            f"    try userdel -- {name} && did {q('removed user ' + resource.identity)}"
        )
    groups = [str(group) for group in props.get("groups", [])]
    create = ["useradd", "-m"]
    lines = []
    for key, flag, field in (("shell", "-s", 7), ("home", "-d", 6)):
        if key in props:
            value = q(props[key])
            create += [flag, value]
            said = q(f"{key} {props[key]}")
            lines.append(
                f'[ "$(passwd_field {name} {field})" = {value} ] || '
                f"{{ try usermod {flag} {value} -- {name} && did {said}; }} || return 1"
            )
    if groups:
        create += ["-G", q(",".join(groups))]
        lines.append(
            f'for g in {" ".join(q(g) for g in groups)}; do in_group {name} "$g" || '
            f'{{ try usermod -aG "$g" -- {name} && did "added to group $g"; }} || return 1; done'
        )
    created = q("created user " + resource.identity)
    # useradd makes a group of the user's name, and refuses when one exists already
    # (declared as a `group` resource, say): the user then joins it as its primary.
    body = [
        f"if ! getent passwd -- {name} >/dev/null; then",
        f"        if getent group -- {name} >/dev/null; then",
        f"            try {' '.join(create)} -g {name} -- {name} && did {created}; return",
        "        fi",
        f"        try {' '.join(create)} -- {name} && did {created}; return",
        "    fi",
        *lines,
    ]
    return "\n    ".join(body)


def _fix_group(name: str, state: str) -> str:
    quoted = q(name)
    if state == "absent":
        return (
            f"getent group -- {quoted} >/dev/null || return 0\n"
            f"    try groupdel -- {quoted} && did {q('removed group ' + name)}"
        )
    return (
        f"getent group -- {quoted} >/dev/null && return 0\n"
        f"    try groupadd -- {quoted} && did {q('created group ' + name)}"
    )


def _fix_command(command: str, check: object) -> str:
    """Runs the command only when its check fails (always without a check), then
    requires the check to pass."""
    run = f"try sh -c {q(command)} || return 1\n    did 'ran the command'"
    if check is None:
        return run
    test = f'sh -c {q(check)} >"$LOG" 2>&1 </dev/null'
    return (
        f"{test} && return 0\n    {run}\n"
        f"    {test} || fail 'the check still fails after the command ran' "
        '"$(tail -n 5 "$LOG")"'
    )
