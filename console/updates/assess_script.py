"""The assessment's host script: one POSIX `sh` run that changes nothing but apt's lists.

Like the change collector (`console.changes.collector`), it needs only `sh` and the
host's own package tools, runs under `LC_ALL=C` (apt, dnf and zypper translate their
messages and tables), and prints raw tool output in sections introduced by a marker
holding a per-run random nonce; parsing happens on this side (`console.updates.assess`).

Nothing is installed: apt only simulates (`-s`), dnf and yum only list, zypper only
lists. Refreshing writes the package lists, and only when asked. Every tool runs with
stdin from /dev/null so none can read the rest of the script or wait for an answer.

Locks: apt-get update takes `/var/lib/apt/lists/lock` and does not wait for it (apt
2.6 fails at once even with `-o DPkg::Lock::Timeout`, which covers only the dpkg
frontend lock), so the script retries every second until the lock timeout and then
prints an `error lock` section; dnf's exit 200 (lock) is retried the same way, and
zypper is given `ZYPP_LOCK_TIMEOUT`.
"""

from __future__ import annotations

from console.changes.sections import marker_for

COMMAND = "LC_ALL=C; export LC_ALL; exec sh -s"

SCRIPT = r"""
M='@MARKER@'
LOCK_TIMEOUT=@LOCK@
REFRESH=@REFRESH@
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin
sec() { printf '%s %s %s\n' "$M" "$1" "${2-}"; }
have() { command -v "$1" >/dev/null 2>&1; }
errors() {  # the error lines of a tool's output, else its last lines
    printf '%s\n' "$1" | grep -E '^(E:|Error)' | head -n 5 | grep . ||
        printf '%s\n' "$1" | tail -n 3
}

# run "$@" again while it fails on a lock (exit 200 or a "Could not get lock"), for at
# most $LOCK_TIMEOUT seconds; sets $out and $rc; returns 2 when the lock stayed held
retry_locked() {
    start=$(date +%s)
    while :; do
        out=$("$@" 2>&1 </dev/null); rc=$?
        case "$rc:$out" in
            0:*) return 0 ;;
            200:*|*'Could not get lock'*|*'Unable to lock'*) ;;
            *) return 1 ;;
        esac
        if [ $(( $(date +%s) - start )) -ge "$LOCK_TIMEOUT" ]; then
            sec error lock; errors "$out"; return 2
        fi
        sleep 1
    done
}

apt_assess() {
    sec manager apt
    if [ "$REFRESH" = 1 ]; then
        retry_locked apt-get -q -o DPkg::Lock::Timeout="$LOCK_TIMEOUT" update
        case $? in 0) ;; 2) return ;; *) sec error refresh; errors "$out"; return ;; esac
    fi
    sec simulate
    { err=$(apt-get -s -qq dist-upgrade 2>&1 >&3 </dev/null); rc=$?; } 3>&1
    [ "$rc" = 0 ] || { sec error simulate; errors "$err"; return; }
    for f in /var/lib/apt/lists/*Release; do
        [ -f "$f" ] || continue
        sec release "${f##*/}"
        grep -E '^(Origin|Label|Suite|Codename|Version):' "$f"
    done
}

rpm_assess() {  # $1 dnf or yum
    pm=$1
    sec manager "$pm"
    cache=-C
    [ "$REFRESH" = 1 ] && { cache=; [ "$pm" = dnf ] && cache=--refresh; }
    retry_locked "$pm" -q $cache check-update
    [ $? = 2 ] && return
    case $rc in 0|100) ;; *) sec error refresh; errors "$out"; return ;; esac
    sec check-update
    printf '%s\n' "$out"
    sec updateinfo
    if [ "$pm" = dnf ]; then dnf -q -C updateinfo list --available </dev/null 2>/dev/null
    else yum -q -C updateinfo list available </dev/null 2>/dev/null; fi
    sec rpm-installed
    rpm -qa --qf '%{NAME}\t%{ARCH}\t%{EPOCH}:%{VERSION}-%{RELEASE}\n' 2>/dev/null
    if have needs-restarting; then
        needs-restarting -r >/dev/null 2>&1 </dev/null
        [ $? = 1 ] && sec reboot-required
    fi
}

zypper_assess() {
    sec manager zypper
    ZYPP_LOCK_TIMEOUT=$LOCK_TIMEOUT; export ZYPP_LOCK_TIMEOUT
    if [ "$REFRESH" = 1 ]; then
        out=$(zypper --non-interactive refresh 2>&1 </dev/null); rc=$?
        [ "$rc" = 7 ] && { sec error lock; printf '%s\n' "$out" | tail -n 3; return; }
        [ "$rc" = 0 ] || { sec error refresh; printf '%s\n' "$out" | tail -n 3; return; }
    fi
    sec list-updates
    zypper --non-interactive --no-refresh list-updates </dev/null 2>/dev/null
    sec list-patches
    zypper --non-interactive --no-refresh list-patches </dev/null 2>/dev/null
    rc=$?
    sec zypper-status "$rc"
    [ "$rc" = 102 ] || [ -e /run/reboot-needed ] && sec reboot-required
}

if have apt-get && have dpkg; then apt_assess
elif have dnf; then rpm_assess dnf
elif have yum; then rpm_assess yum
elif have zypper; then zypper_assess
else sec manager none
fi
if [ -e /var/run/reboot-required ]; then
    sec reboot-required
    cat /var/run/reboot-required.pkgs 2>/dev/null
fi
sec end
"""


def build_script(nonce: str, refresh: bool, lock_timeout: float) -> bytes:
    """The assessment script of one run (`nonce` marks its sections)."""
    return (
        SCRIPT.replace("@MARKER@", marker_for(nonce))
        .replace("@LOCK@", str(max(0, int(lock_timeout))))
        .replace("@REFRESH@", "1" if refresh else "0")
        .encode()
    )
