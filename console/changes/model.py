"""What a collection finds on one host, and what changed between two collections.

A `Snapshot` is everything one collection found; only the latest per host is kept.
A `Change` is one difference between two snapshots of a host, and the change log is
the history: storage grows with changes, not with collections.

JSON shapes (the CLI's `--json`, the control API): `Facts.to_dict` has the keys the
issue fixes (`hostname, fqdn, os{name,version,family}, kernel, arch, cpus, memory_mb,
ipv4, ipv6, uptime_s, boot_time, machine_id, collected`) plus `disks` and
`virtualization`; a package is `name, version, arch, source`; a service `name, state,
enabled, manager`; a change `id, time, host, type, change, name, before, after`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class ChangeType(StrEnum):
    SOFTWARE = "software"
    SERVICE = "service"
    FILE = "file"
    FACT = "fact"


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    MODIFIED = "modified"


class FileStatus(StrEnum):
    OK = "ok"  # hashed, content kept (a text file within the size limit)
    HASH_ONLY = "hash_only"  # hashed; binary, over the size limit, or --no-content
    UNREADABLE = "unreadable"  # exists but cannot be read: reported, never skipped
    MISSING = "missing"  # a tracked path (not a glob) that does not exist


@dataclass(frozen=True)
class Disk:
    mount: str
    device: str
    fstype: str
    size_mb: int
    used_mb: int


@dataclass(frozen=True)
class Facts:
    hostname: str = ""
    fqdn: str = ""
    os_name: str = ""
    os_version: str = ""
    os_family: str = ""  # /etc/os-release ID_LIKE's first word, else ID (debian, rhel...)
    kernel: str = ""
    arch: str = ""
    cpus: int = 0
    memory_mb: int = 0
    disks: tuple[Disk, ...] = ()
    ipv4: tuple[str, ...] = ()
    ipv6: tuple[str, ...] = ()
    uptime_s: int = 0
    boot_time: float = 0.0
    machine_id: str = ""
    virtualization: str = ""  # "container", "kvm", ... or "" when nothing says so


@dataclass(frozen=True)
class Package:
    name: str
    version: str
    arch: str
    source: str  # "dpkg" or "rpm"


@dataclass(frozen=True)
class Service:
    name: str
    state: str  # systemd ActiveState (active, inactive, failed...) or running/stopped
    enabled: str  # enabled, disabled, static, masked, ... ("" when unknown)
    manager: str  # "systemd" or "sysv"
    # When a running service last started (epoch seconds; console.changes.service_starts):
    # a flap between two collections shows as a change of it. None: not known.
    started: float | None = None


@dataclass(frozen=True)
class TrackedPath:
    """What to track: an absolute path or glob on the hosts of `pattern`; `content`
    keeps text content (for diffs), else the files are hashed only. The tracking
    configuration stores these and the collector takes them, so they are one type."""

    path: str
    pattern: str = "all"
    content: bool = True


@dataclass(frozen=True)
class TrackedFile:
    path: str
    status: FileStatus
    sha256: str = ""
    size: int = 0
    mode: str = ""  # octal, e.g. "0644"
    owner: str = ""
    group: str = ""
    mtime: float = 0.0
    content: str | None = None  # text, only when status is OK
    error: str = ""  # why it is unreadable


@dataclass(frozen=True)
class Snapshot:
    host: str
    collected: float
    facts: Facts
    software: tuple[Package, ...] = ()
    services: tuple[Service, ...] = ()
    files: tuple[TrackedFile, ...] = ()
    # Globs of the tracking configuration that matched nothing (said, not an error).
    unmatched: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    id: str
    time: float
    host: str
    type: ChangeType
    change: ChangeKind
    name: str  # package or service name, file path, fact name
    before: Any = None  # the old value (a dict for packages/services/files), None if added
    after: Any = None
