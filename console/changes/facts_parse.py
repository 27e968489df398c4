"""Facts from the collector's output: identity, OS, hardware, disks, addresses.

The host prints raw files and command output (`/etc/os-release`, `df -P -k`,
`/proc/mounts`, `ip -o addr` or `/proc/net/*`); reading them here keeps the host's
script short and the parsing typed and tested.
"""

from __future__ import annotations

import ipaddress
import re
import shlex

from console.changes.model import Disk, Facts
from console.changes.sections import Section

_FACT_KEYS = frozenset(
    [
        "hostname",
        "fqdn",
        "kernel",
        "arch",
        "cpus",
        "machine_id",
        "uptime",
        "btime",
        "memtotal_kb",
        "virtualization",
    ]
)
# Filesystems that hold no data of their own: not disks.
_PSEUDO_FS = frozenset(
    [
        "proc",
        "sysfs",
        "devpts",
        "devtmpfs",
        "tmpfs",
        "cgroup",
        "cgroup2",
        "mqueue",
        "debugfs",
        "tracefs",
        "securityfs",
        "pstore",
        "bpf",
        "configfs",
        "fusectl",
        "hugetlbfs",
        "autofs",
        "binfmt_misc",
        "nsfs",
        "rpc_pipefs",
        "ramfs",
        "efivarfs",
        "selinuxfs",
        "fuse.lxcfs",
    ]
)


def parse_facts(sections: dict[str, Section]) -> Facts:
    """Facts from the `facts`, `os-release`, `df`, `mounts` and address sections."""
    values = _key_values(sections["facts"]) if "facts" in sections else {}
    release = _os_release(sections["os-release"]) if "os-release" in sections else {}
    ipv4, ipv6 = _addresses(sections)
    family = (release.get("ID_LIKE", "").split() or [release.get("ID", "")])[0]
    facts = _get(sections, "facts")
    return Facts(
        hostname=values.get("hostname", ""),
        fqdn=values.get("fqdn", ""),
        os_name=release.get("NAME", ""),
        os_version=release.get("VERSION_ID", ""),
        os_family=family,
        kernel=values.get("kernel", ""),
        arch=values.get("arch", ""),
        cpus=int(_number(facts, values.get("cpus", ""))),
        memory_mb=int(_number(facts, values.get("memtotal_kb", ""))) // 1024,
        disks=_disks(_get(sections, "df"), _get(sections, "mounts")),
        ipv4=ipv4,
        ipv6=ipv6,
        uptime_s=int(_number(facts, values.get("uptime", ""))),
        boot_time=_number(facts, values.get("btime", "")),
        machine_id=values.get("machine_id", ""),
        virtualization=values.get("virtualization", ""),
    )


def _get(sections: dict[str, Section], name: str) -> Section:
    """The section, or an empty one when the host did not print it."""
    return sections.get(name) or Section(name, "")


def _key_values(section: Section) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in section.lines:
        key, equals, value = line.partition("=")
        if not equals or key not in _FACT_KEYS:
            raise section.fail("expected one of the known key=value facts", line)
        values[key] = value.strip()
    return values


def _number(section: Section, value: str) -> float:
    """A numeric fact; empty (the host has no such file) is 0, garbage an error."""
    if not value:
        return 0.0
    try:
        return float(value)
    except ValueError:
        raise section.fail("expected a number", value) from None


def _os_release(section: Section) -> dict[str, str]:
    """os-release is `KEY=value` with shell quoting; comments and blanks allowed."""
    values: dict[str, str] = {}
    for line in section.lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, equals, raw = line.partition("=")
        if not equals or not re.fullmatch(r"[A-Z0-9_]+", key):
            raise section.fail("expected KEY=value", line)
        try:
            words = shlex.split(raw)
        except ValueError:
            raise section.fail("unbalanced quotes", line) from None
        values[key] = " ".join(words)
    return values


def _unescape_mount(path: str) -> str:
    """/proc/mounts writes space, tab, newline and backslash as octal escapes."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), path)


def _disks(df: Section, mounts: Section) -> tuple[Disk, ...]:
    """`df -P -k` lines with their filesystem type from /proc/mounts; pseudo
    filesystems are left out, one entry per mount point."""
    fstypes: dict[str, str] = {}
    for line in mounts.lines:
        parts = line.split()
        if len(parts) < 3:
            raise mounts.fail("expected device, mount point and type", line)
        fstypes[_unescape_mount(parts[1])] = parts[2]
    disks: dict[str, Disk] = {}
    for line in df.lines[1:]:
        parts = line.split(None, 5)
        if len(parts) != 6 or not (parts[1].isdigit() and parts[2].isdigit()):
            raise df.fail("expected a `df -P -k` line", line)
        device, blocks, used, _available, _capacity, mount = parts
        fstype = fstypes.get(mount, "")
        if fstype not in _PSEUDO_FS:
            disks[mount] = Disk(mount, device, fstype, int(blocks) // 1024, int(used) // 1024)
    return tuple(disks.values())


def _addresses(sections: dict[str, Section]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """The host's IPv4 and IPv6 addresses, loopback left out, in the order found."""
    if "ip" in sections:
        found = _from_ip(sections["ip"])
    else:
        found = _from_if_inet6(_get(sections, "if-inet6")) + _from_fib_trie(
            _get(sections, "fib-trie")
        )
    unique = list(dict.fromkeys(address for address in found if not address.is_loopback))
    return (
        tuple(str(a) for a in unique if a.version == 4),
        tuple(str(a) for a in unique if a.version == 6),
    )


Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _from_ip(section: Section) -> list[Address]:
    """`ip -o addr show`: `2: eth0    inet 10.0.0.5/24 brd ... scope global eth0 ...`."""
    found: list[Address] = []
    for line in section.lines:
        words = line.split()
        family = next((i for i, word in enumerate(words) if word in ("inet", "inet6")), None)
        if family is None or family + 1 >= len(words):
            raise section.fail("expected an inet or inet6 address line", line)
        try:
            found.append(ipaddress.ip_address(words[family + 1].split("/")[0]))
        except ValueError:
            raise section.fail("not an IP address", line) from None
    return found


def _from_if_inet6(section: Section) -> list[Address]:
    """/proc/net/if_inet6: 32 hex digits, ifindex, prefix, scope, flags, name."""
    found: list[Address] = []
    for line in section.lines:
        words = line.split()
        if len(words) != 6 or not re.fullmatch(r"[0-9a-f]{32}", words[0]):
            raise section.fail("expected an if_inet6 line", line)
        found.append(ipaddress.IPv6Address(bytes.fromhex(words[0])))
    return found


def _from_fib_trie(section: Section) -> list[Address]:
    """/proc/net/fib_trie marks each local address with `/32 host LOCAL` under it."""
    found: list[Address] = []
    previous = ""
    for line in section.lines:
        if line.strip() == "/32 host LOCAL":
            found.append(ipaddress.IPv4Address(previous.split()[-1]))
        previous = line
    return found
