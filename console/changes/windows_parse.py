"""Reading the Windows collectors' JSON (`console.changes.windows_collector`) into a Snapshot.

The same Snapshot as a Linux host's, in the words a user compares across both:
* facts: `os_name` the caption ("Microsoft Windows Server 2022 Datacenter"),
  `os_version` the DisplayVersion ("21H2") or else the version, `os_family`
  "windows", `kernel` the full build ("10.0.20348.2227", what a patch level is read
  from), `arch` as Linux names it (AMD64 is x86_64, ARM64 aarch64);
* software: registry entries with `arch` x64/x86 (machine-wide) or `user` (a
  per-user install, `source` naming the user's SID), and installed hotfixes as
  packages of `source` "hotfix" (KB number as the name, no version), so an update
  installed or removed is a software change like any other. A package's publisher is
  read but the model has no place for it yet;
* services: `state` lower-cased ("running", "stopped", "paused", "start pending"),
  `enabled` from the start mode (Auto: "enabled", or "enabled-delayed" for a delayed
  start; Manual: "manual"; Disabled: "disabled"; Boot/System: "enabled"), manager
  "windows", `started` the service process's start time.

A document without the expected shape raises OutputError naming the script and key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from console.changes.model import Disk, Facts, Package, Service, Snapshot, TrackedFile
from console.changes.sections import OutputError

ARCH_NAMES = {"AMD64": "x86_64", "ARM64": "aarch64", "X86": "i686"}
# Win32_ComputerSystem's Manufacturer/Model of common hypervisors' virtual machines.
_VIRTUAL = (
    ("Virtual Machine", "hyperv"),
    ("VMware", "vmware"),
    ("VirtualBox", "virtualbox"),
    ("KVM", "kvm"),
    ("QEMU", "kvm"),
    ("Xen", "xen"),
    ("Amazon EC2", "amazon"),
    ("Google Compute Engine", "google"),
)
_START_MODES = {
    "auto": "enabled",
    "manual": "manual",
    "disabled": "disabled",
    "boot": "enabled",
    "system": "enabled",
}
HOTFIX_SOURCE = "hotfix"


def parse_windows(
    documents: Mapping[str, Any],
    host: str,
    collected: float,
    files: Iterable[TrackedFile] = (),
    unmatched: Iterable[str] = (),
) -> Snapshot:
    """The Snapshot of `host` from the `facts`, `software` and `services` documents
    and the tracked files (console.changes.windows_tracked)."""
    facts_doc = _object(documents.get("facts"), "facts")
    software_doc = _object(documents.get("software"), "software")
    services_doc = _object(documents.get("services"), "services")
    return Snapshot(
        host=host,
        collected=collected,
        facts=parse_facts(facts_doc),
        software=tuple(parse_software(software_doc, facts_doc)),
        services=tuple(parse_services(services_doc)),
        files=tuple(files),
        unmatched=tuple(unmatched),
    )


# --- facts --------------------------------------------------------------------------------


def parse_facts(doc: Mapping[str, Any]) -> Facts:
    version = _text(doc, "version", "facts")
    ubr = doc.get("ubr")
    boot = _number(doc, "last_boot", "facts")
    now = _number(doc, "now", "facts")
    ipv4, ipv6 = _addresses(_list(doc, "ips", "facts"))
    arch = _text(doc, "arch", "facts")
    return Facts(
        hostname=_text(doc, "hostname", "facts"),
        fqdn=_text(doc, "fqdn", "facts"),
        os_name=_text(doc, "caption", "facts"),
        os_version=_text(doc, "display_version", "facts") or version,
        os_family="windows",
        kernel=f"{version}.{ubr}" if isinstance(ubr, int) and version else version,
        arch=ARCH_NAMES.get(arch.upper(), arch),
        cpus=int(_number(doc, "logical_processors", "facts")),
        memory_mb=int(_number(doc, "memory_kb", "facts")) // 1024,
        disks=tuple(_disk(item) for item in _list(doc, "disks", "facts")),
        ipv4=ipv4,
        ipv6=ipv6,
        uptime_s=max(int(now - boot), 0) if boot else 0,
        boot_time=boot,
        machine_id=_text(doc, "machine_guid", "facts").lower(),
        virtualization=_virtualization(
            _text(doc, "manufacturer", "facts"), _text(doc, "model", "facts")
        ),
    )


def _disk(raw: Any) -> Disk:
    item = _object(raw, "facts disks[]")
    size = int(_number(item, "size", "facts disks[]"))
    free = int(_number(item, "free", "facts disks[]"))
    drive = _text(item, "id", "facts disks[]")
    return Disk(
        mount=drive + "\\",
        device=drive,
        fstype=_text(item, "fs", "facts disks[]"),
        size_mb=size // 2**20,
        used_mb=(size - free) // 2**20,
    )


def _addresses(found: list[Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Each address once, loopback left out, IPv6 zone ids (`%12`) dropped."""
    unique: dict[str, ipaddress.IPv4Address | ipaddress.IPv6Address] = {}
    for raw in found:
        if not isinstance(raw, str):
            raise OutputError(f"facts: ips holds {raw!r}, not an address")
        try:
            address = ipaddress.ip_address(raw.split("%")[0])
        except ValueError:
            raise OutputError(f"facts: {raw!r} is not an IP address") from None
        if not address.is_loopback:
            unique.setdefault(str(address), address)
    return (
        tuple(text for text, a in unique.items() if a.version == 4),
        tuple(text for text, a in unique.items() if a.version == 6),
    )


def _virtualization(manufacturer: str, model: str) -> str:
    both = f"{manufacturer} {model}"
    return next((name for marker, name in _VIRTUAL if marker.lower() in both.lower()), "")


# --- software -----------------------------------------------------------------------------


def parse_software(doc: Mapping[str, Any], facts_doc: Mapping[str, Any]) -> Iterator[Package]:
    """Registry entries (first of each name and arch wins), then the hotfixes."""
    seen: set[tuple[str, str]] = set()
    for raw in _list(doc, "software", "software"):
        item = _object(raw, "software[]")
        user = _text(item, "user", "software[]")
        arch = "user" if user else _text(item, "arch", "software[]")
        package = Package(
            name=_text(item, "name", "software[]").strip(),
            version=_text(item, "version", "software[]").strip(),
            arch=arch,
            source=f"registry:{user}" if user else "registry",
        )
        if (package.name, package.arch) not in seen:
            seen.add((package.name, package.arch))
            yield package
    hotfixes = {
        _text(_object(raw, "facts hotfixes[]"), "id", "facts hotfixes[]").upper()
        for raw in _list(facts_doc, "hotfixes", "facts")
    }
    for kb in sorted(hotfixes - {""}):
        yield Package(kb, "", "", HOTFIX_SOURCE)


# --- services -----------------------------------------------------------------------------


def parse_services(doc: Mapping[str, Any]) -> Iterator[Service]:
    for raw in _list(doc, "services", "services"):
        item = _object(raw, "services[]")
        state = _text(item, "state", "services[]").lower()
        mode = _text(item, "start_mode", "services[]").lower()
        if mode not in _START_MODES:
            raise OutputError(f"services: unknown start mode {mode!r} of {item.get('name')!r}")
        enabled = _START_MODES[mode]
        if mode == "auto" and item.get("delayed") is True:
            enabled = "enabled-delayed"
        started = item.get("started")
        yield Service(
            name=_text(item, "name", "services[]"),
            state=state,
            enabled=enabled,
            manager="windows",
            started=float(started)
            if isinstance(started, int | float) and state == "running"
            else None,
        )


# --- shapes -------------------------------------------------------------------------------


def _object(raw: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(raw, dict):
        raise OutputError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    return raw


def _list(doc: Mapping[str, Any], key: str, where: str) -> list[Any]:
    """A list; PowerShell writes an empty array as null when it held nothing."""
    value = doc.get(key)
    if value is None:
        return []
    if isinstance(value, dict):  # one item where ConvertTo-Json unwrapped the array
        return [value]
    if not isinstance(value, list):
        raise OutputError(f"{where}: {key} should be a list, not {value!r}")
    return value


def _text(doc: Mapping[str, Any], key: str, where: str) -> str:
    """A string value; null (a property Windows did not fill) is ""."""
    value = doc.get(key)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise OutputError(f"{where}: {key} should be text, not {value!r}")
    return str(value)


def _number(doc: Mapping[str, Any], key: str, where: str) -> float:
    value = doc.get(key)
    if value is None:
        return 0.0
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise OutputError(f"{where}: {key} should be a number, not {value!r}")
    return float(value)
