"""The JSON shapes of facts, packages, services, files, snapshots and changes.

One module so that the change log, the snapshot files, the CLI's `--json` and the
control API all use the shapes the issue fixes (see `console.changes.model`), and a
change read back from the log equals the one written: every tuple becomes a list
here, once, before a change is made, never on the way to disk.

A stored snapshot is compact: packages and services are rows (lists in a fixed
field order), not dicts, since 2,000 packages as dicts would spend most of their bytes
on repeated key names.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from console.changes.model import (
    Change,
    ChangeKind,
    ChangeType,
    Disk,
    Facts,
    FileStatus,
    Package,
    Service,
    Snapshot,
    TrackedFile,
)

SNAPSHOT_FORMAT = 1


def facts_to_dict(facts: Facts, collected: float) -> dict[str, Any]:
    """The issue's facts JSON (`os` nested, `collected` the time of the snapshot)."""
    return {
        "hostname": facts.hostname,
        "fqdn": facts.fqdn,
        "os": {"name": facts.os_name, "version": facts.os_version, "family": facts.os_family},
        "kernel": facts.kernel,
        "arch": facts.arch,
        "cpus": facts.cpus,
        "memory_mb": facts.memory_mb,
        "ipv4": list(facts.ipv4),
        "ipv6": list(facts.ipv6),
        "uptime_s": facts.uptime_s,
        "boot_time": facts.boot_time,
        "machine_id": facts.machine_id,
        "collected": collected,
        "disks": [asdict(disk) for disk in facts.disks],
        "virtualization": facts.virtualization,
    }


def facts_from_dict(raw: dict[str, Any]) -> Facts:
    os_info = raw["os"]
    return Facts(
        hostname=raw["hostname"],
        fqdn=raw["fqdn"],
        os_name=os_info["name"],
        os_version=os_info["version"],
        os_family=os_info["family"],
        kernel=raw["kernel"],
        arch=raw["arch"],
        cpus=raw["cpus"],
        memory_mb=raw["memory_mb"],
        disks=tuple(Disk(**disk) for disk in raw["disks"]),
        ipv4=tuple(raw["ipv4"]),
        ipv6=tuple(raw["ipv6"]),
        uptime_s=raw["uptime_s"],
        boot_time=raw["boot_time"],
        machine_id=raw["machine_id"],
        virtualization=raw["virtualization"],
    )


def package_to_dict(package: Package) -> dict[str, Any]:
    return {
        "name": package.name,
        "version": package.version,
        "arch": package.arch,
        "source": package.source,
    }


def service_to_dict(service: Service) -> dict[str, Any]:
    return {
        "name": service.name,
        "state": service.state,
        "enabled": service.enabled,
        "manager": service.manager,
        "started": service.started,
    }


def file_to_dict(tracked: TrackedFile) -> dict[str, Any]:
    raw = asdict(tracked)
    raw["status"] = str(tracked.status)
    return raw


def file_from_dict(raw: dict[str, Any]) -> TrackedFile:
    return TrackedFile(**{**raw, "status": FileStatus(raw["status"])})


def snapshot_to_dict(snapshot: Snapshot) -> dict[str, Any]:
    """The stored form of a snapshot: packages and services as rows."""
    return {
        "format": SNAPSHOT_FORMAT,
        "host": snapshot.host,
        "collected": snapshot.collected,
        "facts": facts_to_dict(snapshot.facts, snapshot.collected),
        "software": [[p.name, p.version, p.arch, p.source] for p in snapshot.software],
        "services": [[s.name, s.state, s.enabled, s.manager, s.started] for s in snapshot.services],
        "files": [file_to_dict(f) for f in snapshot.files],
        "unmatched": list(snapshot.unmatched),
    }


def snapshot_from_dict(raw: dict[str, Any]) -> Snapshot:
    """A snapshot from its stored form; KeyError/TypeError/ValueError when malformed."""
    if raw.get("format") != SNAPSHOT_FORMAT:
        raise ValueError(f"unknown snapshot format {raw.get('format')!r}")
    return Snapshot(
        host=raw["host"],
        collected=raw["collected"],
        facts=facts_from_dict(raw["facts"]),
        software=tuple(Package(*row) for row in raw["software"]),
        services=tuple(Service(*row) for row in raw["services"]),
        files=tuple(file_from_dict(f) for f in raw["files"]),
        unmatched=tuple(raw["unmatched"]),
    )


def change_to_dict(change: Change) -> dict[str, Any]:
    """The issue's change JSON: `id, time, host, type, change, name, before, after`."""
    return {
        "id": change.id,
        "time": change.time,
        "host": change.host,
        "type": str(change.type),
        "change": str(change.change),
        "name": change.name,
        "before": change.before,
        "after": change.after,
    }


def change_from_dict(raw: dict[str, Any]) -> Change:
    """A change from its JSON; KeyError/TypeError/ValueError when malformed."""
    change = Change(
        id=raw["id"],
        time=raw["time"],
        host=raw["host"],
        type=ChangeType(raw["type"]),
        change=ChangeKind(raw["change"]),
        name=raw["name"],
        before=raw["before"],
        after=raw["after"],
    )
    if not (isinstance(change.id, str) and isinstance(change.time, int | float)):
        raise ValueError("a change needs a string id and a numeric time")
    return change
