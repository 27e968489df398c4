"""Assessing one host's pending updates in one round trip, installing nothing.

The host runs `console.updates.assess_script` (manager detection, lock wait, optional
refresh, simulation or listing, Release fields, reboot signals); this module reads its
sections with the per-manager parsers and classifies every pending package.

apt simulates `dist-upgrade`, not `upgrade`: `upgrade` keeps back any package whose new
version needs a package not yet installed, which is exactly how Debian and Ubuntu ship
kernel and library ABI bumps, so security fixes would go unreported; `dist-upgrade`
shows them (as new installs without an installed version). Azure's Linux patch agent
does the same.

A host-side failure (the lock held past the timeout, a refresh or simulation that
fails) is an Assessment with `error` set; a host that cannot be reached raises the
transport's HostError, and output that cannot be read raises AssessmentFailed.
"""

from __future__ import annotations

import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import replace

from console.changes.sections import OutputError, Section, split_sections
from console.errors import HostError
from console.transports.base import StreamName, Transport
from console.updates import apt_parse, dnf_parse, zypper_parse
from console.updates.assess_script import COMMAND, build_script
from console.updates.model import Assessment, Classification, PendingUpdate
from console.updates.wua_run import assess_windows
from console.windows.powershell import ScriptFailed, is_windows

DEFAULT_TIMEOUT = 900.0  # a refresh over a slow mirror plus the lock wait
_STDERR_KEPT = 20
_KNOWN = frozenset(
    {"manager", "error", "simulate", "release", "reboot-required", "check-update",
     "updateinfo", "rpm-installed", "list-updates", "list-patches", "zypper-status"}
)  # fmt: skip
_ERRORS = {
    "refresh": "refreshing the package lists failed",
    "simulate": "simulating the upgrade failed",
}


class AssessmentFailed(HostError):
    """The assessment script ran but did not finish, or printed what cannot be read;
    the message names the section and the line."""

    kind = "assessment_failed"


async def assess(
    transport: Transport,
    host_name: str,
    refresh: bool = True,
    lock_timeout: float = 120.0,
    timeout: float = DEFAULT_TIMEOUT,
) -> Assessment:
    """`host_name`'s pending updates, classified; nothing is installed, and nothing
    changes but apt's lists when `refresh`. A package-manager lock held longer than
    `lock_timeout` seconds gives an Assessment whose `error` says so. A Windows host
    asks the Windows Update Agent instead (`console.updates.wua_run`)."""
    if is_windows(transport.host):
        try:
            return await assess_windows(transport, host_name, refresh, timeout)
        except ScriptFailed as error:
            raise AssessmentFailed(host_name, error.detail) from error
        except OutputError as error:
            raise AssessmentFailed(host_name, f"assessment: {error}") from error
    nonce = secrets.token_hex(16)
    stdout: list[bytes] = []
    stderr: list[bytes] = []

    def keep(stream: StreamName, line: bytes) -> None:
        if stream == "stdout":
            stdout.append(line)
        elif len(stderr) < _STDERR_KEPT:
            stderr.append(line)

    script = build_script(nonce, refresh, lock_timeout)
    status = await transport.run(COMMAND, stdin=script, timeout=timeout, on_line=keep)
    if not status.ok:
        said = b"".join(stderr).decode(errors="replace").strip()
        ended = f"signal {status.signal}" if status.signal else f"status {status.code}"
        raise AssessmentFailed(host_name, f"the assessment script exited with {ended}: {said}")
    try:
        sections = split_sections(b"".join(stdout), nonce)
        return parse_assessment(sections, host_name, time.time(), lock_timeout)
    except OutputError as error:
        raise AssessmentFailed(host_name, f"assessment: {error}") from error


def parse_assessment(
    sections: list[Section], host: str, assessed: float, lock_timeout: float
) -> Assessment:
    """The Assessment the script's sections describe."""
    for section in sections:
        if section.name not in _KNOWN:
            raise section.fail("unknown section")
    named = {s.name: s for s in sections if s.name != "release"}
    manager = named["manager"].argument if "manager" in named else ""
    reboot = named.get("reboot-required")
    base = Assessment(
        host=host,
        assessed=assessed,
        manager=manager,
        reboot_pending=reboot is not None,
        reboot_packages=tuple(line.strip() for line in reboot.lines if line.strip())
        if reboot
        else (),
    )
    if "error" in named:
        return _with_error(base, named["error"], lock_timeout)
    if manager == "apt":
        updates = _apt_updates(named, [s for s in sections if s.name == "release"])
    elif manager in ("dnf", "yum"):
        updates = list(_rpm_updates(named))
    elif manager == "zypper":
        updates = list(_zypper_updates(named))
        zypper_reboot = named.get("zypper-status", Section("", "")).argument == "102"
        base = replace(base, reboot_pending=base.reboot_pending or zypper_reboot)
    else:
        return replace(base, error="no supported package manager (apt, dnf, yum, zypper)")
    return replace(base, updates=tuple(sorted(updates, key=lambda u: (u.name, u.arch))))


def _with_error(base: Assessment, section: Section, lock_timeout: float) -> Assessment:
    said = "; ".join(line.strip() for line in section.lines if line.strip())
    if section.argument == "lock":
        what = (
            f"dpkg lock held for {lock_timeout:g}s"
            if base.manager == "apt"
            else (f"{base.manager} lock held for {lock_timeout:g}s")
        )
    else:
        what = _ERRORS.get(section.argument, f"{section.argument} failed")
    return replace(base, error=f"{what}: {said}" if said else what)


def _apt_updates(named: dict[str, Section], releases: list[Section]) -> list[PendingUpdate]:
    known = [apt_parse.parse_release(section) for section in releases]
    simulate = named.get("simulate") or Section("simulate", "")
    return [apt_parse.classify(inst, known) for inst in apt_parse.parse_simulate(simulate)]


def _rpm_updates(named: dict[str, Section]) -> Iterator[PendingUpdate]:
    pending = dnf_parse.parse_check_update(named.get("check-update") or Section("", ""))
    advisories = dnf_parse.parse_updateinfo(named.get("updateinfo") or Section("", ""))
    installed = _rpm_installed(named.get("rpm-installed") or Section("rpm-installed", ""))
    for update in pending:
        yield PendingUpdate(
            name=update.name,
            installed=installed.get((update.name, update.arch), ""),
            available=update.available,
            classification=dnf_parse.classification_of(update, advisories),
            source=update.repo,
            arch=update.arch,
        )


def _rpm_installed(section: Section) -> dict[tuple[str, str], str]:
    """(name, arch) → the installed [epoch:]version-release (the newest line wins)."""
    found = {}
    for line in section.lines:
        fields = line.split("\t")
        if len(fields) != 3:
            raise section.fail("expected name, arch and epoch:version-release", line)
        name, arch, evr = fields
        found[(name, arch)] = evr.removeprefix("(none):")
    return found


def _zypper_updates(named: dict[str, Section]) -> Iterator[PendingUpdate]:
    """list-updates gives the packages; a patch's packages are not in list-patches, so
    a package takes the classification of the needed patches whose summary names it
    ("Security update for libzypp, zypper"), else Other."""
    updates = zypper_parse.parse_list_updates(named.get("list-updates") or Section("", ""))
    patches = zypper_parse.parse_list_patches(named.get("list-patches") or Section("", ""))
    named_by: dict[str, list[Classification]] = {}
    for patch in patches:
        if patch.status == "needed":
            for name in _summary_names(patch.summary):
                named_by.setdefault(name, []).append(patch.classification)
    rank = list(Classification)  # Critical first
    for update in updates:
        found = named_by.get(update.name, [Classification.OTHER])
        yield PendingUpdate(
            name=update.name,
            installed=update.installed,
            available=update.available,
            classification=min(found, key=rank.index),
            source=update.repository,
            arch=update.arch,
        )


def _summary_names(summary: str) -> list[str]:
    _, found, names = summary.partition(" update for ")
    return [n for n in re.split(r"[,\s]+", names) if n and n != "and"] if found else []
