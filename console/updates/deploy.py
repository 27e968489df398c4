"""Installing a deployment's selected updates on one host: one script, one round trip.

The script installs the selected packages one at a time, in the assessment's order,
each at the exact version the assessment saw (`apt-get install --only-upgrade
NAME=VERSION`), so a deployment never installs something newer than what the user
reviewed. Before each package it checks the maintenance window: with less than
PACKAGE_MARGIN_S left, that package and every later one are MaintenanceWindowExceeded
(Azure's rule). An install already running is never stopped, so the script has no time
limit: a window bounds when packages start, not when they end.

Clock skew: the engine sends the seconds left in the window, not the deadline, and the
host measures from the script's start with its own clock, so a host whose clock is off
by an hour still keeps the window.

Exclusions hold for dependencies too (Azure's rule: a package whose dependency is
excluded is not installed): before each apt install the script simulates it, and a
package whose install would bring in an excluded one is NotAttempted, saying which;
dnf and yum get `--exclude` for each mask. (zypper has no per-command exclusion: there
an excluded dependency would be installed.)

Non-interactive always: `DEBIAN_FRONTEND=noninteractive`, existing conffiles kept
(`--force-confdef --force-confold`), needrestart restarting services on its own
(`NEEDRESTART_MODE=a`, set inside the script so that sudo's env_reset cannot strip it).
The dpkg lock is waited for up to `lock_timeout` (apt's `DPkg::Lock::Timeout`, and a
retry loop for apt older than 1.9.11); a lock still held after that fails the package
and leaves the later ones NotAttempted, rather than waiting the timeout once per package.

A failing package (say its postinst exits 1) is Failed with the package manager's last
lines, and the next packages still install. Afterwards each package's version is read
back (dpkg-query, rpm), and the script reports whether the host wants a reboot
(`/var/run/reboot-required`, `needs-restarting -r`, `zypper needs-rebooting`).

Only apt runs on the test fleet: the dnf, yum and zypper branches are written from
their documentation and are untested.
"""

from __future__ import annotations

import math
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from console.changes.sections import OutputError, Section, marker_for
from console.errors import HostError, UsageError
from console.state.state_script import StateScriptFailed, q, run_script
from console.transports.base import Transport
from console.updates.model import (
    PACKAGE_MARGIN_S,
    PackageResult,
    PackageStatus,
    PendingUpdate,
    Selection,
)
from console.updates.wua_run import install_windows
from console.windows.powershell import ScriptFailed, is_windows

DEFAULT_LOCK_TIMEOUT = 120.0

DEPLOY_SCRIPT = r"""
M='@MARKER@'
LEFT=@LEFT@
MARGIN=@MARGIN@
LOCK=@LOCK@
EXCLUDE=@EXCLUDE@
PATH=$PATH:/usr/sbin:/sbin:/usr/bin:/bin
sec() { printf '%s %s %s\n' "$M" "$1" "${2-}"; }
have() { command -v "$1" >/dev/null 2>&1; }
START=$(date +%s)
LOG=$(mktemp "${TMPDIR:-/tmp}/opsconsole-updates.XXXXXXXX") || exit 1
trap 'rm -f "$LOG"' EXIT
STOPPED=
if have apt-get && have dpkg-query; then PM=apt
elif have dnf; then PM=dnf
elif have yum; then PM=yum
elif have zypper; then PM=zypper
else PM=; STOPPED='no apt-get, dnf, yum or zypper on the host'; fi

state_of() {  # $1 name: `ii |VERSION` when installed and configured
    if [ "$PM" = apt ]; then dpkg-query -W -f='${db:Status-Abbrev}|${Version}' -- "$1" 2>/dev/null
    else v=$(rpm -q --qf '%{VERSION}-%{RELEASE}' -- "$1" 2>/dev/null) && printf 'ii |%s' "$v"; fi
}
said() {  # the package manager's last words, without dpkg's progress lines
    grep -v -e '^(Reading database' -e '^debconf: delaying' "$LOG" | tail -n 20
}
pm_install() {  # $1 name, $2 version, $3 1 when installed (upgrade only)
    case $PM in
    apt)
        only=; [ "$3" = 1 ] && only=--only-upgrade
        DEBIAN_FRONTEND=noninteractive NEEDRESTART_MODE=a apt-get -y -q $only \
            -o DPkg::Lock::Timeout="$LOCK" -o Dpkg::Options::=--force-confdef \
            -o Dpkg::Options::=--force-confold install "$1=$2" ;;
    dnf|yum)
        verb=install; [ "$3" = 1 ] && verb=upgrade
        set -f
        # shellcheck disable=SC2046
        "$PM" -y -q $(for m in $EXCLUDE; do printf -- '--exclude=%s ' "$m"; done) \
            "$verb" "$1-$2"
        rc=$?; set +f; return $rc ;;
    zypper)
        ZYPP_LOCK_TIMEOUT=$LOCK zypper --non-interactive --no-refresh install "$1=$2" ;;
    esac
}
locked() {  # $1 the package manager's exit status
    case $PM in
    apt) grep -q -e 'Could not get lock' -e 'Unable to acquire the dpkg' "$LOG" ;;
    dnf) [ "$1" = 200 ] ;;
    zypper) [ "$1" = 7 ] ;;
    *) return 1 ;;
    esac
}
attempt() {  # name version installed: 0 installed, 1 failed (RC), 2 lock held too long
    began=$(date +%s)
    while :; do
        pm_install "$@" >"$LOG" 2>&1 </dev/null && return 0
        RC=$?
        locked "$RC" || return 1
        [ $(( $(date +%s) - began )) -lt "$LOCK" ] || return 2
        sleep 1
    done
}
excluded_in() {  # stdin: apt's simulation; prints the excluded packages it installs
    set -f
    while read -r verb pkg _; do
        [ "$verb" = Inst ] || continue
        pkg=${pkg%%:*}
        for mask in $EXCLUDE; do
            case $pkg in $mask) printf '%s ' "$pkg"; break ;; esac
        done
    done
    set +f
}
needs_excluded() {  # $1 name, $2 version, $3 1 when installed; sets NEEDS
    NEEDS=
    [ -n "$EXCLUDE" ] && [ "$PM" = apt ] || return 1
    only=; [ "$3" = 1 ] && only=--only-upgrade
    NEEDS=$(apt-get -s -q $only install "$1=$2" 2>/dev/null </dev/null | excluded_in)
    [ -n "$NEEDS" ]
}
update() {  # $1 index, $2 name, $3 version, $4 1 when installed
    if [ -n "$STOPPED" ]; then sec notattempted "$1"; printf '%s\n' "$STOPPED"; return; fi
    left=$(( LEFT - ($(date +%s) - START) ))
    if [ "$left" -lt "$MARGIN" ]; then sec window "$1"; printf '%s\n' "$left"; return; fi
    if needs_excluded "$2" "$3" "$4"; then sec excluded "$1"; printf '%s\n' "$NEEDS"; return; fi
    sec begin "$1"
    attempt "$2" "$3" "$4"
    case $? in
    0) sec ok "$1" ;;
    1) sec failed "$1"; printf '%s exited with status %s\n' "$PM" "$RC"; said ;;
    2) STOPPED="the package lock was held for more than $LOCK s"
       sec failed "$1"; printf '%s\n' "$STOPPED"; grep -m 1 '^E:' "$LOG" ;;
    esac
    sec state "$1"
    state_of "$2"; echo
}
reboot_required() {
    if [ -e /var/run/reboot-required ]; then echo 1
    elif have needs-restarting; then
        needs-restarting -r >/dev/null 2>&1; [ $? = 1 ] && echo 1 || echo 0
    elif [ "$PM" = zypper ]; then
        zypper needs-rebooting >/dev/null 2>&1; [ $? = 102 ] && echo 1 || echo 0
    else echo 0; fi
}
"""

# Words the package managers would misread even quoted: an option, a `=` or a space.
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._:~@-]*\Z")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9+._:~^-]*\Z")


class DeployScriptFailed(HostError):
    """The install script ran but did not finish (non-zero exit, output cut short or
    unreadable): what it installed is unknown until the next assessment."""

    kind = "deploy_script_failed"


@dataclass(frozen=True)
class InstallOutcome:
    """What installing a selection did on one host: a result per pending update (in
    the assessment's order) and whether the host now wants a reboot."""

    results: tuple[PackageResult, ...]
    reboot_required: bool

    @property
    def succeeded(self) -> bool:
        """Every selected package installed (none selected counts as success)."""
        return all(
            r.status in (PackageStatus.SUCCEEDED, PackageStatus.NOT_SELECTED) for r in self.results
        )


@dataclass
class _Reported:
    """What the script printed for one selected package."""

    outcome: str = ""  # window | notattempted | ok | failed
    lines: list[str] = field(default_factory=list)
    state: str | None = None  # `ii |VERSION` for installed and configured

    @property
    def version(self) -> str:
        return (self.state or "").partition("|")[2]

    @property
    def configured(self) -> bool:
        return (self.state or "").startswith("ii")


def build_deploy_script(
    nonce: str,
    selected: Sequence[PendingUpdate],
    seconds_left: float,
    lock_timeout: float,
    exclude: Sequence[str] = (),
) -> str:
    """The install script: the helpers, then `update N NAME VERSION INSTALLED` per
    selected package, then the reboot check. Refuses values the package managers
    would misread before anything runs. `exclude` (package name globs, checked by
    `rules.masks`) keeps those packages out even as another's dependency."""
    if lock_timeout < 0:
        raise UsageError(f"the package lock timeout must be 0 or more seconds, not {lock_timeout}")
    steps = []
    for index, update in enumerate(selected):
        _refuse_unsafe(update)
        installed = 1 if update.installed else 0
        steps.append(f"    update {index} {q(update.name)} {q(update.available)} {installed}")
    helpers = (
        DEPLOY_SCRIPT.replace("@MARKER@", marker_for(nonce))
        .replace("@LEFT@", str(math.floor(seconds_left)))
        .replace("@MARGIN@", str(PACKAGE_MARGIN_S))
        .replace("@LOCK@", str(math.ceil(lock_timeout)))
        .replace("@EXCLUDE@", q(" ".join(exclude)))
    )
    body = "\n".join(steps) or "    :"
    return (
        f"{helpers}\ndeploy_all() {{\n{body}\n}}\ndeploy_all </dev/null\n"
        "sec reboot\nreboot_required\nsec end\n"
    )


def _refuse_unsafe(update: PendingUpdate) -> None:
    if not _NAME.match(update.name):
        raise UsageError(f"{update.name!r} is not a package name")
    if not _VERSION.match(update.available):
        raise UsageError(f"{update.name}: {update.available!r} is not a package version")


def parse_deploy_output(
    sections: list[Section], pending: Sequence[PendingUpdate], selection: Selection
) -> InstallOutcome:
    """A result per pending update; OutputError names a section out of place."""
    selected = [update for update in pending if selection.picks(update)]
    reported = [_Reported() for _ in selected]
    reboot: list[str] = []
    for section in sections:
        if section.name == "reboot":
            reboot = section.lines
            continue
        if not section.argument.isdigit() or int(section.argument) >= len(selected):
            raise section.fail("no such package")
        _record(reported[int(section.argument)], section)
    in_order = iter(reported)
    results = tuple(
        _result(update, next(in_order)) if selection.picks(update) else _not_selected(update)
        for update in pending
    )
    return InstallOutcome(results, reboot_required=[line.strip() for line in reboot] == ["1"])


def _record(reported: _Reported, section: Section) -> None:
    if section.name == "state" and reported.state is None:
        reported.state = "".join(line.strip() for line in section.lines)
    elif (
        section.name in ("window", "notattempted", "excluded", "ok", "failed")
        and not reported.outcome
    ):
        reported.outcome = section.name
        reported.lines = [line for line in section.lines if line.strip()]
    elif section.name != "begin" or section.lines:
        raise section.fail("unexpected section or output")


def _result(update: PendingUpdate, reported: _Reported) -> PackageResult:
    def result(status: PackageStatus, to_version: str, message: str = "") -> PackageResult:
        return PackageResult(
            update.name, update.installed, to_version, update.classification, status, message
        )

    if reported.outcome == "window":
        left = reported.lines[0] if reported.lines else "?"
        return result(
            PackageStatus.WINDOW_EXCEEDED,
            update.installed,
            f"not started: {left} s of the window left, under the {PACKAGE_MARGIN_S} s margin",
        )
    if reported.outcome == "excluded":
        needs = ", ".join(" ".join(reported.lines).split())
        return result(
            PackageStatus.NOT_ATTEMPTED,
            update.installed,
            f"not installed: it needs {needs}, which the deployment excludes",
        )
    if reported.outcome == "notattempted":
        return result(PackageStatus.NOT_ATTEMPTED, update.installed, "\n".join(reported.lines))
    if reported.outcome not in ("ok", "failed") or reported.state is None:
        raise OutputError(f"deploy output: nothing for {update.name}")
    installed = reported.configured and _same_version(reported.version, update.available)
    if installed and reported.outcome == "failed":
        # apt configures every half-installed package on each run, so an earlier
        # package's failing postinst fails this run too: this package is in place.
        first = reported.lines[0] if reported.lines else "failed"
        return result(PackageStatus.SUCCEEDED, reported.version, f"installed, though {first}")
    if reported.outcome == "failed":
        return result(PackageStatus.FAILED, reported.version, "\n".join(reported.lines))
    if not installed:
        return result(
            PackageStatus.FAILED,
            reported.version,
            f"the install succeeded, yet {update.name} is at "
            f"{reported.version or 'nothing'}, not a configured {update.available}",
        )
    return result(PackageStatus.SUCCEEDED, reported.version)


def _same_version(installed: str, wanted: str) -> bool:
    """rpm's read-back has no epoch; dpkg's has it whenever the version does."""
    return installed in (wanted, wanted.split(":", 1)[-1])


def _not_selected(update: PendingUpdate) -> PackageResult:
    return PackageResult(
        update.name,
        update.installed,
        update.installed,
        update.classification,
        PackageStatus.NOT_SELECTED,
    )


async def install_updates(
    transport: Transport,
    host_name: str,
    pending: Sequence[PendingUpdate],
    selection: Selection,
    deadline: float,
    lock_timeout: float = DEFAULT_LOCK_TIMEOUT,
) -> InstallOutcome:
    """Install the updates of `pending` that `selection` picks, one by one, none
    starting after `deadline` (epoch seconds on this machine) minus PACKAGE_MARGIN_S.

    An unreachable host raises the transport's HostError unchanged; a script that
    fails or prints what cannot be read raises DeployScriptFailed; a name or version
    that cannot go into a script raises UsageError before anything runs. A Windows
    host installs through the Windows Update Agent (`console.updates.wua_run`)."""
    if is_windows(transport.host):
        try:
            results, reboot = await install_windows(
                transport, host_name, pending, selection, deadline
            )
        except ScriptFailed as error:
            raise DeployScriptFailed(host_name, error.detail) from error
        except OutputError as error:
            raise DeployScriptFailed(host_name, f"deploy: {error}") from error
        return InstallOutcome(results, reboot)
    nonce = secrets.token_hex(16)
    selected = [update for update in pending if selection.picks(update)]
    script = build_deploy_script(
        nonce, selected, deadline - time.time(), lock_timeout, selection.exclude
    )
    try:
        sections = await run_script(transport, host_name, script, nonce, None, "deploy")
        return parse_deploy_output(sections, pending, selection)
    except StateScriptFailed as error:
        raise DeployScriptFailed(host_name, error.detail) from error
    except OutputError as error:
        raise DeployScriptFailed(host_name, f"deploy: {error}") from error
