"""Reading the collector script's output (`console.changes.collector`) into a Snapshot.

The output is raw command output in sections, each introduced by a marker line
`#opsconsole-<nonce># <section> [argument]`. Only a line starting with this run's
marker starts a section, so nothing a host prints can forge one. Parsing is strict
where the format is fixed: a line that fits no known shape raises `OutputError`
naming the section and the line, rather than a crash or a silently wrong snapshot.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import replace

from console.changes.facts_parse import parse_facts
from console.changes.model import FileStatus, Package, Service, Snapshot, TrackedFile
from console.changes.sections import Section, index_sections, split_sections
from console.changes.service_starts import parse_pid_starts, parse_systemd_starts

RUNNING_STATES = frozenset({"active", "running", "reloading"})
_SNIFF = 8192  # a NUL byte in this many first bytes makes a file binary (as git does)


def parse_output(output: bytes, nonce: str, host: str, collected: float) -> Snapshot:
    """The Snapshot of `host` from one run's output (the run used `nonce`)."""
    sections = split_sections(output, nonce)
    single = index_sections(sections, _FILE_SECTIONS)
    unknown = sorted(set(single) - _KNOWN)
    if unknown:
        raise single[unknown[0]].fail("unknown section")
    files, unmatched = parse_files(iter([s for s in sections if s.name in _FILE_SECTIONS]))
    facts = parse_facts(single)
    return Snapshot(
        host=host,
        collected=collected,
        facts=facts,
        software=tuple(_software(single)),
        services=tuple(_with_starts(_services(single), single, facts.boot_time)),
        files=tuple(files),
        unmatched=tuple(unmatched),
    )


# --- software -----------------------------------------------------------------------------


def _software(sections: dict[str, Section]) -> Iterator[Package]:
    dpkg = sections.get("dpkg") or Section("dpkg", "")
    for line in dpkg.lines:
        fields = line.split("\t")
        if len(fields) != 4:
            raise dpkg.fail("expected name, version, architecture and status", line)
        name, version, arch, status = fields
        if status.startswith("ii"):
            yield Package(name.removesuffix(f":{arch}"), version, arch, "dpkg")
    rpm = sections.get("rpm")
    if rpm:
        yield from parse_rpm(rpm)


def parse_rpm(section: Section) -> Iterator[Package]:
    """`%{NAME}\\t%{EPOCH}\\t%{VERSION}\\t%{RELEASE}\\t%{ARCH}` lines; an unset epoch is
    printed `(none)` and left out of the version, as `rpm -q` shows it."""
    for line in section.lines:
        fields = line.split("\t")
        if len(fields) != 5:
            raise section.fail("expected name, epoch, version, release and arch", line)
        name, epoch, version, release, arch = fields
        full = f"{version}-{release}" if release not in ("", "(none)") else version
        if epoch not in ("", "(none)"):
            full = f"{epoch}:{full}"
        yield Package(name, full, "" if arch == "(none)" else arch, "rpm")


# --- services -----------------------------------------------------------------------------


def _services(sections: dict[str, Section]) -> list[Service]:
    units = sections.get("systemd-units")
    if units is not None:
        return parse_systemd(units, sections.get("systemd-unit-files"))
    links = sections.get("sysv-links")
    enabled = parse_rc_links(links) if links else {}
    status_all = sections.get("sysv-status-all")
    if status_all is not None:
        return _sysv(parse_status_all(status_all), enabled)
    init_status = sections.get("sysv-init-status")
    return _sysv(parse_init_status(init_status), enabled) if init_status else []


def _with_starts(
    services: list[Service], sections: dict[str, Section], boot_time: float | None
) -> list[Service]:
    """Each running service with the time it last started (console.changes.service_starts)."""
    systemd, pid_files = sections.get("systemd-starts"), sections.get("pid-starts")
    if systemd is not None:
        starts = parse_systemd_starts(systemd, boot_time)
    elif pid_files is not None:
        starts = parse_pid_starts(pid_files, [s.name for s in services], boot_time)
    else:
        return services
    return [
        replace(s, started=starts.get(s.name)) if s.state in RUNNING_STATES else s for s in services
    ]


def parse_systemd(units: Section, unit_files: Section | None) -> list[Service]:
    """Join `list-units --all` (active state) with `list-unit-files` (enabled state).

    Units only in the unit files (installed, never loaded) are inactive. Templates
    (`x@.service`) and aliases are not services of their own; a `not-found` unit that
    is not failed is a dangling reference, not something installed."""
    enabled: dict[str, str] = {}
    unit_files = unit_files or Section("systemd-unit-files", "")
    for line in unit_files.lines:
        fields = line.split()
        if len(fields) < 2:
            raise unit_files.fail("expected unit and state", line)
        enabled[fields[0]] = fields[1]
    services: dict[str, Service] = {}
    for line in units.lines:
        fields = line.lstrip("●* ").split(None, 4)
        if len(fields) < 4 or not fields[0].endswith(".service"):
            raise units.fail("expected unit, load, active and sub state", line)
        name, load, active = fields[:3]
        if load == "not-found" and active != "failed":
            continue
        state = "masked" if load == "masked" else enabled.get(name, _template_state(name, enabled))
        services[name] = Service(name, active, state, "systemd")
    for name, state in enabled.items():
        if name not in services and not name.endswith("@.service") and state != "alias":
            services[name] = Service(name, "inactive", state, "systemd")
    return sorted(services.values(), key=lambda service: service.name)


def _template_state(name: str, enabled: dict[str, str]) -> str:
    """An instance (`getty@tty1.service`) is listed in the unit files by its template."""
    prefix, at, _instance = name.partition("@")
    return enabled.get(f"{prefix}@.service", "") if at else ""


_STATUS_ALL = re.compile(r"\s*\[ ([+?-]) \]\s+(\S+)\s*\Z")
_STATUS_WORD = {"+": "running", "-": "stopped", "?": "unknown"}


def parse_status_all(section: Section) -> dict[str, str]:
    """`service --status-all`: ` [ + ]  ssh` lines (+ running, - stopped, ? unknown)."""
    states: dict[str, str] = {}
    for line in section.lines:
        match = _STATUS_ALL.match(line)
        if not match:
            raise section.fail("expected ` [ + ]  name`", line)
        states[match.group(2)] = _STATUS_WORD[match.group(1)]
    return states


def parse_init_status(section: Section) -> dict[str, str]:
    """`<exit status>\\t<script>` of each `/etc/init.d/X status` (LSB: 0 running,
    1-3 stopped, anything else unknown)."""
    states: dict[str, str] = {}
    for line in section.lines:
        code, _, name = line.partition("\t")
        if not code.isdigit() or not name:
            raise section.fail("expected exit status and script name", line)
        states[name] = {0: "running", 1: "stopped", 2: "stopped", 3: "stopped"}.get(
            int(code), "unknown"
        )
    return states


_RC_LINK = re.compile(r"/etc/rc([0-6S])\.d/([SK])[0-9]*(.+)\Z")


def parse_rc_links(section: Section) -> dict[str, str]:
    """enabled when a start link exists in a multi-user runlevel (2-5) or rcS,
    disabled when the script only has links elsewhere or kill links."""
    enabled: dict[str, str] = {}
    for line in section.lines:
        match = _RC_LINK.match(line)
        if not match:
            raise section.fail("expected an /etc/rcN.d link", line)
        level, kind, name = match.groups()
        if kind == "S" and level in "2345S":
            enabled[name] = "enabled"
        else:
            enabled.setdefault(name, "disabled")
    return enabled


def _sysv(states: dict[str, str], enabled: dict[str, str]) -> list[Service]:
    return [
        Service(name, state, enabled.get(name, ""), "sysv")
        for name, state in sorted(states.items())
    ]


# --- tracked files ------------------------------------------------------------------------

_FILE_SECTIONS = frozenset({"file", "file-end", "unmatched"})
_KNOWN = _FILE_SECTIONS | {
    "facts",
    "os-release",
    "df",
    "mounts",
    "ip",
    "if-inet6",
    "fib-trie",
    "dpkg",
    "rpm",
    "systemd-units",
    "systemd-unit-files",
    "sysv-status-all",
    "sysv-init-status",
    "sysv-links",
    "systemd-starts",
    "pid-starts",
}


def parse_files(sections: Iterator[Section]) -> tuple[list[TrackedFile], list[str]]:
    """The tracked files (each path once, first match wins) and the unmatched globs."""
    files: dict[str, TrackedFile] = {}
    unmatched: list[str] = []
    for section in sections:
        if section.name == "unmatched":
            unmatched.extend(section.lines)
            continue
        if section.name != "file":
            raise section.fail("without a file before it")
        tracked = _FILE_KINDS.get(section.argument)
        if tracked is None:
            raise section.fail("unknown kind of file entry")
        entry = tracked(section, sections)
        files.setdefault(entry.path, entry)
    return list(files.values()), unmatched


def _missing(section: Section, _rest: Iterator[Section]) -> TrackedFile:
    if len(section.lines) != 1:
        raise section.fail(f"expected one path line, got {len(section.lines)}")
    return TrackedFile(section.lines[0], FileStatus.MISSING)


def _unreadable(section: Section, _rest: Iterator[Section]) -> TrackedFile:
    if len(section.lines) != 2:
        raise section.fail(f"expected a path and a reason, got {len(section.lines)} lines")
    return TrackedFile(section.lines[0], FileStatus.UNREADABLE, error=section.lines[1])


def _read(section: Section, rest: Iterator[Section]) -> TrackedFile:
    """A file whose content (base64) or hash follows its metadata and path; the
    `file-end` section after it carries the exit status of reading it."""
    if len(section.lines) < 2:
        raise section.fail("expected metadata and path lines")
    meta, path, body = section.lines[0], section.lines[1], section.lines[2:]
    fields = meta.split("\t")
    if len(fields) != 5 or not (fields[0].isdigit() and fields[3].isdigit()):
        raise section.fail("expected mode, owner, group, size and mtime", meta)
    mode, owner, group, size, mtime = fields
    end = next(rest, None)
    if end is None or end.name != "file-end" or end.lines:
        raise section.fail("not followed by its file-end marker")
    stat = TrackedFile(
        path,
        FileStatus.UNREADABLE,
        mode=mode.rjust(4, "0"),
        owner=owner,
        group=group,
        size=int(size),
        mtime=_number(section, mtime),
    )
    if end.argument != "0":
        return replace(stat, error=f"reading it failed (exit status {end.argument})")
    if section.argument == "hash":
        digest = body[0].split()[0] if len(body) == 1 and body[0] else ""
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise section.fail("expected one sha256sum line", body[0] if body else "")
        return replace(stat, status=FileStatus.HASH_ONLY, sha256=digest)
    return _with_content(section, body, stat)


def _with_content(section: Section, body: list[str], stat: TrackedFile) -> TrackedFile:
    """Text (UTF-8, no NUL in the first 8 KiB) keeps its content; anything else is
    binary and only hashed, so a diff is never shown of bytes a terminal cannot."""
    try:
        data = base64.b64decode("".join(body), validate=True)
    except binascii.Error as error:
        raise section.fail(f"content is not base64 ({error})") from error
    digest = hashlib.sha256(data).hexdigest()
    if b"\0" not in data[:_SNIFF]:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            return replace(stat, status=FileStatus.OK, sha256=digest, content=text)
    return replace(stat, status=FileStatus.HASH_ONLY, sha256=digest)


def _number(section: Section, value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise section.fail("expected a number", value) from None


_FILE_KINDS: dict[str, Callable[[Section, Iterator[Section]], TrackedFile]] = {
    "missing": _missing,
    "unreadable": _unreadable,
    "content": _read,
    "hash": _read,
}
